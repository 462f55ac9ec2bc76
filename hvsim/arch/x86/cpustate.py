"""Direct access to a Unicorn x86 vCPU's live QEMU state (CPUX86State).

Unicorn 2.1.4 does not expose what a hypervisor needs: the hidden segment
caches and CPL (hflags), the pending exception's error code, the "exception
in flight" QEMU uses for #DF promotion, and the instruction counter behind
emu_start(count=...).  They live in QEMU's CPUX86State and in uc_struct.

This module finds them once per process by calibration against a scratch
Unicorn instance (set a value through the public API, find where it lands),
checks every offset it relies on, and then gives each vCPU a `CpuState` of
ctypes views into its live state.  Reading or writing a field costs a few
tens of nanoseconds instead of the 2-4 us of a context save/restore, which
is what makes Python hypercall and exception paths fast.

The offsets are tied to the pinned Unicorn build; if calibration fails,
`CpuStateError` says so at start-up instead of corrupting a guest later.
Writes are only made while emulation is stopped or from inside a hook, where
QEMU has synchronised its register globals to memory.
"""

import ctypes
import os
import struct
import weakref

import unicorn
from unicorn import Uc, UC_ARCH_X86, UC_MODE_64, UC_HOOK_INTR, UcError
from unicorn import x86_const as X

from ...errors import HvsimError
from ..uc import context_bytes, load_context_bytes, uc_handle, uclib_gil
from .defns import EFLAGS_IF, MASK32


class CpuStateError(HvsimError):
    pass


# QEMU register numbering inside CPUX86State.regs[]
R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI = range(8)
R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15 = range(8, 16)
# segment indices inside CPUX86State.segs[]
R_ES, R_CS, R_SS, R_DS, R_FS, R_GS = range(6)
SEG_NAMES = ("es", "cs", "ss", "ds", "fs", "gs")
# the 32-bit general registers in encoding order: (name, QEMU register number)
GPRS_32 = (("eax", R_EAX), ("ecx", R_ECX), ("edx", R_EDX), ("ebx", R_EBX), ("esp", R_ESP),
           ("ebp", R_EBP), ("esi", R_ESI), ("edi", R_EDI))

# hflags bits (qemu/target/i386/cpu.h)
HF_CPL_MASK = 3
HF_INHIBIT_IRQ_MASK = 1 << 3
HF_CS32_MASK = 1 << 4
HF_SS32_MASK = 1 << 5
HF_ADDSEG_MASK = 1 << 6
HF_PE_MASK = 1 << 7
HF_LMA_MASK = 1 << 14
HF_CS64_MASK = 1 << 15

# Layout of the QEMU 5 CPUX86State as built into Unicorn 2.1.x (x86_64 target).
# Verified field by field by _calibrate(); never used unverified.
ENV_REGS = 0
ENV_EIP = 128
ENV_EFLAGS = 136
ENV_HFLAGS = 176
ENV_HFLAGS2 = 180
ENV_SEGS = 184
SEGCACHE_SIZE = 24
ENV_LDT = ENV_SEGS + 6 * SEGCACHE_SIZE
ENV_TR = ENV_LDT + SEGCACHE_SIZE
ENV_GDT = ENV_TR + SEGCACHE_SIZE
ENV_IDT = ENV_GDT + SEGCACHE_SIZE
ENV_CR = ENV_IDT + SEGCACHE_SIZE

# uc_struct fields (Unicorn 2.1.4): pointer to the X86CPU object, and the
# instruction counter of emu_start(count=...)
_KNOWN_CPU_PTR_OFF = 440
_KNOWN_ENV_IN_CPU = 35408
_KNOWN_EMU_COUNTER_OFF = 1368

# Hardware interrupt injection without a Python IDT walk.  QEMU takes an SVM
# virtual interrupt (CPU_INTERRUPT_VIRQ in CPUState.interrupt_request) at the
# next instruction boundary where EFLAGS.IF=1 and no STI/MOV SS shadow is in
# force, fetching its vector from the guest-physical VMCB that env->vm_vmcb
# names (control.int_vector), and delivers it through the guest IDT in C
# (do_interrupt_x86_hardirq).  Unicorn keeps that path; CPU_INTERRUPT_HARD is
# useless (its PIC stub always answers vector 0).  hvsim points vm_vmcb at a
# private page above MAXPHYADDR, where no guest page table can reach.
_KNOWN_INTERRUPT_REQUEST_IN_CPU = 0x1C
_KNOWN_VM_VMCB_IN_ENV = 0x1580
VMCB_INT_VECTOR = 0x64                 # struct vmcb: control.int_vector
VMCB_EXIT_INFO_2 = 0x80                # struct vmcb: control.exit_info_2

