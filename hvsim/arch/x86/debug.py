"""Debugger mechanisms for one x86 vCPU (used by hvsim/debug: the gdb stub
and `hvsim step`).

Owns:
* the register file as debuggers number it: one table for x86-64 and one for
  i386, in gdb's order (core, SSE, segment bases), then hvsim's system
  registers (CR0, CR2, CR3, CR4, EFER); reading and writing by table entry;
* breakpoints: Unicorn *exits* at the breakpoint addresses, merged with the
  vCPU's rdmsr/wrmsr/sysret exit sites (exits.py `ExitSites.load`), so nothing is
  patched in guest memory and nothing runs per instruction.  A breakpoint
  stops the vCPU before the instruction; resumed there, the instruction runs
  once (natively, or emulated if it is an exit site) before the breakpoint
  can hit again;
* watchpoints (hvsim/arch/watch.py, shared with arm64): Unicorn memory hooks
  on the watched ranges only, a hit reported right *after* the accessing
  instruction, as x86 data breakpoints do; runs are counted while
  watchpoints exist;
* single-step: exactly one instruction, whatever it is: a hypercall, an
  emulated rdmsr/wrmsr/sysret, hlt, or an instruction that faults (the step
  then ends at the first instruction of the guest's handler, as on hardware);
* debugger access to guest memory by virtual address: the page walker's
  peek/poke (paging.py), without accessed/dirty side effects and without
  protection checks;
* `describe_mode`: the CPU mode in words (vcpu.py `mode_name`, spelt out),
  for the stepper.

A vCPU without a debugger has `debug = None` and pays nothing.
"""

from unicorn import UC_ARCH_X86, UC_ERR_OK, UC_MODE_64, Uc
from unicorn import x86_const as X

from .. import uc as ucx
from ..gdbregs import Reg, RegisterError, Target
from ..watch import WATCH_SLICE, Watchpoints, emu_count_offset
from .cpustate import (OFF, R_CS, R_DS, R_EAX, R_EBP, R_EBX, R_ECX, R_EDI, R_EDX, R_ES,
                       R_ESI, R_ESP, R_FS, R_GS, R_SS, GPRS_32)
from .defns import CR0_PE, CR4_LA57, CR4_PSE, MASK32, MASK64
from .msr import MSR_EFER
from .segments import load_seg_cache, unpack_descriptor
from .disasm import disassembler
from .traps import vector_name
from .vcpu import HALTED, SLICE_END, Exit

STEP_TRIES = 100               # a step interrupted before its instruction is run again


# ---- the register tables --------------------------------------------------------------------
# Register kinds: where a value lives.
GPR, RIP, EFLAGS, SEG, SEG_BASE, CR, EFER, FPR, UCREG = range(9)

# Target-description features (gdb's names, and hvsim's own for the system registers)
CORE = "org.gnu.gdb.i386.core"
SSE = "org.gnu.gdb.i386.sse"
SEGMENTS = "org.gnu.gdb.i386.segments"
SYSTEM = "org.hvsim.x86.sys"
FEATURES = (CORE, SSE, SEGMENTS, SYSTEM)


_GPRS_64 = (("rax", R_EAX), ("rbx", R_EBX), ("rcx", R_ECX), ("rdx", R_EDX), ("rsi", R_ESI),
            ("rdi", R_EDI), ("rbp", R_EBP), ("rsp", R_ESP)) + \
    tuple(("r%d" % i, i) for i in range(8, 16))
_SEGS = (("cs", R_CS), ("ss", R_SS), ("ds", R_DS), ("es", R_ES), ("fs", R_FS), ("gs", R_GS))
_FPU_CONTROL = (("fctrl", X.UC_X86_REG_FPCW), ("fstat", X.UC_X86_REG_FPSW),
                ("ftag", X.UC_X86_REG_FPTAG), ("fiseg", X.UC_X86_REG_FCS),
                ("fioff", X.UC_X86_REG_FIP), ("foseg", X.UC_X86_REG_FDS),
                ("fooff", X.UC_X86_REG_FDP), ("fop", X.UC_X86_REG_FOP))


