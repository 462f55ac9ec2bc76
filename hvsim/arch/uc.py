"""Thin, fast access to Unicorn for the arch layer.

* checks that the pinned Unicorn (2.1.4) is the one loaded: our workarounds
  (hvsim/arch/x86/cpustate.py) depend on its internals;
* registers hooks as raw ctypes callbacks, bypassing the binding's wrappers
  (a hypercall through the binding costs ~4 us, through a raw hook ~0.3 us);
* exposes the C entry points the binding does not wrap or wraps slowly
  (uc_emu_start without the binding's bookkeeping, TLB flush, dropping
  translated code, loading a prepared exit list: `ExitList`);
* takes Unicorn's end-of-run invalidation of every exit address over
  (`take_over_exit_invalidation`).

A callback must never raise into Unicorn: `RawHooks` catches any exception,
records it, and stops emulation so the vCPU can report it.
"""

import ctypes
from bisect import bisect_left

import unicorn
from unicorn import UcError
from unicorn.unicorn_py3.unicorn import uclib, uc_hook_h

from ..errors import HvsimError
from ..snapshot.fileformat import SnapshotError

PINNED_UNICORN = "2.1.4"


def _gil_keeping(lib):
    """The short Unicorn calls through ctypes.PyDLL, which keeps the GIL.
    Through the binding's CDLL every call releases the GIL and takes it
    back: when another thread waits for it (the fast-mode ticker), that is a
    futex round trip and a handoff for a call that lasts a microsecond.
    uc_emu_start, which runs guest code for long stretches, stays on the CDLL."""
    fast = ctypes.PyDLL(lib._name)
    for name in ("uc_reg_read", "uc_reg_write", "uc_emu_stop", "uc_ctl", "uc_vmem_translate"):
        f, slow = getattr(fast, name), getattr(lib, name)
        f.argtypes, f.restype = slow.argtypes, slow.restype
    fast.uc_vmem_translate.argtypes = (ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int,
                                       ctypes.c_void_p)   # the binding declares none
    return fast


uclib_gil = _gil_keeping(uclib)


class UnicornVersionError(HvsimError):
    pass


def check_unicorn_version():
    """hvsim's CPU workarounds are calibrated for one Unicorn release."""
    if unicorn.__version__ != PINNED_UNICORN:
        raise UnicornVersionError(
            "hvsim needs unicorn==%s but %s is installed; run 'make venv' or "
            "'pip install unicorn==%s'" % (PINNED_UNICORN, unicorn.__version__, PINNED_UNICORN))


def _split_context(raw):
    """Unicorn's uc_context: a header (size_t context_size first), then the
    first context_size bytes of the arch's CPU state (CPUX86State,
    CPUARMState)."""
    size = int.from_bytes(raw[:8], "little")
    if not 0 < size < len(raw):
        raise SnapshotError("<unicorn>", "unexpected uc_context layout", "report a bug")
    return len(raw) - size, size


def context_bytes(uc):
    """The CPU state Unicorn's context of `uc` holds, as bytes (snapshots)."""
    raw = bytes(uc.context_save())
    hdr, _ = _split_context(raw)
    return raw[hdr:]


def load_context_bytes(uc, blob):
    """Load CPU state saved by context_bytes into a fresh instance through
    uc_context_restore (the context of this instance supplies Unicorn's
    header)."""
    ctx = uc.context_save()
    hdr, size = _split_context(bytes(ctx))
    if size != len(blob):
        raise SnapshotError("<snapshot>", "CPU state of %d bytes, this Unicorn has %d"
                            % (len(blob), size), "resume with the Unicorn that wrote it")
    ctypes.memmove(ctx.context.value + hdr, blob, size)
    uc.context_restore(ctx)


def uc_handle(uc):
    return ctypes.cast(uc._uch, ctypes.c_void_p).value


# callback signatures (unicorn.h)
CB_INTR = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
CB_CODE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p)
CB_INSN_INVALID = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_void_p)
CB_X86_IN = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                             ctypes.c_void_p)
CB_X86_OUT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                              ctypes.c_uint32, ctypes.c_void_p)
CB_X86_SYSCALL = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
CB_X86_CPUID = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)  # also RDTSC
CB_MEM = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_int,
                          ctypes.c_int64, ctypes.c_void_p)
CB_MEM_INVALID = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64,
                                  ctypes.c_int, ctypes.c_int64, ctypes.c_void_p)
