"""public/domctl.h: the control-domain interface (XEN_DOMCTL_*), with the
structs hvsim implements.  The layout is the same for 32- and 64-bit callers
(uint64_aligned_t, 64-bit guest handles)."""

from .cstruct import (Struct, array, domid, handle64, u8, u16, u32, u64,
                      u64_aligned)

XEN_DOMCTL_INTERFACE_VERSION = 0x00000018

XEN_DOMCTL_createdomain = 1
XEN_DOMCTL_destroydomain = 2
XEN_DOMCTL_pausedomain = 3
XEN_DOMCTL_unpausedomain = 4
XEN_DOMCTL_getdomaininfo = 5
XEN_DOMCTL_setvcpuaffinity = 9
XEN_DOMCTL_shadow_op = 10
XEN_DOMCTL_max_mem = 11
XEN_DOMCTL_setvcpucontext = 12
XEN_DOMCTL_getvcpucontext = 13
XEN_DOMCTL_getvcpuinfo = 14
XEN_DOMCTL_max_vcpus = 15
XEN_DOMCTL_scheduler_op = 16
XEN_DOMCTL_setdomainhandle = 17
XEN_DOMCTL_setdebugging = 18
XEN_DOMCTL_irq_permission = 19
XEN_DOMCTL_iomem_permission = 20
XEN_DOMCTL_ioport_permission = 21
XEN_DOMCTL_hypercall_init = 22
XEN_DOMCTL_settimeoffset = 24
XEN_DOMCTL_getvcpuaffinity = 25
XEN_DOMCTL_resumedomain = 27
XEN_DOMCTL_sendtrigger = 28
XEN_DOMCTL_subscribe = 29
XEN_DOMCTL_bind_pt_irq = 38
XEN_DOMCTL_memory_mapping = 39
XEN_DOMCTL_ioport_mapping = 40
XEN_DOMCTL_set_target = 46
XEN_DOMCTL_unbind_pt_irq = 48
XEN_DOMCTL_set_virq_handler = 66
XEN_DOMCTL_get_domain_state = 90

XEN_DOMINF_dying = 1 << 0
XEN_DOMINF_hvm_guest = 1 << 1
XEN_DOMINF_shutdown = 1 << 2
XEN_DOMINF_paused = 1 << 3
XEN_DOMINF_blocked = 1 << 4
XEN_DOMINF_running = 1 << 5
XEN_DOMINF_debugged = 1 << 6
XEN_DOMINF_xs_domain = 1 << 7
XEN_DOMINF_hap = 1 << 8
XEN_DOMINF_shutdownmask = 255
XEN_DOMINF_shutdownshift = 16
XEN_INVALID_MAX_VCPU_ID = 0xFFFFFFFF

XEN_DOMCTL_GETDOMSTATE_STATE_EXIST = 0x1
XEN_DOMCTL_GETDOMSTATE_STATE_SHUTDOWN = 0x2
XEN_DOMCTL_GETDOMSTATE_STATE_DYING = 0x4
XEN_DOMCTL_GETDOMSTATE_STATE_DEAD = 0x8
XEN_DOMCTL_GETDOMSTATE_CAP_CONTROL = 0x1
XEN_DOMCTL_GETDOMSTATE_CAP_HARDWARE = 0x2
XEN_DOMCTL_GETDOMSTATE_CAP_XENSTORE = 0x4

XEN_VCPUAFFINITY_HARD = 1 << 0
XEN_VCPUAFFINITY_SOFT = 1 << 1
XEN_VCPUAFFINITY_FORCE = 1 << 2

XEN_X86_EMU_LAPIC = 1 << 0

xen_arch_domainconfig = Struct("xen_arch_domainconfig", [
    ("emulation_flags", u32), ("misc_flags", u32)])

xen_domctl_getdomaininfo = Struct("xen_domctl_getdomaininfo", [
    ("domain", domid), ("pad1", u16), ("flags", u32),
    ("tot_pages", u64_aligned), ("max_pages", u64_aligned),
    ("outstanding_pages", u64_aligned), ("shr_pages", u64_aligned),
    ("paged_pages", u64_aligned), ("shared_info_frame", u64_aligned),
    ("cpu_time", u64_aligned), ("nr_online_vcpus", u32), ("max_vcpu_id", u32),
    ("ssidref", u32), ("handle", array(u8, 16)), ("cpupool", u32),
    ("gpaddr_bits", u8), ("pad2", array(u8, 7)), ("arch_config", xen_arch_domainconfig)])

xen_domctl_get_domain_state = Struct("xen_domctl_get_domain_state", [
    ("state", u16), ("caps", u16), ("pad0", u32), ("unique_id", u64)])

xenctl_bitmap = Struct("xenctl_bitmap", [("bitmap", handle64("uint8_t")), ("nr_bits", u32)])

xen_domctl_vcpuaffinity = Struct("xen_domctl_vcpuaffinity", [
    ("vcpu", u32), ("flags", u32), ("cpumap_hard", xenctl_bitmap),
    ("cpumap_soft", xenctl_bitmap)])

xen_domctl_max_vcpus = Struct("xen_domctl_max_vcpus", [("max", u32)])

xen_domctl = Struct("xen_domctl", [
    ("cmd", u32), ("interface_version", u32), ("domain", domid), ("_pad", array(u16, 3)),
    ("u", array(u64_aligned, 16))])

