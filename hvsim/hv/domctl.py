"""domctl (Xen's do_domctl, xen/common/domctl.c): what a control domain uses
to inspect and steer the others.  hvsim implements getdomaininfo,
get_domain_state, pausedomain, unpausedomain, destroydomain, max_vcpus and
setvcpuaffinity; every other command is -ENOSYS once past Xen's checks."""

from ..abi import domctl as dc
from ..abi import errno, xen
from ..abi.cstruct import MASK32
from ..arch.x86.paging import PHYS_BITS
from .domain import DOMDYING_dead, DOMDYING_dying
from .evtchn import global_virq_handler
from .guest_access import copy_from_guest, copy_to_guest, get_struct, put_struct
from .sched import SHUTDOWN_CODE_INVALID
from .xsm import DM_PRIV, PRIV, XS_PRIV

_STABLE = (dc.XEN_DOMCTL_get_domain_state,)
_NO_DOMAIN = (dc.XEN_DOMCTL_createdomain,)
# xsm_domctl() of dummy.h: these two XS_PRIV, the device model's four DM_PRIV, the rest PRIV
_XS_PRIV_OPS = (dc.XEN_DOMCTL_getdomaininfo, dc.XEN_DOMCTL_get_domain_state)
_DM_PRIV_OPS = (dc.XEN_DOMCTL_ioport_mapping, dc.XEN_DOMCTL_memory_mapping,
                dc.XEN_DOMCTL_bind_pt_irq, dc.XEN_DOMCTL_unbind_pt_irq)


# ---- getdomaininfo ----------------------------------------------------------------------
def getdomaininfo(hv, d, lay, buf, base=0):
    """Fill a xen_domctl_getdomaininfo for d (Xen's getdomaininfo())."""
    buf[base:base + lay.size] = bytes(lay.size)
    flags = dc.XEN_DOMINF_blocked
    cpu_time = online = 0
    running_vcpu = hv.scheduler.current
    for v in d.vcpus:
        cpu_time += v.runstate_times()[0]
        if v.online:
            online += 1
            if not v.blocked:
                flags &= ~dc.XEN_DOMINF_blocked
            if v is running_vcpu:
                flags |= dc.XEN_DOMINF_running
    if not online:
        flags = 0
    if d.is_dying == DOMDYING_dead:
        flags |= dc.XEN_DOMINF_dying
    if d.is_shutting_down:
        flags |= dc.XEN_DOMINF_shutdown
    if d.paused:
        flags |= dc.XEN_DOMINF_paused
    if d.is_xenstore_domain:
        flags |= dc.XEN_DOMINF_xs_domain
    flags |= dc.XEN_DOMINF_hvm_guest | dc.XEN_DOMINF_hap
    code = SHUTDOWN_CODE_INVALID if d.shutdown_code is None else d.shutdown_code
    flags |= (code << dc.XEN_DOMINF_shutdownshift) & MASK32
    si_gfn = d.physmap.overlay_gfn("shared_info")
    lay.put(buf, base=base, domain=d.domid, flags=flags, tot_pages=d.tot_pages,
            max_pages=d.max_pages,
            shared_info_frame=si_gfn if si_gfn is not None else (1 << 64) - 1,
            cpu_time=cpu_time, nr_online_vcpus=online,
            max_vcpu_id=len(d.vcpus) - 1 if d.vcpus else dc.XEN_INVALID_MAX_VCPU_ID,
            ssidref=0, cpupool=0, gpaddr_bits=PHYS_BITS,
            **{"arch_config.emulation_flags": dc.XEN_X86_EMU_LAPIC})
    off = lay.offset("handle")
    buf[base + off:base + off + 16] = d.handle


def _getdomaininfo(v, d, op_lay, op, u):
    lay = dc.xen_domctl_getdomaininfo.layout(v.hcall_abi)
    if not v.hv.xsm.allowed(XS_PRIV, v.domain, d):
        return -errno.EPERM
    getdomaininfo(v.hv, d, lay, op, u)
    op_lay.put(op, domain=d.domid)
    return 0


# ---- get_domain_state ------------------------------------------------------------------------
def _fill_state(d, lay, op, u):
    state = dc.XEN_DOMCTL_GETDOMSTATE_STATE_EXIST
    if d.is_shutting_down:
        state |= dc.XEN_DOMCTL_GETDOMSTATE_STATE_SHUTDOWN
    if d.is_dying == DOMDYING_dying:
        state |= dc.XEN_DOMCTL_GETDOMSTATE_STATE_DYING
    if d.is_dying == DOMDYING_dead:
        state |= dc.XEN_DOMCTL_GETDOMSTATE_STATE_DEAD
    caps = ((dc.XEN_DOMCTL_GETDOMSTATE_CAP_CONTROL if d.is_privileged else 0) |
            (dc.XEN_DOMCTL_GETDOMSTATE_CAP_HARDWARE if d.is_hardware_domain else 0) |
            (dc.XEN_DOMCTL_GETDOMSTATE_CAP_XENSTORE if d.is_xenstore_domain else 0))
    lay.put(op, base=u, state=state, caps=caps, pad0=0, unique_id=d.unique_id)