def _table(wide):
    """gdb's register numbering for x86-64 (wide) or i386."""
    w = 64 if wide else 32
    regs = []
    for name, idx in (_GPRS_64 if wide else GPRS_32):
        ptr = idx in (R_ESP, R_EBP)
        regs.append(Reg(name, w, "data_ptr" if ptr else "int%d" % w, CORE, GPR, idx))
    regs.append(Reg("rip" if wide else "eip", w, "code_ptr", CORE, RIP))
    regs.append(Reg("eflags", 32, "i386_eflags", CORE, EFLAGS))
    regs += [Reg(name, 32, "int32", CORE, SEG, idx) for name, idx in _SEGS]
    regs += [Reg("st%d" % i, 80, "i387_ext", CORE, FPR, X.UC_X86_REG_FP0 + i)
             for i in range(8)]
    regs += [Reg(name, 32, "int", CORE, UCREG, ucreg, "float") for name, ucreg in _FPU_CONTROL]
    regs += [Reg("xmm%d" % i, 128, "vec128", SSE, UCREG, getattr(X, "UC_X86_REG_XMM%d" % i))
             for i in range(16 if wide else 8)]
    regs.append(Reg("mxcsr", 32, "i386_mxcsr", SSE, UCREG, X.UC_X86_REG_MXCSR, "vector"))
    # gdb (13) fails an assertion on an i386 description with the segments
    # feature: there, the bases are hvsim system registers
    bases = SEGMENTS if wide else SYSTEM
    regs += [Reg("fs_base", w, "int", bases, SEG_BASE, R_FS, None if wide else "system"),
             Reg("gs_base", w, "int", bases, SEG_BASE, R_GS, None if wide else "system")]
    regs += [Reg("cr%d" % n, w, "hvsim_cr%d" % n if n in (0, 4) else "int%d" % w, SYSTEM, CR, n,
                 "system") for n in (0, 2, 3, 4)]
    regs.append(Reg("efer", 64, "hvsim_efer", SYSTEM, EFER, 0, "system"))
    return tuple(regs)


REGS_64 = _table(True)
REGS_32 = _table(False)

# Flag names of the registers with bit-field types (eflags, mxcsr, cr0, cr4, efer)
FLAG_BITS = {
    "i386_eflags": ((0, "CF"), (1, ""), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"),
                    (9, "IF"), (10, "DF"), (11, "OF"), (14, "NT"), (16, "RF"), (17, "VM"),
                    (18, "AC"), (19, "VIF"), (20, "VIP"), (21, "ID")),
    "i386_mxcsr": ((0, "IE"), (1, "DE"), (2, "ZE"), (3, "OE"), (4, "UE"), (5, "PE"),
                   (6, "DAZ"), (7, "IM"), (8, "DM"), (9, "ZM"), (10, "OM"), (11, "UM"),
                   (12, "PM"), (15, "FZ")),
    "hvsim_cr0": ((0, "PE"), (1, "MP"), (2, "EM"), (3, "TS"), (4, "ET"), (5, "NE"), (16, "WP"),
                  (18, "AM"), (29, "NW"), (30, "CD"), (31, "PG")),
    "hvsim_cr4": ((0, "VME"), (1, "PVI"), (2, "TSD"), (3, "DE"), (4, "PSE"), (5, "PAE"),
                  (6, "MCE"), (7, "PGE"), (8, "PCE"), (9, "OSFXSR"), (10, "OSXMMEXCPT"),
                  (11, "UMIP"), (12, "LA57"), (13, "VMXE"), (16, "FSGSBASE"), (17, "PCIDE"),
                  (18, "OSXSAVE"), (20, "SMEP"), (21, "SMAP"), (22, "PKE")),
    "hvsim_efer": ((0, "SCE"), (8, "LME"), (10, "LMA"), (11, "NXE"), (12, "SVME"),
                   (14, "FFXSR")),
}


VEC128_XML = """<vector id="v4f" type="ieee_single" count="4"/>
<vector id="v2d" type="ieee_double" count="2"/>
<vector id="v16i8" type="int8" count="16"/>
<vector id="v8i16" type="int16" count="8"/>
<vector id="v4i32" type="int32" count="4"/>
<vector id="v2i64" type="int64" count="2"/>
<union id="vec128">
<field name="v4_float" type="v4f"/>
<field name="v2_double" type="v2d"/>
<field name="v16_int8" type="v16i8"/>
<field name="v8_int16" type="v8i16"/>
<field name="v4_int32" type="v4i32"/>
<field name="v2_int64" type="v2i64"/>
<field name="uint128" type="uint128"/>
</union>"""

# gdb's architectures: x86-64 for a 64-bit kernel, i386 for a 32-bit one
TARGET_64 = Target("i386:x86-64", REGS_64, FEATURES, FLAG_BITS, {"vec128": VEC128_XML})
TARGET_32 = Target("i386", REGS_32, FEATURES, FLAG_BITS, {"vec128": VEC128_XML})


def flag_names(reg, value):
    """'ZF PF' for eflags = 0x46 (registers with a flags type; else '')."""
    return TARGET_64.flag_names(reg, value)


