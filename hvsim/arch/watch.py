"""Debugger watchpoints on a vCPU's Unicorn instance, shared by the arch
debug modules (hvsim/arch/x86/debug.py, hvsim/arch/arm64/debug.py).

A watchpoint is a Unicorn memory hook on the watched range only (installed
while the watchpoint exists, so that nothing else pays).  A hit stops the
vCPU right *after* the accessing instruction, as data breakpoints do: the
hook lowers Unicorn's instruction budget (uc_struct.emu_count) to the
instructions already counted, so the count hook stops before the next one.
Runs are therefore counted (Unicorn's native count hook, WATCH_SLICE
instructions) while watchpoints exist.
"""

import ctypes

from unicorn import UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE

from ..errors import HvsimError
from . import uc as ucx
from .gdbregs import WATCH_ACCESS, WATCH_READ, WATCH_WRITE
from .x86.vcpu import Exit

WATCH_SLICE = 1 << 62          # the instruction budget of a counted run with watchpoints
WIDEST_ACCESS = 16             # bytes (SSE, a pair of x registers): this far below may touch it
_HOOK_TYPES = {WATCH_WRITE: UC_HOOK_MEM_WRITE, WATCH_READ: UC_HOOK_MEM_READ,
               WATCH_ACCESS: UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE}


_emu_count_offs = {}


def emu_count_offset(arch, counter_off, make_uc, loop, base):
    """uc_struct.emu_count (the budget of emu_start(count=...)), which follows
    emu_counter (at counter_off) in Unicorn 2.1.4: checked once per arch on
    a scratch instance (make_uc()) running `loop`, an endless loop, at base."""
    if arch not in _emu_count_offs:
        uc = make_uc()
        uc.mem_map(base, 0x1000)
        uc.mem_write(base, loop)
        off = counter_off + 8
        for n in (4321, 77):
            uc.emu_start(base, 0, count=n)
            if ctypes.c_uint64.from_address(ucx.uc_handle(uc) + off).value != n:
                raise HvsimError("unicorn %s: uc_struct.emu_count not found" % ucx.PINNED_UNICORN)
        _emu_count_offs[arch] = off
    return _emu_count_offs[arch]


class Watchpoints:
    """The watchpoint half of an arch debug class, which calls
    _init_watchpoints() and provides `_hooks()` (the vCPU's RawHooks),
    `_hook_failed(exc)` and `set_breakpoints(addrs)`."""

    def _init_watchpoints(self, vcpu, emu_counter_off, emu_count_off):
        """vcpu: the arch vCPU (stop_exit, flush_code, uc); the offsets of
        uc_struct's instruction counter and budget."""
        self.vcpu = vcpu
        self.breakpoints = frozenset()
        self.hit = None                  # (kind, address) of the last watchpoint hit
        self._watches = {}               # (addr, length, kind) -> hook handle
        self._reported_at = None         # breakpoint address the vCPU last stopped at
        self._counted = False            # the last run was counted (Unicorn's count hook)
        h = ucx.uc_handle(vcpu.uc)
        self._emu_counter = ctypes.c_uint64.from_address(h + emu_counter_off)
        self._emu_count = ctypes.c_uint64.from_address(h + emu_count_off)
        vcpu.debug = self

    def detach(self):
        """Remove every watchpoint and breakpoint: the vCPU runs undebugged."""
        self.remove_watches()
        self.set_breakpoints(())
        self.vcpu.debug = None

    def add_watch(self, addr, length, kind):
        key = (addr, length, kind)
        if key in self._watches:
            return

        def hook(uch, access, address, size, value, ud):
            self._on_access(key, address, size)
        begin = max(0, addr - WIDEST_ACCESS + 1)
        self._watches[key] = self._hooks().add(_HOOK_TYPES[kind], ucx.CB_MEM, hook, begin,
                                               addr + length - 1)
        self.vcpu.flush_code()               # memory hooks are compiled into translated code

    def remove_watch(self, addr, length, kind):
        handle = self._watches.pop((addr, length, kind), None)
        if handle is not None:
            self._hooks().remove(handle)     # drops the translated code too

    def remove_watches(self):
        for key in list(self._watches):
            self.remove_watch(*key)

    def _count_mode(self, count):
        """Before a slice: whether Unicorn counts its instructions (X8: translated
        code counts only if it was translated while the count hook existed, so
        turning counting on drops the translated code)."""
        if count and not self._counted:
            self.vcpu.uc.ctl_flush_tb()
        self._counted = bool(count)

    def _on_access(self, key, address, size):
        try:
            addr, length, kind = key
            if address + size <= addr or address >= addr + length:
                return                       # the hook range starts below the watch
            if self.vcpu.stop_exit is not None:
                return
            self.hit = (kind, addr)
            self.vcpu.stop_exit = Exit("debug", "watch")
            # stop before the next instruction: the access completes first
            self._emu_count.value = self._emu_counter.value
        except BaseException as e:           # never raise into Unicorn
            self._hook_failed(e)
