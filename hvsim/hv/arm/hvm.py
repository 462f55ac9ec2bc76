"""hvm_op on Arm (Xen's xen/arch/arm/hvm.c): the HVM parameters, which a
domain may read or write on itself as hvm_allow_{set,get}_param() say, and
guest_request_vm_event; every other op (get_time, flush_tlbs,
set_evtchn_upcall_vector, pagetable_dying, altp2m...) is -ENOSYS, as Xen
on Arm does not implement it."""

from ...abi import errno, hvm as h
from ...abi.errno import HypercallError
from ..guest_access import get_struct, put_struct
from ..xsm import TARGET

# intended for the toolstack: a domain may not set them on itself
_TOOLSTACK_SET = {h.HVM_PARAM_CALLBACK_IRQ, h.HVM_PARAM_STORE_PFN, h.HVM_PARAM_STORE_EVTCHN,
                  h.HVM_PARAM_CONSOLE_PFN, h.HVM_PARAM_CONSOLE_EVTCHN,
                  h.HVM_PARAM_MONITOR_RING_PFN}
# readable by the guest and the toolstack
_GUEST_GET = {h.HVM_PARAM_CALLBACK_IRQ, h.HVM_PARAM_STORE_PFN, h.HVM_PARAM_STORE_EVTCHN,
              h.HVM_PARAM_CONSOLE_PFN, h.HVM_PARAM_CONSOLE_EVTCHN}


def _allow_set(v, d, index):
    """Anything else: written only by Xen, a hole, deprecated or out of range."""
    if index in _TOOLSTACK_SET:
        return -errno.EPERM if d is v.domain else 0
    return -errno.EINVAL


def _allow_get(v, d, index):
    if index in _GUEST_GET:
        return 0
    if index == h.HVM_PARAM_MONITOR_RING_PFN:
        return -errno.EPERM if d is v.domain else 0
    return -errno.EINVAL


def _param_op(v, op, arg):
    lay, buf = get_struct(v, h.xen_hvm_param, arg)
    domid, index, value = lay.get(buf, "domid", "index", "value")
    d = v.hv.domain_by_any_id(v.domain, domid)
    if not v.hv.xsm.allowed(TARGET, v.domain, d):
        return -errno.EPERM
    if op == h.HVMOP_set_param:
        rc = _allow_set(v, d, index)
        if not rc:
            d.hvm_params[index] = value
        return rc
    rc = _allow_get(v, d, index)
    if rc:
        return rc
    lay.put(buf, value=d.hvm_params[index])
    put_struct(v, lay, arg, buf)
    return 0


def do_hvm_op(v, op, arg, *_):
    if op in (h.HVMOP_set_param, h.HVMOP_get_param):
        return _param_op(v, op, arg)
    if op == h.HVMOP_guest_request_vm_event:
        return -errno.EINVAL if arg else 0     # no monitor attached: nothing to notify
    raise HypercallError(errno.ENOSYS)