# Page-fault addresses away from CR2.  QEMU walks the guest's page tables for
# more than the guest: Unicorn's end-of-run invalidation of every exit
# address, uc_ctl(remove_cache) and uc_vmem_translate all go through
# handle_mmu_fault, which writes CR2 when the walk fails.  With bit 14 of
# env->intercept_exceptions set (an SVM intercept, only honoured in SVM
# guest mode, which hvsim never enters), QEMU writes the faulting address to
# the VMCB's exit_info_2 instead (excp_helper.c: "cr2 is not modified in case
# of exceptions"); hvsim copies it into CR2 when it delivers a #PF, so CR2
# only ever changes when the guest takes one.  The same failed walks leave
# their #PF in CPUState.exception_index (QEMU then raises it at the next
# instruction boundary), which hvsim restores after each of its own probes.
_KNOWN_INTERCEPT_EXCEPTIONS_IN_ENV = _KNOWN_VM_VMCB_IN_ENV + 0x20
_KNOWN_EXCEPTION_INDEX_AFTER_HALTED = 8
INTERCEPT_PF = 1 << 14
CPU_INTERRUPT_VIRQ = 0x100
VIRQ_PAGE_GPA = 1 << 44                # beyond the 40 physical address bits we report
# The interrupt window (Xen's interrupt-window exiting): hvsim posts this
# "vector", which no IDT can hold, so that QEMU's delivery of it at the
# first instruction boundary where the guest can take an interrupt raises
# #GP(vector*16+2 in long mode, vector*8+2 otherwise): a hook, at exactly
# the point where the waiting upcall is due.  The error codes cannot come
# from a real #GP (selector error codes fit in 16 bits).
WINDOW_VECTOR = 0x10000
WINDOW_GP_ERRORS = (WINDOW_VECTOR * 16 + 2, WINDOW_VECTOR * 8 + 2)
SOFT_IRQ_ENV = "HVSIM_SOFT_IRQ"        # set (non-empty): hvsim pushes interrupt frames itself


class SegmentCache(ctypes.Structure):
    """QEMU's SegmentCache: {u32 selector; target_ulong base; u32 limit; u32 flags}."""
    _fields_ = [("selector", ctypes.c_uint32), ("_pad", ctypes.c_uint32),
                ("base", ctypes.c_uint64), ("limit", ctypes.c_uint32),
                ("flags", ctypes.c_uint32)]


assert ctypes.sizeof(SegmentCache) == SEGCACHE_SIZE


class _Offsets:
    """Process-wide calibrated offsets."""
    cpu_ptr = None
    env_in_cpu = None
    emu_counter = None
    halted = None      # CPUState.halted, relative to the X86CPU object
    stopped = None     # CPUState.stopped (a byte), likewise
    interrupt_request = None   # CPUState.interrupt_request, relative to the X86CPU object,
    vm_vmcb = None             # and env->vm_vmcb: None if native injection failed its check
    intercept_exceptions = None    # env->intercept_exceptions, relative to the X86CPU object
    exception_index = None     # CPUState.exception_index, likewise
    efer = None
    error_code = None

    @property
    def exception_is_int(self):
        return self.error_code + 4

    @property
    def exception_next_eip(self):
        return self.error_code + 8

    @property
    def dr(self):
        return self.error_code + 16

    @property
    def old_exception(self):
        return self.error_code + 112


OFF = _Offsets()


def _peek(addr, n):
    """Read process memory without risking a segfault (for calibration only)."""
    try:
        with open("/proc/self/mem", "rb", buffering=0) as f:
            f.seek(addr)
            return f.read(n)
    except (OSError, ValueError, OverflowError):
        return None


