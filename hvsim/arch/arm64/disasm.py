"""AArch64 instruction decoding (capstone, one shared instance): the text of
an instruction for `hvsim step` and the instruction trace, and the
load/store decoding hvsim needs to complete an MMIO access Unicorn stopped at (the loaded register, the
base register's writeback) and to give a data abort's FAR (Unicorn's MMIO
callbacks only see the physical address), as Xen decodes a trapped access
(xen/arch/arm/decode.c, from the syndrome where it can)."""

import struct

from unicorn import arm64_const as A

MASK64 = (1 << 64) - 1
_md = []


def _disassembler():
    """(capstone.Cs, capstone.arm64), built on first use (capstone is not
    imported at start-up: most runs never need it)."""
    if not _md:
        import capstone
        from capstone import arm64
        md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
        md.detail = True
        _md.append((md, arm64))
    return _md[0]


def _reg_value(vcpu, name):
    if name in ("sp", "wsp"):
        return vcpu.uc.reg_read(A.UC_ARM64_REG_SP)
    if name in ("xzr", "wzr"):
        return 0
    value = vcpu.reg(int(name[1:]))
    return value & 0xFFFFFFFF if name[0] == "w" else value


def _reg_number(name):
    """x0..x30/w0..w30 -> n; the zero register and sp -> None."""
    if name[0] in "xw" and name[1:].isdigit():
        return int(name[1:])
    return None


class Access:
    """One decoded load or store: its virtual address, destination register
    (loads), sign extension, and base writeback."""

    __slots__ = ("text", "va", "rt", "rt_wide", "signed", "pair", "base", "writeback")

    @property
    def va_page_offset(self):
        return self.va & 0xFFF

    def extend(self, value, size):
        bits = 8 * size
        value &= (1 << bits) - 1
        if self.signed and value >> (bits - 1):
            value -= 1 << bits
        return value & (MASK64 if self.rt_wide else 0xFFFFFFFF)

    def write_base(self, vcpu):
        if self.base == "sp":
            vcpu.uc.reg_write(A.UC_ARM64_REG_SP, self.writeback & MASK64)
        else:
            vcpu.set_reg(_reg_number(self.base), self.writeback)


def decode_access(vcpu, word, pc):
    """The load/store `word` at `pc` with vcpu's registers, or None."""
    md, C = _disassembler()
    for insn in md.disasm(struct.pack("<I", word), pc):
        ops = insn.operands
        mem = [op for op in ops if op.type == C.ARM64_OP_MEM]
        if not mem:
            return None
        op = mem[0]
        base = insn.reg_name(op.mem.base)
        va = _reg_value(vcpu, base) + op.mem.disp
        if op.mem.index:
            index = _reg_value(vcpu, insn.reg_name(op.mem.index))
            if op.ext == C.ARM64_EXT_SXTW and index & 0x80000000:
                index -= 1 << 32
            if op.shift.type == C.ARM64_SFT_LSL:
                index <<= op.shift.value
            va += index
        a = Access()
        a.text = "%s %s" % (insn.mnemonic, insn.op_str)
        a.va = va & MASK64
        regs = [insn.reg_name(o.reg) for o in ops if o.type == C.ARM64_OP_REG]
        a.pair = len(regs) > 1
        a.rt = _reg_number(regs[0]) if regs else None
        a.rt_wide = bool(regs) and regs[0][0] == "x"
        a.signed = insn.mnemonic.startswith("ldrs") or insn.mnemonic.startswith("ldurs")
        a.base = base
        a.writeback = None
        if insn.writeback:
            imm = [o.imm for o in ops if o.type == C.ARM64_OP_IMM]
            a.writeback = (_reg_value(vcpu, base) + imm[0]) & MASK64 if imm else a.va
        return a
    return None


def disassemble(code, pc):
    """'ldr x0, [x1, #8]' for the 4-byte instruction `code` at `pc` ('' if
    capstone cannot decode it)."""
    md, _ = _disassembler()
    for insn in md.disasm(code[:4], pc):
        return ("%s %s" % (insn.mnemonic, insn.op_str)).strip()
    return ""
