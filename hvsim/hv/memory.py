"""memory_op for HVM/PVH guests (Xen's do_memory_op, xen/common/memory.c,
and arch_memory_op / xenmem_add_to_physmap_one, xen/arch/x86/mm.c; Arm's,
xen/arch/arm/mm.c, have no memory map and no gmfn spaces).

Reservations: increase_reservation (pages the domain owns but has not
mapped), decrease_reservation (guest_remove_page: a gfn already empty stops
the op, as after XSA-277), populate_physmap (fresh zeroed pages); they return
the number of extents done, and an op Xen refuses as a whole returns the
start extent.  The physmap: add_to_physmap (shared_info, grant table frames,
gmfn, gmfn_range), remove_from_physmap, maximum_gpfn; reservation queries;
the guest memory map.  Hvsim never preempts, so no continuation is ever
made: a whole op runs at once.  Everything else is -ENOSYS.

Page accounting: tot_pages is the domain's RAM in its physmap plus the pages
it owns that are mapped nowhere (Domain.unmapped_pages); allocations fail
beyond max_pages as assign_pages() does.
"""

from ..abi import errno, memory as m
from ..abi.cstruct import ARM64, MASK32, Struct, domid as domid_t, xen_pfn
from ..abi.errno import HypercallError
from .domain import E820Entry
from .gnttab import keep_mapped_page
from .guest_access import copy_from_guest, copy_to_guest, get_struct, put_struct
from .physmap import PAGE_SHIFT, PAGE_SIZE, RAM
from .xsm import TARGET

# struct xen_memory_domain { domid_t domid; } (the argument of the queries)
xen_memory_domain = Struct("xen_memory_domain", [("domid", domid_t)])
INVALID_GFN = (1 << 64) - 1

# Largest extent order per caller (Kconfig DOMU/CTLDOM/HWDOM_MAX_ORDER, MAX_ORDER).
DOMU_MAX_ORDER, CTLDOM_MAX_ORDER, HWDOM_MAX_ORDER, MAX_ORDER = 9, 18, 12, 20
MEMF_populate_on_demand = 1 << 0       # internal memflags, from XENMEMF_populate_on_demand


def _lookup(v, domid):
    """rcu_lock_domain_by_any_id() + XSM TARGET."""
    d = v.hv.domain_by_any_id(v.domain, domid)
    if not v.hv.xsm.allowed(TARGET, v.domain, d):
        raise HypercallError(errno.EPERM)
    return d


def max_order(d):
    """max_order(): the largest extent a domain may ask for at once."""
    order = DOMU_MAX_ORDER
    if d.is_privileged:
        order = max(order, CTLDOM_MAX_ORDER)
    if d.is_hardware_domain:
        order = max(order, HWDOM_MAX_ORDER)
    return min(order, MAX_ORDER)


# ---- reservations ------------------------------------------------------------------------
class MemopArgs:
    """struct memop_args: one reservation op in progress."""

    def __init__(self, v, d, lay, buf):
        self.v = v
        self.domain = d
        self.extent_list, self.nr_extents, self.extent_order, self.mem_flags = lay.get(
            buf, "extent_start", "nr_extents", "extent_order", "mem_flags")
        self.memflags = 0
        self.nr_done = 0

    def read_extent(self, i):
        """__copy_from_guest_offset(extent_list, i); None on a fault."""
        size = xen_pfn.size(self.v.hcall_abi)
        try:
            raw = copy_from_guest(self.v, self.extent_list + i * size, size)
        except HypercallError:
            return None
        return int.from_bytes(raw, "little")


def _node_ok(v, mem_flags):
    """construct_memop_from_reservation(): address bits and NUMA node checks."""
    address_bits = mem_flags & 0xFF          # below what the host has, and above a page
    if address_bits and address_bits <= PAGE_SHIFT:
        return False
    if mem_flags & m.XENMEMF_vnode:
        return True                          # no vNUMA: the node is not looked at
    node = ((mem_flags >> 8) - 1) & 0xFF     # XENMEMF_get_node()
    if node == 0xFF:                         # NUMA_NO_NODE
        return True
    caller = v.domain
    if caller.is_hardware_domain or caller.is_privileged:
        return node < 64                     # MAX_NUMNODES
    return not mem_flags & m.XENMEMF_exact_node_request


def alloc_pages(d, nr):
    """assign_pages(): may domain d own nr more pages?"""
    return not d.finished and d.tot_pages + nr <= d.max_pages


def increase_reservation(a):
    """Pages the domain owns but has not mapped (a translated guest is not
    told their frames)."""
    if a.extent_order > max_order(a.v.domain):
        return
    d, nr = a.domain, 1 << a.extent_order
    for i in range(a.nr_done, a.nr_extents):
        if not alloc_pages(d, nr):
            break
        d.unmapped_pages += nr
        a.nr_done = i + 1