# X86Vcpu.mode_name() -> (words, a CR4 bit that refines them, the refined words)
_MODE_WORDS = {
    "64-bit": ("long mode (64-bit), 4-level paging", CR4_LA57,
               "long mode (64-bit), 5-level paging"),
    "compat": ("compatibility mode (IA-32e, 32-bit code)", 0, None),
    "32-bit": ("32-bit protected mode, paging off", 0, None),
    "32-bit PAE": ("32-bit PAE paging", 0, None),
    "32-bit paged": ("32-bit paging", CR4_PSE, "32-bit paging (PSE)"),
}


def describe_mode(vcpu):
    """The X86Vcpu's mode in words, e.g. 'long mode (64-bit), 4-level paging'."""
    st = vcpu.st
    if not st.cr[0] & CR0_PE:
        return "real mode"
    words, bit, refined = _MODE_WORDS[vcpu.mode_name()]
    return refined if st.cr[4] & bit else words


# ---- uc_struct.emu_count --------------------------------------------------------------------


def _emu_count_offset():
    return emu_count_offset("x86", OFF.emu_counter, lambda: Uc(UC_ARCH_X86, UC_MODE_64),
                            bytes.fromhex("48ffc0ebfb"), 0x1000)   # 1: inc %rax; jmp 1b


