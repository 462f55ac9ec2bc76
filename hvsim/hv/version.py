"""xen_version (Xen's do_xen_version in xen/common/kernel.c, with the dummy
XSM policy's xsm_xen_version deciding what a domain may see)."""

from ..abi import errno, version as xv
from ..abi.errno import HypercallError
from ..abi.cstruct import ARM64
from .guest_access import copy_to_guest, get_struct, put_struct
from .xsm import HOOK, PRIV

XEN_MAJOR = 4
XEN_MINOR = 23
XEN_EXTRAVERSION = ".0-hvsim"
XEN_CHANGESET = "hvsim 0.1.0"
XEN_COMPILER = "hvsim (Python emulation of Xen)"
XEN_COMPILE_BY = "hvsim"
XEN_COMPILE_DOMAIN = "hvsim.invalid"
XEN_COMPILE_DATE = "Sat Nov 21 00:00:00 UTC 2026"
# arch_get_xen_caps() of a host without PV support: space separated, trailing space
XEN_CAPABILITIES = "hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64 "
XEN_CAPABILITIES_ARM64 = "xen-3.0-aarch64 "   # arch_get_xen_caps on Arm (no AArch32 guests)
XEN_DENY = "<denied>"
XEN_BUILD_ID = bytes.fromhex("6876736900000000000000000000000000000001")   # "hvsi..."

_ALWAYS = (xv.XENVER_version, xv.XENVER_platform_parameters, xv.XENVER_get_features)
_HOOK = (xv.XENVER_extraversion, xv.XENVER_extraversion2, xv.XENVER_compile_info,
         xv.XENVER_capabilities, xv.XENVER_capabilities2, xv.XENVER_changeset,
         xv.XENVER_changeset2, xv.XENVER_pagesize, xv.XENVER_guest_handle)


def version_tuple():
    return XEN_MAJOR, XEN_MINOR


def _denied(v, cmd):
    """xsm_xen_version(): True if the caller only gets the '<denied>' view."""
    if cmd in _ALWAYS:
        return False
    action = HOOK if cmd in _HOOK else PRIV
    return not v.hv.xsm.allowed(action, v.domain)


def _padded(text, size):
    data = text.encode("ascii")[:size - 1]
    return data + bytes(size - len(data))


def _features(v):
    """XENVER_get_features submap 0 (xenver_get_features()): a translated,
    not direct-mapped domain; x86 HVM/PVH adds its callback vector, pvclock,
    vcpu_time_phys_area and MSI-X bits (0x001D2305 for a domU), Arm the SMC
    calling convention (0x00056005 for a domU)."""
    m = ((1 << xv.XENFEAT_writable_page_tables) | (1 << xv.XENFEAT_auto_translated_physmap) |
         (1 << xv.XENFEAT_memory_op_vnode_supported) | (1 << xv.XENFEAT_not_direct_mapped) |
         (1 << xv.XENFEAT_runstate_phys_area))
    if v.hcall_abi is ARM64:
        m |= 1 << xv.XENFEAT_ARM_SMCCC_supported
    else:
        m |= ((1 << xv.XENFEAT_hvm_callback_vector) | (1 << xv.XENFEAT_hvm_safe_pvclock) |
              (1 << xv.XENFEAT_vcpu_time_phys_area) | (1 << xv.XENFEAT_dm_msix_all_writes))
    if v.domain.is_hardware_domain:
        m |= 1 << xv.XENFEAT_dom0
    return m


def _capabilities(v):
    """What the caller's Xen would be built for: an arm64 guest's is Xen on Arm."""
    return XEN_CAPABILITIES_ARM64 if v.hcall_abi is ARM64 else XEN_CAPABILITIES


def _varbuf(v, cmd, arg):
    """xenver_varbuf_op(): a NULL handle asks for the size; the string is copied
    after the 4-byte len header without a NUL, and len is not updated."""
    if cmd == xv.XENVER_build_id:
        data = XEN_BUILD_ID
    elif cmd == xv.XENVER_extraversion2:
        data = XEN_EXTRAVERSION.encode()
    elif cmd == xv.XENVER_changeset2:
        data = XEN_CHANGESET.encode()
    elif cmd == xv.XENVER_capabilities2:
        data = _capabilities(v).encode()
    else:
        data = v.hv.cmdline.encode()
    if arg == 0:
        return len(data)
    lay, buf = get_struct(v, xv.xen_varbuf, arg)
    if len(data) > lay.get(buf, "len"):
        return -errno.ENOBUFS
    copy_to_guest(v, arg + lay.size, data)
    return len(data)


def do_xen_version(v, cmd, arg, *_):
    deny = _denied(v, cmd)
    if cmd == xv.XENVER_version:
        return (XEN_MAJOR << 16) | XEN_MINOR
    if cmd == xv.XENVER_extraversion:
        copy_to_guest(v, arg, _padded(XEN_DENY if deny else XEN_EXTRAVERSION,
                                      xv.XEN_EXTRAVERSION_LEN))
        return 0
    if cmd == xv.XENVER_compile_info:
        lay = xv.xen_compile_info.layout(v.hcall_abi)
        buf = bytearray(lay.size)
        for field, text in (("compiler", XEN_COMPILER), ("compile_by", XEN_COMPILE_BY),
                            ("compile_domain", XEN_COMPILE_DOMAIN),
                            ("compile_date", XEN_COMPILE_DATE)):
            lay.put_bytes(buf, field, _padded(XEN_DENY if deny else text, lay.fields[field].size))
        copy_to_guest(v, arg, buf)
        return 0
    if cmd == xv.XENVER_capabilities:
        copy_to_guest(v, arg, _padded("" if deny else _capabilities(v),
                                      xv.XEN_CAPABILITIES_INFO_LEN))
        return 0
    if cmd == xv.XENVER_changeset:
        copy_to_guest(v, arg, _padded(XEN_DENY if deny else XEN_CHANGESET,
                                      xv.XEN_CHANGESET_INFO_LEN))
        return 0
    if cmd == xv.XENVER_platform_parameters:
        lay = xv.xen_platform_parameters.layout(v.hcall_abi)
        copy_to_guest(v, arg, bytes(lay.size))          # virt_start = 0 for HVM
        return 0
    if cmd == xv.XENVER_get_features:
        lay, buf = get_struct(v, xv.xen_feature_info, arg)
        if lay.get(buf, "submap_idx") != 0:
            return -errno.EINVAL
        lay.put(buf, submap=_features(v))
        put_struct(v, lay, arg, buf)
        return 0
    if cmd == xv.XENVER_pagesize:
        if deny:
            return 0
        return -errno.EINVAL if arg else 4096
    if cmd == xv.XENVER_guest_handle:
        copy_to_guest(v, arg, bytes(16) if deny else v.domain.handle)
        return 0
    if cmd == xv.XENVER_commandline:
        if deny:
            copy_to_guest(v, arg, XEN_DENY.encode() + b"\0")
        else:
            copy_to_guest(v, arg, _padded(v.hv.cmdline, xv.XEN_COMMANDLINE_LEN))
        return 0
    if cmd in (xv.XENVER_build_id, xv.XENVER_extraversion2, xv.XENVER_capabilities2,
               xv.XENVER_changeset2, xv.XENVER_commandline2):
        if deny:
            return -errno.EPERM
        return _varbuf(v, cmd, arg)
    raise HypercallError(errno.ENOSYS)