def _env_addr(uc):
    uc.reg_read(X.UC_X86_REG_RAX)        # Unicorn creates the CPU lazily: force it
    h = uc_handle(uc)
    cpu = ctypes.c_uint64.from_address(h + OFF.cpu_ptr).value
    if cpu < 0x10000:
        raise CpuStateError("unicorn instance has no CPU object")
    return cpu + OFF.env_in_cpu


def _find_env(uc):
    """Locate the live CPUX86State of a scratch instance."""
    pat_a, pat_b = 0x1122334455667788, 0x99AABBCCDDEEFF00
    uc.reg_write(X.UC_X86_REG_RAX, pat_a)
    uc.reg_write(X.UC_X86_REG_RCX, pat_b)
    pattern = struct.pack("<QQ", pat_a, pat_b)
    h = uc_handle(uc)
    candidates = [(_KNOWN_CPU_PTR_OFF, _KNOWN_ENV_IN_CPU)]
    ucs = _peek(h, 0x8000) or b""
    for o in range(0, len(ucs) - 8, 8):
        p = struct.unpack_from("<Q", ucs, o)[0]
        if 0x10000 <= p < (1 << 47):
            candidates.append((o, None))
    for off, env_in_cpu in candidates:
        p = struct.unpack_from("<Q", ucs, off)[0] if off + 8 <= len(ucs) else 0
        if not 0x10000 <= p < (1 << 47):
            continue
        if env_in_cpu is None:
            mem = _peek(p, 0x20000)
            if not mem or pattern not in mem:
                continue
            env_in_cpu = mem.index(pattern)
        got = _peek(p + env_in_cpu, 16)
        if got != pattern:
            continue
        uc.reg_write(X.UC_X86_REG_RAX, 0x5A5A5A5A)      # is it the live copy?
        if _peek(p + env_in_cpu, 8) == struct.pack("<Q", 0x5A5A5A5A):
            return off, env_in_cpu
        uc.reg_write(X.UC_X86_REG_RAX, pat_a)
    raise CpuStateError("cannot locate CPUX86State in unicorn %s" % unicorn.__version__)


def _u64(addr):
    return ctypes.c_uint64.from_address(addr).value


def _u32(addr):
    return ctypes.c_uint32.from_address(addr).value


def _check(cond, what):
    if not cond:
        raise CpuStateError("unicorn %s: CPUX86State layout check failed: %s"
                            % (unicorn.__version__, what))


def _calibrate_fields(uc):
    env = _env_addr(uc)
    uc.reg_write(X.UC_X86_REG_RIP, 0x1234567)
    _check(_u64(env + ENV_EIP) == 0x1234567, "eip")
    for i, reg in enumerate((X.UC_X86_REG_RAX, X.UC_X86_REG_RCX, X.UC_X86_REG_RDX,
                             X.UC_X86_REG_RBX, X.UC_X86_REG_RSP, X.UC_X86_REG_RBP,
                             X.UC_X86_REG_RSI, X.UC_X86_REG_RDI, X.UC_X86_REG_R8,
                             X.UC_X86_REG_R15)):
        idx = i if i < 9 else 15
        uc.reg_write(reg, 0x1000 + i)
        _check(_u64(env + ENV_REGS + 8 * idx) == 0x1000 + i, "regs[%d]" % idx)
    for rflags in (0x202, 0x2):          # IF lives in env->eflags (only the
        uc.reg_write(X.UC_X86_REG_RFLAGS, rflags)       # arithmetic flags are lazy)
        _check(_u64(env + ENV_EFLAGS) & EFLAGS_IF == rflags & EFLAGS_IF, "eflags.IF")
    uc.reg_write(X.UC_X86_REG_GDTR, (0, 0xABC000, 0x7F, 0))
    _check(_u64(env + ENV_GDT + 8) == 0xABC000 and _u32(env + ENV_GDT + 16) == 0x7F, "gdt")
    uc.reg_write(X.UC_X86_REG_IDTR, (0, 0xDEF000, 0xFFF, 0))
    _check(_u64(env + ENV_IDT + 8) == 0xDEF000 and _u32(env + ENV_IDT + 16) == 0xFFF, "idt")
    uc.reg_write(X.UC_X86_REG_CR3, 0x5000)
    _check(_u64(env + ENV_CR + 8 * 3) == 0x5000, "cr3")
    _check(_u64(env + ENV_CR) == uc.reg_read(X.UC_X86_REG_CR0), "cr0")
    _check(_u64(env + ENV_CR + 8 * 4) == uc.reg_read(X.UC_X86_REG_CR4), "cr4")
    uc.reg_write(X.UC_X86_REG_CS, 0x4321)
    _check(_u32(env + ENV_SEGS + SEGCACHE_SIZE * R_CS) == 0x4321, "segs[cs]")
    # EFER: diff two states
    blob = _peek(env, 0x2000)
    uc.msr_write(0xC0000080, 0xD01)
    blob2 = _peek(env, 0x2000)
    offs = [o for o in range(ENV_CR, len(blob) - 8, 8)
            if struct.unpack_from("<Q", blob2, o)[0] == 0xD01
            and struct.unpack_from("<Q", blob, o)[0] != 0xD01]
    _check(len(offs) == 1, "efer candidates %r" % offs)
    OFF.efer = offs[0]


