"""The CPUID a PVH guest sees: the emulated CPU's own leaves, filtered the
way Xen filters an HVM guest's policy, plus Xen's hypervisor leaves
0x40000000..0x40000005 (public/arch-x86/cpuid.h).

The base model is read once from Unicorn's own CPU (QEMU "Haswell" without
AVX), so we never advertise an instruction the emulator cannot run.  On top:
the hypervisor bit is set; the local APIC, x2APIC and the TSC-deadline timer
are shown (hv/x86/vlapic.py emulates them, as Xen does for every HVM vCPU);
features hvsim does not emulate are hidden (MONITOR, VMX, RDRAND/RDSEED which
would break deterministic runs, 1 GiB pages); OSXSAVE and the initial APIC id
are per vCPU.

Leaves with subleaves (4, 7, 0xB, 0xD, 0x8000001D) are keyed by subleaf, as
Xen's policy arrays are (guest_cpuid(): a subleaf past the last one reads
zero).  The topology follows libxc's xc_cpuid_apply_policy() for a guest
whose APIC IDs are 2 x vcpu_id: HTT set and leaf 1 EBX[23:16] doubled,
leaf 4's cores-per-package (n << 1) | 1 and threads-per-cache 0; leaf 0xB
is zeroed (recalculate_misc()) apart from what guest_cpuid() fills in
(ECX[7:0] = subleaf, EDX = the x2APIC ID).  Leaf 0xD offers only the
xstate components whose features are shown (no YMM without AVX).
"""

import struct

from unicorn import Uc, UC_ARCH_X86, UC_MODE_64
from unicorn import x86_const as X

from ...abi import cpuid as xc
from .defns import CR4_OSXSAVE, MASK32

_BASE_LEAVES = (0, 1, 2, 4, 5, 6, 7, 0xD, 0x80000000, 0x80000001, 0x80000002,
                0x80000003, 0x80000004, 0x80000005, 0x80000006, 0x80000007, 0x80000008)
SUBLEAF_LEAVES = frozenset((4, 7, 0xB, 0xD, 0x8000001D))
CACHE_SUBLEAVES = 8                 # ARRAY_SIZE(p->cache.raw)
XSTATE_SUBLEAVES = 63               # ARRAY_SIZE(p->xstate.raw)
_native = None


def _subleaves(leaf, first):
    """The subleaves of `leaf` worth reading, given subleaf 0's registers."""
    if leaf == 4:
        return range(CACHE_SUBLEAVES)
    if leaf == 7:
        return range(first[0] + 1)          # EAX: the last subleaf
    if leaf == 0xD:
        return range(XSTATE_SUBLEAVES)
    return range(1)


def _native_model():
    """Execute CPUID natively once per process for the leaves we expose."""
    global _native
    if _native is not None:
        return _native
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(0, 0x2000)
    uc.mem_write(0x1000, b"\x0f\xa2")
    table = {}

    def cpuid(leaf, sub):
        uc.reg_write(X.UC_X86_REG_RAX, leaf)
        uc.reg_write(X.UC_X86_REG_RCX, sub)
        uc.emu_start(0x1000, 0x1002)
        return tuple(uc.reg_read(r) & MASK32 for r in
                     (X.UC_X86_REG_EAX, X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX))

    for leaf in _BASE_LEAVES:
        first = table[(leaf, 0)] = cpuid(leaf, 0)
        for sub in _subleaves(leaf, first)[1:]:
            regs = cpuid(leaf, sub)
            if leaf == 4 and not regs[0] & 0x1F:
                break                               # cache type 0: no more caches
            table[(leaf, sub)] = regs
    _native = table
    return table


# leaf 1
ECX_MONITOR = 1 << 3
ECX_VMX = 1 << 5
ECX_X2APIC = 1 << 21
ECX_TSC_DEADLINE = 1 << 24
ECX_AVX = 1 << 28
ECX_OSXSAVE = 1 << 27
ECX_RDRAND = 1 << 30
ECX_HYPERVISOR = 1 << 31
EDX_APIC = 1 << 9
EDX_HTT = 1 << 28
EBX1_LPPP_SHIFT = 16
# leaf 4
EAX4_THREADS_PER_CACHE = 0xFFF << 14
EAX4_CORES_SHIFT = 26
# leaf 0xD
XSTATE_YMM = 1 << 2
XSTATE_LEGACY_SIZE = 512 + 64        # FXSAVE area + XSAVE header
# leaf 7
EBX7_RDSEED = 1 << 18
EBX7_SMAP = 1 << 20
# leaf 0x80000001
EDX81_PAGE1GB = 1 << 26



