"""Cross-modifying code between the vCPUs of one domain.

Each vCPU is its own Unicorn instance with its own translated code, and a
store by one instance does not invalidate another's (X7): a vCPU would run
the code another patched (Linux's alternatives, static keys and static
calls: text_poke_bp()) as it was, for ever.  On Xen the hardware keeps the
CPUs coherent; here, in a domain with several vCPUs, the kernel's code
(KernelImage.code) is watched:

- Its pages are mapped read-only in every vCPU's Unicorn.  A guest store
  there traps (UC_HOOK_MEM_WRITE_PROT, bounded to the code; no other load or
  store pays anything, unlike a UC_HOOK_MEM_WRITE hook, which sends every
  load and store of the guest down QEMU's slow path).
- The trap discards that store and stops the vCPU (the discard needs QEMU's
  region read-only, which mem_protect() makes it and mem_map_ptr()'s
  permissions alone do not: mapped()).  Unicorn checks a stop request after
  each store and rewinds to the start of the instruction,
  exactly as for a page fault on the store, so nothing of the instruction
  is lost.  The vCPU then starts a *write episode* before it runs again: every
  other vCPU of the domain is marked to drop its translated code before it
  next runs, and this vCPU's code is mapped writable, so the instruction
  (re-run) and the rest of the episode's stores (alternatives patch
  thousands of sites in a row) go at full speed, with QEMU's own
  self-modifying-code checks for the writer's own translations.
- The episode ends when another vCPU of the domain drops its code (it is
  about to run what was written): the writer's code is read-only again
  before the writer next runs, so that its next store is seen too.
- A vCPU drops only the code of the pages that changed: it keeps a copy of
  the kernel's code as of its last check (a 14 MiB memcmp, ~3 ms, once per
  episode of another vCPU) and invalidates the translations of each changed
  page through the kernel's own mapping of it (X86Vcpu.drop_code_page);
  when it cannot (the page unmapped there, or many pages changed) it drops
  all its translated code, as retranslating costs more than comparing.

vCPUs of a domain run one at a time, so a vCPU always drops stale code
before it can execute anything another wrote.  Not watched: code outside the
kernel image (modules, BPF JIT), and stores made by QEMU helpers that do not
check for a stop after the store (fxsave/xsave images, exception frames):
none of these targets kernel text in practice."""

import unicorn

from . import uc as ucx

PAGE = 0x1000
CHUNK = 0x10000                  # the changed pages are looked for 64 KiB at a time
DROP_PAGES_MAX = 64              # more changed pages than this: drop all translated code
PROT_CODE = unicorn.UC_PROT_READ | unicorn.UC_PROT_EXEC     # watched code pages
PROT_ALL = unicorn.UC_PROT_ALL


def page_ranges(ranges):
    """[begin, end, ...) ranges widened to whole pages and merged into [begin, end)."""
    out = []
    for begin, end, *_ in sorted(ranges):
        begin, end = begin & ~(PAGE - 1), (end + PAGE - 1) & ~(PAGE - 1)
        if out and begin <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((begin, end))
    return out


