"""The CPUID policy and the CR4 bits a guest may set agree (Xen derives
hvm_cr4_guest_valid_bits() from the domain's CPUID policy: a feature shown
must be usable, one not shown must #GP)."""

from hvsim.arch.x86 import defns
from hvsim.arch.x86.cpuid import CpuidModel
from hvsim.hv.x86.hvm import CR4_GUEST_VALID

# CR4 bit -> (leaf, subleaf, register index (EAX=0 .. EDX=3), bit) of its feature
_CR4_FEATURE = {
    0: (1, 0, 3, 1),            # VME, PVI: VME
    1: (1, 0, 3, 1),
    2: (1, 0, 3, 4),            # TSD: TSC
    3: (1, 0, 3, 2),            # DE
    4: (1, 0, 3, 3),            # PSE
    5: (1, 0, 3, 6),            # PAE
    6: (1, 0, 3, 7),            # MCE
    7: (1, 0, 3, 13),           # PGE
    9: (1, 0, 3, 24),           # OSFXSR: FXSR
    10: (1, 0, 3, 25),          # OSXMMEXCPT: SSE
    11: (7, 0, 2, 2),           # UMIP
    12: (7, 0, 2, 16),          # LA57
    13: (1, 0, 2, 5),           # VMXE: VMX
    14: (1, 0, 2, 6),           # SMXE: SMX
    16: (7, 0, 1, 0),           # FSGSBASE
    17: (1, 0, 2, 17),          # PCIDE: PCID
    18: (1, 0, 2, 26),          # OSXSAVE: XSAVE
    20: (7, 0, 1, 7),           # SMEP
    21: (7, 0, 1, 20),          # SMAP
    22: (7, 0, 2, 3),           # PKE: PKU
    23: (7, 0, 2, 7),           # CET: CET_SS
}


def test_cr4_valid_bits_follow_cpuid():
    model = CpuidModel(0, 1, (4, 23), 2_000_000)
    for bit, (leaf, sub, reg, fbit) in _CR4_FEATURE.items():
        shown = bool(model.lookup(leaf, sub, 0)[reg] >> fbit & 1)
        assert bool(CR4_GUEST_VALID >> bit & 1) == shown, "CR4 bit %d" % bit
    assert CR4_GUEST_VALID & defns.CR4_PCE           # always, as in Xen
    assert not CR4_GUEST_VALID >> 24                  # nothing above CET


def test_apic_features_shown():
    a, b, c, d = CpuidModel(3, 1, (4, 23), 2_000_000).lookup(1, 0, 0)
    assert d >> 9 & 1 and c >> 21 & 1 and c >> 24 & 1    # APIC, x2APIC, TSC-deadline
    assert b >> 24 == 6                                   # initial APIC ID = 2 x vcpu_id
