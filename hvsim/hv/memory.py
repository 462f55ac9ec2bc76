"""memory_op for HVM/PVH guests (Xen's do_memory_op, xen/common/memory.c, and
arch_memory_op, xen/arch/x86/mm.c): reservation queries, add_to_physmap for
the shared_info page, the guest memory map.  Everything else is -ENOSYS."""

from ..abi import errno, memory as m
from ..abi.cstruct import Struct, domid as domid_t
from ..abi.errno import HypercallError
from .guest_access import copy_to_guest, get_struct, put_struct
from .xsm import TARGET

# struct xen_memory_domain { domid_t domid; } (the argument of the queries)
xen_memory_domain = Struct("xen_memory_domain", [("domid", domid_t)])
INVALID_GFN = (1 << 64) - 1


def _lookup(v, domid):
    """rcu_lock_domain_by_any_id() + XSM TARGET."""
    d = v.hv.domain_by_any_id(v.domain, domid)
    if not v.hv.xsm.allowed(TARGET, v.domain, d):
        raise HypercallError(errno.EPERM)
    return d


def _query(v, op, arg):
    lay, buf = get_struct(v, xen_memory_domain, arg)
    d = _lookup(v, lay.get(buf, "domid"))
    if op == m.XENMEM_current_reservation:
        return d.tot_pages
    if op == m.XENMEM_maximum_reservation:
        return d.max_pages
    return d.maximum_gpfn()


def _add_to_physmap(v, start_extent, arg):
    if start_extent > 0xFFFF:
        return -errno.EDOM
    lay, buf = get_struct(v, m.xen_add_to_physmap, arg)
    domid, space, idx, gpfn = lay.get(buf, "domid", "space", "idx", "gpfn")
    if space == m.XENMAPSPACE_gmfn_foreign:
        return -errno.ENOSYS
    d = _lookup(v, domid)
    if gpfn == INVALID_GFN & ((1 << (8 * v.hcall_abi.ulong)) - 1):
        return -errno.EINVAL
    if space == m.XENMAPSPACE_shared_info:
        if idx != 0:
            return -errno.EINVAL
        d.map_shared_info(gpfn)
        return 0
    if space == m.XENMAPSPACE_grant_table:
        return -errno.ENOSYS                     # grant tables: not implemented yet
    return -errno.EINVAL


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


_NO_CONTINUATION = (m.XENMEM_maximum_ram_page, m.XENMEM_current_reservation,
                    m.XENMEM_maximum_reservation, m.XENMEM_maximum_gpfn)


def do_memory_op(v, cmd, arg, *_):
    op = cmd & m.MEMOP_CMD_MASK
    start_extent = cmd >> m.MEMOP_EXTENT_SHIFT
    if op == m.XENMEM_machphys_mapping:
        return -errno.ENOSYS                     # hvm_memory_op() filter
    if op in _NO_CONTINUATION and start_extent:
        return -errno.EINVAL
    if op == m.XENMEM_maximum_ram_page:
        return v.hv.max_page
    if op in (m.XENMEM_current_reservation, m.XENMEM_maximum_reservation,
              m.XENMEM_maximum_gpfn):
        return _query(v, op, arg)
    if op == m.XENMEM_add_to_physmap:
        return _add_to_physmap(v, start_extent, arg)
    if cmd == m.XENMEM_memory_map:               # arch ops match the full cmd
        return _memory_map(v, arg)
    raise HypercallError(errno.ENOSYS)
