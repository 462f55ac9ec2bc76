"""Architectural x86 definitions (Xen's asm/x86-defns.h, QEMU's
target/i386/cpu.h): control-register, EFLAGS and EFER bits, register
widths (from abi/cstruct.py) and canonical addresses.  Every other arch
module takes them from here."""

from ...abi.cstruct import MASK32, MASK64  # noqa: F401 - the register widths

# CR0
CR0_PE = 1 << 0
CR0_EM = 1 << 2
CR0_ET = 1 << 4
CR0_WP = 1 << 16
CR0_PG = 1 << 31

# CR4
CR4_TSD = 1 << 2
CR4_DE = 1 << 3
CR4_PSE = 1 << 4
CR4_PAE = 1 << 5
CR4_MCE = 1 << 6
CR4_PGE = 1 << 7
CR4_PCE = 1 << 8
CR4_OSFXSR = 1 << 9
CR4_OSXMMEXCPT = 1 << 10
CR4_LA57 = 1 << 12
CR4_FSGSBASE = 1 << 16
CR4_PCIDE = 1 << 17
CR4_OSXSAVE = 1 << 18
CR4_SMEP = 1 << 20
CR4_SMAP = 1 << 21

# EFLAGS
EFLAGS_MBS = 1 << 1               # reserved, always 1
EFLAGS_TF = 1 << 8
EFLAGS_IF = 1 << 9
EFLAGS_NT = 1 << 14
EFLAGS_RF = 1 << 16
EFLAGS_VM = 1 << 17
# the flags the architecture defines: bits 0-21 but the reserved 3, 5 and 15
EFLAGS_DEFINED = ((1 << 22) - 1) & ~((1 << 3) | (1 << 5) | (1 << 15))

# EFER (MSR 0xC0000080)
EFER_SCE = 1 << 0
EFER_LME = 1 << 8
EFER_LMA = 1 << 10
EFER_NXE = 1 << 11

CANONICAL_BITS = 48               # 4-level paging: bits 63..47 all equal


def canonical(v):
    """A canonical 48-bit linear address (bits 63..47 all equal), taken
    modulo 2^64 (so a negative sum wraps as on the CPU)."""
    top = (v & MASK64) >> (CANONICAL_BITS - 1)                 # bits 63..47
    return top in (0, MASK64 >> (CANONICAL_BITS - 1))
