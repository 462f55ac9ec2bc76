"""Instruction decoding for the few places the CPU model needs it (capstone).

stack_fault_instead_of_gp(): in 64-bit mode QEMU raises #GP(0) for every
non-canonical memory reference, but the SDM says a reference through SS (an
explicit SS override, RSP/RBP as the base, or an implicit stack operation)
raises #SS(0).  Only consulted on #GP(0) in 64-bit mode, so it costs nothing
on the hot path.

opcode_offset() and prefix_start(): where an instruction's opcode begins
after its prefixes, and where a prefixed instruction begins given its opcode
(software interrupts: Unicorn reports only the address after them)."""

from capstone import x86_const as C

from .disasm import disassembler
from .defns import canonical
from .paging import BadPhysical, PageFault

_GPR = {C.X86_REG_RAX: 0, C.X86_REG_RCX: 1, C.X86_REG_RDX: 2, C.X86_REG_RBX: 3,
        C.X86_REG_RSP: 4, C.X86_REG_RBP: 5, C.X86_REG_RSI: 6, C.X86_REG_RDI: 7,
        C.X86_REG_R8: 8, C.X86_REG_R9: 9, C.X86_REG_R10: 10, C.X86_REG_R11: 11,
        C.X86_REG_R12: 12, C.X86_REG_R13: 13, C.X86_REG_R14: 14, C.X86_REG_R15: 15}
_STACK_BASES = (C.X86_REG_RSP, C.X86_REG_RBP, C.X86_REG_ESP, C.X86_REG_EBP)
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


def stack_fault_instead_of_gp(cpu, rip):
    """True if the 64-bit instruction at rip makes a non-canonical SS reference."""
    try:
        code = cpu.walker.read(rip, 15)
    except (PageFault, BadPhysical):
        return False
    insn = next(disassembler(True, detail=True).disasm(code, rip), None)
    if insn is None:
        return False
    st = cpu.st
    if insn.mnemonic.split()[0] in _STACK_OPS and not canonical(st.regs[4] - 8):
        return True
    for op in insn.operands:
        if op.type != C.X86_OP_MEM:
            continue
        mem = op.mem
        ss_ref = mem.segment == C.X86_REG_SS or (mem.segment == C.X86_REG_INVALID and
                                                 mem.base in _STACK_BASES)
        if not ss_ref:
            continue
        ea = _reg(st, mem.base) + _reg(st, mem.index) * mem.scale + mem.disp
        if not canonical(ea):
            return True
    return False
