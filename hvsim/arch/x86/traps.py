"""Exception and interrupt delivery through the guest's own IDT.

Unicorn never runs QEMU's do_interrupt: every exception, `int N` and
injected interrupt reaches us as a hook, and this module does what the CPU
would do (SDM vol. 3, ch. 6), in both IDT formats:

* legacy protected mode (32-bit, with or without paging): 8-byte gates,
  32/16-bit interrupt and trap gates, ring switch through the 32-bit TSS
  (SS0:ESP0..), frame EIP/CS/EFLAGS[/ESP/SS] [+ error code]; from
  virtual-8086 mode (entered by a task switch, which QEMU does) to a ring-0
  handler only, with ES/DS/FS/GS pushed above SS and then cleared;
* IA-32e mode (64-bit and compatibility code): 16-byte gates, RSPn / IST
  stack switch, 16-byte aligned 8-byte frame, NULL SS on a ring change.

Checks are the architectural ones, with the architectural error codes: IDT
limit, gate type, gate DPL for software interrupts (`int N` from ring 3 to a
DPL-0 gate is #GP(N*8+2)), present bits, code-segment type/DPL, TSS limit
and stack segment.  A fault raised while delivering an event combines with
it by the SDM's benign/contributory/page-fault table: #DF, or a triple fault
(`TripleFault`, which crashes the domain).  Task gates are not supported
(the domain is crashed with a message saying so).
"""

import struct

from .cpustate import R_CS, R_DS, R_ES, R_ESP, R_FS, R_GS, R_SS
from .defns import EFLAGS_IF, EFLAGS_NT, EFLAGS_RF, EFLAGS_TF, EFLAGS_VM, MASK32
from .paging import ACCESS_READ, ACCESS_WRITE, BadPhysical, PageFault
from .segments import (DESC_B_MASK, DESC_DPL_SHIFT, SYS_INTR16, SYS_INTR32,
                       SYS_TASK_GATE, SYS_TRAP16, SYS_TRAP32, Descriptor, Gate,
                       load_null_ss, load_seg_cache)

DE, DB, NMI, BP, OF, BR, UD, NM, DF, TS, NP, SS, GP, PF, MF, AC, MC, XM, VE, CP = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21)

VECTOR_NAMES = {0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD",
                7: "#NM", 8: "#DF", 9: "#CSO", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP",
                14: "#PF", 16: "#MF", 17: "#AC", 18: "#MC", 19: "#XM", 20: "#VE", 21: "#CP"}

HAS_ERROR_CODE = frozenset((DF, TS, NP, SS, GP, PF, AC, CP))
CONTRIBUTORY = frozenset((DE, TS, NP, SS, GP))

# how an event was raised
FAULT = "fault"          # CPU exception; return to the faulting instruction
TRAP = "trap"            # CPU exception reported after the instruction (#DB, #OF)
SOFTWARE = "software"    # int N / int3 / into: gate DPL checked
ICEBP = "icebp"          # int1: privileged software exception, no DPL check
EXTERNAL = "external"    # interrupt (event-channel upcall): no error code


ERR_EXT = 1
ERR_IDT = 2

VM86_DATA_SEGS = (R_GS, R_FS, R_DS, R_ES)   # pushed in this order leaving virtual-8086 mode


def vector_name(v):
    return VECTOR_NAMES.get(v, "vector %d" % v)


class DeliveryFault(Exception):
    """An exception raised while delivering another event."""

    def __init__(self, vector, error_code=0, cr2=None):
        super().__init__("%s(%#x)" % (vector_name(vector), error_code))
        self.vector = vector
        self.error_code = error_code
        self.cr2 = cr2


class TripleFault(Exception):
    pass


class UnsupportedDelivery(Exception):
    """A legal but unimplemented delivery path (task gates)."""


def _is_df_class(v):
    return v in CONTRIBUTORY or v == PF


def combine(first, second):
    """SDM table 6-5: what a fault during delivery of `first` turns into."""
    if first == DF and _is_df_class(second):
        return None                       # triple fault
    if first in CONTRIBUTORY and second in CONTRIBUTORY:
        return DF
    if first == PF and _is_df_class(second):
        return DF
    return second