class CpuidModel:
    """CPUID results for one vCPU."""

    def __init__(self, vcpu_id, domid, xen_version, tsc_khz, tsc_to_ns=(0, 0)):
        self.vcpu_id = vcpu_id
        self.domid = domid
        self.xen_version = xen_version      # (major, minor)
        self.tsc_khz = tsc_khz
        self.tsc_to_ns_mul, self.tsc_to_ns_shift = tsc_to_ns
        self.table = dict(_native_model())
        self._filter()
        self.max_basic = self.table[(0, 0)][0]
        self.max_ext = self.table[(0x80000000, 0)][0]

    def _filter(self):
        t = self.table
        a, b, c, d = t[(1, 0)]
        c &= ~(ECX_MONITOR | ECX_VMX | ECX_RDRAND | ECX_OSXSAVE)
        c |= ECX_HYPERVISOR | ECX_X2APIC | ECX_TSC_DEADLINE
        d |= EDX_APIC
        lppp = (b >> EBX1_LPPP_SHIFT) & 0xFF
        lppp = 2 if not lppp else (lppp * 2 if not lppp & 0x80 else lppp)
        b = (b & 0x0000FFFF) | lppp << EBX1_LPPP_SHIFT | ((2 * self.vcpu_id) & 0xFF) << 24
        t[(1, 0)] = (a, b, c, d | EDX_HTT)
        for sub in range(CACHE_SUBLEAVES):
            if (4, sub) not in t:
                break
            a4, b4, c4, d4 = t[(4, sub)]
            cores = ((a4 >> EAX4_CORES_SHIFT) << 1 | 1) & 0x3F
            t[(4, sub)] = ((a4 & ~EAX4_THREADS_PER_CACHE & ((1 << EAX4_CORES_SHIFT) - 1))
                           | cores << EAX4_CORES_SHIFT, b4, c4, d4)
        if not c & ECX_AVX:
            self._drop_xstate(XSTATE_YMM)
        a, b, c, d = t[(7, 0)]
        t[(7, 0)] = (a, b & ~(EBX7_RDSEED | EBX7_SMAP), c, d)
        a, b, c, d = t[(0x80000001, 0)]
        t[(0x80000001, 0)] = (a, b, c, d & ~EDX81_PAGE1GB)

    def _drop_xstate(self, component_bit):
        """A component whose feature is hidden: out of XCR0's valid bits and
        its subleaf empty; the largest size is what the rest need."""
        t = self.table
        a, b, c, d = t[(0xD, 0)]
        a &= ~component_bit
        t[(0xD, component_bit.bit_length() - 1)] = (0, 0, 0, 0)
        size = XSTATE_LEGACY_SIZE
        for i in range(2, XSTATE_SUBLEAVES):
            if a >> i & 1 and (0xD, i) in t:
                sa, sb = t[(0xD, i)][:2]
                size = max(size, sa + sb)
        t[(0xD, 0)] = (a, min(b, size), size, d)

    def _xen_leaf(self, index, sub):
        if index == 0:
            return (xc.XEN_CPUID_FIRST_LEAF + xc.XEN_CPUID_MAX_NUM_LEAVES,
                    xc.XEN_CPUID_SIGNATURE_EBX, xc.XEN_CPUID_SIGNATURE_ECX,
                    xc.XEN_CPUID_SIGNATURE_EDX)
        if index == 1:
            major, minor = self.xen_version
            return ((major << 16) | minor, 0, 0, 0)
        if index == 2:
            return (1, xc.XEN_HYPERCALL_MSR, 0, 0)
        if index == 3:                  # TSC: native (not emulated), host TSC reliable
            if sub == 0:
                return (xc.XEN_CPUID_HOST_TSC_RELIABLE | xc.XEN_CPUID_RDTSCP_INSTR_AVAIL, 0,
                        self.tsc_khz, 1)                  # tsc_mode 0, incarnation 1
            if sub == 1:
                return (0, 0, self.tsc_to_ns_mul, self.tsc_to_ns_shift & MASK32)
            if sub == 2:
                return (self.tsc_khz, 0, 0, 0)
            return (0, 0, 0, 0)
        if index == 4:
            if sub:
                return (0, 0, 0, 0)
            flags = (xc.XEN_HVM_CPUID_IOMMU_MAPPINGS | xc.XEN_HVM_CPUID_VCPU_ID_PRESENT |
                     xc.XEN_HVM_CPUID_DOMID_PRESENT | xc.XEN_HVM_CPUID_UPCALL_VECTOR)
            return (flags, self.vcpu_id, self.domid, 0)
        return (0, 0, 0, 0)

    def lookup(self, leaf, sub, cr4):
        if xc.XEN_CPUID_FIRST_LEAF <= leaf <= 0x400000FF:
            index = leaf - xc.XEN_CPUID_FIRST_LEAF
            if index <= xc.XEN_CPUID_MAX_NUM_LEAVES:
                return self._xen_leaf(index, sub)
            return (0, 0, 0, 0)
        if leaf >= 0x80000000:
            if leaf > self.max_ext:
                return (0, 0, 0, 0)
        elif leaf > self.max_basic:
            return (0, 0, 0, 0)
        if leaf == 0xB:
            return self._topology_leaf(sub)
        key = (leaf, sub if leaf in SUBLEAF_LEAVES else 0)
        regs = self.table.get(key, (0, 0, 0, 0))
        if leaf == 1 and cr4 & CR4_OSXSAVE:
            a, b, c, d = regs
            regs = (a, b, c | ECX_OSXSAVE, d)
        return regs


    def _topology_leaf(self, sub):
        """Leaf 0xB: no topology (zeroed), but the subleaf echoed in ECX[7:0]
        and the x2APIC ID in EDX, as guest_cpuid() does when x2APIC is shown."""
        return (0, 0, sub & 0xFF, (2 * self.vcpu_id) & MASK32)


INTEL_VENDOR = "GenuineIntel"


def vendor_string(model):
    _, b, c, d = model.table[(0, 0)]
    return struct.pack("<III", b, d, c).decode("ascii", "replace")