def _calibrate_exception(uc_factory):
    """error_code / old_exception: raise #GP(0x18) by loading DS beyond the GDT."""
    code = bytes.fromhex("66b81b00" "8ed8" "90")      # mov $0x1b,%ax; mov %ax,%ds; nop
    uc = uc_factory()
    uc.mem_map(0, 0x10000)
    uc.mem_write(0x1000, code)
    uc.reg_write(X.UC_X86_REG_GDTR, (0, 0x8000, 0x17, 0))
    env = _env_addr(uc)
    before = _peek(env, 0x2000)
    seen = []

    def hook(u, intno, _):
        seen.append((intno, _peek(env, 0x2000)))
        u.emu_stop()
    uc.hook_add(UC_HOOK_INTR, hook)
    uc.emu_start(0x1000, 0x1000 + len(code))
    _check(seen and seen[0][0] == 13, "no #GP in calibration")
    after = seen[0][1]
    i32 = lambda b, o: struct.unpack_from("<i", b, o)[0]
    cands = [o for o in range(0, len(after) - 120, 4)
             if i32(after, o) == 0x18 and i32(before, o) == 0
             and i32(after, o + 112) == 13 and i32(before, o + 112) == -1]
    _check(len(cands) == 1, "error_code candidates %r" % cands)
    OFF.error_code = cands[0]


def _calibrate_counter(uc_factory):
    uc = uc_factory()
    uc.mem_map(0, 0x10000)
    uc.mem_write(0x1000, bytes.fromhex("48ffc0ebfb"))   # 1: inc %rax; jmp 1b
    uc.ctl_flush_tb()
    h = uc_handle(uc)
    for n in (12345, 777):
        uc.emu_start(0x1000, 0, count=n)
        _check(_u64(h + _KNOWN_EMU_COUNTER_OFF) in (n, n + 1), "emu_counter")
    OFF.emu_counter = _KNOWN_EMU_COUNTER_OFF


def _calibrate_halted(uc_factory):
    """CPUState.halted: the only u32 that a hlt turns 0 -> 1 and a count stop does not."""
    def changed(code, count):
        uc = uc_factory()
        uc.mem_map(0, 0x10000)
        uc.mem_write(0x1000, code)
        cpu = ctypes.c_uint64.from_address(uc_handle(uc) + OFF.cpu_ptr).value
        before = _peek(cpu, OFF.env_in_cpu)
        if count:
            uc.ctl_flush_tb()
        uc.emu_start(0x1000, 0, count=count)
        after = _peek(cpu, OFF.env_in_cpu)
        u32 = lambda b, o: struct.unpack_from("<I", b, o)[0]
        return {o for o in range(0, len(before) - 4, 4) if u32(before, o) == 0 and u32(after, o) == 1}
    cands = changed(bytes.fromhex("90f490"), 0) - changed(bytes.fromhex("90ebfe"), 5)
    _check(len(cands) == 1, "halted candidates %r" % sorted(cands))
    OFF.halted = cands.pop()


