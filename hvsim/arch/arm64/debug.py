"""Debugger mechanisms for one AArch64 vCPU (the gdb stub and `hvsim step`,
hvsim/debug/), with the same methods as hvsim/arch/x86/debug.py's X86Debug.

Owns:
* the register file in gdb's aarch64 numbering: org.gnu.gdb.aarch64.core
  (x0-x30, sp, pc, cpsr), org.gnu.gdb.aarch64.fpu (v0-v31, fpsr, fpcr), then
  hvsim's org.hvsim.aarch64.sys: the EL1 system registers (SCTLR, TTBR0/1,
  TCR, MAIR, VBAR, ESR, FAR, ELR, SPSR, CPACR, CNTKCTL), the banked stack
  pointers SP_EL0/SP_EL1, TPIDR_EL0/TPIDRRO_EL0/TPIDR_EL1, and the generic
  timers' CNTV/CNTP control and compare registers (hvsim's, hv/arm/vtimer.py);
* breakpoints: a Unicorn code hook bounded to each breakpoint's address
  (translated code elsewhere carries no hook), which stops the vCPU before
  the instruction; resumed there, the instruction runs once before the
  breakpoint can hit again.  Nothing is patched in guest memory;
* watchpoints (hvsim/arch/watch.py, shared with x86): memory hooks on the
  watched range only; a hit stops the vCPU right after the accessing
  instruction;
* single-step: exactly one instruction (a hypercall, an MMIO access, wfi,
  or an instruction that faults: the step then ends at the guest's vector),
  with the IRQ line held low, so that QEMU takes no interrupt inside it
  (`hvsim step` takes a pending one before the step instead:
  hv/arm/vcpu.py inject_pending);
* guest memory by virtual address through the guest's stage-1 tables
  (paging.py), without permission checks;
* the CPU's state in words and the disassembly for the stepper.
"""

import struct

from unicorn import UC_ARCH_ARM64, UC_HOOK_CODE, UC_MODE_ARM, Uc
from unicorn import arm64_const as A

from .. import uc as ucx
from ..gdbregs import Reg, RegisterError, Target
from ..x86.cpustate import _KNOWN_EMU_COUNTER_OFF
from ..watch import WATCH_SLICE, Watchpoints, emu_count_offset
from ..x86.debug import STEP_TRIES
from ..x86.vcpu import SLICE_END, Exit
from ...hv.arm import vtimer
from . import sysregs as sr
from .disasm import disassemble
from .paging import Regime, Walker

# ---- the register table --------------------------------------------------------------------
# Register kinds: where a value lives.
GPR, SP, PC, CPSR, UCREG, SYSREG, SP_ELX, TIMER = range(8)

CORE = "org.gnu.gdb.aarch64.core"
FPU = "org.gnu.gdb.aarch64.fpu"
SYSTEM = "org.hvsim.aarch64.sys"
FEATURES = (CORE, FPU, SYSTEM)

CPACR_EL1 = (3, 0, 1, 0, 2)
_SYSREGS = (("sctlr_el1", sr.SCTLR_EL1, "uint64"), ("ttbr0_el1", sr.TTBR0_EL1, "uint64"),
            ("ttbr1_el1", sr.TTBR1_EL1, "uint64"), ("tcr_el1", sr.TCR_EL1, "uint64"),
            ("mair_el1", sr.MAIR_EL1, "uint64"), ("vbar_el1", sr.VBAR_EL1, "code_ptr"),
            ("esr_el1", sr.ESR_EL1, "uint64"), ("far_el1", sr.FAR_EL1, "data_ptr"),
            ("elr_el1", sr.ELR_EL1, "code_ptr"), ("spsr_el1", sr.SPSR_EL1, "cpsr_flags"),
            ("cpacr_el1", CPACR_EL1, "uint64"), ("cntkctl_el1", vtimer.CNTKCTL_EL1, "uint64"))
_TPIDR = (("tpidr_el0", A.UC_ARM64_REG_TPIDR_EL0), ("tpidrro_el0", A.UC_ARM64_REG_TPIDRRO_EL0),
          ("tpidr_el1", A.UC_ARM64_REG_TPIDR_EL1))
