"""multicall (Xen's do_multicall in xen/common/multicall.c, each entry made
by hvm_do_multicall_call() or Arm's arch_do_multicall_call()).

The entries of the list are made in turn, in the caller's ABI, straight
through the hypercall table (no argument registers are involved, so none
are clobbered); a number without a handler is -ENOSYS in its entry.  As a
debug build of Xen does, each entry is overwritten with 0xAA bytes after its
call and only its result is written back: a caller must read nothing else.
A multicall inside a multicall is -EINVAL (_MCSF_in_multicall); an entry
that cannot be read, or whose result cannot be written, ends the list with
-EFAULT.  hvsim never preempts a hypercall, so there are no continuations.
"""

import struct

from ..abi import errno, xen
from ..abi.errno import HypercallError
from .guest_access import copy_from_guest, copy_to_guest

MASK32 = 0xFFFFFFFF


def _entry(lay, buf):
    """(op, the first five arguments) of one entry."""
    f = lay.fields["args"]
    args = struct.unpack_from("<" + f.fmt, buf, f.offset)
    return lay.get(buf, "op"), args[:5]


def _make(v, call_list, nr_calls, lay):
    for i in range(nr_calls):
        ptr = call_list + i * lay.size
        try:
            buf = bytearray(copy_from_guest(v, ptr, lay.size))
        except HypercallError:
            return -errno.EFAULT
        op, args = _entry(lay, buf)
        result = v.hv.hypercalls.call(v, op, args, v.hcall_abi)
        try:
            copy_to_guest(v, ptr, b"\xaa" * lay.size)         # NDEBUG is off
        except HypercallError:
            pass
        lay.put(buf, result=result)
        try:
            copy_to_guest(v, ptr + lay.offset("result"), lay.get_bytes(buf, "result"))
        except HypercallError:
            return -errno.EFAULT
    return 0


def do_multicall(v, call_list, nr_calls, *_):
    if v.in_multicall:
        return -errno.EINVAL
    abi = v.hcall_abi
    v.in_multicall = True
    try:
        return _make(v, call_list, nr_calls & MASK32, xen.multicall_entry.layout(abi))
    finally:
        v.in_multicall = False
        v.hcall_abi = abi
