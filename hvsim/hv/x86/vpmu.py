"""xenpmu_op (Xen's do_xenpmu_op in xen/arch/x86/cpu/vpmu.c).

The virtual PMU is off unless Xen boots with `vpmu=`, and a domain with a
virtual local APIC (every HVM and PVH domain) never gets the PV PMU
interface either way: every op is -EOPNOTSUPP, before any argument is read.
"""

from ...abi import errno


def do_xenpmu_op(v, op, arg, *_):
    return -errno.EOPNOTSUPP
