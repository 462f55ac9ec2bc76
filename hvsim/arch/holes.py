"""Unicorn's hooks for guest-physical accesses that nothing maps (the
UC_HOOK_MEM_*_UNMAPPED hooks), installed over the holes of a vCPU's memory
map only, never over RAM.

Why: in Unicorn 2.1.4 every guest store to RAM first takes QEMU's slow path
(`notdirty_write`, about 40 ns), and `notdirty_write` marks the TLB entry
dirty, so that later stores through it take the fast path (about 1 ns), only
when the entry has no execute permission (code pages must stay write-watched
so that translated code is dropped when they change) and no memory hook
covers the page's physical address (`uc_mem_hook_installed()` in
qemu/include/exec/exec-all.h, which counts the UNMAPPED hooks).  One hook
over the whole address space, as hvsim had, made every store of every guest
a slow-path store; this measured 7.6 times faster on a store loop
(bench/run.py's compute row with a no-execute data page).  QEMU's `tlb_protect_code()` takes the dirty mark
back from every TLB entry of a page when code is translated from it, so
code written through a non-executable alias is still seen.

HoleHooks follows the memory map: mapped(start, end) and unmapped(start, end)
as RAM is mapped and unmapped (arch/mapping.py's listener), and keeps one
hook per hole, [begin, end] inclusive as Unicorn bounds them, changing only
the holes that changed.  Unicorn checks these bounds against the physical
address for every kind of unmapped access (qemu/accel/tcg/cputlb.c).
"""

ADDRESS_END = 1 << 64


class HoleHooks:
    def __init__(self, hooks, htype, callback):
        self._hooks = hooks           # arch/uc.py's RawHooks of the instance
        self._htype = htype
        self._callback = callback     # a ctypes callback (kept alive by its owner)
        self._mapped = []             # sorted, merged [start, end) ranges
        self._installed = {}          # (start, end) of a hole -> its hook's handle
        self._sync()

    def mapped(self, start, end):
        """RAM is now mapped at [start, end)."""
        ranges = []
        for s, e in self._mapped:
            if e < start or s > end:          # disjoint and not adjacent
                ranges.append((s, e))
            else:
                start, end = min(s, start), max(e, end)
        ranges.append((start, end))
        self._mapped = sorted(ranges)
        self._sync()

    def unmapped(self, start, end):
        """Nothing is mapped at [start, end) any more."""
        ranges = []
        for s, e in self._mapped:
            if s < start:
                ranges.append((s, min(e, start)))
            if e > end:
                ranges.append((max(s, end), e))
        self._mapped = ranges
        self._sync()

    def holes(self):
        """The [start, end) ranges of the address space no RAM is mapped at."""
        out, at = [], 0
        for s, e in self._mapped:
            if s > at:
                out.append((at, s))
            at = e
        if at < ADDRESS_END:
            out.append((at, ADDRESS_END))
        return out

    def _sync(self):
        want = set(self.holes())
        for hole in [h for h in self._installed if h not in want]:
            self._hooks.delete(self._installed.pop(hole))
        for start, end in sorted(want - set(self._installed)):
            self._installed[(start, end)] = self._hooks.add_callback(
                self._htype, self._callback, begin=start, end=end - 1)
