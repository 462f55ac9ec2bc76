"""What Xen's xen/arch/x86/hvm/hvm.c does for a PVH domain: hvm_op
(do_hvm_op: HVM parameters, the event-channel callback, HVMOP_get_time),
the CR4 bits a guest may set (hvm_cr4_guest_valid_bits) and the debug
console port 0xE9 (hvm_print_line).  Which parameter a domain may read or
write on itself, and with which errno otherwise, follows
hvm_allow_{set,get}_param() exactly."""

from ...abi import errno, hvm as h
from ...abi.errno import HypercallError
from ...arch.x86.defns import (CR4_DE, CR4_FSGSBASE, CR4_MCE, CR4_OSFXSR, CR4_OSXMMEXCPT,
                               CR4_OSXSAVE, CR4_PAE, CR4_PCE, CR4_PGE, CR4_PSE,
                               CR4_SMEP, CR4_TSD, MASK32)
from ..guest_access import copy_to_guest, get_struct, put_struct
from ..xsm import TARGET

_GUEST_SET = {h.HVM_PARAM_CALLBACK_IRQ, h.HVM_PARAM_VM86_TSS, h.HVM_PARAM_VM86_TSS_SIZED,
              h.HVM_PARAM_ACPI_IOPORTS_LOCATION, h.HVM_PARAM_VM_GENERATION_ID_ADDR,
              h.HVM_PARAM_STORE_EVTCHN, h.HVM_PARAM_CONSOLE_EVTCHN, h.HVM_PARAM_X87_FIP_WIDTH}
_GUEST_GET = _GUEST_SET | {h.HVM_PARAM_STORE_PFN, h.HVM_PARAM_CONSOLE_PFN, h.HVM_PARAM_ALTP2M}
_DEPRECATED = {4, 13, 20, 21, 22, 23, 24, 25, 26, 30}
_SET_ONCE = {h.HVM_PARAM_VIRIDIAN, h.HVM_PARAM_IOREQ_PFN, h.HVM_PARAM_BUFIOREQ_PFN,
             h.HVM_PARAM_IOREQ_SERVER_PFN, h.HVM_PARAM_NR_IOREQ_SERVER_PAGES,
             h.HVM_PARAM_ALTP2M, h.HVM_PARAM_MCA_CAP}
VM86_TSS_UPDATED = 1 << 63
VM86_TSS_OLD_HVMLOADER_SIZE = 128       # old hvmloaders hardcode the TSS size to 128 bytes
TSS32_SIZE = 104
UPCALL_VECTOR_MIN = 0x10                # vectors below are exceptions

# hvm_cr4_guest_valid_bits() for hvsim's CPUID policy (arch/x86/cpuid.py: no
# PCID, UMIP, VMX, SMX, SMAP, PKU, LA57 or CET; tests/test_cpuid_policy.py
# keeps the two in step)
CR4_GUEST_VALID = (CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE |
                   CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_FSGSBASE | CR4_OSXSAVE | CR4_SMEP)


def _param_domain(v, domid):
    return v.hv.domain_by_any_id(v.domain, domid)


def _allow(v, d, index, allowed):
    if not v.hv.xsm.allowed(TARGET, v.domain, d):
        return -errno.EPERM
    if index in _DEPRECATED:
        return -errno.EINVAL
    if index not in allowed and d is v.domain:
        return -errno.EPERM
    return 0


def _set_param(v, d, index, value):
    rc = _allow(v, d, index, _GUEST_SET)
    if rc:
        return rc
    old = d.hvm_params[index]
    if index in _SET_ONCE and old and value != old:
        return -errno.EEXIST
    if index == h.HVM_PARAM_CALLBACK_IRQ:
        d.set_callback_via(value)
        if d is v.domain:
            d.shared_info.latch(v.arch.st.code64)       # hvm_latch_shinfo_size()
    elif index == h.HVM_PARAM_VM86_TSS:
        if value != value & MASK32:
            d.crash("HVM_PARAM_VM86_TSS %#x out of range" % value)
            return -errno.EINVAL
        if value:
            value |= (VM86_TSS_OLD_HVMLOADER_SIZE << 32) | VM86_TSS_UPDATED
        index = h.HVM_PARAM_VM86_TSS_SIZED
    elif index == h.HVM_PARAM_VM86_TSS_SIZED:
        if (value >> 32) < TSS32_SIZE:
            d.crash("HVM_PARAM_VM86_TSS_SIZED size %d too small" % (value >> 32))
            return -errno.EINVAL
        value |= VM86_TSS_UPDATED
    elif index == h.HVM_PARAM_ACPI_IOPORTS_LOCATION:
        return -errno.ENODEV                            # no virtual PM timer on PVH
    elif index == h.HVM_PARAM_X87_FIP_WIDTH:
        if value not in (0, 4, 8):
            return -errno.EINVAL
    d.hvm_params[index] = value
    return 0


