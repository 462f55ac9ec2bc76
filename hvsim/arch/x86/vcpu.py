"""One x86 vCPU on one Unicorn instance.

Owns: the PVH entry state, the hooks that make Unicorn behave like a CPU
under Xen (IDT delivery of every exception, the hypercall traps, CPUID, MSRs,
port I/O, RDTSC, SYSCALL/SYSENTER), guest linear-memory access for the
hypervisor, and `run()`, which executes one slice and returns an `Exit`.

Knows nothing of Xen semantics beyond "this is hypercall N with these
arguments in this ABI": those decisions belong to the `host` (the
hypervisor's VCpu), which this class calls for hypercalls, console port
output, the TSC, and pending interrupts.

Hot paths (hypercalls, port I/O, CPUID) use raw ctypes hooks and read and
write registers straight from QEMU's CPU state (cpustate.py).  Everything
else runs only when the guest needs it: no per-instruction or per-block hook
is ever installed in normal runs.
"""

import ctypes
import operator
import threading

import unicorn
from unicorn import (UC_ARCH_X86, UC_ERR_FETCH_UNMAPPED, UC_ERR_OK, UC_HOOK_INSN,
                     UC_HOOK_INSN_INVALID, UC_HOOK_INTR, UC_HOOK_MEM_FETCH_UNMAPPED,
                     UC_HOOK_MEM_READ_UNMAPPED, UC_HOOK_MEM_WRITE_UNMAPPED,
                     UC_MEM_FETCH_UNMAPPED,
                     UC_MODE_64, UC_PROT_ALL, Uc)
from unicorn import x86_const as X

from ...abi import errno
from ...abi.cstruct import X86_32, X86_64
from ...snapshot import state as snapstate
from .. import uc as ucx
from ..codewatch import CodeWatch
from ..holes import HoleHooks
from ..tracehooks import TraceHooks
from ..mapping import QueuedMappings
from . import decode, hypercall_page, syscall, traps
from .disasm import disassembler
from .cpuid import CpuidModel
from .exits import ExitSites
from .cpustate import (R_CS, R_DS, R_EAX, R_EBX, R_ECX, R_EDI, R_EDX, R_ES, R_ESI,
                       R_FS, R_GS, R_R8, R_R10, R_SS, SEG_NAMES, CpuState, load_cpu, save_cpu)
from .defns import (CR0_ET, CR0_PG, CR4_PAE, CR4_PCIDE, EFER_LMA, EFLAGS_MBS, EFLAGS_VM, MASK32,
                    MASK64)
from .msr import MSR_EFER, MSR_TSC_AUX, GPFault, MsrModel
from .paging import ACCESS_FETCH, ACCESS_READ, ACCESS_WRITE, BadPhysical, PageFault, Walker
from .segments import flat_flags, load_seg_cache

TCG_BUFFER_SIZE = 128 << 20

# the hypercall argument registers of the 64-bit and 32-bit ABIs, in argument order
HYPERCALL_ARGS_64 = (R_EDI, R_ESI, R_EDX, R_R10, R_R8)
HYPERCALL_ARGS_32 = (R_EBX, R_ECX, R_EDX, R_ESI, R_EDI)
_args_64 = operator.itemgetter(*HYPERCALL_ARGS_64)
_args_32 = operator.itemgetter(*HYPERCALL_ARGS_32)

_PROT_RX = unicorn.UC_PROT_READ | unicorn.UC_PROT_EXEC   # read-only grant maps

_REG_NAMES_64 = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                 "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")


REAL_MODE_CODE_ATTR = 0x9B          # present, DPL 0, code, readable, accessed
REAL_MODE_DATA_ATTR = 0x93          # present, DPL 0, data, writable, accessed


def attr_to_flags(attr):
    """Xen's segment attribute word (type S DPL P in bits 0-7, AVL L DB G in
    bits 8-11) to QEMU's descriptor flags word."""
    return ((attr & 0xFF) << 8) | ((attr & 0xF00) << 12)


# ---- exits ------------------------------------------------------------------------------
class Exit:
    """What ended a slice.  kind: 'slice' (budget used), 'halted' (hlt),
    'stopped' (the hypervisor asked: block, yield, shutdown...), 'crashed',
    'debug' (a debugger's breakpoint or watchpoint: hvsim/arch/x86/debug.py)."""

    __slots__ = ("kind", "reason", "report", "error")

    def __init__(self, kind, reason=None, report=None, error=None):
        self.kind = kind
        self.reason = reason
        self.report = report
        self.error = error      # 'crashed' by a Python exception in a hook (an hvsim bug)

    def __repr__(self):
        return "Exit(%s, %r)" % (self.kind, self.reason)


# Counted (deterministic) slices: a hypercall costs the guest time and slice
# budget of this many instructions (1 us at hv/time.py's NS_PER_INSN: about
# what a cheap hypercall with its VM exit and entry takes on Xen).
HYPERCALL_INSNS = 1000
# ... and so does a CPUID, which always leaves the guest on Xen (VMX and SVM
# intercept it: about a microsecond for the exit, hvm_cpuid() and the entry),
# so that a guest polling with it (GRUB reads its clock with `cpuid; rdtsc`)
# sees guest time go by at about the pace it would on Xen.
CPUID_INSNS = 1000


def internal_error_exit(exc):
    """The Exit of a slice a hook's Python exception ended: the hypervisor
    crashes the domain and counts the error (Hypervisor.internal_error)."""
    return Exit("crashed", "hvsim internal error: %s" % exc, error=exc)


SLICE_END = Exit("slice")
HALTED = Exit("halted")


class GuestCrash(Exception):
    """Raised inside the arch layer when the guest did something fatal."""