def _get_domain_state(v, d, op_lay, op, u):
    hv = v.hv
    lay = dc.xen_domctl_get_domain_state.layout(v.hcall_abi)
    if lay.get(op, "pad0", base=u):
        return -errno.EINVAL
    if d is not None:
        if not hv.xsm.allowed(XS_PRIV, v.domain, d):
            return -errno.EPERM
        _fill_state(d, lay, op, u)
        return 0
    if v.domain is not global_virq_handler(hv, xen.VIRQ_DOM_EXC):
        return -errno.EACCES
    changed = hv.dom_state_changed
    for domid in sorted(changed or ()):
        target = hv.domains.get(domid)
        if target is not None and not hv.xsm.allowed(XS_PRIV, v.domain, target):
            continue
        changed.discard(domid)
        op_lay.put(op, domain=domid)
        if target is None:
            op[u:u + lay.size] = bytes(lay.size)            # gone: state 0
        else:
            _fill_state(target, lay, op, u)
        return 0
    return -errno.ENOENT


# ---- pause / unpause / destroy / max_vcpus ------------------------------------------------------
def _pausedomain(v, d, *_):
    if d is v.domain:
        return -errno.EINVAL
    return d.pause()


def _unpausedomain(v, d, *_):
    return d.unpause()


def _destroydomain(v, d, *_):
    if d is v.domain:
        return -errno.EINVAL
    return d.kill()


def _max_vcpus(v, d, op_lay, op, u):
    lay = dc.xen_domctl_max_vcpus.layout(v.hcall_abi)
    if d is v.domain or lay.get(op, "max", base=u) != d.max_vcpus:
        return -errno.EINVAL
    return 0                      # every vCPU exists from domain creation


# ---- setvcpuaffinity -----------------------------------------------------------------------------
def _read_cpumap(v, lay, op, u, name, pcpus):
    ptr, nr_bits = lay.get(op, name + ".bitmap", name + ".nr_bits", base=u)
    if ptr == 0:
        return None
    nbytes = min((nr_bits + 7) // 8, (pcpus + 7) // 8)
    raw = bytearray(copy_from_guest(v, ptr, nbytes)) if nbytes else bytearray()
    mask = int.from_bytes(raw, "little")
    if nr_bits < 8 * nbytes:
        mask &= (1 << nr_bits) - 1
    return mask


def _write_cpumap(v, lay, op, u, name, mask):
    ptr, nr_bits = lay.get(op, name + ".bitmap", name + ".nr_bits", base=u)
    nbytes = (nr_bits + 7) // 8
    copy_to_guest(v, ptr, (mask & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little"))


def _setvcpuaffinity(v, d, op_lay, op, u):
    lay = dc.xen_domctl_vcpuaffinity.layout(v.hcall_abi)
    vcpu, flags = lay.get(op, "vcpu", "flags", base=u)
    if vcpu >= d.max_vcpus:
        return -errno.EINVAL
    target = d.vcpu_by_id(vcpu)
    if target is None:
        return -errno.ESRCH
    hard_ptr, soft_ptr = lay.get(op, "cpumap_hard.bitmap", "cpumap_soft.bitmap", base=u)
    if not flags & (dc.XEN_VCPUAFFINITY_HARD | dc.XEN_VCPUAFFINITY_SOFT) or \
            (flags & dc.XEN_VCPUAFFINITY_HARD and not hard_ptr) or \
            (flags & dc.XEN_VCPUAFFINITY_SOFT and not soft_ptr):
        return -errno.EINVAL
    online = (1 << v.hv.pcpus) - 1
    rc = 0
    if flags & dc.XEN_VCPUAFFINITY_HARD:
        hard = _read_cpumap(v, lay, op, u, "cpumap_hard", v.hv.pcpus) & online
        if not hard:
            return -errno.EINVAL
        target.hard_affinity = hard
        _write_cpumap(v, lay, op, u, "cpumap_hard", hard)
    if flags & dc.XEN_VCPUAFFINITY_SOFT:
        soft = _read_cpumap(v, lay, op, u, "cpumap_soft", v.hv.pcpus) & online
        target.soft_affinity = soft
        _write_cpumap(v, lay, op, u, "cpumap_soft", soft & target.hard_affinity)
    return rc


_HANDLERS = {
    dc.XEN_DOMCTL_getdomaininfo: (_getdomaininfo, True),
    dc.XEN_DOMCTL_get_domain_state: (_get_domain_state, True),
    dc.XEN_DOMCTL_pausedomain: (_pausedomain, False),
    dc.XEN_DOMCTL_unpausedomain: (_unpausedomain, False),
    dc.XEN_DOMCTL_destroydomain: (_destroydomain, False),
    dc.XEN_DOMCTL_max_vcpus: (_max_vcpus, False),
    dc.XEN_DOMCTL_setvcpuaffinity: (_setvcpuaffinity, False),
}


def do_domctl(v, arg, *_):
    hv = v.hv
    lay, op = get_struct(v, dc.xen_domctl, arg)
    cmd, version, domid = lay.get(op, "cmd", "interface_version", "domain")
    want = 0 if cmd in _STABLE else dc.XEN_DOMCTL_INTERFACE_VERSION
    if version != want:
        return -errno.EACCES
    d = None
    if cmd == dc.XEN_DOMCTL_get_domain_state and domid == xen.DOMID_INVALID:
        pass
    elif cmd not in _NO_DOMAIN:
        d = hv.domains.get(domid)             # DOMID_SELF is not resolved here
        if d is None:
            return -errno.ESRCH
    action = XS_PRIV if cmd in _XS_PRIV_OPS else DM_PRIV if cmd in _DM_PRIV_OPS else PRIV
    if not hv.xsm.allowed(action, v.domain, d):
        return -errno.EPERM
    entry = _HANDLERS.get(cmd)
    if entry is None:
        return -errno.ENOSYS
    handler, copyback = entry
    u = lay.offset("u")
    rc = handler(v, d, lay, op, u)
    if copyback and rc == 0:
        put_struct(v, lay, arg, op)
    return rc
