"""Emulated guest-physical and port I/O for a PVH domain (Xen's
hvm/intercept.c hvm_io_intercept(), with hvm/emulate.c's null_handler
behind it).

The arch vCPU turns a guest access to a guest-physical page that nothing
backs into an emulated page (arch/x86/vcpu.py) and calls here for each
access.  A PVH domU has no ioreq server, so with no internal handler
claiming the address the access completes through Xen's null handler:
reads return all ones, writes are discarded.  The only port a PVH domain
has is Xen's debug console, XEN_HVM_DEBUGCONS_IOPORT (0xE9): a byte written
there goes to the domain's console (hvm.py, hvm_print_line).
"""

from ...abi.xen import XEN_HVM_DEBUGCONS_IOPORT
from ...arch.x86.defns import MASK64
from . import hvm

ALL_ONES = MASK64


def mmio_read(vcpu, gpa, size):
    return ALL_ONES >> (64 - 8 * size)           # null_handler read


def mmio_write(vcpu, gpa, size, value):
    pass                                         # null_handler write: discarded


def port_read(vcpu, port, size):
    return ALL_ONES >> (64 - 8 * size)           # null_handler read (0xE9 reads it too)


def port_write(vcpu, port, size, value):
    if port == XEN_HVM_DEBUGCONS_IOPORT:
        hvm.print_line(vcpu, value)
    # else null_handler write: discarded
