"""Instruction decoding for the few places the CPU model needs it (capstone).

stack_fault_instead_of_gp(): in 64-bit mode QEMU raises #GP(0) for every
non-canonical memory reference, but the SDM says a reference through SS (an
explicit SS override, RSP/RBP as the base, or an implicit stack operation)
raises #SS(0).  Only consulted on #GP(0) in 64-bit mode, so it costs nothing
on the hot path.

segment_fault_instead_of_pf(): QEMU checks no segment limit, so an access
beyond one reaches paging; when paging faults, the CPU would have raised
#GP(0) (#SS(0) through SS) first.  Only consulted on #PF in legacy protected
mode: an access beyond a limit that does not fault on paging goes unnoticed.

ud_instead_of_nm(): QEMU checks CR0.TS before CR0.EM and CR4.OSFXSR for MMX
and SSE instructions, so it raises #NM where the CPU raises #UD (hardware
gives the #UD conditions priority, as XTF's fpu-exception-emulation checks).
Only consulted on #NM.

opcode_offset() and prefix_start(): where an instruction's opcode begins
after its prefixes, and where a prefixed instruction begins given its opcode
(software interrupts: Unicorn reports only the address after them)."""

from capstone import x86_const as C

from .cpustate import R_CS, R_DS, R_ES, R_FS, R_GS, R_SS
from .defns import CR0_EM, CR4_OSFXSR, MASK32, canonical
from .disasm import disassembler
from .paging import BadPhysical, PageFault
from .segments import DESC_B_MASK, DESC_CS_MASK, DESC_P_MASK

_GPR = {C.X86_REG_RAX: 0, C.X86_REG_RCX: 1, C.X86_REG_RDX: 2, C.X86_REG_RBX: 3,
        C.X86_REG_RSP: 4, C.X86_REG_RBP: 5, C.X86_REG_RSI: 6, C.X86_REG_RDI: 7,
        C.X86_REG_R8: 8, C.X86_REG_R9: 9, C.X86_REG_R10: 10, C.X86_REG_R11: 11,
        C.X86_REG_R12: 12, C.X86_REG_R13: 13, C.X86_REG_R14: 14, C.X86_REG_R15: 15}
_STACK_BASES = (C.X86_REG_RSP, C.X86_REG_RBP, C.X86_REG_ESP, C.X86_REG_EBP)
_GPR32 = {C.X86_REG_EAX: 0, C.X86_REG_ECX: 1, C.X86_REG_EDX: 2, C.X86_REG_EBX: 3,
          C.X86_REG_ESP: 4, C.X86_REG_EBP: 5, C.X86_REG_ESI: 6, C.X86_REG_EDI: 7}
_SEGS = {C.X86_REG_ES: R_ES, C.X86_REG_CS: R_CS, C.X86_REG_SS: R_SS, C.X86_REG_DS: R_DS,
         C.X86_REG_FS: R_FS, C.X86_REG_GS: R_GS}
_DESC_E_MASK = 1 << 10          # data segment type bit 2: expand-down
_MMX_GROUPS = frozenset((C.X86_GRP_MMX, C.X86_GRP_3DNOW))
_SSE_GROUPS = frozenset((C.X86_GRP_SSE1, C.X86_GRP_SSE2, C.X86_GRP_SSE3, C.X86_GRP_SSSE3,
                         C.X86_GRP_SSE41, C.X86_GRP_SSE42, C.X86_GRP_SSE4A, C.X86_GRP_AES,
                         C.X86_GRP_PCLMUL, C.X86_GRP_SHA))
_VEX_GROUPS = frozenset((C.X86_GRP_AVX, C.X86_GRP_AVX2, C.X86_GRP_AVX512, C.X86_GRP_FMA,
                         C.X86_GRP_FMA4, C.X86_GRP_F16C, C.X86_GRP_XOP))
_STACK_OPS = ("push", "pop", "call", "ret", "enter", "leave", "pushfq", "popfq", "iretq")

# legacy prefixes (SDM vol. 2 2.1.1) but LOCK, which makes an instruction #UD
LEGACY_PREFIXES = frozenset(b"\x26\x2e\x36\x3e\x64\x65\x66\x67\xf2\xf3")
MAX_INSN = 15                   # longer instructions are #GP


def is_prefix(byte, code64):
    """A legacy prefix, or a REX prefix in 64-bit code."""
    return byte in LEGACY_PREFIXES or (code64 and 0x40 <= byte <= 0x4F)


