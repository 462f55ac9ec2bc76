"""One AArch64 vCPU on one Unicorn instance: the Arm twin of
hvsim/arch/x86/vcpu.py, with the same contract towards the hypervisor's
VCpu (`host`): run() -> Exit, host.hypercall(nr, args, abi), stop(),
request_stop(), read_linear()/write_linear(), crash_report().

Owns: the state Xen gives an Arm domain's vCPU at boot (PC = kernel entry,
x0 = device tree, MMU off, EL1h, DAIF masked: xen/arch/arm/domain_build.c),
the EL2 traps Xen takes (xen/arch/arm/traps.c: `hvc #0xEA1` hypercalls, hvc
and smc #0 as SMCCC/PSCI calls, wfi), and the synchronous exceptions
Unicorn raises, delivered to the guest's VBAR_EL1 with ESR/FAR/ELR/SPSR_EL1
filled as the CPU would (unicorn-notes.md A2).  The PSCI policy itself is
hvsim/hv/arm/psci.py's.

Interrupts: the vGIC (hvsim/hv/arm/vgic.py) drives this vCPU's IRQ line,
which QEMU samples and takes itself at the first instruction boundary with
PSTATE.I clear (irqline.py): no injection from Python, no interrupt window.
The GIC's distributor and CPU interface are Unicorn MMIO regions whose
accesses go to the host; an access Xen's vGIC refuses is a data abort
for the guest (ELR at the access, FAR its virtual address), a bad width
crashes the domain.

No per-block hook: UC_HOOK_INTR, which runs for exceptions (hypercalls
among them), the GIC's MMIO callbacks, and hooks on mrs/msr (system register
accesses) for the generic timer, whose counters follow hvsim's clock and
whose timers hvsim keeps (hv/arm/vtimer.py).

Every slice runs with an instruction budget (Unicorn's count), also in fast
mode, where the budget is unbounded and the ticker ends the slice by
zeroing it: Unicorn 2.1.4 cannot be stopped asynchronously on arm64.  A
uc_emu_stop() from another thread ends the block chain at the start of the
next block without restoring PC from it (cpu_tb_exec skips the restore once
stop_request is set), so the vCPU resumes at the last PC a helper synced,
inside the previous block, and runs its tail again: `ldrb w0, [x0, x1]`
runs twice with x0 already loaded.  The count check, by contrast, runs
before each instruction with PC synced (a probe of 10,000 such stops of a
load loop: none ran an instruction twice; the count costs about half of
Unicorn's raw speed).
"""

import threading

import ctypes
import struct

import unicorn
from unicorn import (UC_ARCH_ARM64, UC_ERR_OK, UC_HOOK_INSN, UC_HOOK_INTR,
                     UC_HOOK_MEM_PROT, UC_HOOK_MEM_UNMAPPED, UC_MEM_FETCH_PROT,
                     UC_MEM_FETCH_UNMAPPED, UC_MODE_ARM, UC_PROT_ALL, Uc)
from unicorn import arm64_const as A

from ...abi.arch_arm import XEN_HYPERCALL_TAG
from ...abi.cstruct import ARM64
from ...snapshot import state as snapstate
from ...snapshot.fileformat import SnapshotError
from ...hv.arm import psci, vtimer
from ...hv.arm.vgic import VgicAbort, VgicBadWidth
from ...abi import arch_arm as a
from .. import uc as ucx
from ..mapping import QueuedMappings
from ..tracehooks import TraceHooks
from ..x86.cpustate import _KNOWN_EMU_COUNTER_OFF
from ..x86.vcpu import SLICE_END, Exit, internal_error_exit
from . import sysregs as sr
from .disasm import decode_access, disassemble
from .irqline import IrqLine
from .paging import SCTLR_M

