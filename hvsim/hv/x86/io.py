"""Emulated guest-physical I/O for a PVH domain (Xen's hvm/intercept.c
hvm_io_intercept(), with hvm/emulate.c's null_handler behind it).

The arch vCPU turns a guest access to a guest-physical page that nothing
backs into an emulated page (arch/x86/vcpu.py) and calls here for each
access.  A PVH domU has no ioreq server, so with no internal handler
claiming the address the access completes through Xen's null handler:
reads return all ones, writes are discarded.
"""

ALL_ONES = 0xFFFFFFFFFFFFFFFF


def mmio_read(vcpu, gpa, size):
    return ALL_ONES >> (64 - 8 * size)           # null_handler read


def mmio_write(vcpu, gpa, size, value):
    pass                                         # null_handler write: discarded
