"""vcpu_op (Xen's do_vcpu_op / common_vcpu_op in xen/common/domain.c):
bringing up vCPUs (the vcpu_hvm_context itself is checked and loaded by
hv/x86/domain.py, as arch_set_info_hvm_guest in xen/arch/x86/hvm/domain.c),
runstate (and its memory area), timers, the vcpu time memory area (x86's
arch_do_vcpu_op()), and moving vcpu_info out of shared_info."""

from ..abi import errno, vcpu as vo
from ..abi.cstruct import MASK32
from ..abi import hvm_vcpu as hv_ctx
from ..abi.errno import HypercallError
from ..abi.sched import SHUTDOWN_poweroff
from .guest_access import copy_from_guest, copy_to_guest, get_struct
from .physmap import PAGE_SHIFT
from .shared_info import VcpuInfoRef
from .time import MILLISECS
from .x86.domain import set_info_hvm_guest

STIME_DELTA_MAX = (1 << 62) - 1


# ---- VCPUOP_initialise -------------------------------------------------------------------
def initialise(v, target, arg):
    lay, buf = get_struct(v, hv_ctx.vcpu_hvm_context, arg)
    if target.initialised:
        return -errno.EEXIST
    rc = set_info_hvm_guest(v, target, lay, buf)
    if rc == 0:
        target.initialised = True
    return rc


# ---- up / down / runstate ---------------------------------------------------------------------
def up(target):
    if not target.initialised:
        return -errno.EINVAL
    target.bring_up()
    return 0


def down(v, target):
    d = v.domain
    if not any(u.online for u in d.vcpus if u is not target):
        d.shutdown(SHUTDOWN_poweroff)
        return 0
    target.take_down()
    return 0


def get_runstate_info(v, target, arg):
    copy_to_guest(v, arg, target.runstate_info(extrapolate=True, abi=v.hcall_abi))
    return 0


# ---- runstate and time memory areas --------------------------------------------------------------
def register_runstate_memory_area(v, target, arg):
    """The area is a guest-linear address (the handle), kept and written at
    every runstate change of `target`; written once now (the caller's own
    runstate as it is, another vCPU's extrapolated, as in Xen).  HVM
    handles are never range-checked (guest_handle_okay() is true under
    external paging); a bad address only makes the copies fail silently."""
    lay, buf = get_struct(v, vo.vcpu_register_runstate_memory_area, arg)
    addr = lay.get(buf, "addr")
    target.runstate_area = addr
    info = target.runstate_info(extrapolate=target is not v)
    try:
        copy_to_guest(v, addr, info)
    except HypercallError:
        pass                                   # __copy_to_guest's result is ignored
    return 0


def register_vcpu_time_memory_area(v, target, arg):
    """x86 arch_do_vcpu_op(): remember the area, then
    force_update_vcpu_system_time() fills it."""
    lay, buf = get_struct(v, vo.vcpu_register_time_memory_area, arg)
    target.time_area = lay.get(buf, "addr")
    target.update_time_area()
    return 0


# ---- timers -------------------------------------------------------------------------------------
def set_periodic_timer(v, target, arg):
    period = int.from_bytes(copy_from_guest(v, arg, 8), "little")
    if period < MILLISECS or period > STIME_DELTA_MAX:
        return -errno.EINVAL
    target.set_periodic_timer(period)
    return 0


def set_singleshot_timer(v, target, arg):
    if target is not v:
        return -errno.EINVAL
    timeout = int.from_bytes(copy_from_guest(v, arg, 8), "little")   # flags no longer read
    if timeout < v.hv.clock.now():
        v.singleshot_timer.stop()
        v.send_timer_event()
    else:
        v.singleshot_timer.set(timeout)
    return 0


# ---- register_vcpu_info ----------------------------------------------------------------------
def register_vcpu_info(v, target, arg):
    lay, buf = get_struct(v, vo.vcpu_register_vcpu_info, arg)
    mfn, offset = lay.get(buf, "mfn", "offset")
    gaddr = (mfn << PAGE_SHIFT) + offset
    if gaddr >= 1 << 64 or gaddr == (1 << 64) - 1 or (gaddr >> PAGE_SHIFT) != mfn:
        return -errno.EINVAL
    if target.vcpu_info_registered:
        return -errno.EBUSY
    si = v.domain.shared_info
    size = si.vcpu_info_layout.size
    if ((gaddr + size - 1) >> PAGE_SHIFT) != mfn:
        return -errno.ENXIO
    if gaddr & (si.abi.ulong - 1):
        return -errno.ENXIO
    # (Xen pauses another target vCPU meanwhile; here it is not running anyway)
    view = v.domain.physmap.view(gaddr, size)
    if view is None:
        return -errno.EINVAL
    target.move_vcpu_info(VcpuInfoRef(view, 0, si.vcpu_info_layout))
    return 0


# ---- dispatch ------------------------------------------------------------------------------------
def do_vcpu_op(v, cmd, vcpuid, arg, *_):
    target = v.domain.vcpu_by_id(vcpuid & MASK32)
    if target is None:
        return -errno.ENOENT
    if cmd == vo.VCPUOP_initialise:
        return initialise(v, target, arg)
    if cmd == vo.VCPUOP_up:
        return up(target)
    if cmd == vo.VCPUOP_down:
        return down(v, target)
    if cmd == vo.VCPUOP_is_up:
        return int(target.online)
    if cmd == vo.VCPUOP_get_runstate_info:
        return get_runstate_info(v, target, arg)
    if cmd == vo.VCPUOP_register_runstate_memory_area:
        return register_runstate_memory_area(v, target, arg)
    if cmd == vo.VCPUOP_register_vcpu_time_memory_area:
        return register_vcpu_time_memory_area(v, target, arg)
    if cmd == vo.VCPUOP_set_periodic_timer:
        return set_periodic_timer(v, target, arg)
    if cmd == vo.VCPUOP_stop_periodic_timer:
        target.set_periodic_timer(0)
        return 0
    if cmd == vo.VCPUOP_set_singleshot_timer:
        return set_singleshot_timer(v, target, arg)
    if cmd == vo.VCPUOP_stop_singleshot_timer:
        if target is not v:
            return -errno.EINVAL
        v.singleshot_timer.stop()
        return 0
    if cmd == vo.VCPUOP_register_vcpu_info:
        return register_vcpu_info(v, target, arg)
    if cmd == vo.VCPUOP_get_physid:
        return -errno.EINVAL                       # only for the hwdom's pinned vCPUs
    if cmd == vo.VCPUOP_send_nmi:
        if arg:
            return -errno.EINVAL
        target.send_nmi()
        return 0
    raise HypercallError(errno.ENOSYS)