def _calibrate_reset_request(uc_factory):
    """CPUState.stopped: QEMU's triple fault (check_exception() with a #DF in
    flight) calls qemu_system_reset_request(), which Unicorn turns into
    cpu_stop_current(), and no hook runs: the one byte of CPUState's flags
    that a triple fault leaves 1 and an ordinary run leaves 0."""
    def flags_after(old_exception):
        uc = uc_factory()
        uc.mem_map(0, 0x10000)
        uc.mem_write(0x1000, b"\x0f\x0b\xf4")           # ud2; hlt
        uc.hook_add(UC_HOOK_INTR, lambda u, intno, _: u.emu_stop())
        uc.hook_add(unicorn.UC_HOOK_INSN_INVALID, lambda u, _: u.emu_stop() or True)
        env = _env_addr(uc)
        ctypes.c_int32.from_address(env + OFF.old_exception).value = old_exception
        uc.emu_start(0x1000, 0, count=5)
        return _peek(env - OFF.env_in_cpu, _KNOWN_INTERRUPT_REQUEST_IN_CPU)
    normal, triple = flags_after(-1), flags_after(8)
    _check(normal is not None and triple is not None, "CPUState flags")
    cands = [o for o in range(len(normal)) if normal[o] == 0 and triple[o] == 1]
    _check(len(cands) == 1, "CPUState.stopped candidates %r" % cands)
    OFF.stopped = cands[0]


def _calibrate_virq(uc_factory):
    """CPUState.interrupt_request and env->vm_vmcb: post a virtual interrupt
    (vector 0x40) to a scratch long-mode CPU with IF=1 and check that QEMU
    delivers it through the IDT before the first instruction, with the right
    frame.  On failure native injection stays off (hvsim then pushes the
    frame itself, which is slower but equivalent)."""
    uc = uc_factory()
    uc.mem_map(0, 0x10000)
    vmcb = VirqPage.of(uc)
    uc.mem_write(0x8000, struct.pack("<QQ", 0, 0x00209A0000000000))   # 64-bit code at 0x8
    uc.reg_write(X.UC_X86_REG_GDTR, (0, 0x8000, 0xF, 0))
    handler = 0x3000
    gate_lo = (handler & 0xFFFF) | 0x8 << 16 | 0x8E00 << 32 | (handler >> 16 & 0xFFFF) << 48
    uc.mem_write(0x9000 + 0x40 * 16, struct.pack("<QQ", gate_lo, handler >> 32))
    uc.reg_write(X.UC_X86_REG_IDTR, (0, 0x9000, 0xFFF, 0))
    uc.mem_write(handler, b"\xf4")                  # hlt
    uc.mem_write(0x1000, b"\x90\xf4")              # nop; hlt
    uc.reg_write(X.UC_X86_REG_RSP, 0x7000)
    uc.reg_write(X.UC_X86_REG_EFLAGS, 0x202)
    cpu = _env_addr(uc) - OFF.env_in_cpu
    ireq = ctypes.c_uint32.from_address(cpu + _KNOWN_INTERRUPT_REQUEST_IN_CPU)
    vm_vmcb = ctypes.c_uint64.from_address(cpu + OFF.env_in_cpu + _KNOWN_VM_VMCB_IN_ENV)
    if ireq.value != 0 or vm_vmcb.value != 0:
        return
    vm_vmcb.value = VIRQ_PAGE_GPA
    vmcb.post(ireq, 0x40)
    uc.emu_start(0x1000, 0, timeout=1000000)
    rsp = uc.reg_read(X.UC_X86_REG_RSP)
    frame = struct.unpack("<QQQQ", uc.mem_read(rsp, 32)) if rsp == 0x7000 - 40 else None
    if (ireq.value == 0 and uc.reg_read(X.UC_X86_REG_RIP) == handler + 1
            and frame == (0x1000, 0, 0x202, 0x7000)):
        OFF.interrupt_request = _KNOWN_INTERRUPT_REQUEST_IN_CPU
        OFF.vm_vmcb = OFF.env_in_cpu + _KNOWN_VM_VMCB_IN_ENV