_TIMERS = (("cntv_ctl_el0", vtimer.CNTV_CTL_EL0), ("cntv_cval_el0", vtimer.CNTV_CVAL_EL0),
           ("cntp_ctl_el0", vtimer.CNTP_CTL_EL0), ("cntp_cval_el0", vtimer.CNTP_CVAL_EL0))


def _table():
    regs = [Reg("x%d" % n, 64, "int", CORE, GPR, n) for n in range(31)]
    regs += [Reg("sp", 64, "data_ptr", CORE, SP), Reg("pc", 64, "code_ptr", CORE, PC),
             Reg("cpsr", 32, "cpsr_flags", CORE, CPSR)]
    regs += [Reg("v%d" % n, 128, "aarch64v", FPU, UCREG, getattr(A, "UC_ARM64_REG_V%d" % n),
                 "vector") for n in range(32)]
    regs += [Reg("fpsr", 32, "int", FPU, UCREG, A.UC_ARM64_REG_FPSR, "float"),
             Reg("fpcr", 32, "int", FPU, UCREG, A.UC_ARM64_REG_FPCR, "float")]
    regs += [Reg(name, 32 if type_ == "cpsr_flags" else 64, type_, SYSTEM, SYSREG, key, "system")
             for name, key, type_ in _SYSREGS]
    regs += [Reg("sp_el0", 64, "data_ptr", SYSTEM, SP_ELX, 0, "system"),
             Reg("sp_el1", 64, "data_ptr", SYSTEM, SP_ELX, 1, "system")]
    regs += [Reg(name, 64, "uint64", SYSTEM, UCREG, ucreg, "system") for name, ucreg in _TPIDR]
    regs += [Reg(name, 64, "uint64", SYSTEM, TIMER, key, "system") for name, key in _TIMERS]
    return tuple(regs)


REGS = _table()
CORE_REGS = tuple(r for r in REGS if r.feature == CORE)

# PSTATE as SPSR holds it (gdb's cpsr_flags)
FLAG_BITS = {
    "cpsr_flags": ((0, "SP"), ((2, 3), "EL"), (4, "nRW"), (6, "F"), (7, "I"), (8, "A"), (9, "D"),
                   (12, "SSBS"), (20, "IL"), (21, "SS"), (22, "PAN"), (23, "UAO"), (28, "V"),
                   (29, "C"), (30, "Z"), (31, "N")),
}

# the v registers' type, as gdb's own aarch64-fpu description has it
AARCH64V_XML = "\n".join(
    ['<vector id="%s" type="%s" count="%d"/>' % v for v in (
        ("v2d", "ieee_double", 2), ("v2u", "uint64", 2), ("v2i", "int64", 2),
        ("v4f", "ieee_single", 4), ("v4u", "uint32", 4), ("v4i", "int32", 4),
        ("v8u", "uint16", 8), ("v8i", "int16", 8), ("v16u", "uint8", 16), ("v16i", "int8", 16),
        ("v1u", "uint128", 1), ("v1i", "int128", 1))]
    + ['<union id="%s">%s</union>' % (name, "".join('<field name="%s" type="%s"/>' % f
                                                   for f in fields))
       for name, fields in (("vnd", (("f", "v2d"), ("u", "v2u"), ("s", "v2i"))),
                            ("vns", (("f", "v4f"), ("u", "v4u"), ("s", "v4i"))),
                            ("vnh", (("u", "v8u"), ("s", "v8i"))),
                            ("vnb", (("u", "v16u"), ("s", "v16i"))),
                            ("vnq", (("u", "v1u"), ("s", "v1i"))),
                            ("aarch64v", (("d", "vnd"), ("s", "vns"), ("h", "vnh"), ("b", "vnb"),
                                          ("q", "vnq"))))])

TARGET = Target("aarch64", REGS, FEATURES, FLAG_BITS, {"aarch64v": AARCH64V_XML})