# ---- one vCPU's debug state -----------------------------------------------------------------
class X86Debug(Watchpoints):
    """Breakpoints, watchpoints, single-step and debugger memory/register
    access for one X86Vcpu (which calls `at_exit`; see vcpu.py)."""

    def __init__(self, vcpu):
        self._init_watchpoints(vcpu, OFF.emu_counter, _emu_count_offset())

    # -- breakpoints --------------------------------------------------------------------------
    def set_breakpoints(self, addrs):
        addrs = frozenset(addrs)
        if addrs != self.breakpoints:
            self.breakpoints = addrs
            self.vcpu.exits.load()

    def at_exit(self, rip):
        """Called by the vCPU when it stopped at an exit address.  True if it
        was a breakpoint's: reported (stop_exit set) or stepped over."""
        if rip not in self.breakpoints:
            self._reported_at = None
            return False
        if self._reported_at != rip:
            self._reported_at = rip
            self.vcpu.stop_exit = Exit("debug", "breakpoint")
            return True
        self._reported_at = None             # resumed at the breakpoint: run it once
        if rip in self.vcpu.exits.sites:
            return False                     # an rdmsr/wrmsr/sysret: emulated as usual
        self.vcpu.exits.step_over(rip)
        return True

    # -- watchpoints --------------------------------------------------------------------------
    def _hooks(self):
        return self.vcpu.hooks

    def _hook_failed(self, exc):
        self.vcpu.hooks.failed(exc)

    # -- running ------------------------------------------------------------------------------
    def run(self, count=0):
        """One slice (X86Vcpu.run), counted while watchpoints exist."""
        if self._watches and not count:
            count = WATCH_SLICE
        self._count_mode(count)
        self.hit = None
        return self.vcpu.run(count=count)

    def step(self):
        """Execute exactly one instruction; returns the Exit (SLICE_END if
        nothing else happened)."""
        v = self.vcpu
        v.stop_exit = None
        self.hit = None
        rip = v.linear_rip()
        self._reported_at = rip              # a breakpoint here is stepped over, not hit
        if rip in v.exits.sites:
            v.st.clear_halted()
            if not v.exits.at_exit():
                exit_ = self._step_native(rip)
            else:
                exit_ = v.stop_exit or SLICE_END
        else:
            exit_ = self._step_native(rip)
        self._reported_at = None
        v._slice_base, v._slice_request = 1, 0      # slice_insns: one instruction
        return exit_

    def _step_native(self, rip):
        v, st = self.vcpu, self.vcpu.st
        at_breakpoint = rip in self.breakpoints
        if at_breakpoint:
            v.exits.load(skip=rip)          # drops the translations at rip too
        self._count_mode(1)
        start = st.rip
        for _ in range(STEP_TRIES):
            st.clear_halted()
            v.emulating = True
            err = ucx.emu_start(v.uc, start, 0, 1)
            v.emulating = False
            # A stop request (the scheduler's ticker, Ctrl-C) may end the run
            # before the instruction: nothing moved, so run it again.  (After
            # an instruction, the next one's count hook has run, or the run
            # stopped at an exit address or a hlt, which mark the CPU halted.)
            if st.insn_counter > 1 or st.halted or st.rip != start or err != UC_ERR_OK \
                    or v.stop_exit is not None or v.hooks.error is not None or v._pending_maps:
                break
        if at_breakpoint:
            v.exits.load()
        exit_ = v.after_emulation(err)
        if exit_ is not None:
            return exit_
        # Unicorn marks a stop at an exit address like a hlt
        if st.halted and v.linear_rip() not in (v.exits.sites | self.breakpoints):
            return HALTED
        return SLICE_END

    # -- guest memory ---------------------------------------------------------------------------
    def read_memory(self, addr, n):
        """Up to n bytes at a guest virtual address (fewer if the range runs
        into an unmapped page; b'' if the first byte is not mapped)."""
        return self.vcpu.walker.peek(addr, n)

    def write_memory(self, addr, data):
        """Write at a guest virtual address, ignoring page protections.
        False (nothing written) if any byte is not mapped."""
        return self.vcpu.walker.poke(addr, data)

    # -- registers ------------------------------------------------------------------------------
    def read_register(self, reg):
        v, st = self.vcpu, self.vcpu.st
        kind = reg.kind
        if kind == GPR:
            value = st.regs[reg.index]
        elif kind == RIP:
            value = st.rip
        elif kind == EFLAGS:
            value = v.rflags
        elif kind == SEG:
            value = st.segs[reg.index].selector
        elif kind == SEG_BASE:
            value = st.segs[reg.index].base
        elif kind == CR:
            value = st.cr[reg.index]
        elif kind == EFER:
            value = st.efer
        elif kind == FPR:
            mantissa, exponent = v.uc.reg_read(reg.index)
            value = mantissa | exponent << 64
        else:
            value = v.uc.reg_read(reg.index)
        return value & ((1 << reg.bits) - 1)

    def write_register(self, reg, value):
        """Raises RegisterError for a write the CPU would refuse."""
        v, st = self.vcpu, self.vcpu.st
        kind = reg.kind
        if kind == GPR:
            if reg.bits == 32:
                value |= st.regs[reg.index] & ~MASK32 & MASK64
            st.regs[reg.index] = value
        elif kind == RIP:
            st.rip = value
        elif kind == EFLAGS:
            v.rflags = value
        elif kind == SEG:
            self._load_selector(reg.index, value & 0xFFFF)
        elif kind == SEG_BASE:
            st.segs[reg.index].base = value
        elif kind == CR:
            v.uc.reg_write((X.UC_X86_REG_CR0, None, X.UC_X86_REG_CR2, X.UC_X86_REG_CR3,
                            X.UC_X86_REG_CR4)[reg.index], value)
            v.flush_tlb()
        elif kind == EFER:
            v.uc.msr_write(MSR_EFER, value)
            v.flush_tlb()
        elif kind == FPR:
            v.uc.reg_write(reg.index, (value & MASK64, value >> 64 & 0xFFFF))
        else:
            v.uc.reg_write(reg.index, value)

    def _load_selector(self, seg, sel):
        """Load a segment register as `mov` would (descriptor from the GDT/LDT),
        without the privilege checks: a debugger may set any selector."""
        st = self.vcpu.st
        if sel & 0xFFFC == 0:
            if seg in (R_CS, R_SS) and not st.code64:
                raise RegisterError("a null selector cannot be loaded into %s"
                                    % ("cs" if seg == R_CS else "ss"))
            load_seg_cache(st, seg, sel, 0, 0, 0)
            return
        table = st.ldt if sel & 4 else st.gdt
        if (sel & ~7) + 7 > table.limit:
            raise RegisterError("selector %#x is outside the %s" % (sel, "LDT" if sel & 4
                                                                    else "GDT"))
        raw = self.read_memory(table.base + (sel & ~7), 8)
        if len(raw) != 8:
            raise RegisterError("descriptor of selector %#x is not mapped" % sel)
        desc = unpack_descriptor(raw)
        load_seg_cache(st, seg, sel, desc.base, desc.limit, desc.flags)

    # -- what the stepper shows (the same methods as Arm64Debug's) ---------------------------
    def pc(self):
        return self.vcpu.linear_rip()

    def set_pc(self, value):
        self.vcpu.st.rip = value

    def step_target(self):
        """The register table the stepper compares (by the CPU's mode)."""
        return TARGET_64 if self.vcpu.st.code64 else TARGET_32

    def describe_mode(self):
        return describe_mode(self.vcpu)

    def disassemble(self, addr):
        """The instruction at addr in AT&T syntax, decoded in the CPU's mode."""
        code = self.read_memory(addr, 15)
        for insn in disassembler(self.vcpu.st.code64, att=True).disasm(code, addr):
            return ("%s %s" % (insn.mnemonic, insn.op_str)).strip()
        return "(bad) %s" % code[:8].hex() if code else "<not mapped>"

    @staticmethod
    def exception_name(vector, kind):
        return vector_name(vector)

    def snapshot(self, regs):
        """{name: value} of the integer registers in `regs` (no x87/SSE): what
        the stepper compares before and after an instruction."""
        return {r.name: self.read_register(r) for r in regs if r.kind not in (FPR, UCREG)}
