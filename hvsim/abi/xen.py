"""public/xen.h: hypercall numbers, domain ids, VIRQs, start-info flags, and
the shared_info / vcpu_info / vcpu_time_info layouts for every guest ABI;
plus public/arch-x86/xen.h's debug console port."""

from .cstruct import (Struct, array, per_abi, u8, s8, u32, u64, xen_ulong,
                      xen_pfn)

# ---- hypercall numbers (__HYPERVISOR_*) ------------------------------------
__HYPERVISOR_set_trap_table = 0
__HYPERVISOR_mmu_update = 1
__HYPERVISOR_set_gdt = 2
__HYPERVISOR_stack_switch = 3
__HYPERVISOR_set_callbacks = 4
__HYPERVISOR_fpu_taskswitch = 5
__HYPERVISOR_sched_op_compat = 6
__HYPERVISOR_platform_op = 7
__HYPERVISOR_set_debugreg = 8
__HYPERVISOR_get_debugreg = 9
__HYPERVISOR_update_descriptor = 10
__HYPERVISOR_memory_op = 12
__HYPERVISOR_multicall = 13
__HYPERVISOR_update_va_mapping = 14
__HYPERVISOR_set_timer_op = 15
__HYPERVISOR_event_channel_op_compat = 16
__HYPERVISOR_xen_version = 17
__HYPERVISOR_console_io = 18
__HYPERVISOR_physdev_op_compat = 19
__HYPERVISOR_grant_table_op = 20
__HYPERVISOR_vm_assist = 21

# vm_assist commands and the one type an HVM guest may use (HVM_VM_ASSIST_MASK)
VMASST_CMD_enable = 0
VMASST_CMD_disable = 1
VMASST_TYPE_runstate_update_flag = 5
__HYPERVISOR_update_va_mapping_otherdomain = 22
__HYPERVISOR_iret = 23
__HYPERVISOR_vcpu_op = 24
__HYPERVISOR_set_segment_base = 25
__HYPERVISOR_mmuext_op = 26
__HYPERVISOR_xsm_op = 27
__HYPERVISOR_nmi_op = 28
__HYPERVISOR_sched_op = 29
__HYPERVISOR_callback_op = 30
__HYPERVISOR_xenoprof_op = 31
__HYPERVISOR_event_channel_op = 32
__HYPERVISOR_physdev_op = 33
__HYPERVISOR_hvm_op = 34
__HYPERVISOR_sysctl = 35
__HYPERVISOR_domctl = 36
__HYPERVISOR_kexec_op = 37
__HYPERVISOR_tmem_op = 38
__HYPERVISOR_argo_op = 39
__HYPERVISOR_xenpmu_op = 40
__HYPERVISOR_dm_op = 41
__HYPERVISOR_hypfs_op = 42
__HYPERVISOR_arch_0 = 48
__HYPERVISOR_arch_1 = 49
__HYPERVISOR_arch_2 = 50
__HYPERVISOR_arch_3 = 51
__HYPERVISOR_arch_4 = 52
__HYPERVISOR_arch_5 = 53
__HYPERVISOR_arch_6 = 54
__HYPERVISOR_arch_7 = 55
NR_hypercalls = 64

# How many arguments each hypercall takes (64-bit and arm64 guests), from
# xen/include/hypercall-defs.c: how many argument registers a call clobbers
# and traces show.  (64-bit, 32-bit) where they differ: a 32-bit guest's
# set_timer_op takes its 64-bit timeout in two registers.
HYPERCALL_NR_ARGS = {
    __HYPERVISOR_set_trap_table: 1, __HYPERVISOR_mmu_update: 4, __HYPERVISOR_set_gdt: 2,
    __HYPERVISOR_stack_switch: 2, __HYPERVISOR_set_callbacks: 3,
    __HYPERVISOR_fpu_taskswitch: 1, __HYPERVISOR_sched_op_compat: 2,
    __HYPERVISOR_platform_op: 1, __HYPERVISOR_set_debugreg: 2, __HYPERVISOR_get_debugreg: 1,
    __HYPERVISOR_update_descriptor: 2, __HYPERVISOR_memory_op: 2, __HYPERVISOR_multicall: 2,
    __HYPERVISOR_update_va_mapping: 3, __HYPERVISOR_set_timer_op: (1, 2),
    __HYPERVISOR_event_channel_op_compat: 1, __HYPERVISOR_xen_version: 2,
    __HYPERVISOR_console_io: 3, __HYPERVISOR_physdev_op_compat: 1,
    __HYPERVISOR_grant_table_op: 3, __HYPERVISOR_vm_assist: 2,
    __HYPERVISOR_update_va_mapping_otherdomain: 4, __HYPERVISOR_iret: 0,
    __HYPERVISOR_vcpu_op: 3, __HYPERVISOR_set_segment_base: 2, __HYPERVISOR_mmuext_op: 4,
    __HYPERVISOR_xsm_op: 1, __HYPERVISOR_nmi_op: 2, __HYPERVISOR_sched_op: 2,
    __HYPERVISOR_callback_op: 2, __HYPERVISOR_xenoprof_op: 2,
    __HYPERVISOR_event_channel_op: 2, __HYPERVISOR_physdev_op: 2, __HYPERVISOR_hvm_op: 2,
    __HYPERVISOR_sysctl: 1, __HYPERVISOR_domctl: 1, __HYPERVISOR_kexec_op: 2,
    __HYPERVISOR_tmem_op: 1, __HYPERVISOR_argo_op: 5, __HYPERVISOR_xenpmu_op: 2,
    __HYPERVISOR_dm_op: 3, __HYPERVISOR_hypfs_op: 5,
}

