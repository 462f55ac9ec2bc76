"""PSCI as Xen emulates it for a domain (xen/arch/arm/vpsci.c, reached from
xen/arch/arm/vsmc.c for `hvc #0` and `smc #0`): version 1.1, CPU_ON (a vCPU
starts at the entry point in EL1h with the MMU off, x0 = context id),
CPU_OFF, AFFINITY_INFO, SYSTEM_OFF and SYSTEM_RESET (domain shutdown),
PSCI_FEATURES.  Any other function id is SMCCC's "unknown function"."""

from ...abi import arch_arm as a
from ...abi import sched as so

MASK64 = (1 << 64) - 1

_FEATURES = {a.PSCI_0_2_FN_PSCI_VERSION, a.PSCI_0_2_FN_CPU_OFF, a.PSCI_0_2_FN_CPU_ON,
             a.PSCI_0_2_FN64_CPU_ON, a.PSCI_0_2_FN_AFFINITY_INFO, a.PSCI_0_2_FN64_AFFINITY_INFO,
             a.PSCI_0_2_FN_MIGRATE_INFO_TYPE, a.PSCI_0_2_FN_SYSTEM_OFF,
             a.PSCI_0_2_FN_SYSTEM_RESET, a.PSCI_1_0_FN_PSCI_FEATURES}


def vaffinity_to_vcpuid(mpidr):
    """Xen's vaffinity_to_vcpuid(): Aff0 holds 16 vCPUs, Aff1 the rest."""
    if mpidr & ~0xFFFF & 0xFFFFFFFFFF:
        return None
    aff0, aff1 = mpidr & 0xFF, (mpidr >> 8) & 0xFF
    if aff0 >= 16:
        return None
    return aff1 * 16 + aff0


def call(v, fid, a1, a2, a3):
    """One SMCCC call from vCPU v: the value for x0 (as an unsigned 64-bit)."""
    return _dispatch(v, fid, a1, a2, a3) & MASK64


def _dispatch(v, fid, a1, a2, a3):
    if fid == a.PSCI_0_2_FN_PSCI_VERSION:
        return a.XEN_PSCI_VERSION
    if fid in (a.PSCI_0_2_FN_CPU_ON, a.PSCI_0_2_FN64_CPU_ON):
        if fid == a.PSCI_0_2_FN_CPU_ON:
            a1, a2, a3 = a1 & 0xFFFFFFFF, a2 & 0xFFFFFFFF, a3 & 0xFFFFFFFF
        return cpu_on(v, a1, a2, a3)
    if fid == a.PSCI_0_2_FN_CPU_OFF:
        return cpu_off(v)
    if fid in (a.PSCI_0_2_FN_AFFINITY_INFO, a.PSCI_0_2_FN64_AFFINITY_INFO):
        return affinity_info(v, a1, a2)
    if fid == a.PSCI_0_2_FN_MIGRATE_INFO_TYPE:
        return a.PSCI_0_2_TOS_MP_OR_NOT_PRESENT
    if fid == a.PSCI_0_2_FN_SYSTEM_OFF:
        v.domain.shutdown(so.SHUTDOWN_poweroff)
        return a.PSCI_SUCCESS
    if fid == a.PSCI_0_2_FN_SYSTEM_RESET:
        v.domain.shutdown(so.SHUTDOWN_reboot)
        return a.PSCI_SUCCESS
    if fid == a.PSCI_1_0_FN_PSCI_FEATURES:
        return a.PSCI_SUCCESS if (a1 & 0xFFFFFFFF) in _FEATURES else a.PSCI_NOT_SUPPORTED
    return a.ARM_SMCCC_ERR_UNKNOWN_FUNCTION


def cpu_on(v, target_mpidr, entry, context_id):
    """do_common_cpu_on(): bring a down vCPU up at `entry`."""
    d = v.domain
    vcpuid = vaffinity_to_vcpuid(target_mpidr)
    if vcpuid is None or vcpuid >= len(d.vcpus):
        return a.PSCI_INVALID_PARAMETERS
    target = d.vcpus[vcpuid]
    if target.online:
        return a.PSCI_ALREADY_ON
    if entry & 3:                       # an AArch64 entry point is word aligned
        return a.PSCI_INVALID_PARAMETERS
    target.arch.reset(entry, context_id)
    target.initialised = True
    target.bring_up()
    return a.PSCI_SUCCESS


def cpu_off(v):
    """The vCPU goes down.  On Xen a domain whose last vCPU did so stays
    alive with nothing to run; hvsim crashes it saying so, rather than hang."""
    v.take_down()
    d = v.domain
    if not any(u.online for u in d.vcpus):
        d.crash("%r: PSCI CPU_OFF on the last online vCPU: the domain can never run again "
                "(use PSCI SYSTEM_OFF to power off)" % v)
    return a.PSCI_SUCCESS


def affinity_info(v, target_mpidr, lowest_level):
    if lowest_level != 0:
        return a.PSCI_INVALID_PARAMETERS
    vcpuid = vaffinity_to_vcpuid(target_mpidr)
    if vcpuid is None or vcpuid >= len(v.domain.vcpus):
        return a.PSCI_INVALID_PARAMETERS
    target = v.domain.vcpus[vcpuid]
    return a.PSCI_0_2_AFFINITY_LEVEL_ON if target.online else a.PSCI_0_2_AFFINITY_LEVEL_OFF

