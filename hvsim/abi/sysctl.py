"""public/sysctl.h: the system-control interface (XEN_SYSCTL_*); hvsim
implements getdomaininfolist."""

from .cstruct import Struct, array, domid, handle64, u32, u64_aligned

XEN_SYSCTL_INTERFACE_VERSION = 0x00000015

XEN_SYSCTL_readconsole = 1
XEN_SYSCTL_tbuf_op = 2
XEN_SYSCTL_physinfo = 3
XEN_SYSCTL_sched_id = 4
XEN_SYSCTL_perfc_op = 5
XEN_SYSCTL_getdomaininfolist = 6
XEN_SYSCTL_debug_keys = 7
XEN_SYSCTL_getcpuinfo = 8
XEN_SYSCTL_availheap = 9

xen_sysctl_getdomaininfolist = Struct("xen_sysctl_getdomaininfolist", [
    ("first_domain", domid), ("max_domains", u32),
    ("buffer", handle64("xen_domctl_getdomaininfo_t")), ("num_domains", u32)])

xen_sysctl = Struct("xen_sysctl", [
    ("cmd", u32), ("interface_version", u32), ("u", array(u64_aligned, 16))])