def populate_physmap(a):
    if a.extent_order > (MAX_ORDER if a.memflags & MEMF_populate_on_demand
                         else max_order(a.v.domain)):
        return
    d, nr = a.domain, 1 << a.extent_order
    for i in range(a.nr_done, a.nr_extents):
        gpfn = a.read_extent(i)
        if gpfn is None:
            return
        if a.memflags & MEMF_populate_on_demand and d is a.v.domain:
            return                           # no PoD pages on oneself
        if not alloc_pages(d, nr):
            return
        if not _physmap_add_ram(d, gpfn, nr):
            return
        a.nr_done = i + 1


def _physmap_add_ram(d, gfn, nr):
    """guest_physmap_add_page() of nr fresh pages: RAM already there stays the
    domain's, unmapped; replacing a grant mapping crashes the domain."""
    pm = d.physmap
    for g in range(gfn, gfn + nr):
        if is_grant_mapping(pm.gfn_type(g)):
            d.crash("populate_physmap over the grant mapping at gfn %#x" % g)
            return False
    for g in range(gfn, gfn + nr):
        if pm.gfn_type(g) == RAM:
            d.unmapped_pages += 1
            keep_mapped_page(d, g)
        pm.populate(g)
    return True


def is_grant_mapping(kind):
    return kind is not None and kind.startswith("gntmap")


def guest_remove_page(d, gfn):
    """Free the page at gfn: 0, or -ENOENT where nothing is mapped, -ENXIO
    for a page the domain does not own (a grant mapping)."""
    kind = d.physmap.gfn_type(gfn)
    if kind is None:
        return -errno.ENOENT
    if is_grant_mapping(kind):
        return -errno.ENXIO
    if kind == RAM:
        keep_mapped_page(d, gfn)
        d.physmap.remove_ram(gfn)
    else:                                    # a Xen page (shared_info, grant frame): unhooked
        d.physmap.remove_overlay(gfn)
    return 0


def decrease_reservation(a):
    if a.extent_order > max_order(a.v.domain):
        return
    for i in range(a.nr_done, a.nr_extents):
        gmfn = a.read_extent(i)
        if gmfn is None:
            return
        for j in range(1 << a.extent_order):
            if guest_remove_page(a.domain, gmfn + j):
                return
        a.nr_done = i + 1


_RESERVATION_OPS = {
    m.XENMEM_increase_reservation: increase_reservation,
    m.XENMEM_decrease_reservation: decrease_reservation,
    m.XENMEM_populate_physmap: populate_physmap,
}


def _reservation(v, op, start_extent, arg):
    """Every refusal returns start_extent, as do_memory_op() does."""
    try:
        lay, buf = get_struct(v, m.xen_memory_reservation, arg)
    except HypercallError:
        return start_extent
    nr_extents = lay.get(buf, "nr_extents")
    if nr_extents > (MASK32 >> m.MEMOP_EXTENT_SHIFT) or start_extent >= nr_extents:
        return start_extent
    try:
        d = v.hv.domain_by_any_id(v.domain, lay.get(buf, "domid"))
    except HypercallError:
        return start_extent
    a = MemopArgs(v, d, lay, buf)
    if not _node_ok(v, a.mem_flags):
        return start_extent
    a.nr_done = start_extent
    if op == m.XENMEM_populate_physmap and a.mem_flags & m.XENMEMF_populate_on_demand:
        a.memflags |= MEMF_populate_on_demand
    if not v.hv.xsm.allowed(TARGET, v.domain, d):
        return start_extent
    _RESERVATION_OPS[op](a)
    return a.nr_done


# ---- queries -----------------------------------------------------------------------------
def _query(v, op, arg):
    lay, buf = get_struct(v, xen_memory_domain, arg)
    d = _lookup(v, lay.get(buf, "domid"))
    if op == m.XENMEM_current_reservation:
        return d.tot_pages
    if op == m.XENMEM_maximum_reservation:
        return d.max_pages
    return d.maximum_gpfn()


# ---- the physmap -------------------------------------------------------------------------
def _add_to_physmap(v, start_extent, arg):
    if start_extent > 0xFFFF:
        return -errno.EDOM
    lay, buf = get_struct(v, m.xen_add_to_physmap, arg)
    domid, size, space, idx, gpfn = lay.get(buf, "domid", "size", "space", "idx", "gpfn")
    if space == m.XENMAPSPACE_gmfn_foreign:
        return -errno.ENOSYS
    d = _lookup(v, domid)
    if space != m.XENMAPSPACE_gmfn_range:
        return add_to_physmap_one(d, space, idx, gpfn, v.hcall_abi)
    if size < start_extent:
        return -errno.EILSEQ
    for i in range(start_extent, size):
        rc = add_to_physmap_one(d, space, idx + i, gpfn + i, v.hcall_abi)
        if rc < 0:
            return rc
    return 0