def _calibrate_fault_address(uc_factory):
    """env->intercept_exceptions and CPUState.exception_index: with paging on
    and the #PF intercept bit set, a failed uc_vmem_translate must leave CR2
    alone, put the address in the VMCB's exit_info_2 and 14 in
    exception_index."""
    uc = uc_factory()
    uc.mem_map(0, 0x10000)
    page = VirqPage.of(uc)
    cpu = _env_addr(uc) - OFF.env_in_cpu
    ctypes.c_uint64.from_address(cpu + OFF.env_in_cpu + _KNOWN_VM_VMCB_IN_ENV).value = \
        VIRQ_PAGE_GPA
    intercept = ctypes.c_uint32.from_address(cpu + OFF.env_in_cpu
                                             + _KNOWN_INTERCEPT_EXCEPTIONS_IN_ENV)
    index = ctypes.c_int32.from_address(cpu + OFF.halted + _KNOWN_EXCEPTION_INDEX_AFTER_HALTED)
    _check(intercept.value == 0 and index.value == -1, "intercept_exceptions/exception_index")
    intercept.value = INTERCEPT_PF
    uc.reg_write(X.UC_X86_REG_CR4, uc.reg_read(X.UC_X86_REG_CR4) | 0x20)    # PAE
    uc.reg_write(X.UC_X86_REG_CR3, 0x1000)                                  # all not present
    uc.reg_write(X.UC_X86_REG_CR0, 0x80000011)
    uc.reg_write(X.UC_X86_REG_CR2, 0x1234)
    pa = ctypes.c_uint64()
    failed = uclib_gil.uc_vmem_translate(uc._uch, 0x5000, unicorn.UC_PROT_READ,
                                         ctypes.byref(pa))
    _check(failed and uc.reg_read(X.UC_X86_REG_CR2) == 0x1234
           and page.fault_address.value == 0x5000 and index.value == 14,
           "a #PF kept away from CR2")
    OFF.intercept_exceptions = OFF.env_in_cpu + _KNOWN_INTERCEPT_EXCEPTIONS_IN_ENV
    OFF.exception_index = OFF.halted + _KNOWN_EXCEPTION_INDEX_AFTER_HALTED


class VirqPage:
    """The private page env->vm_vmcb points at: QEMU reads a posted virtual
    interrupt's vector from it.  One per Unicorn instance (`of`)."""

    _pages = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, uc):
        page = cls._pages.get(uc)
        if page is None:
            page = cls._pages[uc] = cls(uc)
        return page

    def __init__(self, uc):
        self._page = (ctypes.c_uint8 * 0x1000)()
        uc.mem_map_ptr(VIRQ_PAGE_GPA, 0x1000, unicorn.UC_PROT_READ, ctypes.addressof(self._page))
        self._vector = ctypes.c_uint32.from_buffer(self._page, VMCB_INT_VECTOR)
        self.fault_address = ctypes.c_uint64.from_buffer(self._page, VMCB_EXIT_INFO_2)

    def post(self, interrupt_request, vector):
        self._vector.value = vector
        interrupt_request.value |= CPU_INTERRUPT_VIRQ

    @property
    def vector(self):
        return self._vector.value


_calibrated = False


def calibrate():
    """Find and verify every offset; idempotent.  Raises CpuStateError."""
    global _calibrated
    if _calibrated:
        return
    factory = lambda: Uc(UC_ARCH_X86, UC_MODE_64)
    try:
        uc = factory()
        OFF.cpu_ptr, OFF.env_in_cpu = _find_env(uc)
        _calibrate_fields(uc)
        _calibrate_exception(factory)
        _calibrate_counter(factory)
        _calibrate_halted(factory)
        _calibrate_reset_request(factory)
        _calibrate_virq(factory)
        _calibrate_fault_address(factory)
    except UcError as e:
        raise CpuStateError("unicorn calibration failed: %s" % e) from None
    _calibrated = True