def describe_mode(vcpu, read):
    """'EL1h, MMU off' / 'EL0t, MMU on (4K granule, 48-bit VA)' (read: a
    system register reader, sysregs.RawReader.read)."""
    return "%s, %s" % (vcpu.mode_name(), Regime(read).describe())


def _emu_count_offset():
    return emu_count_offset("arm64", _KNOWN_EMU_COUNTER_OFF, lambda: Uc(UC_ARCH_ARM64, UC_MODE_ARM),
                            struct.pack("<II", 0x91000400, 0x17FFFFFF), 0x1000)  # add; b .-4


# ---- one vCPU's debug state -----------------------------------------------------------------
class Arm64Debug(Watchpoints):
    """Breakpoints, watchpoints, single-step and debugger memory/register
    access for one Arm64Vcpu."""

    def __init__(self, vcpu):
        self._init_watchpoints(vcpu, _KNOWN_EMU_COUNTER_OFF, _emu_count_offset())
        self._bp_hooks = {}              # breakpoint address -> code hook handle
        self._skip = None                # breakpoint address to run past once
        self.walker = Walker(vcpu)
        self._sysregs = self.walker.sysregs

    # -- breakpoints --------------------------------------------------------------------------
    def set_breakpoints(self, addrs):
        addrs = frozenset(addrs)
        if addrs == self.breakpoints:
            return
        hooks = self.vcpu._raw
        for addr in self.breakpoints - addrs:
            hooks.remove(self._bp_hooks.pop(addr))
        for addr in addrs - self.breakpoints:
            self._bp_hooks[addr] = hooks.add(UC_HOOK_CODE, ucx.CB_CODE, self._on_code, addr, addr)
        self.breakpoints = addrs
        self.vcpu.flush_code()           # code hooks are compiled into translated code (X8)

    def _on_code(self, uch, address, size, ud):
        try:
            if address not in self.breakpoints:
                return
            if address == self._skip:
                self._skip = None        # resumed here: the instruction runs once
                return
            v = self.vcpu
            if v.stop_exit is None:
                v.stop_exit = Exit("debug", "breakpoint")
            self._reported_at = address
            ucx.emu_stop(v.uc)
        except BaseException as e:       # never raise into Unicorn
            self.vcpu.hook_failed(e)

    # -- watchpoints --------------------------------------------------------------------------
    def _hooks(self):
        return self.vcpu._raw

    def _hook_failed(self, exc):
        self.vcpu.hook_failed(exc)

    # -- running ------------------------------------------------------------------------------
    def run(self, count=0):
        """One slice (Arm64Vcpu.run), counted while watchpoints exist."""
        if self._watches and not count:
            count = WATCH_SLICE
        self._count_mode(count)
        self.hit = None
        v = self.vcpu
        self._skip = v.pc if v.pc == self._reported_at else None
        self._reported_at = None
        exit_ = v.run(count=count)
        self._skip = None
        return exit_

    def step(self):
        """Execute exactly one instruction, with the IRQ line held low;
        returns the Exit (SLICE_END if nothing else happened)."""
        v = self.vcpu
        self.hit = None
        pc = v.pc
        self._count_mode(1)
        v.irq_line.set(False)
        try:
            for _ in range(STEP_TRIES):
                v.stop_exit = None
                self._skip = pc          # a breakpoint here is stepped over, not hit
                exit_ = v.run(count=1)
                # a stop request (the ticker, Ctrl-C) may end the run before
                # the instruction: nothing ran, so run it again
                if v._counter.value or exit_ is not SLICE_END or v.pc != pc:
                    break
        finally:
            self._skip = self._reported_at = None
            v.irq_line.set(v.host.vgic.line, kick=False)
        v._slice_base, v._slice_request = 1, 0      # slice_insns: one instruction
        return exit_

    # -- guest memory ---------------------------------------------------------------------------
    def read_memory(self, addr, n):
        """Up to n bytes at a guest virtual address (fewer if the range runs
        into an unmapped page; b'' if the first byte is not mapped)."""
        return self.walker.peek(addr, n)

    def write_memory(self, addr, data):
        """Write at a guest virtual address, ignoring permissions.  False
        (nothing written) if any byte is not mapped."""
        return self.walker.poke(addr, data)

    # -- registers ------------------------------------------------------------------------------
    def _current_sp_el(self):
        """Which SP_ELx the SP register is now: 0 (EL0, or EL1t) or 1 (EL1h)."""
        ps = self.vcpu.pstate
        return 1 if (ps >> 2) & 3 and ps & 1 else 0

    def read_register(self, reg):
        v = self.vcpu
        kind = reg.kind
        if kind == GPR:
            value = v.reg(reg.index)
        elif kind == SP:
            value = v.reg_raw(A.UC_ARM64_REG_SP)
        elif kind == PC:
            value = v.pc
        elif kind == CPSR:
            value = v.pstate
        elif kind == SYSREG:
            value = self._sysregs.read(reg.index)
        elif kind == SP_ELX:
            value = v.reg_raw(A.UC_ARM64_REG_SP if reg.index == self._current_sp_el() else
                              (A.UC_ARM64_REG_SP_EL0, A.UC_ARM64_REG_SP_EL1)[reg.index])
        elif kind == TIMER:
            value = v.host.timer_read(reg.index)
        elif reg.bits > 64:
            value = v.uc.reg_read(reg.index)
        else:
            value = v.reg_raw(reg.index)
        return value & ((1 << reg.bits) - 1)

    def write_register(self, reg, value):
        v, uc = self.vcpu, self.vcpu.uc
        kind = reg.kind
        if kind == GPR:
            v.set_reg(reg.index, value)
        elif kind == SP:
            uc.reg_write(A.UC_ARM64_REG_SP, value)
        elif kind == PC:
            self.set_pc(value)
        elif kind == CPSR:
            if (value >> 2) & 3 not in (0, 1) or value & 0x10:
                raise RegisterError("cpsr %#x: the guest runs at EL0 or EL1 in AArch64" % value)
            self._set_pstate(value)
        elif kind == SYSREG:
            sr.write(uc, reg.index, value)
            v.flush_tlb()
        elif kind == SP_ELX:
            uc.reg_write(A.UC_ARM64_REG_SP if reg.index == self._current_sp_el() else
                         (A.UC_ARM64_REG_SP_EL0, A.UC_ARM64_REG_SP_EL1)[reg.index], value)
        elif kind == TIMER:
            v.host.timer_write(reg.index, value)
        else:
            uc.reg_write(reg.index, value)

    def _set_pstate(self, value):
        """A new PSTATE; the current SP is banked out and the new one's loaded
        as the CPU does on an exception level or SPSel change."""
        uc = self.vcpu.uc
        old = self._current_sp_el()
        banked = (A.UC_ARM64_REG_SP_EL0, A.UC_ARM64_REG_SP_EL1)
        uc.reg_write(banked[old], uc.reg_read(A.UC_ARM64_REG_SP))
        uc.reg_write(A.UC_ARM64_REG_PSTATE, value)
        uc.reg_write(A.UC_ARM64_REG_SP, uc.reg_read(banked[self._current_sp_el()]))
        sr.rebuild_hflags(uc)

    def pc(self):
        return self.vcpu.pc

    def set_pc(self, value):
        self.vcpu.uc.reg_write(A.UC_ARM64_REG_PC, value)

    # -- what the stepper shows ---------------------------------------------------------------
    @staticmethod
    def step_target():
        return TARGET

    def describe_mode(self):
        return describe_mode(self.vcpu, self._sysregs.read)

    def disassemble(self, addr):
        code = self.read_memory(addr, 4)
        if len(code) < 4:
            return "<not mapped>"
        return disassemble(code, addr) or "(bad) %s" % code.hex()

    @staticmethod
    def exception_name(vector, kind):
        return sr.ec_name(vector)

    def snapshot(self, regs):
        """{name: value} of the core and system registers (not the v registers,
        nor the timers, whose status follows the clock): what the stepper
        compares before and after an instruction."""
        return {r.name: self.read_register(r) for r in regs
                if r.feature != FPU and r.kind != TIMER}
