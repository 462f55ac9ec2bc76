"""The MSRs a PVH guest sees (Xen's guest_rdmsr/guest_wrmsr for HVM).

Unicorn has no RDMSR/WRMSR hook and silently ignores unknown MSRs, so hvsim
stops the guest at every rdmsr/wrmsr (see exits.py) and runs this model
instead.  Architectural MSRs QEMU implements correctly (EFER, the syscall
MSRs, segment bases, PAT, SYSENTER_*) are validated here and then handed to
QEMU so its internal state (long mode, hflags) follows.  Xen-emulated MSRs
live here, except the local APIC's (APIC_BASE, TSC_DEADLINE, x2APIC), which
go to the host's vlapic (hv/x86/vlapic.py).  Everything else raises #GP(0),
as on Xen.

The MSR numbers are the arch layer's only definitions of them (syscall.py
and hv/x86/domain.py import them); the EFER bits and `canonical()` are
defns.py's.
"""

from ...abi import cpuid as xc
from .cpuid import INTEL_VENDOR, vendor_string
from .defns import CR0_PG, EFER_LMA, EFER_LME, EFER_NXE, EFER_SCE, canonical


class GPFault(Exception):
    """The access raises #GP(0) in the guest."""


MSR_IA32_TSC = 0x10
MSR_IA32_PLATFORM_ID = 0x17
MSR_IA32_APIC_BASE = 0x1B
MSR_IA32_FEATURE_CONTROL = 0x3A
MSR_IA32_BIOS_SIGN_ID = 0x8B
MSR_PLATFORM_INFO = 0xCE
MSR_MTRRcap = 0xFE
MSR_IA32_SYSENTER_CS = 0x174
MSR_IA32_SYSENTER_ESP = 0x175
MSR_IA32_SYSENTER_EIP = 0x176
MSR_IA32_MCG_CAP = 0x179
MSR_IA32_MCG_STATUS = 0x17A
MSR_IA32_MCG_CTL = 0x17B
MSR_IA32_MISC_ENABLE = 0x1A0
MSR_IA32_DEBUGCTLMSR = 0x1D9
MSR_MTRR_PHYS_BASE0 = 0x200
MSR_MTRR_PHYS_MASK7 = 0x20F
MSR_MTRR_FIX64K = 0x250
MSR_MTRR_FIX16K_80000 = 0x258
MSR_MTRR_FIX16K_A0000 = 0x259
MSR_MTRR_FIX4K_C0000 = 0x268
MSR_MTRR_FIX4K_F8000 = 0x26F
MSR_IA32_CR_PAT = 0x277
MSR_IA32_TSC_DEADLINE = 0x6E0
MSR_X2APIC_FIRST = 0x800
MSR_X2APIC_LAST = 0x8FF
MSR_MTRR_DEF_TYPE = 0x2FF
MSR_EFER = 0xC0000080
MSR_STAR = 0xC0000081
MSR_LSTAR = 0xC0000082
MSR_CSTAR = 0xC0000083
MSR_SYSCALL_MASK = 0xC0000084
MSR_FS_BASE = 0xC0000100
MSR_GS_BASE = 0xC0000101
MSR_SHADOW_GS_BASE = 0xC0000102
MSR_TSC_AUX = 0xC0000103

EFER_VALID = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE

APIC_BASE_BSP = 1 << 8
APIC_BASE_EXTD = 1 << 10
APIC_BASE_ENABLE = 1 << 11
APIC_DEFAULT_BASE = 0xFEE00000

MISC_ENABLE_FAST_STRINGS = 1 << 0
MISC_ENABLE_PERF_AVAIL = 1 << 7
MISC_ENABLE_BTS_UNAVAIL = 1 << 11
MISC_ENABLE_PEBS_UNAVAIL = 1 << 12
MISC_ENABLE_DEFAULT = MISC_ENABLE_BTS_UNAVAIL | MISC_ENABLE_PEBS_UNAVAIL | MISC_ENABLE_FAST_STRINGS

MTRR_CAP = (1 << 8) | (1 << 10) | 8          # fixed ranges, WC, 8 variable ranges
# MSR_IA32_UCODE_REV (0x8b): Xen reads the running CPU's microcode revision
# (this_cpu(cpu_sig).rev << 32); the emulated CPU's is QEMU's (ucode_rev 1)
UCODE_REV = 1 << 32
FEATURE_CONTROL_LOCK = 1 << 0

# MSRs QEMU keeps: validated here, then written through Unicorn
_NATIVE = {MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SYSCALL_MASK, MSR_FS_BASE, MSR_GS_BASE,
           MSR_SHADOW_GS_BASE, MSR_TSC_AUX, MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP,
           MSR_IA32_SYSENTER_EIP, MSR_IA32_CR_PAT, MSR_EFER}
_CANONICAL = {MSR_LSTAR, MSR_CSTAR, MSR_FS_BASE, MSR_GS_BASE, MSR_SHADOW_GS_BASE,
              MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP}
