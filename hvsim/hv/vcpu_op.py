"""vcpu_op (Xen's do_vcpu_op / common_vcpu_op in xen/common/domain.c, and
arch_set_info_hvm_guest in xen/arch/x86/hvm/domain.c): bringing up vCPUs
with a vcpu_hvm_context, runstate, timers, and moving vcpu_info out of
shared_info."""

from ..abi import errno, vcpu as vo
from ..abi import hvm_vcpu as hv_ctx
from ..abi.errno import HypercallError
from ..abi.sched import SHUTDOWN_poweroff
from ..arch.x86.cpustate import GPRS_32, R_CS, R_DS, R_ES, R_SS
from ..arch.x86.msr import EFER_LMA, EFER_LME, EFER_VALID, canonical
from ..arch.x86.paging import CR0_PG, CR4_PAE
from ..arch.x86.traps import EFLAGS_MBS
from .guest_access import copy_from_guest, copy_to_guest, get_struct
from .physmap import PAGE_SHIFT
from .shared_info import VcpuInfoRef

MILLISECS = 1_000_000
STIME_DELTA_MAX = (1 << 62) - 1

# CR4 bits allowed by hvsim's CPUID (hvm_cr4_guest_valid_bits)
CR4_VALID = ((1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) |
             (1 << 9) | (1 << 10) | (1 << 16) | (1 << 17) | (1 << 18) | (1 << 20))


# ---- VCPUOP_initialise -------------------------------------------------------------------
def _check_segment(name, attr, limit):
    """check_segment(): -EINVAL for a segment Xen would refuse."""
    if attr & 0xF000:
        return False
    if attr == 0:
        return name in ("ds", "es")
    typ, s_bit, present = attr & 0xF, attr & 0x10, attr & 0x80
    if name == "tr":
        return not s_bit and typ == 0xB
    if not s_bit or not present:
        return False
    if name == "cs":
        return bool(typ & 8)
    if name == "ss":
        return not typ & 8 and bool(typ & 2)
    return not (typ & 8 and not typ & 2)


def _context32(lay, buf):
    g = lambda f: lay.get(buf, "cpu_regs.x86_32." + f)               # noqa: E731
    if g("pad1") or any(buf[lay.offset("cpu_regs.x86_32.pad2") + i] for i in range(6)):
        return None
    segs = {}
    for name in ("cs", "ds", "ss", "es", "tr"):
        attr, base, limit = g(name + "_ar"), g(name + "_base"), g(name + "_limit")
        if attr & 0x80:
            attr |= 2 if name == "tr" else 1                          # busy / accessed
        if not _check_segment(name, attr, limit):
            return None
        segs[name] = (base, limit, attr)
    cs_base, cs_limit, cs_attr = segs["cs"]
    eff = ((cs_limit << 12) | 0xFFF) & 0xFFFFFFFF if cs_attr & 0x800 else cs_limit
    if g("eip") > eff:
        return None
    dpl = lambda a: (a >> 5) & 3                                      # noqa: E731
    if dpl(segs["ss"][2]) != dpl(cs_attr):
        return None
    for name in ("ds", "es"):
        if segs[name][2] & 0x80 and dpl(segs[name][2]) > dpl(cs_attr):
            return None
    efer = g("efer")
    if efer & EFER_LMA and not efer & EFER_LME:
        return None
    regs = {idx: g(name) for name, idx in GPRS_32}
    return (g("eip"), regs, g("eflags"), g("cr0"), g("cr3"), g("cr4"), efer, segs)


def _context64(lay, buf):
    g = lambda f: lay.get(buf, "cpu_regs.x86_64." + f)               # noqa: E731
    rip, cr0, cr4, efer = g("rip"), g("cr0"), g("cr4"), g("efer")
    if not canonical(rip) or not cr0 & CR0_PG or not cr4 & CR4_PAE or \
            not efer & EFER_LME:
        return None
    regs = {idx: g("r" + name[1:]) for name, idx in GPRS_32}
    segs = {"cs": (0, 0xFFFFFFFF, 0xA9B), "ds": (0, 0xFFFFFFFF, 0xC93),
            "ss": (0, 0xFFFFFFFF, 0xC93), "es": (0, 0xFFFFFFFF, 0xC93),
            "tr": (0, 0x67, 0x8B)}
    return (rip, regs, g("rflags"), cr0, g("cr3"), cr4, efer, segs)


_SEG_INDEX = {"cs": R_CS, "ds": R_DS, "ss": R_SS, "es": R_ES, "tr": "tr"}


def initialise(v, target, arg):
    lay, buf = get_struct(v, hv_ctx.vcpu_hvm_context, arg)
    if target.initialised:
        return -errno.EEXIST
    mode, pad = lay.get(buf, "mode", "pad")
    if pad or mode not in (hv_ctx.VCPU_HVM_MODE_32B, hv_ctx.VCPU_HVM_MODE_64B):
        return -errno.EINVAL
    ctx = (_context32 if mode == hv_ctx.VCPU_HVM_MODE_32B else _context64)(lay, buf)
    if ctx is None:
        return -errno.EINVAL
    rip, regs, rflags, cr0, cr3, cr4, efer, segs = ctx
    if efer & EFER_LME:
        efer |= EFER_LMA
    if cr4 & ~CR4_VALID or efer & ~EFER_VALID:
        return -errno.EINVAL
    target.arch.reset_hvm_context(rip, regs, (rflags & 0x3F7FD7) | EFLAGS_MBS, cr0, cr3, cr4,
                                  efer, {_SEG_INDEX[k]: s for k, s in segs.items()})
    target.tsc_offset = v.domain.vcpus[0].tsc_offset
    target.initialised = True
    return 0


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
    lay = vo.vcpu_runstate_info.layout(v.hcall_abi)
    buf = bytearray(lay.size)
    times = target.runstate_times()
    lay.put(buf, state=target.runstate, state_entry_time=target.runstate_entry)
    off = lay.offset("time")
    for i, t in enumerate(times):
        buf[off + 8 * i:off + 8 * i + 8] = t.to_bytes(8, "little")
    copy_to_guest(v, arg, buf)
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
    target = v.domain.vcpu_by_id(vcpuid & 0xFFFFFFFF)
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
