"""x86 descriptors and the hidden segment caches.

Descriptor decoding for GDT/LDT/IDT/TSS entries, and `load_seg_cache`, a
port of QEMU's cpu_x86_load_seg_cache(): Unicorn ignores writes of hidden
segment state through its API in 64-bit mode, so every privilege or mode
change the hypervisor makes (exception delivery, syscall, the PVH entry)
goes through here to keep the caches and hflags (CPL, CS32/CS64/SS32,
ADDSEG) consistent exactly as QEMU would.

QEMU's `flags` word is the descriptor's high dword with the base/limit bits
left in place (e.g. 0x00CF9B00 for flat 32-bit ring-0 code)."""

import struct

from .cpustate import (HF_ADDSEG_MASK, HF_CPL_MASK, HF_CS32_MASK, HF_CS64_MASK,
                       HF_LMA_MASK, HF_SS32_MASK, R_CS, R_DS, R_ES, R_SS)
from .defns import CR0_PE, MASK32

# descriptor flag bits (in QEMU's flags word = descriptor bits 32..63)
DESC_TYPE_SHIFT = 8
DESC_S_MASK = 1 << 12        # code/data (1) vs system (0)
DESC_DPL_SHIFT = 13
DESC_P_MASK = 1 << 15
DESC_L_MASK = 1 << 21        # 64-bit code
DESC_B_MASK = 1 << 22        # 32-bit default size
DESC_G_MASK = 1 << 23
DESC_CS_MASK = 1 << 11       # code segment (type bit 3)
DESC_A_MASK = 1 << 8

# system descriptor / gate types
SYS_TSS16_AVAIL = 1
SYS_LDT = 2
SYS_TSS16_BUSY = 3
SYS_CALL16 = 4
SYS_TASK_GATE = 5
SYS_INTR16 = 6
SYS_TRAP16 = 7
SYS_TSS32_AVAIL = 9
SYS_TSS32_BUSY = 11
SYS_CALL32 = 12
SYS_INTR32 = 14
SYS_TRAP32 = 15



def flat_flags(code, dpl=0, long=False, big=True):
    """QEMU flags for a flat (base 0, 4 GiB) present segment."""
    f = DESC_P_MASK | DESC_S_MASK | DESC_G_MASK | (dpl << DESC_DPL_SHIFT) | DESC_A_MASK
    f |= (0xB if code else 0x3) << DESC_TYPE_SHIFT
    if long:
        f |= DESC_L_MASK
    elif big:
        f |= DESC_B_MASK
    return f | 0xF0000          # limit 19:16 as QEMU stores it


class Descriptor:
    """A decoded 8-byte segment descriptor."""

    __slots__ = ("raw", "base", "limit", "flags")

    def __init__(self, raw):
        self.raw = raw
        lo, hi = raw & MASK32, raw >> 32
        self.base = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000)
        limit = (lo & 0xFFFF) | (hi & 0xF0000)
        if hi & DESC_G_MASK:
            limit = (limit << 12) | 0xFFF
        self.limit = limit
        self.flags = hi         # QEMU keeps the whole high dword

    @property
    def present(self):
        return bool(self.flags & DESC_P_MASK)

    @property
    def dpl(self):
        return (self.flags >> DESC_DPL_SHIFT) & 3

    @property
    def is_system(self):
        return not self.flags & DESC_S_MASK

    @property
    def type(self):
        return (self.flags >> DESC_TYPE_SHIFT) & 0xF

    @property
    def is_code(self):
        return not self.is_system and bool(self.flags & DESC_CS_MASK)

    @property
    def long(self):
        return bool(self.flags & DESC_L_MASK)


class Gate:
    """A decoded IDT gate (8 bytes legacy, 16 bytes long mode)."""

    __slots__ = ("selector", "offset", "type", "dpl", "present", "ist")

    def __init__(self, raw, raw_hi=None):
        lo, hi = raw & MASK32, raw >> 32
        self.selector = lo >> 16
        self.offset = (lo & 0xFFFF) | (hi & 0xFFFF0000)
        if raw_hi is not None:
            self.offset |= (raw_hi & MASK32) << 32
        self.type = (hi >> 8) & 0xF
        self.dpl = (hi >> 13) & 3
        self.present = bool(hi & (1 << 15))
        self.ist = hi & 7 if raw_hi is not None else 0


def load_seg_cache(st, seg, selector, base, limit, flags):
    """cpu_x86_load_seg_cache(): write one segment cache and update hflags."""
    sc = st.segs[seg]
    sc.selector = selector
    sc.base = base
    sc.limit = limit
    sc.flags = flags
    hf = st.hflags
    if seg == R_CS:
        if (hf & HF_LMA_MASK) and (flags & DESC_L_MASK):
            hf |= HF_CS32_MASK | HF_SS32_MASK | HF_CS64_MASK
            hf &= ~HF_ADDSEG_MASK
        else:
            cs32 = HF_CS32_MASK if st.segs[R_CS].flags & DESC_B_MASK else 0
            hf = (hf & ~(HF_CS32_MASK | HF_CS64_MASK)) | cs32
    if seg == R_SS:
        hf = (hf & ~HF_CPL_MASK) | ((flags >> DESC_DPL_SHIFT) & 3)
    new = HF_SS32_MASK if st.segs[R_SS].flags & DESC_B_MASK else 0
    if hf & HF_CS64_MASK:
        pass
    elif not (st.cr[0] & CR0_PE) or not (hf & HF_CS32_MASK):
        new |= HF_ADDSEG_MASK
    elif st.segs[R_DS].base | st.segs[R_ES].base | st.segs[R_SS].base:
        new |= HF_ADDSEG_MASK
    st.hflags = (hf & ~(HF_SS32_MASK | HF_ADDSEG_MASK)) | new


def load_null_ss(st, cpl):
    """64-bit delivery to an inner ring loads SS with a NULL selector, RPL=CPL."""
    load_seg_cache(st, R_SS, cpl, 0, 0, cpl << DESC_DPL_SHIFT)


def unpack_descriptor(data):
    return Descriptor(struct.unpack("<Q", data)[0])