def add_to_physmap_one(d, space, idx, gpfn, abi):
    """xenmem_add_to_physmap_one() for a translated domain."""
    if gpfn == INVALID_GFN & ((1 << (8 * abi.ulong)) - 1):
        return -errno.EINVAL
    if space == m.XENMAPSPACE_shared_info:
        if idx != 0:
            return -errno.EINVAL
        d.map_shared_info(gpfn)
        return 0
    if space == m.XENMAPSPACE_grant_table:
        return d.grant_table.map_frame(idx, gpfn)
    if abi is ARM64:
        # Arm's xenmem_add_to_physmap_one(): no gmfn spaces; dev_mmio maps
        # nothing for a domain without iomem permission (none has any here)
        return 0 if space == m.XENMAPSPACE_dev_mmio else -errno.ENOSYS
    if space in (m.XENMAPSPACE_gmfn, m.XENMAPSPACE_gmfn_range):
        return _move_gmfn(d, idx, gpfn)
    return -errno.EINVAL


def _move_gmfn(d, idx, gpfn):
    """XENMAPSPACE_gmfn(_range): move the RAM page at idx to gpfn; what was at
    gpfn is freed (a Xen page is just unhooked)."""
    pm = d.physmap
    if pm.gfn_type(idx) != RAM:
        return -errno.EINVAL
    if idx == gpfn:
        return 0
    prev = pm.gfn_type(gpfn)
    if prev is not None:
        rc = guest_remove_page(d, gpfn)
        if rc:
            return rc
    data = pm.read(idx << PAGE_SHIFT, PAGE_SIZE)
    pm.remove_ram(idx)
    pm.populate(gpfn)
    pm.write(gpfn << PAGE_SHIFT, data)
    return 0


def _remove_from_physmap(v, start_extent, arg):
    """The page leaves the physmap but stays the domain's (not freed)."""
    if start_extent:
        return -errno.EINVAL
    lay, buf = get_struct(v, m.xen_remove_from_physmap, arg)
    d = _lookup(v, lay.get(buf, "domid"))
    gpfn = lay.get(buf, "gpfn")
    kind = d.physmap.gfn_type(gpfn)
    if kind is None or is_grant_mapping(kind):
        return -errno.ENOENT
    if kind == RAM:
        keep_mapped_page(d, gpfn)
        d.physmap.remove_ram(gpfn)
        d.unmapped_pages += 1
    else:
        d.physmap.remove_overlay(gpfn)
    return 0


def _memory_map(v, arg):
    lay, buf = get_struct(v, m.xen_memory_map, arg)
    e820 = v.domain.e820
    if not e820:
        return -errno.ENOSYS
    n = min(lay.get(buf, "nr_entries"), len(e820))
    table = b"".join(entry.pack() for entry in e820[:n])
    copy_to_guest(v, lay.get(buf, "buffer"), table)
    lay.put(buf, nr_entries=n)
    put_struct(v, lay, arg, buf)
    return 0


def _set_memory_map(v, arg):
    """XENMEM_set_memory_map (x86's arch_memory_op): the map XENMEM_memory_map
    gives a domain from now on, set by its toolstack or by the domain itself
    (XSM TARGET; GRUB reserves the pages it uses this way)."""
    lay, buf = get_struct(v, m.xen_foreign_memory_map, arg)
    nr = lay.get(buf, "map.nr_entries")
    if nr > m.E820MAX:
        return -errno.EINVAL
    d = _lookup(v, lay.get(buf, "domid"))
    table = copy_from_guest(v, lay.get(buf, "map.buffer"), nr * m.E820_ENTRY_SIZE)
    d.e820 = [E820Entry.unpack(table, i * m.E820_ENTRY_SIZE) for i in range(nr)]
    return 0


_NO_CONTINUATION = (m.XENMEM_maximum_ram_page, m.XENMEM_current_reservation,
                    m.XENMEM_maximum_reservation, m.XENMEM_maximum_gpfn)


def do_memory_op(v, cmd, arg, *_):
    op = cmd & m.MEMOP_CMD_MASK
    start_extent = cmd >> m.MEMOP_EXTENT_SHIFT
    if op in (m.XENMEM_machphys_mapping, m.XENMEM_machine_memory_map):
        return -errno.ENOSYS                     # hvm_memory_op() filter
    if op in _RESERVATION_OPS:
        return _reservation(v, op, start_extent, arg)
    if op in _NO_CONTINUATION and start_extent:
        return -errno.EINVAL
    if op == m.XENMEM_maximum_ram_page:
        return v.hv.max_page
    if op in (m.XENMEM_current_reservation, m.XENMEM_maximum_reservation,
              m.XENMEM_maximum_gpfn):
        return _query(v, op, arg)
    if op == m.XENMEM_add_to_physmap:
        return _add_to_physmap(v, start_extent, arg)
    if op == m.XENMEM_remove_from_physmap:
        return _remove_from_physmap(v, start_extent, arg)
    if v.hcall_abi is not ARM64:                # x86's arch ops match the full cmd;
        if cmd == m.XENMEM_memory_map:          # Arm's arch_memory_op has neither
            return _memory_map(v, arg)
        if cmd == m.XENMEM_set_memory_map:
            return _set_memory_map(v, arg)
    raise HypercallError(errno.ENOSYS)
