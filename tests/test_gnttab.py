"""Grant table state across domains, driven from Python on two built (not
running) PVH domains: what guests cannot see from inside (a dying mapper's
maps let go of the granter's entry, XSM on another domain's table, the
maptrack free lists, the physmap of the mapper).  The guests in
guests/tests (gnttab-ops, shared-ring, grant-copy) test the ABI itself."""

import struct

import pytest

import built

from test_guests import BUILD
from hvsim.abi import grant_table as g
from hvsim.boot.pvh import DomainSpec, build_domain
from hvsim.hv import gnttab
from hvsim.hv.console import ConsoleSink
from hvsim.hv.hypervisor import Hypervisor
from hvsim.hv.physmap import PAGE_SHIFT

EXAMPLE = BUILD / "hvm64" / "example.elf"
DATA_GFN, MAP_GFN = 0x400, 0x500


@pytest.fixture
def two_domains():
    built.need(EXAMPLE)
    hv = Hypervisor(console=ConsoleSink(stream=None))
    granter, mapper = (build_domain(hv, DomainSpec(domid, str(EXAMPLE), 16 << 20))
                       for domid in (1, 2))
    return hv, granter, mapper


def grant(d, ref, domid, gfn, flags=g.GTF_permit_access):
    buf, off = d.grant_table._entry(ref)
    struct.pack_into("<HHI", buf, off, flags, domid, gfn)


def entry_flags(d, ref):
    return d.grant_table.header(ref)[0]


def map_op(granter, ref, gfn=MAP_GFN, flags=g.GNTMAP_host_map):
    return {"host_addr": gfn << PAGE_SHIFT, "flags": flags, "ref": ref, "dom": granter.domid}


def test_map_shows_the_page_and_marks_the_entry(two_domains):
    hv, granter, mapper = two_domains
    granter.physmap.write(DATA_GFN << PAGE_SHIFT, b"granted!")
    grant(granter, 8, mapper.domid, DATA_GFN)
    status, handle, bus = gnttab.map_grant_ref(mapper.vcpus[0], map_op(granter, 8))
    assert (status, handle) == (g.GNTST_okay, 0)
    assert mapper.physmap.read(MAP_GFN << PAGE_SHIFT, 8) == b"granted!"
    mapper.physmap.write(MAP_GFN << PAGE_SHIFT, b"written")
    assert granter.physmap.read(DATA_GFN << PAGE_SHIFT, 7) == b"written"
    assert entry_flags(granter, 8) == g.GTF_permit_access | g.GTF_reading | g.GTF_writing
    assert bus >> PAGE_SHIFT == gnttab.page_of(granter, DATA_GFN, False)[1]


def test_dying_mapper_lets_go(two_domains):
    """gnttab_release_mappings(): killing the mapper unpins the grant."""
    hv, granter, mapper = two_domains
    grant(granter, 9, mapper.domid, DATA_GFN)
    assert gnttab.map_grant_ref(mapper.vcpus[0], map_op(granter, 9))[0] == g.GNTST_okay
    assert granter.grant_table.active[9].pin
    mapper.kill()
    assert 9 not in granter.grant_table.active
    assert entry_flags(granter, 9) == g.GTF_permit_access
    # The granter can now switch versions again (no grant in use).
    assert gnttab._switch_version(granter.grant_table, 2) == 0


def test_dead_granter_unmap_still_works(two_domains):
    """The mapper keeps the page after the granter is destroyed, and can unmap it."""
    hv, granter, mapper = two_domains
    grant(granter, 10, mapper.domid, DATA_GFN)
    _, handle, _ = gnttab.map_grant_ref(mapper.vcpus[0], map_op(granter, 10))
    granter.kill()
    assert mapper.physmap.gfn_type(MAP_GFN).startswith("gntmap")
    op = {"host_addr": MAP_GFN << PAGE_SHIFT, "dev_bus_addr": 0, "handle": handle}
    assert gnttab.unmap_grant_ref(mapper.vcpus[0], op) == g.GNTST_okay
    assert mapper.physmap.gfn_type(MAP_GFN) is None


def test_a_page_given_back_stays_with_its_mapper(two_domains):
    """The granter gives a mapped page back (decrease_reservation) and gets a
    fresh one at that gfn: the mapper keeps the old page and its contents."""
    from hvsim.hv import memory
    hv, granter, mapper = two_domains
    granter.physmap.write(DATA_GFN << PAGE_SHIFT, b"before")
    grant(granter, 11, mapper.domid, DATA_GFN)
    _, handle, _ = gnttab.map_grant_ref(mapper.vcpus[0], map_op(granter, 11))
    assert memory.guest_remove_page(granter, DATA_GFN) == 0
    granter.physmap.populate(DATA_GFN)
    granter.physmap.write(DATA_GFN << PAGE_SHIFT, b"after!")
    assert mapper.physmap.read(MAP_GFN << PAGE_SHIFT, 6) == b"before"
    mapper.physmap.write(MAP_GFN << PAGE_SHIFT, b"mapper")
    assert granter.physmap.read(DATA_GFN << PAGE_SHIFT, 6) == b"after!"
    op = {"host_addr": MAP_GFN << PAGE_SHIFT, "dev_bus_addr": 0, "handle": handle}
    assert gnttab.unmap_grant_ref(mapper.vcpus[0], op) == g.GNTST_okay


def test_query_size_of_another_domain_is_refused(two_domains):
    """xsm_grant_query_size is XSM_TARGET: a plain domU may not look."""
    hv, granter, mapper = two_domains
    with pytest.raises(gnttab.GrantError) as e:
        gnttab._lookup(mapper.vcpus[0], granter.domid)
    assert e.value.status == g.GNTST_permission_denied


def test_maptrack_handles_come_back_last(two_domains):
    """get/put_maptrack_handle: a freed handle goes to the tail of the vCPU's
    free list, which always keeps one entry: handle 1, freed, waits there
    while a new maptrack page is taken."""
    gt = two_domains[2].grant_table
    first = [gt.get_handle(0) for _ in range(3)]
    assert first == [0, 1, 2]
    gt.put_handle(1)
    assert gt.get_handle(0) == 3
    handles = [gt.get_handle(0) for _ in range(gnttab.MAPTRACK_PER_PAGE)]
    per = gnttab.MAPTRACK_PER_PAGE
    assert handles == list(range(4, per)) + list(range(per, per + 4))
    gt.put_handle(0)
    assert [gt.get_handle(0) for _ in range(per - 3)][-2:] == [2 * per - 1, 1]


def test_grants_survive_a_snapshot(tmp_path):
    """shared-ring cut by a snapshot while the backend maps the ring and resumed
    prints what one uncut run prints (mappings, frames and pins are saved)."""
    from test_guests_events import elf, hvsim
    guest = elf("hvm64", "shared-ring")
    if not guest.exists():
        pytest.skip("%s not built (make guests)" % guest)
    snap = tmp_path / "s.snap"
    rc, uncut = hvsim([guest, guest], "--deterministic")
    assert rc == 0, uncut
    rc, first = hvsim([guest, guest], "--deterministic", "--snapshot-at", "5ms",
                      "--snapshot-file", str(snap))
    assert "snapshot at" in first, first
    rc, second = _resume(snap)
    assert rc == 0, second
    cut = [l for l in (first + second).splitlines() if l.startswith("(d")]
    assert cut == [l for l in uncut.splitlines() if l.startswith("(d")]


def _resume(snap):
    import os
    import subprocess
    from test_guests import PYTHON, ROOT
    proc = subprocess.run([PYTHON, "-m", "hvsim", "resume", str(snap)], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return proc.returncode, proc.stdout
