"""copy_{from,to}_guest for HVM/PVH guests (Xen's guest_access.h).

Hypercall buffers are guest *linear* addresses, translated through the
calling vCPU's current paging mode; any failure (not present, not writable,
not RAM, non-canonical) is -EFAULT to the guest, never a Python exception.
Struct arguments are read with the layout of the caller's ABI.
"""

from ..abi import errno
from ..abi.errno import HypercallError
from ..arch.x86.defns import MASK64, canonical
from ..arch.x86.paging import BadPhysical, PageFault
from ..arch.arm64.vcpu import TranslationFault

_FAULTS = (PageFault, BadPhysical, TranslationFault)


def _check(v, ptr, n):
    if v.hcall_abi.handle == 4:
        if ptr + n > 1 << 32:
            raise HypercallError(errno.EFAULT)
    elif not (canonical(ptr) and canonical(ptr + n - 1)) or ptr + n - 1 > MASK64:
        raise HypercallError(errno.EFAULT)


def copy_from_guest(v, ptr, n):
    if n == 0:
        return b""
    _check(v, ptr, n)
    try:
        return v.arch.read_linear(ptr, n)
    except _FAULTS:
        raise HypercallError(errno.EFAULT) from None


def copy_to_guest(v, ptr, data):
    if not data:
        return
    _check(v, ptr, len(data))
    try:
        v.arch.write_linear(ptr, bytes(data))
    except _FAULTS:
        raise HypercallError(errno.EFAULT) from None


def get_struct(v, layout_struct, ptr):
    """Read a whole struct argument; returns (layout, bytearray)."""
    lay = layout_struct.layout(v.hcall_abi)
    return lay, bytearray(copy_from_guest(v, ptr, lay.size))


def put_struct(v, lay, ptr, buf):
    copy_to_guest(v, ptr, buf[:lay.size])


def put_field(v, lay, ptr, buf, **values):
    """Update fields in `buf` and copy just those back (Xen's __copy_field_to_guest)."""
    lay.put(buf, **values)
    for name in values:
        f = lay.fields[name]
        copy_to_guest(v, ptr + f.offset, buf[f.offset:f.offset + f.size])


def update_guest(v, ptr, data):
    """Xen's __copy_to_guest() outside a hypercall (the runstate and time
    areas, written at context switches through v's own paging): True if
    it was written, False on any fault (which Xen ignores)."""
    if not (canonical(ptr) and canonical(ptr + len(data) - 1)):
        return False
    try:
        v.arch.write_linear(ptr, bytes(data))
    except _FAULTS:
        return False
    return True
