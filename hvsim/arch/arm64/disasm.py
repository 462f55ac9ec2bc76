"""AArch64 instruction decoding hvsim needs (capstone, one shared instance):
the virtual address a load or store accesses, for the FAR_EL1 of a data
abort hvsim injects at an MMIO access (Unicorn's MMIO callbacks only see
the physical address)."""

import struct

import capstone
from capstone import arm64 as C
from unicorn import arm64_const as A

_md = []


def _disassembler():
    if not _md:
        md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
        md.detail = True
        _md.append(md)
    return _md[0]


def _reg_value(vcpu, insn, reg):
    name = insn.reg_name(reg)
    if name in ("sp", "wsp"):
        return vcpu.uc.reg_read(A.UC_ARM64_REG_SP)
    if name in ("xzr", "wzr"):
        return 0
    value = vcpu.reg(int(name[1:]))
    return value & 0xFFFFFFFF if name[0] == "w" else value


def mem_operand_va(vcpu, word, pc):
    """base + index (extended, shifted) + offset of the memory operand of
    the instruction `word` at `pc`; a post-indexed access uses its base
    alone.  0 if it has none."""
    for insn in _disassembler().disasm(struct.pack("<I", word), pc):
        for op in insn.operands:
            if op.type != C.ARM64_OP_MEM:
                continue
            va = _reg_value(vcpu, insn, op.mem.base) + op.mem.disp
            if op.mem.index:
                index = _reg_value(vcpu, insn, op.mem.index)
                if op.ext in (C.ARM64_EXT_SXTW,) and index & 0x80000000:
                    index -= 1 << 32
                if op.shift.type == C.ARM64_SFT_LSL:
                    index <<= op.shift.value
                va += index
            return va & ((1 << 64) - 1)
    return 0