class X86Vcpu(QueuedMappings, TraceHooks):
    ARCH = "x86_64"                 # snapshots: the architecture of the saved CPU state

    def __init__(self, host, physmap, vcpu_id, domid, xen_version, tsc_khz, exit_sites=(),
                 tsc_to_ns=(0, 0), code_ranges=()):
        ucx.check_unicorn_version()
        self.host = host
        self.physmap = physmap
        self.vcpu_id = vcpu_id
        self.code_ranges = tuple(code_ranges)   # cross-modifying code (codewatch.py)
        self._run_thread = threading.get_ident()   # the thread running slices (stop())
        self._start_engine()
        self.cpuid = CpuidModel(vcpu_id, domid, xen_version, tsc_khz, tsc_to_ns)
        self.msrs = MsrModel(self, vcpu_id)
        self.stop_exit = None          # set by a hook to end the slice
        self.on_exception = None       # tracing: callable(vector, kind, error, rip)
        self.hypercall_page_gpa = None
        self._slice_base = 0           # counted slices: instructions retired so far,
        self._slice_request = 0        # the budget of the emu_start in progress,
        self._remaining = 0            # and what is left of the slice's budget
        self._counting = False
        self.emulating = False
        self._pending_maps = []
        self._mode_hook = None
        self.debug = None              # X86Debug while a debugger is attached (debug.py)
        self.exits = ExitSites(self, exit_sites)
        physmap.add_listener(self)
        self.exits.load()

    # what a snapshot does not carry: the engine (recreated) and host-side hooks
    _ENGINE = ("uc", "st", "walker", "traps", "hooks", "block_stop", "holes", "_unmapped_cb",
               "_read_msr", "_rflags", "invalidate_code", "_unicorn_walks", "_emulated_pages",
               "_mmio_callbacks", "_mmio_write", "_mmio_restarted", "_mmio_skip", "_fetch_fault",
               "codewatch", "_in_insn_hook")

    def _start_engine(self):
        """A new Unicorn instance with hvsim's hooks (at creation, and when a
        snapshot is resumed); guest memory comes from the physmap listener."""
        self.uc = uc = Uc(UC_ARCH_X86, UC_MODE_64)
        uc.ctl_set_tcg_buffer_size(TCG_BUFFER_SIZE)
        uc.ctl_exits_enabled(True)
        self.invalidate_code = ucx.take_over_exit_invalidation(uc)
        self._unicorn_walks = not ucx.exit_invalidation_taken_over()
        self.st = CpuState(uc)
        self.walker = Walker(self.st, self.physmap, uc)
        self.traps = traps.TrapDelivery(self)
        self.hooks = ucx.RawHooks(uc)
        self.block_stop = ucx.BlockStop(uc)      # stop() from another thread; before any translation
        self._read_msr = ucx.MsrReader(uc)
        self._rflags = ctypes.c_uint64()
        self._emulated_pages = set()   # guest-physical pages of emulated I/O (see _on_unmapped)
        self._mmio_callbacks = (ucx.CB_MMIO_READ(self._on_mmio_read),
                                ucx.CB_MMIO_WRITE(self._on_mmio_write))
        self._mmio_write = None        # (gpa, size, value) of the write being emulated
        self._mmio_restarted = None    # a write whose store Unicorn will run again
        self._mmio_skip = None         # ... and that the repeat must not redo
        self._fetch_fault = False      # the emu_start ended on a fetch from a hole
        self._in_insn_hook = False     # inside the in/out/cpuid/rdtsc hooks (see _on_out)
        self._install_hooks()
        self.codewatch = CodeWatch(self, self.code_ranges)

    def __getstate__(self):
        """Snapshots (hvsim/snapshot/): QEMU's CPU state plus hvsim's models;
        a debugger and debug hooks (mode watch, instruction trace) are re-attached
        by their owners."""
        state = snapstate.transient(self, stop_exit=None, _mode_hook=None, debug=None)
        for name in self._ENGINE:
            del state[name]
        state["cpu"] = save_cpu(self.uc)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._start_engine()

    def load_saved_cpu(self):
        """Snapshot load, once guest memory is mapped again (Unicorn's mem_unmap
        clobbers QEMU's exception state): the saved CPU state and exit sites."""
        load_cpu(self.uc, self.__dict__.pop("cpu"))
        self.st.keep_faults_from_cr2()
        self.exits.set_sites(self.exits.sites)

    # ---- memory mappings (physmap listener: arch/mapping.py queues them) -----------------
    def _apply_mapping(self, change):
        op, gpa, size, addr = change
        if op in ("map", "map-ro"):
            self._drop_emulated_pages(gpa, size)
            for begin, n, code in self.codewatch.pieces(gpa, size):
                prot = _PROT_RX if op == "map-ro" else \
                    self.codewatch.code_prot if code else UC_PROT_ALL
                self.uc.mem_map_ptr(begin, n, prot, addr + begin - gpa)
                if code and op == "map":
                    self.codewatch.mapped(begin, n)
            self.holes.mapped(gpa, gpa + size)
        else:
            self._mem_unmap(gpa, size)
            self.holes.unmapped(gpa, gpa + size)
        ucx.flush_tlb(self.uc)

    def _mem_unmap(self, gpa, size):
        """uc.mem_unmap, without the #PF its internal probing leaves in QEMU's
        exception state (see CpuState.restore_exception_state)."""
        saved = self.st.exception_state()
        self.uc.mem_unmap(gpa, size)
        self.st.restore_exception_state(saved)

    # ---- registers ----------------------------------------------------------------------
    @property
    def rflags(self):
        ucx.uclib_gil.uc_reg_read(self.uc._uch, X.UC_X86_REG_RFLAGS, ctypes.byref(self._rflags))
        return self._rflags.value

    @rflags.setter
    def rflags(self, value):
        self._rflags.value = value | EFLAGS_MBS
        ucx.uclib_gil.uc_reg_write(self.uc._uch, X.UC_X86_REG_RFLAGS, ctypes.byref(self._rflags))

    def linear_rip(self):
        st = self.st
        mask = MASK64 if st.code64 else MASK32
        return (st.segs[R_CS].base + st.rip) & mask

    def mode_name(self):
        st = self.st
        if st.code64:
            return "64-bit"
        if st.long_mode:
            return "compat"
        if not st.cr[0] & CR0_PG:
            return "32-bit"
        return "32-bit PAE" if st.cr[4] & CR4_PAE else "32-bit paged"

    # ---- PVH entry ------------------------------------------------------------------------
    def reset_pvh(self, entry, start_info_gpa):
        """The state Xen's PVH builder gives vCPU0 (docs/misc/pvh.pandoc): 32-bit
        flat protected mode, CR0 = PE|ET, CR4 = 0, paging off, EBX = start info."""
        self._leave_reset_state()
        self.uc.reg_write(X.UC_X86_REG_CR4, 0)
        self._load_flat32()
        self._set_vcpu_context(entry, {R_EBX: start_info_gpa})

    def reset_hvm_context(self, rip, regs, rflags, cr0, cr3, cr4, efer, segments):
        """VCPUOP_initialise: load a vcpu_hvm_context (already validated by the
        hypervisor).  `regs` maps QEMU register numbers to values; `segments`
        maps R_CS/R_DS/R_SS/R_ES to (base, limit, attr) in Xen's segment-attribute
        format, plus "tr"."""
        uc, st = self.uc, self.st
        self._leave_reset_state()
        uc.reg_write(X.UC_X86_REG_CR4, cr4)
        uc.reg_write(X.UC_X86_REG_CR3, cr3)
        uc.msr_write(MSR_EFER, efer & ~EFER_LMA)          # QEMU derives LMA from CR0.PG
        uc.reg_write(X.UC_X86_REG_CR0, cr0)
        for seg, (base, limit, attr) in segments.items():
            flags = attr_to_flags(attr)
            if seg == "tr":
                st.tr.selector, st.tr.base, st.tr.limit, st.tr.flags = 0, base, limit, flags
            else:
                load_seg_cache(st, seg, 0, base, limit, flags)
        self._set_vcpu_context(rip, regs)
        self.rflags = rflags

    def reset_real_mode(self, cs_selector, ip):
        """A STARTUP IPI (Xen's hvm_vcpu_reset_state()): real mode at
        CS:IP with CS.base = selector << 4, the other segments and the
        descriptor tables at 0 with a 64 KiB limit, CR0 = ET, CR3 = CR4 =
        EFER = 0, EDX = 0xf00, RFLAGS = 2 and every other register 0."""
        uc, st = self.uc, self.st
        self._leave_reset_state()
        uc.reg_write(X.UC_X86_REG_CR4, 0)
        uc.reg_write(X.UC_X86_REG_CR0, CR0_ET)
        uc.reg_write(X.UC_X86_REG_CR3, 0)
        data = attr_to_flags(REAL_MODE_DATA_ATTR)
        for seg in (R_SS, R_DS, R_ES, R_FS, R_GS):
            load_seg_cache(st, seg, 0, 0, 0xFFFF, data)
        load_seg_cache(st, R_CS, cs_selector, cs_selector << 4, 0xFFFF,
                       attr_to_flags(REAL_MODE_CODE_ATTR))
        st.tr.selector, st.tr.base, st.tr.limit, st.tr.flags = 0, 0, 0xFFFF, 0x8B00
        st.ldt.selector, st.ldt.base, st.ldt.limit, st.ldt.flags = 0, 0, 0xFFFF, 0x8200
        for table in (st.gdt, st.idt):
            table.base, table.limit = 0, 0xFFFF
        self._set_vcpu_context(ip, {R_EDX: 0xF00})

    def _leave_reset_state(self):
        """Unicorn's 64-bit reset state is not architectural (EFER.LMA set with
        paging off): go through PG=1 and back to make QEMU leave long mode."""
        uc = self.uc
        uc.reg_write(X.UC_X86_REG_CR4, uc.reg_read(X.UC_X86_REG_CR4) | CR4_PAE)
        uc.reg_write(X.UC_X86_REG_CR0, 0x80000011)
        uc.reg_write(X.UC_X86_REG_CR0, 0x00000011)
        uc.msr_write(MSR_EFER, 0)

    def _load_flat32(self):
        st = self.st
        code = flat_flags(True)
        data = flat_flags(False)
        for seg in (R_SS, R_DS, R_ES, R_FS, R_GS):
            load_seg_cache(st, seg, 0, 0, MASK32, data)
        load_seg_cache(st, R_CS, 0, 0, MASK32, code)
        st.tr.selector, st.tr.base, st.tr.limit, st.tr.flags = 0, 0, 0x67, 0x8B00
        st.ldt.selector, st.ldt.base, st.ldt.limit, st.ldt.flags = 0, 0, 0xFFFF, 0x8200
        for table in (st.gdt, st.idt):
            table.base, table.limit = 0, 0

    def _set_vcpu_context(self, rip, regs):
        st = self.st
        for i in range(16):
            st.regs[i] = regs.get(i, 0)
        st.rip = rip
        self.rflags = EFLAGS_MBS
        st.dr[6] = 0xFFFF0FF0
        st.dr[7] = 0x400

    # ---- hooks ------------------------------------------------------------------------------
    def _install_hooks(self):
        h = self.hooks
        h.add(UC_HOOK_INTR, ucx.CB_INTR, self._on_intr)
        h.add(UC_HOOK_INSN_INVALID, ucx.CB_INSN_INVALID, self._on_invalid)
        h.add(UC_HOOK_INSN, ucx.CB_X86_IN, self._on_in, insn=X.UC_X86_INS_IN)
        h.add(UC_HOOK_INSN, ucx.CB_X86_OUT, self._on_out, insn=X.UC_X86_INS_OUT)
        h.add(UC_HOOK_INSN, ucx.CB_X86_CPUID, self._on_cpuid, insn=X.UC_X86_INS_CPUID)
        h.add(UC_HOOK_INSN, ucx.CB_X86_CPUID, self._on_rdtsc, insn=X.UC_X86_INS_RDTSC)
        h.add(UC_HOOK_INSN, ucx.CB_X86_CPUID, self._on_rdtscp, insn=X.UC_X86_INS_RDTSCP)
        h.add(UC_HOOK_INSN, ucx.CB_X86_SYSCALL, self._on_syscall, insn=X.UC_X86_INS_SYSCALL)
        h.add(UC_HOOK_INSN, ucx.CB_X86_SYSCALL, self._on_sysenter, insn=X.UC_X86_INS_SYSENTER)
        self._unmapped_cb = ucx.CB_MEM_INVALID(self._on_unmapped)
        self.holes = HoleHooks(h, UC_HOOK_MEM_READ_UNMAPPED | UC_HOOK_MEM_WRITE_UNMAPPED |
                               UC_HOOK_MEM_FETCH_UNMAPPED, self._unmapped_cb)

    def _stop(self, exit_):
        if self.stop_exit is None or exit_.kind == "crashed":
            self.stop_exit = exit_
        ucx.emu_stop(self.uc)

    def _crash(self, reason):
        self._stop(Exit("crashed", reason, self.crash_report(reason)))

    def _traced(self, vector, kind, error_code, rip):
        if self.on_exception is not None:
            self.on_exception(vector, kind, error_code, rip)

    def _raise(self, vector, kind, error_code=None, insn_rip=None, next_rip=None):
        """Deliver an event from a hook; a triple fault crashes the domain."""
        self._traced(vector, kind, error_code, self.st.rip if insn_rip is None else insn_rip)
        try:
            self.traps.raise_event(vector, kind, error_code, insn_rip, next_rip)
        except traps.TripleFault as tf:
            self._crash("triple fault: %s" % tf)
        except traps.UnsupportedDelivery as ud:
            self._crash("unsupported: %s" % ud)

    # -- hypercalls ----------------------------------------------------------------------
    def _on_in(self, uch, port, size, ud):
        try:
            st = self.st
            if port == hypercall_page.PORT_64 or port == hypercall_page.PORT_32:
                trap = hypercall_page.decode_trap(port, st.rip)
                if trap is not None:
                    return self._stub_hypercall(*trap)
            self._in_insn_hook = True
            return self.host.port_read(port, size) & ((1 << (8 * size)) - 1)
        except BaseException as e:   # never raise into Unicorn
            self.hooks.failed(e)
            return 0
        finally:
            self._in_insn_hook = False

    def _hypercall(self, nr, abi64):
        """The hypercall entry of both traps (the hypercall page's and
        vmcall/vmmcall): hypercall `nr` with the argument registers of the
        64-bit or 32-bit ABI; -EPERM from user mode, as Xen's hvm_hypercall().
        Counted slices charge it HYPERCALL_INSNS (_charge)."""
        if self._counting:
            self._charge(HYPERCALL_INSNS)
        if self.st.cpl:
            return -errno.EPERM
        if abi64:
            return self.host.hypercall(nr, _args_64(self.st.regs), X86_64)
        return self.host.hypercall(nr, tuple([a & MASK32 for a in _args_32(self.st.regs)]),
                                   X86_32)

    def _stub_hypercall(self, nr, is64):
        result = self._hypercall(nr, is64)
        if is64:
            self.st.regs[R_EDI] = result & MASK64       # the stub moves %rdi into %rax
        return result & MASK32

    def clobber_hypercall_args(self, nargs, abi, value):
        """Debug-build Xen poisons the argument registers a hypercall consumed
        with `value` (the low 32 bits of each in the 32-bit ABI)."""
        regs = self.st.regs
        if abi.ulong == 8:
            for reg in HYPERCALL_ARGS_64[:nargs]:
                regs[reg] = value
        else:
            for reg in HYPERCALL_ARGS_32[:nargs]:
                regs[reg] = (regs[reg] & ~MASK32) | value

    def _vmcall(self, insn_len):
        st = self.st
        regs = st.regs
        if st.code64:
            regs[R_EAX] = self._hypercall(regs[R_EAX], True) & MASK64
        else:
            result = self._hypercall(regs[R_EAX] & MASK32, False)
            regs[R_EAX] = (regs[R_EAX] & ~MASK32) | (result & MASK32)
        st.rip = (st.rip + insn_len) & (MASK64 if st.code64 else MASK32)
        if self.stop_exit is not None:
            ucx.emu_stop(self.uc)

    # -- invalid opcodes: vmcall/vmmcall, icebp, #UD ------------------------------------------
    def _on_invalid(self, uch, ud):
        try:
            st = self.st
            rip = self.linear_rip()
            insn = self._code_at(rip, decode.MAX_INSN)
            op = decode.opcode_offset(insn, st.code64)
            if insn[:3] in (b"\x0f\x01\xc1", b"\x0f\x01\xd9"):   # vmcall / vmmcall
                self._vmcall(3)
            elif insn[op:op + 1] == b"\xf1":                    # icebp / int1, prefixes ignored
                self._raise(traps.DB, traps.ICEBP, next_rip=st.rip + op + 1)
            else:
                self._raise(traps.UD, traps.FAULT)
            return True
        except BaseException as e:
            self.hooks.failed(e)
            return True

    # -- CPU exceptions and software interrupts ---------------------------------------------
    def _on_intr(self, uch, intno, ud):
        try:
            self._exception(intno)
        except BaseException as e:
            self.hooks.failed(e)

    def _exception(self, intno):
        st = self.st
        if self.stop_exit is not None and self.stop_exit.kind == "crashed":
            ucx.emu_stop(self.uc)
            return
        if intno > 255:
            self._crash("unexpected Unicorn exception %#x" % intno)
            return
        if st.is_window_exit(intno):
            self._window_exit()
            return
        if st.exception_is_int:
            next_rip = st.rip
            insn_rip = next_rip - self._soft_int_length(intno, next_rip)
            self._raise(intno, traps.SOFTWARE, insn_rip=insn_rip, next_rip=next_rip)
            return
        error = st.error_code if intno in traps.HAS_ERROR_CODE else None
        if intno == traps.GP and error == 0 and st.code64 and \
                decode.stack_fault_instead_of_gp(self, self.linear_rip()):
            intno = traps.SS                # non-canonical SS reference: #SS(0)
        elif intno == traps.PF and not st.long_mode and not self.rflags & EFLAGS_VM:
            seg_fault = decode.segment_fault_instead_of_pf(self, self.linear_rip())
            if seg_fault is not None:       # segmentation is checked before paging
                intno, error = seg_fault, 0
        elif intno == traps.NM and decode.ud_instead_of_nm(self, self.linear_rip()):
            intno = traps.UD                # QEMU tests CR0.TS first
        if intno == traps.PF:
            st.cr[2] = st.fault_address     # QEMU keeps it out of CR2 (cpustate.INTERCEPT_PF)
        if intno == traps.DB:           # single-step and data breakpoints are traps
            self._raise(intno, traps.TRAP, next_rip=st.rip)
        else:
            self._raise(intno, traps.FAULT, error, insn_rip=st.rip)

    def _soft_int_length(self, vector, next_rip):
        """The length of the int3 (cc), into (ce) or int N (cd NN) ending at
        next_rip, with its prefixes (a fault raised delivering it reports
        the address of the first prefix, as the CPU does)."""
        st = self.st
        end = (st.segs[R_CS].base + next_rip) & MASK64
        before = self._code_before(end, decode.MAX_INSN)
        one_byte = {3: b"\xcc", 4: b"\xce"}.get(vector)
        opcode = 1 if one_byte is not None and before[-1:] == one_byte else 2
        return opcode + decode.prefix_start(before[:-opcode], st.code64,
                                            decode.MAX_INSN - opcode)

    def _code_at(self, la, n):
        """Up to n bytes of code at a linear address: fewer where the page
        after it cannot be read, none if its own cannot."""
        user = self.st.cpl == 3
        for size in (n, 0x1000 - (la & 0xFFF)):
            try:
                return self.walker.read(la, min(n, size), ACCESS_READ, user)
            except (PageFault, BadPhysical):
                continue
        return b""

    def _code_before(self, end, n):
        """Up to n bytes of code ending at linear address `end` (fewer where
        the page before cannot be read)."""
        user = self.st.cpl == 3
        for size in (n, end & 0xFFF or n):
            try:
                return self.walker.read((end - min(n, size)) & MASK64, min(n, size),
                                        ACCESS_READ, user)
            except (PageFault, BadPhysical):
                continue
        return b""

    # -- port I/O, CPUID, TSC -----------------------------------------------------------------
    # These hooks run inside QEMU's helpers for in/out/cpuid/rdtsc(p), which
    # call no hook at all once a stop has been asked for: an instruction of
    # that kind later in the same translated block would run as Unicorn has
    # it (the host's TSC, QEMU's CPUID leaves, a port read of 0) instead of
    # as Xen has it.  A slice end asked for from one of them (a preemption
    # point, a timer due) therefore takes effect at the next block's start
    # (stop(): _in_insn_hook), not at once.
    def _on_out(self, uch, port, size, value, ud):
        self._in_insn_hook = True
        try:
            self.host.port_write(port, size, value & ((1 << (8 * size)) - 1))
        except BaseException as e:
            self.hooks.failed(e)
        finally:
            self._in_insn_hook = False

    def _on_cpuid(self, uch, ud):
        self._in_insn_hook = True
        try:
            regs = self.st.regs
            a, b, c, d = self.cpuid.lookup(regs[R_EAX] & MASK32, regs[R_ECX] & MASK32,
                                           self.st.cr[4])
            regs[R_EAX], regs[R_EBX], regs[R_ECX], regs[R_EDX] = a, b, c, d
            if self._counting:
                self._charge(CPUID_INSNS)
            self.host.preempt_point()
        except BaseException as e:
            self.hooks.failed(e)
        finally:
            self._in_insn_hook = False
        return 1

    def _on_rdtsc(self, uch, ud):
        self._in_insn_hook = True
        try:
            tsc = self.host.guest_tsc()
            regs = self.st.regs
            regs[R_EAX] = tsc & MASK32
            regs[R_EDX] = (tsc >> 32) & MASK32
        except BaseException as e:
            self.hooks.failed(e)
        finally:
            self._in_insn_hook = False
        return 1

    def _on_rdtscp(self, uch, ud):
        self._on_rdtsc(uch, ud)
        try:
            self.st.regs[R_ECX] = self._read_msr(MSR_TSC_AUX) & MASK32
        except BaseException as e:
            self.hooks.failed(e)
        return 1

    # -- SYSCALL / SYSENTER: Unicorn only calls the hook (syscall.py does the rest) --------
    def _on_syscall(self, uch, ud):
        try:
            syscall.do_syscall(self)
        except BaseException as e:
            self.hooks.failed(e)

    def _on_sysenter(self, uch, ud):
        try:
            syscall.do_sysenter(self)
        except BaseException as e:
            self.hooks.failed(e)

    # -- cross-modifying code (codewatch.py) -------------------------------------------------
    def drop_code_page(self, gpa, delta):
        """Drop the translated code of the guest-physical page at `gpa`, found
        through its virtual address gpa + delta (the kernel's mapping of its
        code; gpa itself with paging off), as QEMU looks it up: a fetch at the
        vCPU's current privilege.  False if it does not lead there now (the
        caller then drops all translated code): Unicorn would ignore the fault."""
        st = self.st
        la = gpa if not st.cr[0] & CR0_PG else None if delta is None else (gpa + delta) & MASK64
        if la is None:
            return False
        try:
            if self.walker.walk(la, ACCESS_FETCH, st.cpl == 3, set_ad=False) & ~0xFFF != gpa:
                return False
        except (PageFault, BadPhysical):
            return False
        saved = st.exception_state()    # Unicorn's lookup may leave a #PF behind
        self.invalidate_code(la, la + 0x1000)
        st.restore_exception_state(saved)
        return True

    # -- guest-physical space nothing backs: emulated I/O ------------------------------------
    # A read or write of a guest-physical page with no RAM behind it makes
    # that page an emulated one (a Unicorn MMIO region) and is retried there;
    # each access then goes to the host (the platform's hvm_io_intercept:
    # the local APIC, else Xen's null handler).  Nothing is paid until a
    # guest touches a hole, and RAM mapped there later replaces the page.
    def _on_unmapped(self, uch, access, address, size, value, ud):
        try:
            if access == UC_MEM_FETCH_UNMAPPED:
                self._fetch_fault = True       # raised as #GP(0) once Unicorn has stopped
                return False
            page = address & ~0xFFF
            ucx.mmio_map(self.uc, page, 0x1000, *self._mmio_callbacks)
            self._emulated_pages.add(page)
            return True
        except BaseException as e:
            self.hooks.failed(e)
            return False

    def _on_mmio_read(self, uch, offset, size, base):
        try:
            return self.host.mmio_read((base or 0) + offset, size)
        except BaseException as e:
            self.hooks.failed(e)
            return 0

    def _on_mmio_write(self, uch, offset, size, value, base):
        access = ((base or 0) + offset, size, value)
        if access == self._mmio_skip:
            self._mmio_skip = None             # the restarted store: done already
            return
        try:
            self._mmio_write = access
            self.host.mmio_write(*access)
        except BaseException as e:
            self.hooks.failed(e)
        finally:
            self._mmio_write = None

    def _finish_restarted_store(self):
        """Unicorn runs a store again from the start when its MMIO callback
        stopped emulation (an APIC write that made an interrupt deliverable).
        Its write took effect already: run the instruction once more with
        that write skipped, so the slice ends after it, as Xen's VM entry
        follows the emulated instruction."""
        self._mmio_skip, self._mmio_restarted = self._mmio_restarted, None
        self._slice_request = 1
        self.emulating = True
        rip = self.st.rip
        err = ucx.emu_start(self.uc, rip, 0, 1)
        self.emulating = False
        self._retire()
        if self.st.rip != rip:
            self._mmio_skip = None
        # else a stop from another thread ended the run at its block start,
        # before it ran: its next run skips the write
        return err

    def _drop_emulated_pages(self, gpa, size):
        """RAM is about to be mapped at [gpa, gpa+size): it replaces emulated pages."""
        pages = self._emulated_pages
        if pages:
            for page in [p for p in pages if gpa <= p < gpa + size]:
                self._mem_unmap(page, 0x1000)
                pages.discard(page)

    # ---- exits (exits.py) ---------------------------------------------------------------------
    # ---- the interrupt window ------------------------------------------------------------------
    def set_interrupt_window(self, wanted):
        """An upcall waits for the guest to enable interrupts (wanted=True), or
        no longer does: Xen's interrupt-window exiting.  QEMU itself finds the
        first instruction boundary where the guest can take an interrupt,
        whatever code runs there (cpustate.WINDOW_VECTOR), and reports it as
        a #GP that _window_exit() turns into the host's injection.  (Without
        native injection calibrated, the upcall waits for the next slice.)"""
        if wanted:
            self.st.arm_window()
        else:
            self.st.disarm_window()

    def _window_exit(self):
        st = self.st
        st.disarm_window()
        st.clear_old_exception()
        self.host.interrupt_window()

    def emulate_write_cr4(self, rex, modrm):
        """mov to CR4 at an exit site (exits.py): #GP(0) where Xen's
        hvm_set_cr4() refuses (a bit the CPUID policy does not allow, PAE
        cleared in long mode, PCIDE set outside long mode or with CR3[11:0]
        nonzero), else QEMU loads it."""
        st = self.st
        if rex & 4:                              # REX.R: CR12 does not exist
            self._raise(traps.UD, traps.FAULT)
            return
        if st.cpl:
            self._raise(traps.GP, traps.FAULT, 0)
            return
        value = st.regs[(modrm & 7) | (rex & 1) << 3] & (MASK64 if st.code64 else MASK32)
        old = st.cr[4]
        if (value & ~self.host.cr4_valid_bits() or
                (not value & CR4_PAE and st.long_mode) or
                (value & ~old & CR4_PCIDE and (not st.long_mode or st.cr[3] & 0xFFF))):
            self._raise(traps.GP, traps.FAULT, 0)
            return
        self.uc.reg_write(X.UC_X86_REG_CR4, value)
        st.rip = st.rip + (4 if rex else 3)

    def emulate_msr(self, write):
        st = self.st
        regs = st.regs
        if st.cpl:
            self._raise(traps.GP, traps.FAULT, 0)
            return
        index = regs[R_ECX] & MASK32
        try:
            if not write:
                value = self.msrs.read(index)
                regs[R_EAX] = value & MASK32
                regs[R_EDX] = (value >> 32) & MASK32
            else:
                value = (regs[R_EDX] & MASK32) << 32 | (regs[R_EAX] & MASK32)
                self.msrs.write(index, value)
        except GPFault:
            self._raise(traps.GP, traps.FAULT, 0)
            return
        st.rip = st.rip + 2

    def write_hypercall_page_msr(self, value):
        """Guest wrote MSR 0x40000000: fill the page at the GPA it names."""
        if value & 0xFFF:                 # only page index 0 exists
            raise GPFault()
        gpa = value & ~0xFFF
        if not self.physmap.write(gpa, hypercall_page.PAGE):
            raise GPFault()
        self.hypercall_page_gpa = gpa
        self.host.hypercall_page_installed(gpa, self.st.code64)

    # ---- guest linear memory for the hypervisor ------------------------------------------------
    def read_linear(self, la, n, user=False):
        """Raises PageFault / BadPhysical (the caller makes that -EFAULT)."""
        return self.walker.read(la, n, ACCESS_READ, user)

    def write_linear(self, la, data, user=False):
        self.walker.write(la, data, ACCESS_WRITE, user)

    def linear_to_gpa(self, la, write=False):
        return self.walker.translate(la, ACCESS_WRITE if write else ACCESS_READ, False)

    # ---- debugging hooks (tracehooks.py) -----------------------------------------------------
    FINAL_BOOT_PHASE = "64-bit"     # a timeline stops watching for phases there

    @property
    def trace_hooks(self):
        return self.hooks

    def boot_phase(self):
        return self.mode_name()

    def describe_insn(self, address):
        """The instruction at `address`, Intel syntax, in the CPU's mode."""
        code = self._code_at(address, decode.MAX_INSN)
        for insn in disassembler(self.st.code64).disasm(code, address):
            return ("%s %s" % (insn.mnemonic, insn.op_str)).strip()
        return code.hex() or "<not mapped>"

    # ---- running ---------------------------------------------------------------------------------
    def inject_interrupt(self, vector):
        """Deliver an external interrupt now if the guest can take one.
        Returns True if delivered."""
        st = self.st
        if not st.interruptible:
            return False
        st.disarm_window()
        if st.can_post_interrupt:
            # QEMU pushes the frame itself as the next run starts, before any
            # instruction: the same delivery, in C (see cpustate.VirqPage).
            self._traced(vector, traps.EXTERNAL, None, st.rip)
            st.post_interrupt(vector)
        else:
            self._raise(vector, traps.EXTERNAL, insn_rip=st.rip)
        st.clear_halted()                   # an interrupt ends hlt
        return True

    def inject_nmi(self):
        """Deliver an NMI (vector 2): not blocked by IF.  (The NMI-blocked
        window until the handler's iret is not modelled.)"""
        self._raise(traps.NMI, traps.EXTERNAL, insn_rip=self.st.rip)

    def interruptible(self):
        return self.st.interruptible

    @property
    def slice_insns(self):
        """Instructions retired so far in the current/last counted slice."""
        return self._slice_base + min(self.st.insn_counter, self._slice_request)

    def _retire(self):
        """Counted slices: fold Unicorn's instruction counter (which every
        emu_start resets) into the slice's total."""
        if self._counting:
            done = min(self.st.insn_counter, self._slice_request)
            self._slice_base += done
            self._remaining -= done
        self._slice_request = 0

    def _charge(self, insns):
        """Counted slices: time the hypervisor spent for this vCPU, counted as
        `insns` instructions of its slice (its guest time and its budget, as
        Xen charges a hypercall's time to the vCPU that made it); the slice
        ends once its budget is used up.  Without it a vCPU that makes
        nothing but hypercalls would hold the host for a whole slice's worth
        of them (a slow Python call each) while guest time barely moved."""
        self._slice_base += insns
        self._remaining -= insns
        if self._remaining <= min(self.st.insn_counter, self._slice_request):
            self.stop()

    def retire_emulated(self):
        """Counted slices: one instruction hvsim emulated (rdmsr, wrmsr, sysret)."""
        if self._counting:
            self._slice_base += 1
            self._remaining -= 1

    def run(self, timeout_us=0, count=0):
        """Run until the slice ends; returns an Exit.  With `count`, at most
        that many instructions (deterministic mode)."""
        st = self.st
        self.stop_exit = None
        self._run_thread = threading.get_ident()
        self.block_stop.clear()
        self.codewatch.before_slice()
        self._counting = bool(count)
        self._remaining = count
        self._slice_base = 0
        while True:
            st.clear_halted()
            exit_ = self.emulate_once(st.rip, timeout_us, self._remaining)
            if exit_ is not None:
                return exit_
            # Unicorn stops at an exit address the way it stops at hlt (both set
            # CPUState.halted), so look for an exit site first.  (A hlt directly
            # followed by rdmsr/wrmsr/sysret is taken as the exit: the hlt then
            # returns at once, which guests tolerate as a spurious wake-up.)
            if self.exits.at_exit():
                if self.stop_exit is not None:
                    return self.stop_exit
                if count and self._remaining <= 0:
                    return SLICE_END
                continue
            if st.halted:
                return HALTED
            if self.codewatch.pending and not (count and self._remaining <= 0):
                self.codewatch.begin_episode()      # a store to the kernel's code
                continue
            return SLICE_END

    def emulate_once(self, begin, timeout_us=0, count=0):
        """One emu_start from `begin` (at most `count` instructions if
        nonzero), counted and checked: returns after_emulation()'s Exit, or
        None."""
        self._slice_request = count
        self.emulating = True
        err = ucx.emu_start(self.uc, begin, timeout_us, count)
        self.emulating = False
        self._retire()
        if self._mmio_restarted is not None and err == UC_ERR_OK:
            err = self._finish_restarted_store()
        return self.after_emulation(err)

    def after_emulation(self, err):
        """After an emu_start: apply deferred memory-map changes, and return
        the Exit that ended it if a hook failed, asked for one, or Unicorn
        reported an error (else None)."""
        st = self.st
        if st.triple_faulted(self._unicorn_walks):
            self._crash("triple fault inside the CPU emulator (a fault while a #DF was in "
                        "flight)")
        st.end_of_run()
        if self._pending_maps:
            self._apply_pending_maps()
        if self.hooks.error is not None:
            exc, self.hooks.error = self.hooks.error, None
            return self._internal_error(exc)
        if self.stop_exit is not None:
            return self.stop_exit
        if err == unicorn.UC_ERR_WRITE_PROT:
            # A write to a read-only grant mapping (p2m_grant_map_ro): Xen's
            # hvm_hap_nested_page_fault() injects #GP(0) into an HVM guest.
            self._raise(traps.GP, traps.FAULT, 0)
            return self.stop_exit
        if err == UC_ERR_FETCH_UNMAPPED and self._fetch_fault:
            return self._fetch_from_hole()
        if err != UC_ERR_OK:
            return self._emu_error(err)
        return None

    def _fetch_from_hole(self):
        """An instruction fetch from guest-physical space nothing backs: Xen's
        emulator cannot fetch from MMIO (linear_read: X86EMUL_UNHANDLEABLE),
        so hvm_hap_nested_page_fault() injects #GP(0) at that instruction."""
        self._fetch_fault = False
        self._raise(traps.GP, traps.FAULT, 0, insn_rip=self.st.rip)
        return self.stop_exit

    def stop_halted(self):
        """End the slice as if at a hlt."""
        if self.stop_exit is None:
            self.stop_exit = HALTED

    def stop(self):
        """Ask a running slice to end (from a hook; or from an instruction
        emulated at an exit site, between two emu_starts: then the slice
        ends when the emulation returns).  From another thread (the
        fast-mode ticker, a debugger's interrupt) it ends at the next
        translated block's start, never in the middle of an instruction
        (uc.BlockStop)."""
        if threading.get_ident() != self._run_thread or self._in_insn_hook:
            self.block_stop.request()
        elif self.emulating:
            if self._mmio_write is not None:
                self._mmio_restarted = self._mmio_write
            ucx.emu_stop(self.uc)
        elif self.stop_exit is None:
            self.stop_exit = SLICE_END

    def request_stop(self, reason):
        """Called by the host from inside a hypercall: end the slice after it."""
        self._stop(Exit("stopped", reason))

    # ---- reports ---------------------------------------------------------------------------------
    def _emu_error(self, err):
        reason = "CPU emulation stopped: %s" % unicorn.UcError(err)
        return Exit("crashed", reason, self.crash_report(reason))

    def _internal_error(self, exc):
        return internal_error_exit(exc)

    def registers(self):
        st = self.st
        regs = {name: st.regs[i] for i, name in enumerate(_REG_NAMES_64)}
        regs["rip"] = st.rip
        regs["rflags"] = self.rflags
        for i, name in enumerate(SEG_NAMES):
            regs[name] = st.segs[i].selector
        regs.update(cr0=st.cr[0], cr2=st.cr[2], cr3=st.cr[3], cr4=st.cr[4], efer=st.efer)
        return regs

    def disassemble(self, count=6):
        st = self.st
        rip = self.linear_rip()
        try:
            code = self.walker.read(rip, 16 * count, ACCESS_READ)
        except (PageFault, BadPhysical):
            try:
                code = self.walker.read(rip, 16, ACCESS_READ)
            except (PageFault, BadPhysical):
                return ["  %#x: <not readable>" % rip]
        out = []
        for insn in disassembler(st.code64).disasm(code, rip):
            out.append("  %#x: %-24s %s %s" % (insn.address, insn.bytes.hex(),
                                                insn.mnemonic, insn.op_str))
            if len(out) >= count:
                break
        return out or ["  %#x: <undecodable> %s" % (rip, code[:16].hex())]

    def crash_report(self, reason):
        st = self.st
        r = self.registers()
        lines = ["vCPU%d crashed: %s" % (self.vcpu_id, reason),
                 "  mode %s, CPL %d" % (self.mode_name(), st.cpl)]
        names = list(_REG_NAMES_64) if st.long_mode else list(_REG_NAMES_64[:8])
        for i in range(0, len(names), 4):
            lines.append("  " + "  ".join("%-3s=%016x" % (n, r[n]) for n in names[i:i + 4]))
        lines.append("  rip=%016x rflags=%08x cs=%04x ss=%04x ds=%04x"
                     % (r["rip"], r["rflags"], r["cs"], r["ss"], r["ds"]))
        lines.append("  cr0=%08x cr2=%016x cr3=%016x cr4=%08x efer=%x"
                     % (r["cr0"], r["cr2"], r["cr3"], r["cr4"], r["efer"]))
        lines.append("  code:")
        lines.extend(self.disassemble())
        return "\n".join(lines)