class CodeWatch:
    """The code watch of one vCPU (an arch vCPU with `uc`, `hooks`,
    `physmap`, `host`, flush_code() and drop_code_page()); `ranges`: the
    kernel's code as KernelImage.code gives it, (begin, end, delta) with
    [begin, end) guest-physical and begin + delta virtual; empty in a domain
    with one vCPU."""

    def __init__(self, vcpu, ranges):
        self.vcpu = vcpu
        self.ranges = page_ranges(ranges)
        self._deltas = [(b, e, r[0] if r else None) for b, e, *r in ranges]
        self._copy = None          # the code as of the last check (one bytes per range)
        self.writable = False      # a write episode is on: the code is mapped writable
        self.expired = False       # ... and another vCPU has dropped its code since
        self.pending = False       # a trapped store: start an episode before running on
        self.stale = False         # another vCPU wrote code: drop translations before running
        self._cb = ucx.CB_MEM_INVALID(self._on_write)
        for begin, end in self.ranges:
            vcpu.hooks.add_callback(unicorn.UC_HOOK_MEM_WRITE_PROT, self._cb, begin, end - 1)

    # -- mapping --------------------------------------------------------------------------
    def pieces(self, gpa, size):
        """Split a RAM mapping [gpa, gpa+size) at the watched code: yields
        (gpa, size, is_code)."""
        end = gpa + size
        for begin, cend in self.ranges:
            if cend <= gpa or begin >= end:
                continue
            if begin > gpa:
                yield gpa, begin - gpa, False
                gpa = begin
            stop = min(cend, end)
            yield gpa, stop - gpa, True
            gpa = stop
        if gpa < end:
            yield gpa, end - gpa, False

    def mapped(self, gpa, size):
        """A piece of code was mapped with code_prot: mem_map_ptr() records
        the permissions but, unlike mem_protect(), leaves QEMU's region
        writable, so that a store the trap discards would still be done (and
        then done again when the instruction re-runs: an `incl` twice)."""
        if not self.writable:
            self.vcpu.uc.mem_protect(gpa, size, PROT_CODE)

    @property
    def code_prot(self):
        return PROT_ALL if self.writable else PROT_CODE

    def _protect(self, perms):
        uc = self.vcpu.uc
        for begin, end in self.ranges:
            try:
                uc.mem_protect(begin, end - begin, perms)
            except unicorn.UcError:          # a hole in the range (a freed page): page by page
                for page in range(begin, end, PAGE):
                    if self.vcpu.physmap.is_ram(page):
                        uc.mem_protect(page, PAGE, perms)
        ucx.flush_tlb(uc)

    # -- the trap and the episodes ---------------------------------------------------------
    def _on_write(self, uch, access, address, size, value, ud):
        """A guest store to watched code (QEMU's store helper, mid-instruction):
        discard it and stop, so the instruction is run again once the
        episode has begun.  A read-only grant mapped there stays Xen's #GP."""
        try:
            if (address >> 12) in self.vcpu.physmap.readonly:
                return False
            self.pending = True
            ucx.emu_stop(self.vcpu.uc)
            return True
        except BaseException as e:            # never raise into Unicorn
            self.vcpu.hooks.failed(e)
            return False

    def begin_episode(self):
        """Before the vCPU runs on after a trapped store: the others drop
        their code before they next run, and this vCPU's code is writable."""
        self.pending = False
        self.expired = False
        self.vcpu.host.code_written()
        if not self.writable:
            self.writable = True
            self._protect(PROT_ALL)

    def before_slice(self):
        """At the start of each slice: drop stale code, and end this vCPU's
        episode if another vCPU has dropped its code since it began."""
        if self.stale:
            self.stale = False
            self._drop_changed_code()
            self.vcpu.host.code_dropped()
        elif self._copy is None and self.ranges:
            self._copy = self._read_code()       # nothing translated yet: the reference
        if self.pending:
            self.begin_episode()
        elif self.writable and self.expired:
            self.writable = False
            self.expired = False
            self._protect(PROT_CODE)

    # -- what changed ---------------------------------------------------------------------
    def _read_code(self):
        read = self.vcpu.physmap.read
        return [read(begin, end - begin) for begin, end in self.ranges]

    def _drop_changed_code(self):
        """Drop the translations of the pages that changed since the last
        check (all of them if that cannot be done page by page)."""
        now = self._read_code()
        pages = None if self._copy is None else _changed_pages(self.ranges, self._copy, now)
        self._copy = now
        if pages is not None and len(pages) <= DROP_PAGES_MAX and \
                all(self.vcpu.drop_code_page(p, self._delta(p)) for p in pages):
            return
        self.vcpu.flush_code()

    def _delta(self, gpa):
        for begin, end, delta in self._deltas:
            if begin < gpa + PAGE and gpa < end:
                return delta
        return None


def _changed_pages(ranges, old, new):
    """The pages of `ranges` whose bytes differ between `old` and `new` (one
    bytes per range each; None where a range could not be read)."""
    pages = []
    for (begin, end), a, b in zip(ranges, old, new):
        if a is None or b is None:
            return None
        if a == b:
            continue
        for off in range(0, end - begin, CHUNK):
            if a[off:off + CHUNK] == b[off:off + CHUNK]:
                continue
            for poff in range(off, min(off + CHUNK, end - begin), PAGE):
                if a[poff:poff + PAGE] != b[poff:poff + PAGE]:
                    pages.append(begin + poff)
    return pages