class TrapDelivery:
    """Delivers events for one vCPU.  `cpu` is the X86Vcpu."""

    def __init__(self, cpu):
        self.cpu = cpu
        self.st = cpu.st
        self.walker = cpu.walker

    # -- public ------------------------------------------------------------------
    def raise_event(self, vector, kind, error_code=None, insn_rip=None, next_rip=None):
        """Deliver `vector`, combining faults raised during delivery.

        insn_rip: address of the instruction the event belongs to; next_rip:
        where a trap/software interrupt returns to."""
        st = self.st
        if insn_rip is None:
            insn_rip = st.rip
        if next_rip is None:
            next_rip = insn_rip
        while True:
            ret = insn_rip if kind == FAULT else next_rip
            try:
                self._deliver(vector, kind, error_code, ret)
                break
            except DeliveryFault as f:
                merged = combine(vector, f.vector)
                if merged is None:
                    raise TripleFault("%s while delivering #DF" % f) from None
                if f.vector == PF and f.cr2 is not None:
                    st.cr[2] = f.cr2
                if merged == DF:
                    vector, error_code = DF, 0
                else:
                    vector, error_code = f.vector, f.error_code
                kind = FAULT                # the new fault belongs to the instruction
        st.clear_old_exception()
        st.clear_interrupt_shadow()

    # -- helpers -------------------------------------------------------------------
    def _read(self, la, n, user=False):
        try:
            return self.walker.read(la, n, ACCESS_READ, user)
        except PageFault as pf:
            raise DeliveryFault(PF, pf.error_code, pf.linear) from None
        except BadPhysical as bp:
            raise TripleFault("descriptor table read hit %s" % bp) from None

    def _write(self, la, data, user):
        try:
            self.walker.write(la, data, ACCESS_WRITE, user)
        except PageFault as pf:
            raise DeliveryFault(PF, pf.error_code, pf.linear) from None
        except BadPhysical as bp:
            raise TripleFault("exception frame write hit %s" % bp) from None

    def _descriptor(self, sel, ext):
        """Fetch a GDT/LDT descriptor; #GP(sel) if outside the table."""
        st = self.st
        if sel & 4:
            table = st.ldt
            if not table.flags & (1 << 15):
                raise DeliveryFault(GP, (sel & 0xFFFC) | ext)
        else:
            table = st.gdt
        if (sel & ~7) + 7 > table.limit:
            raise DeliveryFault(GP, (sel & 0xFFFC) | ext)
        raw = struct.unpack("<Q", self._read(table.base + (sel & ~7), 8))[0]
        return Descriptor(raw)

    def _code_segment(self, sel, cpl, ext, long_mode):
        """Check the handler's code segment; returns (descriptor, new CPL)."""
        if sel & 0xFFFC == 0:
            raise DeliveryFault(GP, ext)
        d = self._descriptor(sel, ext)
        if not d.is_code or d.dpl > cpl:
            raise DeliveryFault(GP, (sel & 0xFFFC) | ext)
        if long_mode and (not d.long or d.flags & DESC_B_MASK):
            raise DeliveryFault(GP, (sel & 0xFFFC) | ext)
        if not d.present:
            raise DeliveryFault(NP, (sel & 0xFFFC) | ext)
        conforming = bool(d.type & 4)
        return d, (cpl if conforming else d.dpl)

    def _tss_read(self, offset, size, ext):
        tr = self.st.tr
        if offset + size - 1 > tr.limit:
            raise DeliveryFault(TS, (tr.selector & 0xFFFC) | ext)
        data = self._read(tr.base + offset, size)
        return int.from_bytes(data, "little")

    def _new_flags(self, rflags, gate_type):
        rflags &= ~(EFLAGS_TF | EFLAGS_NT | EFLAGS_RF | EFLAGS_VM)
        if gate_type in (SYS_INTR32, SYS_INTR16):
            rflags &= ~EFLAGS_IF
        return rflags

    def _deliver(self, vector, kind, error_code, ret_rip):
        st = self.st
        ext = 0 if kind == SOFTWARE else ERR_EXT
        push_error = kind in (FAULT, TRAP) and vector in HAS_ERROR_CODE
        if push_error and error_code is None:
            error_code = 0
        if st.long_mode:
            self._deliver_long(vector, kind, ext, error_code if push_error else None, ret_rip)
        else:
            self._deliver_legacy(vector, kind, ext, error_code if push_error else None, ret_rip)

    def _gate(self, vector, kind, ext, size):
        st = self.st
        off = vector * size
        if off + size - 1 > st.idt.limit:
            raise DeliveryFault(GP, vector * 8 + ERR_IDT + ext)
        raw = self._read(st.idt.base + off, size)
        if size == 16:
            lo, hi = struct.unpack("<QQ", raw)
            gate = Gate(lo, hi)
        else:
            gate = Gate(struct.unpack("<Q", raw)[0])
        return gate

    def _check_gate(self, gate, vector, kind, ext, allowed):
        if gate.type == SYS_TASK_GATE and SYS_TASK_GATE not in allowed:
            raise DeliveryFault(GP, vector * 8 + ERR_IDT + ext)
        if gate.type not in allowed:
            raise DeliveryFault(GP, vector * 8 + ERR_IDT + ext)
        if kind == SOFTWARE and gate.dpl < self.st.cpl:
            raise DeliveryFault(GP, vector * 8 + ERR_IDT)
        if not gate.present:
            raise DeliveryFault(NP, vector * 8 + ERR_IDT + ext)
        if gate.type == SYS_TASK_GATE:
            raise UnsupportedDelivery("task gate for %s (task switching is not "
                                      "emulated)" % vector_name(vector))

    # -- IA-32e ---------------------------------------------------------------------
    def _deliver_long(self, vector, kind, ext, error_code, ret_rip):
        st, cpu = self.st, self.cpu
        gate = self._gate(vector, kind, ext, 16)
        self._check_gate(gate, vector, kind, ext, (SYS_INTR32, SYS_TRAP32))
        cpl = st.cpl
        desc, new_cpl = self._code_segment(gate.selector, cpl, ext, True)
        rsp = st.regs[R_ESP]
        if gate.ist:
            new_rsp = self._tss_read(0x24 + 8 * (gate.ist - 1), 8, ext)
        elif new_cpl < cpl:
            new_rsp = self._tss_read(4 + 8 * new_cpl, 8, ext)
        else:
            new_rsp = rsp
        new_rsp &= ~0xF
        rflags = cpu.rflags
        old_cs = st.segs[R_CS].selector
        old_ss = st.segs[R_SS].selector
        words = [ret_rip, old_cs, rflags, rsp, old_ss]
        if error_code is not None:
            words.insert(0, error_code)
        frame = struct.pack("<%dQ" % len(words), *words)
        new_rsp = (new_rsp - len(frame)) & 0xFFFFFFFFFFFFFFFF
        self._write(new_rsp, frame, user=(new_cpl == 3))
        # commit
        if new_cpl != cpl:
            load_null_ss(st, new_cpl)
        load_seg_cache(st, R_CS, (gate.selector & 0xFFFC) | new_cpl, desc.base,
                       desc.limit, desc.flags)
        st.regs[R_ESP] = new_rsp
        cpu.rflags = self._new_flags(rflags, gate.type)
        st.rip = gate.offset

    # -- legacy protected mode ----------------------------------------------------------
    def _stack_segment(self, sel, new_cpl, ext):
        if sel & 0xFFFC == 0:
            raise DeliveryFault(TS, ext)
        if sel & 3 != new_cpl:
            raise DeliveryFault(TS, (sel & 0xFFFC) | ext)
        try:
            d = self._descriptor(sel, ext)
        except DeliveryFault as f:
            if f.vector == GP:
                raise DeliveryFault(TS, (sel & 0xFFFC) | ext) from None
            raise
        writable_data = not d.is_system and not d.is_code and d.type & 2
        if not writable_data or d.dpl != new_cpl:
            raise DeliveryFault(TS, (sel & 0xFFFC) | ext)
        if not d.present:
            raise DeliveryFault(SS, (sel & 0xFFFC) | ext)
        return d

    def _deliver_legacy(self, vector, kind, ext, error_code, ret_rip):
        st, cpu = self.st, self.cpu
        vm86 = bool(cpu.rflags & EFLAGS_VM)
        gate = self._gate(vector, kind, ext, 8)
        self._check_gate(gate, vector, kind, ext,
                         (SYS_INTR32, SYS_TRAP32, SYS_INTR16, SYS_TRAP16, SYS_TASK_GATE))
        cpl = st.cpl
        desc, new_cpl = self._code_segment(gate.selector, cpl, ext, False)
        if vm86 and new_cpl != 0:           # out of virtual-8086 mode only to ring 0
            raise DeliveryFault(GP, (gate.selector & 0xFFFC) | ext)
        wide = gate.type in (SYS_INTR32, SYS_TRAP32)
        word = 4 if wide else 2
        fmt = "<I" if wide else "<H"
        esp = st.regs[R_ESP] & MASK32
        rflags = cpu.rflags & MASK32
        old_cs = st.segs[R_CS].selector
        old_ss = st.segs[R_SS].selector
        ss_desc = None
        if new_cpl < cpl:
            ss_sel = self._tss_read(8 + 8 * new_cpl, 2, ext)
            new_esp = self._tss_read(4 + 8 * new_cpl, 4, ext)
            ss_desc = self._stack_segment(ss_sel, new_cpl, ext)
            ss_base, ss_big = ss_desc.base, bool(ss_desc.flags & DESC_B_MASK)
            words = [old_ss, esp]
        else:
            ss_sel = None
            new_esp = esp
            ss_base = st.segs[R_SS].base
            ss_big = bool(st.segs[R_SS].flags & DESC_B_MASK)
            words = []
        if vm86:                            # the data segments go first, then are cleared
            words = [st.segs[r].selector for r in VM86_DATA_SEGS] + words
        words += [rflags, old_cs, ret_rip & MASK32]
        if error_code is not None:
            words.append(error_code)
        frame = b"".join(struct.pack(fmt, w & ((1 << (8 * word)) - 1)) for w in reversed(words))
        mask = MASK32 if ss_big else 0xFFFF
        sp = (new_esp - len(frame)) & mask
        self._write((ss_base + sp) & MASK32, frame, user=(new_cpl == 3))
        # commit
        cpu.rflags = self._new_flags(rflags, gate.type)
        if vm86:
            for r in VM86_DATA_SEGS:
                load_seg_cache(st, r, 0, 0, 0, 0)
        if ss_desc is not None:
            load_seg_cache(st, R_SS, ss_sel, ss_desc.base, ss_desc.limit, ss_desc.flags)
        load_seg_cache(st, R_CS, (gate.selector & 0xFFFC) | new_cpl, desc.base,
                       desc.limit, desc.flags)
        st.regs[R_ESP] = (new_esp & ~mask) | sp if not ss_big else sp
        st.rip = gate.offset


def dpl_of(flags):
    return (flags >> DESC_DPL_SHIFT) & 3