TCG_BUFFER_SIZE = 64 << 20
UNBOUNDED = 1 << 62                 # a fast-mode slice's budget: the ticker ends it
_KNOWN_EMU_COUNT_OFF = _KNOWN_EMU_COUNTER_OFF + 8     # uc_struct.emu_count, after emu_counter
XEN_ARM_CLOBBER = 0xDEADBEEF        # what a debug Xen on Arm leaves in consumed argument registers
HYPERCALL_ARGS = sr.GPR[:5]

_PROT_RX = unicorn.UC_PROT_READ | unicorn.UC_PROT_EXEC


_EMU_COUNT = []


def _emu_count_off():
    """uc_struct.emu_count (the budget hook_count_cb compares with), checked
    once per process: it holds the count a running emu_start was given."""
    if not _EMU_COUNT:
        uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
        uc.mem_map(0x40000000, 0x1000)
        uc.mem_write(0x40000000, struct.pack("<II", 0xD4000002, 0x17FFFFFF))   # hvc #0; b .
        sr.make_el1_aarch64(uc, 0)
        got = []
        off = _KNOWN_EMU_COUNT_OFF
        uc.hook_add(UC_HOOK_INTR, lambda u, n, d: got.append(
            ctypes.c_uint64.from_address(ucx.uc_handle(u) + off).value))
        uc.emu_start(0x40000000, 0, count=12345)
        if not got or got[0] != 12345:
            raise HvsimError("unicorn calibration failed: no uc_struct.emu_count where "
                             "Unicorn 2.1.4 keeps it (%r)" % (got,))
        _EMU_COUNT.append(off)
    return _EMU_COUNT[0]


class TranslationFault(Exception):
    """A guest virtual address the hypervisor could not read or write."""