def _get_param(v, d, index):
    rc = _allow(v, d, index, _GUEST_GET)
    if rc:
        return rc, 0
    if index == h.HVM_PARAM_VM86_TSS:
        return 0, d.hvm_params[h.HVM_PARAM_VM86_TSS_SIZED] & MASK32
    if index == h.HVM_PARAM_VM86_TSS_SIZED:
        return 0, d.hvm_params[index] & ~VM86_TSS_UPDATED
    return 0, d.hvm_params[index]


def _param_op(v, op, arg):
    lay, buf = get_struct(v, h.xen_hvm_param, arg)
    domid, index, value = lay.get(buf, "domid", "index", "value")
    if index >= h.HVM_NR_PARAMS:
        return -errno.EINVAL
    d = _param_domain(v, domid)
    if op == h.HVMOP_set_param:
        return _set_param(v, d, index, value)
    rc, value = _get_param(v, d, index)
    if rc:
        return rc
    lay.put(buf, value=value)
    put_struct(v, lay, arg, buf)
    return 0


def _get_time(v, arg):
    lay = h.xen_hvm_get_time.layout(v.hcall_abi)
    buf = bytearray(lay.size)
    lay.put(buf, now=v.hv.clock.now())
    copy_to_guest(v, arg, buf)
    return 0


def _set_evtchn_upcall_vector(v, arg):
    lay, buf = get_struct(v, h.xen_hvm_evtchn_upcall_vector, arg)
    vcpu_id, vector = lay.get(buf, "vcpu", "vector")
    if vector < UPCALL_VECTOR_MIN:
        return -errno.EINVAL
    target = v.domain.vcpu_by_id(vcpu_id)
    if target is None:
        return -errno.ENOENT
    target.set_upcall_vector(vector)
    return 0


def _pagetable_dying(v, arg):
    """HVMOP_pagetable_dying: a hint only a shadow-paging domain acts on;
    hvsim's domains are HAP ones, so the caller's own gets -EINVAL, another
    domain -EPERM (after the struct and the domid are checked)."""
    lay, buf = get_struct(v, h.xen_hvm_pagetable_dying, arg)
    d = v.hv.domain_by_any_id(v.domain, lay.get(buf, "domid"))
    return -errno.EINVAL if d is v.domain else -errno.EPERM


def do_hvm_op(v, op, arg, *_):
    if op in (h.HVMOP_set_param, h.HVMOP_get_param):
        return _param_op(v, op, arg)
    if op == h.HVMOP_get_time:
        return _get_time(v, arg)
    if op == h.HVMOP_set_evtchn_upcall_vector:
        return _set_evtchn_upcall_vector(v, arg)
    if op == h.HVMOP_flush_tlbs:
        if arg:
            return -errno.EINVAL
        for u in v.domain.vcpus:
            u.arch.flush_tlb()
        return 0
    if op == h.HVMOP_guest_request_vm_event:
        return -errno.EINVAL if arg else 0     # no monitor attached: nothing to notify
    if op == h.HVMOP_pagetable_dying:
        return _pagetable_dying(v, arg)
    if op == h.HVMOP_altp2m:
        return -errno.EOPNOTSUPP
    raise HypercallError(errno.ENOSYS)


def print_line(v, value):
    """hvm_print_line(): a byte written to XEN_HVM_DEBUGCONS_IOPORT goes to
    the domain's console, line-buffered as console_io's output is."""
    v.domain.console.write(bytes((value & 0xFF,)))