class Arm64CpReg(ctypes.Structure):
    """uc_arm64_cp_reg: what an AArch64 mrs/msr hook is given."""
    _fields_ = [("crn", ctypes.c_uint32), ("crm", ctypes.c_uint32), ("op0", ctypes.c_uint32),
                ("op1", ctypes.c_uint32), ("op2", ctypes.c_uint32), ("val", ctypes.c_uint64)]


CB_ARM64_SYS = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_int,
                                ctypes.POINTER(Arm64CpReg), ctypes.c_void_p)
CB_MMIO_READ = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint,
                                ctypes.c_void_p)
CB_MMIO_WRITE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint,
                                 ctypes.c_uint64, ctypes.c_void_p)


class RawHooks:
    """Raw hook registration for one Unicorn instance."""

    def __init__(self, uc):
        self.uc = uc
        self._keep = {}
        self.error = None     # first exception raised by a callback

    def add(self, htype, cfunc, fn, begin=1, end=0, insn=None):
        return self.add_callback(htype, cfunc(fn), begin, end, insn)

    def add_callback(self, htype, fp, begin=1, end=0, insn=None):
        """A hook calling `fp`, a ctypes callback (kept alive while hooked)."""
        hh = uc_hook_h()
        extra = () if insn is None else (ctypes.c_int(insn),)
        st = uclib.uc_hook_add(self.uc._uch, ctypes.byref(hh), htype, fp, None,
                               ctypes.c_uint64(begin), ctypes.c_uint64(end), *extra)
        if st:
            raise UcError(st)
        self._keep[hh.value] = fp
        return hh.value

    def delete(self, handle):
        """uc_hook_del for a hook that translated code never calls directly
        (memory-access hooks run from QEMU's helpers): no code to drop."""
        st = uclib.uc_hook_del(self.uc._uch, uc_hook_h(handle))
        if st:
            raise UcError(st)
        self._keep.pop(handle, None)

    def remove(self, handle):
        st = uclib.uc_hook_del(self.uc._uch, uc_hook_h(handle))
        if st:
            raise UcError(st)
        # Translated code may call a code or block hook directly: Unicorn
        # drops the blocks it hooked through uc_invalidate_tb, which hvsim
        # has taken over (take_over_exit_invalidation), so drop them all
        # before the callback goes (hooks are removed rarely, by debug tools).
        self.uc.ctl_flush_tb()
        self._keep.pop(handle, None)

    def failed(self, exc):
        """Called by a callback that caught an exception: record it, stop."""
        if self.error is None:
            self.error = exc
        uclib_gil.uc_emu_stop(self.uc._uch)


def mmio_map(uc, base, size, read_fp, write_fp):
    """uc_mmio_map with raw callbacks (CB_MMIO_READ/CB_MMIO_WRITE, kept alive
    by the caller); each gets `base` as its user data, so one pair of
    callbacks serves every region."""
    st = uclib.uc_mmio_map(uc._uch, base, size, read_fp, base, write_fp, base)
    if st:
        raise UcError(st)


def emu_start(uc, begin, timeout_us=0, count=0):
    """uc_emu_start without the binding's bookkeeping; returns a uc_err code.
    (A nonzero timeout_us has Unicorn's timer thread call uc_emu_stop(),
    which can run an instruction twice: see BlockStop.  hvsim passes 0.)"""
    return uclib.uc_emu_start(uc._uch, begin, 0, timeout_us, count)   # argtypes convert


def emu_stop(uc):
    """End the run in progress: only from inside one of its hooks or from
    the thread that runs it (another thread uses BlockStop)."""
    uclib_gil.uc_emu_stop(uc._uch)


# ---- stopping a run from another thread --------------------------------------------------
# Unicorn 2.1.4 checks for a stop request after every guest load and store
# as well as at block starts (tcg_gen_qemu_ld/st_* call check_exit_request),
# and one it finds restores the state to the start of the instruction
# in progress: a uc_emu_stop() from another thread (or emu_start's own
# `timeout`) that lands between a store and the end of its instruction
# makes that instruction run again (unicorn-engine/unicorn#1355, #1105).
# `incl mem` then counts twice and a `cmpxchg` that succeeded reports that
# it failed: Linux's preempt counts, lists and locks are corrupted.  A stop
# requested from inside a hook is safe (the next check is at the next
# memory access, and an instruction's first access to memory is a load
# or an idempotent store).  So another thread only sets a flag, and a
# native block hook (machine code, no Python) polls it at the start of
# every translated block and stops from there, before the block's first
# instruction: about a C call per block.
#
#   void hook(uc_engine *uc, uint64_t address, uint32_t size, BlockStopFlag *f)
#   { if (f->pending) { f->pending = 0; uc_emu_stop(uc); } }
_BLOCK_STOP_CODE = {
    "x86_64": bytes.fromhex("833900"        # cmp dword [rcx], 0
                            "7501"          # jne 1f
                            "c3"            # ret
                            "c70100000000"  # 1: mov dword [rcx], 0
                            "ff6108"),      # jmp qword [rcx + 8]: uc_emu_stop(uc)
}
_block_stop_hook = []                  # [address of the hook's code, or None], made once