def opcode_offset(code, code64):
    """How many prefix bytes `code` starts with."""
    n = 0
    while n < len(code) and n < MAX_INSN - 1 and is_prefix(code[n], code64):
        n += 1
    return n


def prefix_start(before, code64, room=MAX_INSN - 1):
    """How many of the bytes `before` an opcode are its prefixes: the prefix
    bytes ending `before`, at most `room`.  x86 cannot be decoded backwards,
    so a preceding instruction ending in prefix-valued bytes (an immediate
    0x66, say) is counted too; only fault reports use this."""
    n = 0
    while n < min(len(before), room) and is_prefix(before[-1 - n], code64):
        n += 1
    return n


def _reg(st, reg):
    return st.regs[_GPR[reg]] if reg in _GPR else 0


def _decode(cpu, rip, code64):
    """The instruction at linear rip, decoded with operand details (None if
    it cannot be read or decoded)."""
    try:
        code = cpu.walker.read(rip, MAX_INSN)
    except (PageFault, BadPhysical):
        return None
    return next(disassembler(code64, detail=True).disasm(code, rip), None)


def stack_fault_instead_of_gp(cpu, rip):
    """True if the 64-bit instruction at rip makes a non-canonical SS reference.
    In 64-bit mode the ES, CS, SS and DS overrides are ignored (SDM vol. 1
    3.3.7.1): the base register alone decides whether SS is used."""
    insn = _decode(cpu, rip, True)
    if insn is None:
        return False
    st = cpu.st
    if insn.mnemonic.split()[0] in _STACK_OPS and not canonical(st.regs[4] - 8):
        return True
    for op in insn.operands:
        if op.type != C.X86_OP_MEM:
            continue
        mem = op.mem
        ss_ref = mem.segment not in (C.X86_REG_FS, C.X86_REG_GS) and mem.base in _STACK_BASES
        if not ss_ref:
            continue
        ea = _reg(st, mem.base) + _reg(st, mem.index) * mem.scale + mem.disp
        if not canonical(ea):
            return True
    return False


def segment_fault_instead_of_pf(cpu, rip):
    """The fault (#GP or #SS) a 32-bit instruction at rip that took a #PF
    should have raised instead, because one of its memory operands lies
    outside its segment's limit or goes through a NULL segment; None if none
    does (or the instruction cannot be decoded)."""
    st = cpu.st
    if not st.segs[R_CS].flags & DESC_B_MASK:
        return None                     # 16-bit code: not modelled
    insn = _decode(cpu, rip, False)
    if insn is None:
        return None
    for op in insn.operands:
        if op.type != C.X86_OP_MEM:
            continue
        mem = op.mem
        seg = _SEGS.get(mem.segment, R_SS if mem.base in _STACK_BASES else R_DS)
        offset = (_reg32(st, mem.base) + _reg32(st, mem.index) * mem.scale + mem.disp) \
            & MASK32
        if not _within(st.segs[seg], offset, max(op.size, 1)):
            return 12 if seg == R_SS else 13      # #SS(0), #GP(0)
    return None


def _reg32(st, reg):
    return st.regs[_GPR32[reg]] & MASK32 if reg in _GPR32 else 0


def _within(sc, offset, size):
    """Whether [offset, offset+size) is inside a segment (its cache)."""
    if not sc.flags & DESC_P_MASK:
        return False                    # NULL (or not present) segment
    last = offset + size - 1
    if not sc.flags & DESC_CS_MASK and sc.flags & _DESC_E_MASK:    # expand-down data
        top = MASK32 if sc.flags & DESC_B_MASK else 0xFFFF
        return offset > sc.limit and last <= top
    return last <= sc.limit


def ud_instead_of_nm(cpu, rip):
    """True if the MMX/SSE instruction at rip that took #NM (CR0.TS) is #UD
    on the CPU: MMX with CR0.EM set, SSE with CR0.EM set or CR4.OSFXSR clear."""
    st = cpu.st
    insn = _decode(cpu, rip, st.code64)
    if insn is None:
        return False
    groups = set(insn.groups)
    if groups & _VEX_GROUPS:
        return False                    # VEX-encoded: CR0.EM does not apply
    if groups & _MMX_GROUPS:
        return bool(st.cr[0] & CR0_EM)
    if groups & _SSE_GROUPS:
        return bool(st.cr[0] & CR0_EM) or not st.cr[4] & CR4_OSFXSR
    return False
