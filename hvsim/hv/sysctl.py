"""sysctl (Xen's do_sysctl, xen/common/sysctl.c): getdomaininfolist.  Every
other command is -ENOSYS once past the version and XSM checks."""

from ..abi import domctl as dc
from ..abi import errno, sysctl as sc
from .domctl import getdomaininfo
from .guest_access import copy_to_guest, get_struct, put_struct
from .xsm import PRIV, XS_PRIV


def _getdomaininfolist(v, lay, op, u):
    sub = sc.xen_sysctl_getdomaininfolist.layout(v.hcall_abi)
    first, max_domains, buffer = sub.get(op, "first_domain", "max_domains", "buffer", base=u)
    info = dc.xen_domctl_getdomaininfo.layout(v.hcall_abi)
    num = 0
    for domid in sorted(v.hv.domains):
        if domid < first:
            continue
        if num == max_domains:
            break
        d = v.hv.domains[domid]
        if not v.hv.xsm.allowed(XS_PRIV, v.domain, d):
            continue
        rec = bytearray(info.size)
        getdomaininfo(v.hv, d, info, rec)
        copy_to_guest(v, buffer + num * info.size, rec)
        num += 1
    sub.put(op, base=u, num_domains=num)
    return 0


def do_sysctl(v, arg, *_):
    lay, op = get_struct(v, sc.xen_sysctl, arg)
    cmd, version = lay.get(op, "cmd", "interface_version")
    if version != sc.XEN_SYSCTL_INTERFACE_VERSION:
        return -errno.EACCES
    if not v.hv.xsm.allowed(PRIV, v.domain):
        return -errno.EPERM
    if cmd != sc.XEN_SYSCTL_getdomaininfolist:
        return -errno.ENOSYS
    rc = _getdomaininfolist(v, lay, op, lay.offset("u"))
    if rc == 0:
        put_struct(v, lay, arg, op)
    return rc