class BlockStopFlag(ctypes.Structure):
    _fields_ = [("pending", ctypes.c_int32), ("_pad", ctypes.c_int32),
                ("emu_stop", ctypes.c_void_p)]


def _make_block_stop_hook():
    """The hook's machine code in an executable page (None on a host with no
    code for it, or where no page may be executable)."""
    import mmap
    import platform
    code = _BLOCK_STOP_CODE.get(platform.machine())
    if code is None:
        return None
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE,
                         prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError):
        return None
    page.write(code)
    _block_stop_hook.append(page)      # kept mapped for the life of the process
    return ctypes.addressof(ctypes.c_char.from_buffer(page))


class BlockStop:
    """Ends a Unicorn instance's run from another thread (a scheduler's
    ticker, a debugger) at the next translated block's start.  Install it
    before anything is translated (blocks carry their hooks).  Without the
    native hook (no code for this host) request() falls back to
    uc_emu_stop(), with the hazard described above."""

    def __init__(self, uc):
        if not _block_stop_hook:
            _block_stop_hook.insert(0, _make_block_stop_hook())
        self.uc = uc
        self.flag = BlockStopFlag(0, 0, ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value)
        self.native = _block_stop_hook[0] is not None
        if self.native:
            hh = uc_hook_h()
            st = uclib.uc_hook_add(uc._uch, ctypes.byref(hh), unicorn.UC_HOOK_BLOCK,
                                   ctypes.c_void_p(_block_stop_hook[0]), ctypes.byref(self.flag),
                                   ctypes.c_uint64(1), ctypes.c_uint64(0))
            if st:
                raise UcError(st)

    def request(self):
        if self.native:
            self.flag.pending = 1
        else:
            uclib_gil.uc_emu_stop(self.uc._uch)

    def clear(self):
        """Forget a request that arrived after the run it was meant for ended."""
        self.flag.pending = 0


def _ctl_code(ctl, nargs, op=unicorn.UC_CTL_IO_WRITE):
    """A uc_ctl request code (UC_CTL_WRITE(ctl, nargs) in unicorn.h)."""
    return (op << 30) | (nargs << 26) | ctl


_REMOVE_CACHE = _ctl_code(unicorn.UC_CTL_TB_REMOVE_CACHE, 2)
_SET_EXITS = _ctl_code(unicorn.UC_CTL_UC_EXITS, 2)


def remove_cache(uc, begin, end):
    """Drop translated code covering guest-virtual [begin, end) (uc_ctl
    without the binding's wrappers: about 1.5 us)."""
    uclib_gil.uc_ctl(uc._uch, _REMOVE_CACHE, ctypes.c_uint64(begin), ctypes.c_uint64(end))


class _Msr(ctypes.Structure):
    """uc_x86_msr: what uc_reg_read(UC_X86_REG_MSR) fills in."""
    _fields_ = [("rid", ctypes.c_uint32), ("value", ctypes.c_uint64)]


class MsrReader:
    """Read an MSR QEMU keeps (e.g. TSC_AUX for RDTSCP) straight through
    uc_reg_read: about 0.5 us, against several through the binding's
    msr_read."""

    def __init__(self, uc):
        self._uch = uc._uch
        self._msr = _Msr()
        self._ref = ctypes.byref(self._msr)

    def __call__(self, index):
        self._msr.rid = index
        uclib_gil.uc_reg_read(self._uch, unicorn.x86_const.UC_X86_REG_MSR, self._ref)
        return self._msr.value


def flush_tlb(uc):
    """Drop Unicorn's soft TLB after page tables or mappings changed behind it."""
    uc.ctl(unicorn.UC_CTL_TLB_FLUSH, unicorn.UC_CTL_IO_WRITE)


