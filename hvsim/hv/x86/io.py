"""Emulated guest-physical and port I/O for a PVH domain (Xen's
hvm/intercept.c hvm_io_intercept(), with hvm/emulate.c's null_handler
behind it).

The arch vCPU turns a guest access to a guest-physical page that nothing
backs into an emulated page (arch/x86/vcpu.py) and calls here for each
access.  Xen's order: an internal handler claims the address (for a PVH
domU only the vCPU's local APIC page in xAPIC mode, vlapic_range()); with
no ioreq server (PVH domUs have none) everything else completes through
the null handler: reads return all ones, writes are discarded.  The only port a PVH domain
has is Xen's debug console, XEN_HVM_DEBUGCONS_IOPORT (0xE9): a byte written
there goes to the domain's console (hvm.py, hvm_print_line).
"""

from ...abi.xen import XEN_HVM_DEBUGCONS_IOPORT
from ...arch.x86.defns import MASK64
from . import hvm

ALL_ONES = MASK64


def mmio_read(vcpu, gpa, size):
    vlapic = vcpu.vlapic
    if vlapic.in_range(gpa):
        return vlapic.mmio_read(gpa, size)
    return ALL_ONES >> (64 - 8 * size)           # null_handler read


def mmio_write(vcpu, gpa, size, value):
    vlapic = vcpu.vlapic
    if vlapic.in_range(gpa):
        vlapic.mmio_write(gpa, size, value)
    # else null_handler write: discarded


def port_read(vcpu, port, size):
    return ALL_ONES >> (64 - 8 * size)           # null_handler read (0xE9 reads it too)


def port_write(vcpu, port, size, value):
    if port == XEN_HVM_DEBUGCONS_IOPORT:
        hvm.print_line(vcpu, value)