class CpuState:
    """ctypes views into one vCPU's live CPUX86State and uc_struct.

    `regs[i]` uses QEMU's numbering (R_EAX, R_ECX, R_EDX, R_EBX, ...);
    eflags is NOT here (QEMU keeps the arithmetic flags lazily): use
    the Unicorn API for RFLAGS."""

    def __init__(self, uc):
        calibrate()
        self.uc = uc
        self.addr = env = _env_addr(uc)
        self.regs = (ctypes.c_uint64 * 16).from_address(env + ENV_REGS)
        self._eip = ctypes.c_uint64.from_address(env + ENV_EIP)
        self._hflags = ctypes.c_uint32.from_address(env + ENV_HFLAGS)
        self._eflags = ctypes.c_uint64.from_address(env + ENV_EFLAGS)
        self.segs = (SegmentCache * 6).from_address(env + ENV_SEGS)
        self.ldt = SegmentCache.from_address(env + ENV_LDT)
        self.tr = SegmentCache.from_address(env + ENV_TR)
        self.gdt = SegmentCache.from_address(env + ENV_GDT)
        self.idt = SegmentCache.from_address(env + ENV_IDT)
        self.cr = (ctypes.c_uint64 * 5).from_address(env + ENV_CR)
        self._efer = ctypes.c_uint64.from_address(env + OFF.efer)
        self._error_code = ctypes.c_int32.from_address(env + OFF.error_code)
        self._is_int = ctypes.c_int32.from_address(env + OFF.exception_is_int)
        self._next_eip = ctypes.c_uint64.from_address(env + OFF.exception_next_eip)
        self._old_exception = ctypes.c_int32.from_address(env + OFF.old_exception)
        self.dr = (ctypes.c_uint64 * 8).from_address(env + OFF.dr)
        self._counter = ctypes.c_uint64.from_address(uc_handle(uc) + OFF.emu_counter)
        cpu = ctypes.c_uint64.from_address(uc_handle(uc) + OFF.cpu_ptr).value
        self._halted = ctypes.c_uint32.from_address(cpu + OFF.halted)
        self._stopped = ctypes.c_uint8.from_address(cpu + OFF.stopped)
        self._exception_index = ctypes.c_int32.from_address(cpu + OFF.exception_index)
        self._vm_vmcb = ctypes.c_uint64.from_address(
            cpu + OFF.env_in_cpu + _KNOWN_VM_VMCB_IN_ENV)
        self._intercept = ctypes.c_uint32.from_address(cpu + OFF.intercept_exceptions)
        self._virq_page = VirqPage.of(uc)
        self._fault_address = self._virq_page.fault_address
        self.keep_faults_from_cr2()
        self._ireq = None
        self._soft_irq = bool(os.environ.get(SOFT_IRQ_ENV))
        if OFF.interrupt_request is not None:
            self._ireq = ctypes.c_uint32.from_address(cpu + OFF.interrupt_request)

    # --- plain fields ---------------------------------------------------------
    @property
    def rip(self):
        return self._eip.value

    @rip.setter
    def rip(self, v):
        self._eip.value = v

    @property
    def hflags(self):
        return self._hflags.value

    @hflags.setter
    def hflags(self, v):
        self._hflags.value = v

    @property
    def cpl(self):
        return self._hflags.value & HF_CPL_MASK

    @property
    def efer(self):
        return self._efer.value

    @property
    def error_code(self):
        return self._error_code.value & MASK32

    @property
    def exception_is_int(self):
        return bool(self._is_int.value)

    @property
    def exception_next_eip(self):
        return self._next_eip.value

    def clear_old_exception(self):
        """What QEMU's do_interrupt does on successful delivery: without it the
        next contributory fault or #PF would be promoted to #DF."""
        self._old_exception.value = -1

    def keep_faults_from_cr2(self):
        """QEMU's page walks report their fault address in the private VMCB,
        not in CR2 (see INTERCEPT_PF); again after a snapshot's CPU state is
        loaded."""
        self._vm_vmcb.value = VIRQ_PAGE_GPA
        self._intercept.value = INTERCEPT_PF

    @property
    def fault_address(self):
        """The linear address of the last #PF QEMU raised (CR2 for the guest
        once hvsim delivers it)."""
        return self._fault_address.value

    @property
    def exception_index(self):
        """The exception QEMU raises at the next instruction boundary (-1: none)."""
        return self._exception_index.value

    @exception_index.setter
    def exception_index(self, v):
        self._exception_index.value = v

    def triple_faulted(self, own_walks):
        """The run ended in a triple fault inside QEMU: a fault raised with a
        #DF in flight, which asks for a reset and reaches no hook.  Unicorn's
        own end-of-run page walks (`own_walks`: not taken over) can do that
        too, but leave their fault in exception_index; a guest run does not."""
        return bool(self._stopped.value) and (not own_walks or self._exception_index.value == -1)

    def end_of_run(self):
        """After every emu_start: forget the faults of Unicorn's own page walks
        (its invalidation of every exit address as a run ends leaves #PF,
        then #DF, in old_exception: the guest's next fault would become a
        #DF or a silent triple fault).  Between runs no exception is ever in
        flight: hvsim delivers each one inside the hook that reports it."""
        self._old_exception.value = -1

    def exception_state(self):
        """QEMU's record of the exception in flight (see restore_exception_state)."""
        return (self._old_exception.value, self._error_code.value, self._is_int.value,
                self._next_eip.value)

    def restore_exception_state(self, saved):
        """Undo what Unicorn's mem_unmap leaves behind (old_exception = #PF and
        a #PF error code from its internal probing): left there, the guest's
        next #PF or contributory fault would be promoted to #DF."""
        (self._old_exception.value, self._error_code.value, self._is_int.value,
         self._next_eip.value) = saved

    @property
    def insn_counter(self):
        """Instructions counted by emu_start(count=...) in the current/last run."""
        return self._counter.value

    @property
    def halted(self):
        """Set by QEMU when the guest executed hlt; cleared by us before each run."""
        return bool(self._halted.value)

    def clear_halted(self):
        self._halted.value = 0

    # --- hardware interrupts QEMU delivers itself ------------------------------
    @property
    def can_post_interrupt(self):
        """Native injection calibrated and wanted, and no interrupt posted
        still waiting."""
        return (self._ireq is not None and not self._soft_irq
                and not self._ireq.value & CPU_INTERRUPT_VIRQ)

    # --- the interrupt window (WINDOW_VECTOR) ----------------------------------
    @property
    def window_armed(self):
        return (self._ireq is not None and bool(self._ireq.value & CPU_INTERRUPT_VIRQ)
                and self._virq_page.vector == WINDOW_VECTOR)

    def arm_window(self):
        """Have QEMU raise #GP(WINDOW_GP_ERRORS) as soon as the guest can take
        an interrupt.  False if that cannot be done (not calibrated)."""
        if self._ireq is None:
            return False
        if not self._ireq.value & CPU_INTERRUPT_VIRQ:
            self._virq_page.post(self._ireq, WINDOW_VECTOR)
        return True

    def disarm_window(self):
        if self.window_armed:
            self._ireq.value &= ~CPU_INTERRUPT_VIRQ

    def is_window_exit(self, intno):
        """The exception just reported is the armed window's #GP."""
        return intno == 13 and self.error_code in WINDOW_GP_ERRORS and self.window_armed

    def post_interrupt(self, vector):
        """Have QEMU deliver `vector` through the guest IDT at the next
        instruction boundary where the guest can take an interrupt (before
        the first instruction of the next run, if it can now)."""
        self._virq_page.post(self._ireq, vector)

    @property
    def long_mode(self):
        return bool(self._hflags.value & HF_LMA_MASK)

    @property
    def code64(self):
        return bool(self._hflags.value & HF_CS64_MASK)

    @property
    def interruptible(self):
        """EFLAGS.IF set and no STI/MOV SS shadow: an external interrupt can
        be taken now."""
        return (bool(self._eflags.value & EFLAGS_IF)
                and not self._hflags.value & HF_INHIBIT_IRQ_MASK)

    def clear_interrupt_shadow(self):
        self._hflags.value &= ~HF_INHIBIT_IRQ_MASK


# ---- snapshots: the whole CPUX86State ---------------------------------------------------
def _without_host_pointers(blob):
    """The saved CPUX86State without what points into this process: QEMU's
    DR0-3 breakpoint objects (cpu_breakpoint[4], after dr[8]) and retaddr (a
    TCG code address, the last field the context holds).  QEMU checks both
    for NULL / sets them before use."""
    blob = bytearray(blob)
    bp = OFF.dr + 64
    blob[bp:bp + 32] = bytes(32)
    blob[-8:] = bytes(8)
    return bytes(blob)


def save_cpu(uc):
    """QEMU's CPUX86State of `uc` as bytes, for a snapshot (hvsim/snapshot/)."""
    return _without_host_pointers(context_bytes(uc))


def load_cpu(uc, blob):
    """Load a saved CPUX86State (from save_cpu, so without host pointers)."""
    load_context_bytes(uc, blob)