_PAT_VALID_TYPES = (0, 1, 4, 5, 6, 7)


def _is_lapic(index):
    """The local APIC's MSRs (the platform's vlapic handles them)."""
    return (index in (MSR_IA32_APIC_BASE, MSR_IA32_TSC_DEADLINE) or
            MSR_X2APIC_FIRST <= index <= MSR_X2APIC_LAST)


class MsrModel:
    """MSR state for one vCPU.  `cpu` is the X86Vcpu (for the Unicorn handle,
    the TSC and the hypercall-page MSR)."""

    def __init__(self, cpu, vcpu_id):
        self.cpu = cpu
        self.vcpu_id = vcpu_id
        self.misc_enable = MISC_ENABLE_DEFAULT
        self.mtrr = {}
        self.mtrr_def_type = 0
        self.mcg_status = 0

    # -- reads -----------------------------------------------------------------------
    def read(self, index):
        if index in _NATIVE:
            return self.cpu.uc.msr_read(index)
        if index == MSR_IA32_TSC:
            return self.cpu.host.guest_tsc()
        if _is_lapic(index):
            return self.cpu.host.lapic_rdmsr(index)
        if index == MSR_IA32_MISC_ENABLE:
            return self.misc_enable
        if index in (MSR_IA32_DEBUGCTLMSR, MSR_IA32_PLATFORM_ID, MSR_PLATFORM_INFO):
            return 0
        if index == MSR_IA32_FEATURE_CONTROL:
            # Intel (and Centaur/Shanghai) only, locked, nothing enabled (no
            # VMX, no LMCE): guest_rdmsr(); writes #GP (guest_wrmsr() has no case)
            if vendor_string(self.cpu.cpuid) != INTEL_VENDOR:
                raise GPFault()
            return FEATURE_CONTROL_LOCK
        if index == MSR_IA32_BIOS_SIGN_ID:
            return UCODE_REV
        if index == MSR_MTRRcap:
            return MTRR_CAP
        if index == MSR_MTRR_DEF_TYPE:
            return self.mtrr_def_type
        if self._is_mtrr(index):
            return self.mtrr.get(index, 0)
        if index == MSR_IA32_MCG_CAP:
            return 0
        if index == MSR_IA32_MCG_STATUS:
            return self.mcg_status
        if index == xc.XEN_HYPERCALL_MSR:
            return 0
        raise GPFault()

    # -- writes ----------------------------------------------------------------------
    def write(self, index, value):
        if index == xc.XEN_HYPERCALL_MSR:
            self.cpu.write_hypercall_page_msr(value)
            return
        if index in _NATIVE:
            self._check_native(index, value)
            self.cpu.uc.msr_write(index, value)
            return
        if index == MSR_IA32_TSC:
            self.cpu.host.set_guest_tsc(value)
            return
        if _is_lapic(index):
            self.cpu.host.lapic_wrmsr(index, value)
            return
        if index == MSR_IA32_BIOS_SIGN_ID:
            # Intel's "write 0, then CPUID 1" before reading the revision;
            # anything else (or any write on AMD) is #GP, as in guest_wrmsr()
            if value or vendor_string(self.cpu.cpuid) != INTEL_VENDOR:
                raise GPFault()
            return
        if index == MSR_IA32_MISC_ENABLE:
            if value != self.misc_enable:
                raise GPFault()
            return
        if index == MSR_IA32_DEBUGCTLMSR:
            if value:
                raise GPFault()
            return
        if index == MSR_MTRR_DEF_TYPE:
            if value & ~0xCFF or (value & 0xFF) not in (0, 1, 4, 5, 6):
                raise GPFault()
            self.mtrr_def_type = value
            return
        if self._is_mtrr(index):
            self.mtrr[index] = value
            return
        if index == MSR_IA32_MCG_STATUS:
            self.mcg_status = value
            return
        raise GPFault()

    def _check_native(self, index, value):
        if index == MSR_EFER:
            if value & ~EFER_VALID:
                raise GPFault()
            old = self.cpu.uc.msr_read(MSR_EFER)
            # LME may not change while paging is on
            if (old ^ value) & EFER_LME and self.cpu.st.cr[0] & CR0_PG:
                raise GPFault()
            return
        if index in _CANONICAL and not canonical(value):
            raise GPFault()
        if index == MSR_IA32_CR_PAT:
            for i in range(8):
                if (value >> (8 * i)) & 0xFF not in _PAT_VALID_TYPES:
                    raise GPFault()

    @staticmethod
    def _is_mtrr(index):
        return (MSR_MTRR_PHYS_BASE0 <= index <= MSR_MTRR_PHYS_MASK7 or
                index in (MSR_MTRR_FIX64K, MSR_MTRR_FIX16K_80000, MSR_MTRR_FIX16K_A0000) or
                MSR_MTRR_FIX4K_C0000 <= index <= MSR_MTRR_FIX4K_F8000)