# ---- Unicorn's end-of-run invalidation of exit addresses ---------------------------------
# As every emu_start ends, Unicorn 2.1.4 (resume_all_vcpus) calls
# uc->uc_invalidate_tb(uc, exit - 1, 1) for every exit address, to drop the
# blocks translated to stop there: a guest page walk and a translation-block
# lookup each, 0.1-0.3 us per exit per run (a walk that fails also leaves
# its fault in QEMU's exception state, see x86/cpustate.py).  It matters
# only once an exit is removed, and the exit list's owner knows when that
# is (x86/exits.py), so hvsim points that uc_struct slot at a native
# function that does nothing (libc's abs(): it reads one integer register)
# and calls the real one itself.  What is left per run is Unicorn's walk of
# its exit tree, about 5 ns per exit.
_INVALIDATE = ctypes.PYFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t)
_NOOP = ctypes.cast(ctypes.CDLL(None).abs, ctypes.c_void_p).value
_invalidate_slot = []                  # [offset in uc_struct, or None], found once


def _text_ranges():
    """The executable mappings of the Unicorn library."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and "unicorn" in fields[5] and "x" in fields[1]:
                begin, end = (int(x, 16) for x in fields[0].split("-"))
                out.append((begin, end))
    return out


def _initialise(uc):
    """Unicorn sets up an instance (and fills uc_struct's function slots) on
    first use: any uc_ctl call does it."""
    remove_cache(uc, 0, 1)


def _find_invalidate_slot():
    """The uc_struct slot holding uc_invalidate_tb: among the fields that
    point into Unicorn's code, the one uc_ctl(remove_cache) calls with its
    range, found by pointing each at a recording callback in turn."""
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)
    _initialise(uc)
    h = uc_handle(uc)
    text = _text_ranges()
    calls = []
    probe = _INVALIDATE(lambda u, begin, n: calls.append((begin, n)))
    found = []
    for off in range(0, 0x2000, 8):
        slot = ctypes.c_uint64.from_address(h + off)
        value = slot.value
        if not any(b <= value < e for b, e in text):
            continue
        slot.value = ctypes.cast(probe, ctypes.c_void_p).value
        del calls[:]
        try:
            remove_cache(uc, 0x123000, 0x123010)
        finally:
            slot.value = value
        if calls == [(0x123000, 0x10)]:
            found.append(off)
    return found[0] if len(found) == 1 else None


def take_over_exit_invalidation(uc):
    """Stop `uc` from invalidating every exit address as each run ends; return
    invalidate(begin, end), Unicorn's own invalidation of guest-virtual
    [begin, end), to call when needed.  If the slot cannot be found, Unicorn
    keeps doing it and invalidate() goes through uc_ctl."""
    if not _invalidate_slot:
        _invalidate_slot.append(_find_invalidate_slot())
    off = _invalidate_slot[0]
    if off is None:
        return lambda begin, end: remove_cache(uc, begin, end)
    _initialise(uc)
    slot = ctypes.c_uint64.from_address(uc_handle(uc) + off)
    real = _INVALIDATE(slot.value)
    slot.value = _NOOP
    uch = uc._uch
    return lambda begin, end: real(uch, begin, end - begin)


def exit_invalidation_taken_over():
    """Whether take_over_exit_invalidation() found its slot (for the tests)."""
    return bool(_invalidate_slot) and _invalidate_slot[0] is not None


EXIT_SENTINEL = 0xDEAD000000000000     # a non-canonical address: never reached


class ExitList:
    """A set of exit addresses (uc_ctl_set_exits), sorted and packed into a
    ctypes array once.  Unicorn copies the list it is given, so loading "all
    but one" only swaps that slot for a sentinel while the call lasts.  An
    exit list is never empty: an empty set loads the sentinel alone.
    (Exits must be enabled first: uc.ctl_exits_enabled(True).)"""

    __slots__ = ("addrs", "_sorted", "_array")

    def __init__(self, addrs):
        self.addrs = frozenset(addrs)
        self._sorted = sorted(self.addrs) or [EXIT_SENTINEL]
        self._array = (ctypes.c_uint64 * len(self._sorted))(*self._sorted)

    def load(self, uc, skip=None):
        """Make these Unicorn's exits, except `skip` (if one of them)."""
        i = self._index(skip)
        if i is None:
            self._set(uc)
            return
        self._array[i] = EXIT_SENTINEL
        try:
            self._set(uc)
        finally:
            self._array[i] = self._sorted[i]

    def _index(self, addr):
        if addr is None or addr not in self.addrs:
            return None
        return bisect_left(self._sorted, addr)

    def _set(self, uc):
        st = uclib_gil.uc_ctl(uc._uch, _SET_EXITS, ctypes.cast(self._array, ctypes.c_void_p),
                          ctypes.c_size_t(len(self._array)))
        if st:
            raise UcError(st)