# struct multicall_entry: one call of a multicall list (result is a
# xen_long_t: the handler's return value, written back masked)
multicall_entry = Struct("multicall_entry", [
    ("op", xen_ulong), ("result", xen_ulong), ("args", array(xen_ulong, 6))])

# ---- public/arch-x86/xen.h ---------------------------------------------------
XEN_HVM_DEBUGCONS_IOPORT = 0xE9           # "port E9 hack": bytes written go to the console

# ---- domain ids -------------------------------------------------------------
DOMID_FIRST_RESERVED = 0x7FF0
DOMID_SELF = 0x7FF0
DOMID_IO = 0x7FF1
DOMID_XEN = 0x7FF2
DOMID_COW = 0x7FF3
DOMID_INVALID = 0x7FF4
DOMID_IDLE = 0x7FFF
DOMID_MASK = 0x7FFF

# ---- virtual IRQs -------------------------------------------------------------
VIRQ_TIMER = 0
VIRQ_DEBUG = 1
VIRQ_CONSOLE = 2
VIRQ_DOM_EXC = 3
VIRQ_TBUF = 4
VIRQ_DEBUGGER = 6
VIRQ_XENOPROF = 7
VIRQ_CON_RING = 8
VIRQ_PCPU_STATE = 9
VIRQ_MEM_EVENT = 10
VIRQ_ARGO = 11
VIRQ_ENOMEM = 12
VIRQ_XENPMU = 13
VIRQ_ARCH_0 = 16
VIRQ_ARCH_7 = 23
NR_VIRQS = 24

# ---- start_info flags (SIF_*) -------------------------------------------------
SIF_PRIVILEGED = 1 << 0
SIF_INITDOMAIN = 1 << 1
SIF_MULTIBOOT_MOD = 1 << 2
SIF_MOD_START_PFN = 1 << 3
SIF_VIRT_P2M_4TOOLS = 1 << 4
SIF_PM_MASK = 0xFF << 8

XEN_LEGACY_MAX_VCPUS_X86 = 32
XEN_LEGACY_MAX_VCPUS_ARM = 1

XEN_PAGE_SHIFT = 12
XEN_PAGE_SIZE = 1 << XEN_PAGE_SHIFT

# ---- vcpu_time_info / vcpu_info / shared_info -------------------------------
XEN_PVCLOCK_TSC_STABLE_BIT = 1 << 0
XEN_PVCLOCK_GUEST_STOPPED = 1 << 1

vcpu_time_info = Struct("vcpu_time_info", [
    ("version", u32),
    ("pad0", u32),
    ("tsc_timestamp", u64),
    ("system_time", u64),
    ("tsc_to_system_mul", u32),
    ("tsc_shift", s8),
    ("flags", u8),
    ("pad1", array(u8, 2)),
])

_arch_vcpu_info_x86 = Struct("arch_vcpu_info", [
    ("cr2", xen_ulong),
    ("pad", array(xen_ulong, lambda abi: 1 if abi.ulong == 8 else 5)),
])
_arch_vcpu_info_arm = Struct("arch_vcpu_info", [])

vcpu_info = Struct("vcpu_info", [
    ("evtchn_upcall_pending", u8),
    ("evtchn_upcall_mask", per_abi(x86_64=u8, x86_32=u8, arm64=None)),
    ("pad0", per_abi(arm64=u8)),
    ("evtchn_pending_sel", xen_ulong),
    ("arch", per_abi(x86_64=_arch_vcpu_info_x86, x86_32=_arch_vcpu_info_x86,
                     arm64=_arch_vcpu_info_arm)),
    ("time", vcpu_time_info),
])

_arch_shared_info_x86 = Struct("arch_shared_info", [
    ("max_pfn", xen_ulong),
    ("pfn_to_mfn_frame_list_list", xen_pfn),
    ("nmi_reason", xen_ulong),
    ("p2m_cr3", xen_ulong),
    ("p2m_vaddr", xen_ulong),
    ("p2m_generation", xen_ulong),
    ("wc_sec_hi", per_abi(x86_32=u32)),
])
_arch_shared_info_arm = Struct("arch_shared_info", [])


def _legacy_vcpus(abi):
    return XEN_LEGACY_MAX_VCPUS_ARM if abi.name == "arm64" else XEN_LEGACY_MAX_VCPUS_X86


shared_info = Struct("shared_info", [
    ("vcpu_info", array(vcpu_info, _legacy_vcpus)),
    ("evtchn_pending", array(xen_ulong, lambda abi: abi.ulong * 8)),
    ("evtchn_mask", array(xen_ulong, lambda abi: abi.ulong * 8)),
    ("wc_version", u32),
    ("wc_sec", u32),
    ("wc_nsec", u32),
    ("wc_sec_hi", per_abi(x86_64=u32, arm64=u32)),
    ("arch", per_abi(x86_64=_arch_shared_info_x86, x86_32=_arch_shared_info_x86,
                     arm64=_arch_shared_info_arm)),
])


def legacy_max_vcpus(abi):
    return _legacy_vcpus(abi)


def wc_sec_hi_field(abi):
    """wc_sec_hi lives in arch_shared_info on i386, in shared_info elsewhere."""
    return "arch.wc_sec_hi" if abi.name == "x86_32" else "wc_sec_hi"


def hypercall_nargs(nr, ulong=8):
    """The number of arguments hypercall `nr` takes for a guest whose
    unsigned long is `ulong` bytes (5, every register, for an unknown one)."""
    n = HYPERCALL_NR_ARGS.get(nr, 5)
    return n if type(n) is int else n[0 if ulong == 8 else 1]