class Arm64Vcpu(QueuedMappings, TraceHooks):
    ARCH = "aarch64"                # snapshots: the architecture of the saved CPU state

    def __init__(self, host, physmap, vcpu_id):
        ucx.check_unicorn_version()
        self.host = host
        self.physmap = physmap
        self.vcpu_id = vcpu_id
        self._start_engine()
        self._run_thread = None
        self._async_stop = False        # another thread ended the slice (zeroed the budget)
        self.stop_exit = None
        self.emulating = False
        self._restart = False           # a hook moved PC (exception delivered): run on
        self._hook_error = None
        self._slice_base = 0
        self._slice_request = 0
        self._pending_maps = []
        self.debug = None
        self.on_exception = None
        self._mmio_access = None        # [kind, gpa, size, value] of the access being emulated
        self._mmio_stopped = None       # ... that ended the slice: to complete (_finish_mmio)
        self._mmio_abort = False        # ... with a data abort
        self._deferred_line = None      # the IRQ line's level once it is complete
        self._bad_access = None         # (access, gpa) of a stage-2 fault, from the hook below
        self._mode_hook = None          # a timeline's boot-phase watch (tracehooks.py)
        physmap.add_listener(self)

    # what a snapshot does not carry: the engine (recreated) and its handles
    _ENGINE = ("uc", "_counter", "_budget", "irq_line", "_regval", "_regref", "_uch", "_raw",
               "_mmio_callbacks")

    def _start_engine(self):
        """A new Unicorn instance with hvsim's hooks and the GIC's MMIO
        regions (at creation, and when a snapshot is resumed); guest memory
        comes from the physmap listener."""
        self.uc = uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
        uc.ctl_set_tcg_buffer_size(TCG_BUFFER_SIZE)
        sr.make_el1_aarch64(uc, self.vcpu_id)
        self._counter = ctypes.c_uint64.from_address(ucx.uc_handle(uc) + _KNOWN_EMU_COUNTER_OFF)
        self._budget = ctypes.c_uint64.from_address(ucx.uc_handle(uc) + _emu_count_off())
        self.irq_line = IrqLine(uc)
        self._regval = ctypes.c_uint64()
        self._regref = ctypes.byref(self._regval)
        self._uch = uc._uch
        uc.hook_add(UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_PROT, self._on_bad_access)
        # raw hooks: hypercalls and every mrs/msr run one (Linux reads
        # TPIDR_EL1, DAIF, ... all the time); the binding's wrapper costs
        # several times the call
        self._raw = ucx.RawHooks(uc)
        self._raw.add(UC_HOOK_INTR, ucx.CB_INTR, self._on_intr)
        self._raw.add(UC_HOOK_INSN, ucx.CB_ARM64_SYS, self._on_mrs, insn=A.UC_ARM64_INS_MRS)
        self._raw.add(UC_HOOK_INSN, ucx.CB_ARM64_SYS, self._on_msr, insn=A.UC_ARM64_INS_MSR)
        self._mmio_callbacks = (ucx.CB_MMIO_READ(self._on_mmio_read),
                                ucx.CB_MMIO_WRITE(self._on_mmio_write))
        for base, size in ((a.GUEST_GICD_BASE, a.GUEST_GICD_SIZE),
                           (a.GUEST_GICC_BASE, a.GUEST_GICC_SIZE)):
            ucx.mmio_map(uc, base, size, *self._mmio_callbacks)

    # ---- snapshots (hvsim/snapshot/) --------------------------------------------------------
    def __getstate__(self):
        """QEMU's CPUARMState (general, FP/SIMD and system registers: SCTLR,
        TTBR0/1, TCR, MAIR, VBAR, ELR, SPSR, ESR, FAR, SP_EL0/1, TPIDR*,
        CNTKCTL, PSTATE and hflags) as Unicorn's context holds it; a debugger
        is re-attached by its owner.  The timers and the vGIC are the
        hypervisor side's (hv/arm/), the IRQ line is set again from the vGIC."""
        state = snapstate.transient(self, stop_exit=None, _mode_hook=None, debug=None)
        for name in self._ENGINE:
            del state[name]
        state["cpu"] = (self.ARCH, sr.save_cpu(self.uc))
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._start_engine()

    def load_saved_cpu(self):
        """Snapshot load, once guest memory is mapped again: the saved CPU
        state (refused if it is another architecture's), and the IRQ line as
        the vGIC drives it."""
        arch, blob = self.__dict__.pop("cpu")
        if arch != self.ARCH:
            raise SnapshotError("<snapshot>", "d%dv%d: the saved CPU state is %s, the vCPU %s"
                                % (self.host.domain.domid, self.vcpu_id, arch, self.ARCH),
                                "resume a snapshot this hvsim wrote")
        sr.load_cpu(self.uc, blob)
        self.irq_line.set(self.host.vgic.line, kick=False)

    # ---- memory mappings (physmap listener: arch/mapping.py queues them) -----------------
    def _apply_mapping(self, change):
        op, gpa, size, addr = change
        if op == "unmap":
            self.uc.mem_unmap(gpa, size)
        else:
            self.uc.mem_map_ptr(gpa, size, UC_PROT_ALL if op == "map" else _PROT_RX, addr)
        ucx.flush_tlb(self.uc)

    # ---- registers --------------------------------------------------------------------------
    @property
    def pc(self):
        return self.reg_raw(A.UC_ARM64_REG_PC)

    @property
    def pstate(self):
        return self.reg_raw(A.UC_ARM64_REG_PSTATE)

    def reg(self, n):
        return self.reg_raw(sr.GPR[n])

    def set_reg(self, n, value):
        self.set_reg_raw(sr.GPR[n], value)

    def reg_raw(self, reg):
        """Unicorn register `reg`, read without the binding (hooks use these)."""
        ucx.uclib_gil.uc_reg_read(self._uch, reg, self._regref)
        return self._regval.value

    def set_reg_raw(self, reg, value):
        self._regval.value = value & ((1 << 64) - 1)
        ucx.uclib_gil.uc_reg_write(self._uch, reg, self._regref)

    def linear_rip(self):
        """The address of the next instruction (what debuggers call the PC)."""
        return self.pc

    def mode_name(self):
        ps = self.pstate
        return "EL%d%s" % ((ps >> 2) & 3, "h" if ps & 1 else "t")

    # ---- debugging hooks (tracehooks.py) -----------------------------------------------------
    FINAL_BOOT_PHASE = "EL1h, MMU on"     # a timeline stops watching for phases there

    @property
    def trace_hooks(self):
        return self._raw

    def boot_phase(self):
        """The exception level and whether stage 1 translation is on."""
        mmu = sr.read(self.uc, sr.SCTLR_EL1) & SCTLR_M
        return "%s, MMU %s" % (self.mode_name(), "on" if mmu else "off")

    def describe_insn(self, address):
        try:
            code = self.read_linear(address, 4)
        except TranslationFault:
            return "<not mapped>"
        return disassemble(code, address) or code.hex()

    # ---- boot (and PSCI CPU_ON) -------------------------------------------------------------
    def reset(self, entry, x0=0):
        """Xen's arch_set_info_guest for an arm64 vCPU: EL1h with DAIF masked,
        the MMU off, PC = entry, x0 = the device tree (or PSCI's context id)."""
        uc = self.uc
        for n in range(31):
            self.set_reg(n, 0)
        sr.write(uc, sr.SCTLR_EL1, sr.SCTLR_EL1_RESET)
        sr.write(uc, sr.VBAR_EL1, 0)
        uc.reg_write(A.UC_ARM64_REG_PSTATE, sr.PSR_GUEST64_INIT)
        sr.rebuild_hflags(uc)
        uc.reg_write(A.UC_ARM64_REG_SP, 0)
        self.set_reg(0, x0)
        uc.reg_write(A.UC_ARM64_REG_PC, entry)

    # ---- exceptions -------------------------------------------------------------------------
    def hook_failed(self, exc):
        """A hook caught an exception: end the slice, report it (run())."""
        if self._hook_error is None:
            self._hook_error = exc
        ucx.emu_stop(self.uc)

    def _on_intr(self, uch, intno, ud):
        try:
            self._exception(intno)
        except BaseException as e:            # never raise into Unicorn
            self._hook_error = e
            ucx.emu_stop(self.uc)

    def _exception(self, intno):
        if intno == sr.EXCP_HVC:              # PC: the instruction after the hvc
            imm = self._insn(self.pc - 4) >> 5 & 0xFFFF
            if imm == XEN_HYPERCALL_TAG:
                self._hypercall()
            elif imm == 0:
                self._smccc()
            else:                             # do_trap_hypercall: "Invalid HVC imm"
                self.inject_sync(sr.ESR_UNDEF, elr=self.pc)
            return
        if intno == sr.EXCP_SMC:              # do_trap_smc: SMCCC with imm 0, else undef
            if self._insn(self.pc - 4) >> 5 & 0xFFFF == 0:
                self._smccc()
            else:                             # a trapped smc returns to itself
                self.inject_sync(sr.ESR_UNDEF, elr=self.pc - 4)
            return
        if intno == sr.EXCP_UDEF and self._insn(self.pc) == sr.INSN_WFI:
            self.uc.reg_write(A.UC_ARM64_REG_PC, self.pc + 4)    # HCR_EL2.TWI: Xen's wfi trap
            self.host.wfi()
            return
        if intno in (sr.EXCP_UDEF, sr.EXCP_SWI, sr.EXCP_PREFETCH_ABORT, sr.EXCP_DATA_ABORT,
                     sr.EXCP_BKPT):
            syndrome, far = sr.pending_exception(self.uc)
            if vtimer.phys_timer_trap(syndrome):
                syndrome = sr.ESR_UNDEF       # Xen: !ACCESS_ALLOWED -> undefined instruction
            abort = intno in (sr.EXCP_PREFETCH_ABORT, sr.EXCP_DATA_ABORT)
            self.inject_sync(syndrome, far=far if abort else None, elr=self.pc)
            return
        self._crash("unexpected CPU exception %d at pc=%#x" % (intno, self.pc))

    def _on_mrs(self, uch, reg, cp, ud):
        """mrs of the generic timer's registers: hvsim's (hv/arm/vtimer.py);
        every other system register is Unicorn's."""
        cp = cp.contents
        if cp.crn != vtimer.CRN_TIMER:
            return 0
        try:
            key = (cp.op0, cp.op1, cp.crn, cp.crm, cp.op2)
            if key in vtimer.COUNTERS:
                if self._el0_denied(key):
                    return 0
                value = self.host.counter_read(key)
            elif key in vtimer.TIMER_REGS:
                if self._el0_denied(key):
                    return 0
                value = self.host.timer_read(key)
            else:
                return 0
            if reg != A.UC_ARM64_REG_XZR:
                self.set_reg_raw(reg, value)
            return 1
        except BaseException as e:            # never raise into Unicorn
            self._hook_error = e
            ucx.emu_stop(self.uc)
            return 1

    def _on_msr(self, uch, reg, cp, ud):
        """msr to the timers' registers: kept by hvsim (Unicorn drops them)."""
        cp = cp.contents
        if cp.crn != vtimer.CRN_TIMER:
            return 0
        try:
            key = (cp.op0, cp.op1, cp.crn, cp.crm, cp.op2)
            if key not in vtimer.TIMER_REGS or self._el0_denied(key):
                return 0
            self.host.timer_write(key, cp.val)
            return 1
        except BaseException as e:            # never raise into Unicorn
            self._hook_error = e
            ucx.emu_stop(self.uc)
            return 1

    def _el0_denied(self, key):
        """At EL0 the timer and its counters need CNTKCTL_EL1's enables: then
        hvsim leaves the instruction to QEMU, which traps it to EL1 as the
        architecture has it (EC 0x18; see _sysreg_trap_syndrome)."""
        return not (self.pstate >> 2) & 3 and not vtimer.el0_allowed(
            key, sr.read(self.uc, vtimer.CNTKCTL_EL1))

    # ---- the GIC's registers (MMIO) -------------------------------------------------------
    # Unicorn checks for a stop request right after each guest memory access
    # and, if there is one, ends emulation with PC back at that access, which
    # the next emu_start runs again.  So an access whose callback must end
    # the slice (an interrupt it made deliverable, a data abort, the
    # scheduler's preemption) ends it with uc_emu_stop and is completed here
    # afterwards, as Xen completes a trapped MMIO access (advance_pc and the
    # load's destination register): `_mmio_stopped` holds it meanwhile.
    def _on_mmio_read(self, uch, offset, size, base):
        gpa = base + offset
        access = ["r", gpa, size, 0]
        self._mmio_access = access
        try:
            access[3] = self.host.mmio_read(gpa, size)
            return access[3]
        except (VgicAbort, VgicBadWidth) as e:
            self._refuse(e, gpa, size, False)
            return 0
        except BaseException as e:            # never raise into Unicorn
            self._hook_error = e
            ucx.emu_stop(self.uc)
            return 0
        finally:
            self._mmio_access = None

    def _on_mmio_write(self, uch, offset, size, value, base):
        gpa = base + offset
        self._mmio_access = ["w", gpa, size, value]
        try:
            self.host.mmio_write(gpa, size, value)
        except (VgicAbort, VgicBadWidth) as e:
            self._refuse(e, gpa, size, True)
        except BaseException as e:            # never raise into Unicorn
            self._hook_error = e
            ucx.emu_stop(self.uc)
        finally:
            self._mmio_access = None

    def _stop_in_mmio(self):
        """End the slice from inside an MMIO callback; the access is
        completed once Unicorn has stopped at it."""
        self._mmio_stopped = self._mmio_access
        ucx.emu_stop(self.uc)

    def _refuse(self, exc, gpa, size, write):
        """Xen's vGIC refused the access: a bad width crashes the domain; an
        unhandled register is a data abort, taken once Unicorn stopped at
        the access."""
        what = "%d-byte %s of the GIC at %#x" % (size, "write" if write else "read", gpa)
        if isinstance(exc, VgicBadWidth):
            self._crash("vGIC: bad access width: %s" % what)
            return
        self.host.hv.log("%r: vGIC: %s (%s): data abort" % (self.host, exc, what))
        self._mmio_abort = True
        self._stop_in_mmio()

    def _finish_mmio(self):
        """After a stop inside an MMIO callback: PC is at the access.  Inject
        the data abort Xen injects for a refused one (inject_dabt_exception:
        ISS 0, IL, FAR = the access's virtual address), or complete it."""
        kind, gpa, size, value = self._mmio_stopped
        self._mmio_stopped = None
        if self._deferred_line is not None:
            self.irq_line.set(self._deferred_line, kick=False)
            self._deferred_line = None
        pc = self.pc
        insn = decode_access(self, self._insn(pc), pc)
        if insn is None or insn.va_page_offset != gpa & 0xFFF:
            return                            # Unicorn did not stop at the access
        if self._mmio_abort:
            self._mmio_abort = False
            ec = sr.EC_DABT_LOWER if not (self.pstate >> 2) & 3 else sr.EC_DABT_CUR
            self.inject_sync(ec << 26 | sr.ESR_IL, elr=pc, far=insn.va)
            return
        if insn.pair:
            self._crash("an MMIO access by a load/store pair at pc=%#x (%s)" % (pc, insn.text))
            return
        if kind == "r" and insn.rt is not None:
            self.set_reg(insn.rt, insn.extend(value, size))
        if insn.writeback is not None:
            insn.write_base(self)
        self.uc.reg_write(A.UC_ARM64_REG_PC, pc + 4)
        self._restart = True

    # ---- stage-2 faults: guest-physical space nothing backs, read-only grants ------------
    def _on_bad_access(self, uc, access, address, size, value, ud):
        self._bad_access = (access, address)
        return False                          # Unicorn stops at the access

    def _stage2_abort(self):
        """An access to guest-physical space with nothing there (or a write
        to a read-only grant mapping): Xen's do_trap_stage2_abort_guest finds
        no MMIO handler and injects an abort (inject_dabt_exception /
        inject_iabt_exception: ISS 0, IL, FAR = the virtual address), at
        the instruction Unicorn stopped on."""
        access, gpa = self._bad_access
        self._bad_access = None
        pc = self.pc
        lower = not (self.pstate >> 2) & 3
        if access in (UC_MEM_FETCH_UNMAPPED, UC_MEM_FETCH_PROT):
            ec = sr.EC_IABT_LOWER if lower else sr.EC_IABT_CUR
            far = pc
        else:
            ec = sr.EC_DABT_LOWER if lower else sr.EC_DABT_CUR
            insn = decode_access(self, self._insn(pc), pc)
            far = insn.va if insn is not None else gpa
        self.inject_sync(ec << 26 | sr.ESR_IL, elr=pc, far=far)

    def inject_sync(self, esr, elr, far=None):
        """Take a synchronous exception to EL1 (Xen's inject_undef64_exception
        and friends; the CPU's own for exceptions Unicorn leaves undelivered):
        SPSR_EL1 = PSTATE, ELR_EL1, ESR_EL1 (and FAR_EL1), EL1h with DAIF
        masked, SP_EL1, PC = VBAR_EL1 + the vector of the EL taken from."""
        if self.on_exception is not None:
            self.on_exception(esr >> 26, sr.TRACE_KIND, esr, elr)
        sr.write(self.uc, sr.ESR_EL1, esr)
        if far is not None:
            sr.write(self.uc, sr.FAR_EL1, far)
        self._enter_el1(sr.VECTOR_SYNC, elr)
        self._restart = True
        ucx.emu_stop(self.uc)

    def take_irq(self):
        """Take the IRQ the line signals now, between two slices, as QEMU's
        arm_cpu_do_interrupt_aarch64 takes it (ELR = PC; no syndrome): for
        a debugger's step that lets interrupts in (hvsim step)."""
        self._enter_el1(sr.VECTOR_IRQ, self.pc)

    def _enter_el1(self, offset, elr):
        """Exception entry to EL1h: SPSR_EL1 = PSTATE, ELR_EL1, DAIF masked,
        SP_EL1, PC = VBAR_EL1 + the vector of the EL taken from + offset."""
        uc = self.uc
        ps = self.pstate
        el, spx = (ps >> 2) & 3, ps & 1
        base = sr.VECTOR_LOWER64 if el == 0 else (sr.VECTOR_CUR_SPX if spx else sr.VECTOR_CUR_SP0)
        sr.write(uc, sr.SPSR_EL1, ps)
        sr.write(uc, sr.ELR_EL1, elr)
        if not (el == 1 and spx):
            uc.reg_write(A.UC_ARM64_REG_SP_EL0, uc.reg_read(A.UC_ARM64_REG_SP))
            uc.reg_write(A.UC_ARM64_REG_PSTATE, (ps & sr.PSR_NZCV) | sr.PSR_GUEST64_INIT)
            uc.reg_write(A.UC_ARM64_REG_SP, uc.reg_read(A.UC_ARM64_REG_SP_EL1))
        else:
            uc.reg_write(A.UC_ARM64_REG_PSTATE, (ps & sr.PSR_NZCV) | sr.PSR_GUEST64_INIT)
        sr.rebuild_hflags(uc)
        uc.reg_write(A.UC_ARM64_REG_PC, sr.read(uc, sr.VBAR_EL1) + base + offset)

    def _insn(self, va):
        try:
            return struct.unpack("<I", self.read_linear(va, 4))[0]
        except TranslationFault:
            return 0

    # ---- hypercalls and SMCCC ---------------------------------------------------------------
    def _hypercall(self):
        nr = self.reg(16)
        args = tuple(self.reg(i) for i in range(5))
        result = self.host.hypercall(nr, args, ARM64)
        self.set_reg(0, result)

    def clobber_hypercall_args(self, nargs, abi, value):
        """A debug Xen on Arm poisons x16 and the argument registers a
        hypercall consumed with 0xDEADBEEF (do_trap_hypercall)."""
        self.set_reg(16, XEN_ARM_CLOBBER)
        for n in range(1, nargs):       # x0 carries the result
            self.set_reg(n, XEN_ARM_CLOBBER)

    def _smccc(self):
        fid = self.reg(0) & 0xFFFFFFFF
        self.set_reg(0, psci.call(self.host, fid, self.reg(1), self.reg(2), self.reg(3)))

    # ---- guest memory -----------------------------------------------------------------------
    def read_linear(self, va, n, user=False):
        buf = ctypes.create_string_buffer(n)
        err = ucx.uclib.uc_vmem_read(self.uc._uch, ctypes.c_uint64(va),
                                     ctypes.c_int(unicorn.UC_PROT_READ), buf, ctypes.c_size_t(n))
        if err:
            raise TranslationFault(va)
        return buf.raw

    def write_linear(self, va, data, user=False):
        err = ucx.uclib.uc_vmem_write(self.uc._uch, ctypes.c_uint64(va),
                                      ctypes.c_int(unicorn.UC_PROT_WRITE),
                                      ctypes.c_char_p(bytes(data)), ctypes.c_size_t(len(data)))
        if err:
            raise TranslationFault(va)

    # ---- interrupts: the IRQ line the vGIC drives ------------------------------------------
    def interruptible(self):
        return not self.pstate & sr.PSR_I

    def set_irq_line(self, level):
        """The vGIC's output.  Raised while the guest runs, QEMU must leave
        its chained blocks to look at it; anywhere but in an MMIO callback
        the line itself ends the block chain.  From an MMIO callback the
        slice stops at the access instead, and the line goes up only once
        the access is complete (_finish_mmio): QEMU would otherwise take the
        interrupt with ELR at the access, and run it again on return."""
        if self.emulating and (self._mmio_access is not None or self._mmio_stopped is not None):
            self._deferred_line = level
            if not level:
                self.irq_line.set(False)
            elif self._mmio_stopped is None:
                self._stop_in_mmio()
        else:
            self.irq_line.set(level)

    def unmask_irq(self):
        """Clear PSTATE.I (Xen's local_event_delivery_enable)."""
        self.uc.reg_write(A.UC_ARM64_REG_PSTATE, self.pstate & ~sr.PSR_I)

    # ---- running ----------------------------------------------------------------------------
    @property
    def slice_insns(self):
        return self._slice_base + min(self._counter.value, self._slice_request)

    def run(self, timeout_us=0, count=0):
        """Run until the slice ends; returns an Exit.  With `count`, at most
        that many instructions (deterministic mode)."""
        self.stop_exit = None
        self._slice_base = 0
        self._run_thread = threading.get_ident()
        self._async_stop = False
        remaining = count
        while True:
            self._restart = False
            self._bad_access = None
            self._slice_request = remaining
            self.emulating = True
            err = ucx.emu_start(self.uc, self.pc, timeout_us, remaining or UNBOUNDED)
            self.emulating = False
            if count:
                done = min(self._counter.value, remaining)
                self._slice_base += done
                remaining -= done
            if self._pending_maps:
                self._apply_pending_maps()
            if self._mmio_stopped is not None and self._hook_error is None:
                self._finish_mmio()
            if self._hook_error is not None:
                exc, self._hook_error = self._hook_error, None
                return self._internal_error(exc)
            if self.stop_exit is not None:
                return self.stop_exit
            if self._async_stop:
                return SLICE_END
            if err != UC_ERR_OK and self._bad_access is not None:
                self._stage2_abort()
            elif err != UC_ERR_OK:
                reason = "CPU emulation stopped: %s" % unicorn.UcError(err)
                return Exit("crashed", reason, self.crash_report(reason))
            if self._restart and not (count and remaining <= 0):
                continue
            return SLICE_END

    def stop(self):
        if self.emulating and threading.get_ident() != self._run_thread:
            self._async_stop = True     # the ticker: end the budget, never uc_emu_stop
            self._budget.value = 0
        elif self.emulating:
            if self._mmio_access is not None:
                self._stop_in_mmio()
            else:
                ucx.emu_stop(self.uc)
        elif self.stop_exit is None:
            self.stop_exit = SLICE_END

    def _stop(self, exit_):
        if self.stop_exit is None or exit_.kind == "crashed":
            self.stop_exit = exit_
        ucx.emu_stop(self.uc)

    def request_stop(self, reason):
        """Called by the host from inside a hypercall: end the slice after it."""
        self._stop(Exit("stopped", reason))

    def _crash(self, reason):
        self._stop(Exit("crashed", reason, self.crash_report(reason)))

    # ---- reports ----------------------------------------------------------------------------
    def _internal_error(self, exc):
        return internal_error_exit(exc)

    def crash_report(self, reason):
        uc = self.uc
        lines = ["vCPU%d crashed: %s" % (self.vcpu_id, reason),
                 "  %s, pstate=%08x" % (self.mode_name(), self.pstate)]
        regs = [self.reg(n) for n in range(31)]
        for i in range(0, 31, 4):
            lines.append("  " + "  ".join("x%-2d=%016x" % (n, regs[n]) for n in range(i, min(i + 4, 31))))
        lines.append("  pc=%016x sp=%016x sp_el0=%016x" % (
            self.pc, uc.reg_read(A.UC_ARM64_REG_SP), uc.reg_read(A.UC_ARM64_REG_SP_EL0)))
        lines.append("  sctlr_el1=%08x vbar_el1=%016x esr_el1=%08x far_el1=%016x elr_el1=%016x" % (
            sr.read(uc, sr.SCTLR_EL1), sr.read(uc, sr.VBAR_EL1), sr.read(uc, sr.ESR_EL1),
            sr.read(uc, sr.FAR_EL1), sr.read(uc, sr.ELR_EL1)))
        return "\n".join(lines)
