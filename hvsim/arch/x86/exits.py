"""Exit sites: the guest addresses where Unicorn must stop for hvsim.

Unicorn has no RDMSR/WRMSR hook and silently ignores unknown MSRs, it
runs SYSRET natively with AMD semantics, and QEMU 5 loads any value into
CR4 (no #GP for reserved bits or absent features), so hvsim scans the
guest's executable segments for their opcode bytes (0f 32, 0f 30, [REX.W]
0f 07, [REX] 0f 22 with ModRM.reg 4) and
registers an *exit* at each one: Unicorn stops before executing an
instruction that starts at an exit address (one lookup per translated
instruction, nothing at run time).  A position only stops the guest if an
instruction really starts there, and then it is rdmsr/wrmsr/sysret, so false
positives cost nothing.  Sites are registered at both the segment's virtual
and physical address, because a kernel runs its early code at the physical
address before it enables paging.

A debugger's breakpoints are exits too (debug.py).  (The interrupt window
needs no exits: QEMU reports it itself, see cpustate.WINDOW_VECTOR.)

What exits cost: Unicorn looks every translated instruction up in its exit
tree, and walks the tree as every run ends (about 5 ns per exit; the page
walk and block lookup it would also do per exit there are taken over, see
uc.take_over_exit_invalidation).

`ExitSites` owns one vCPU's exits: which are loaded into Unicorn, dropping
the translations that must see a newly added one, and what runs when the
guest stops at one (the MSR model, SYSRET, stepping over a site that turned
out to be something else).  Xen has no counterpart: a VMX/SVM CPU exits on
these instructions by itself.

Not covered (documented limitation): these instructions in code created at
run time, and prefixed rdmsr/wrmsr encodings; Unicorn then handles them.
"""

from .. import uc as ucx
from . import syscall
from .paging import ACCESS_READ, BadPhysical, PageFault

DROP_CODE_ONE_BY_ONE = 512             # more new exits than this: flush all translations
EXIT_LISTS_KEPT = 4                    # exit lists cached (one per breakpoint set)

MOV_TO_CR = b"\x0f\x22"               # with ModRM.reg 4: mov to CR4
WRMSR = b"\x0f\x30"
RDMSR = b"\x0f\x32"
SYSRET = b"\x0f\x07"


# ---- finding the sites in a kernel image ----------------------------------------------------
def _find_all(data, pat):
    """Every offset where `pat` (bytes, or one byte value) occurs in `data`."""
    i = data.find(pat)
    while i >= 0:
        yield i
        i = data.find(pat, i + 1)


def find_sites(data):
    """Offsets where rdmsr, wrmsr or sysret may start in `data` (a REX
    prefix before 0f 07 makes the REX byte the instruction start)."""
    out = set()
    for pat in (WRMSR, RDMSR, SYSRET):
        for i in _find_all(data, pat):
            out.add(i)
            if pat == SYSRET and i and 0x40 <= data[i - 1] <= 0x4F:
                out.add(i - 1)
    for i in _find_all(data, MOV_TO_CR):
        if i + 2 < len(data) and data[i + 2] & 0x38 == 0x20:
            out.add(i)
            if i and 0x40 <= data[i - 1] <= 0x4F:
                out.add(i - 1)
    return sorted(out)


def exit_addresses(segments):
    """segments: iterable of (vaddr, paddr, data, executable)."""
    addrs = set()
    for vaddr, paddr, data, executable in segments:
        if not executable:
            continue
        for off in find_sites(data):
            addrs.add(vaddr + off)
            addrs.add(paddr + off)
    return sorted(addrs)


# ---- one vCPU's exits -----------------------------------------------------------------------
class ExitSites:
    """The exits of one X86Vcpu (`vcpu.exits`)."""

    _ENGINE = ("_lists", "_diffs", "_loaded")    # Unicorn-side caches, not in snapshots

    def __init__(self, vcpu, sites=()):
        self.vcpu = vcpu
        self.sites = frozenset(sites)
        self.engine_started()

    def engine_started(self):
        """A new Unicorn instance: nothing loaded yet, nothing cached."""
        self._lists = {}               # breakpoints -> ucx.ExitList
        self._diffs = {}               # (from, to) ExitList -> addresses only `to` has
        self._loaded = (None, None)    # what Unicorn has: (ExitList, the one left out)

    def __getstate__(self):
        state = dict(self.__dict__)
        for name in self._ENGINE:
            del state[name]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.engine_started()

    def set_sites(self, addrs):
        self.sites = frozenset(addrs)
        self._lists.clear()
        self._diffs.clear()
        self.load()

    # -- what Unicorn has ---------------------------------------------------------------------
    def load(self, skip=None):
        """Exit at every exit site and debugger breakpoint, except `skip`.

        Unicorn decides where a translated block ends when it translates it:
        so a newly added exit needs the translations holding it dropped, and
        a removed one the blocks translated to stop there (the block ending
        at it and the one starting there).  Translations at `skip` are
        dropped too, so that a counted run stepping through it counts (X8).
        The exit list is only handed to Unicorn when it changed."""
        exits = self._exit_list()
        skip_slot = skip if skip in exits.addrs else None
        stale, removed = self._changes(exits)
        if skip is not None:
            stale = stale | {skip}
        if self._loaded != (exits, skip_slot):
            exits.load(self.vcpu.uc, skip_slot)
            self._loaded = (exits, skip_slot)
        self._drop_code(stale, 0, 1)
        self._drop_code(removed, -1, 1)

    def _exit_list(self):
        """The wanted exits, from a small cache (the sets come and go with the
        debugger's breakpoints)."""
        debug = self.vcpu.debug
        bps = debug.breakpoints if debug is not None else frozenset()
        exits = self._lists.get(bps)
        if exits is None:
            if len(self._lists) >= EXIT_LISTS_KEPT:
                self._lists.clear()
                self._diffs.clear()
            exits = self._lists[bps] = ucx.ExitList(self.sites | bps)
        return exits

    def _changes(self, exits):
        """(added, removed): the addresses of `exits` that Unicorn does not
        have now, and those it has that `exits` does not."""
        loaded, left_out = self._loaded
        if loaded is None:
            return exits.addrs, frozenset()
        if loaded is exits:
            added = removed = frozenset()
        else:
            diff = self._diffs.get((loaded, exits))
            if diff is None:
                diff = self._diffs[(loaded, exits)] = (exits.addrs - loaded.addrs,
                                                       loaded.addrs - exits.addrs)
            added, removed = diff
        if left_out is not None and left_out in exits.addrs:
            added = added | {left_out}
        return added, removed

    def _drop_code(self, addrs, before, after):
        """Drop the translated blocks holding [addr + before, addr + after)
        for each address (a handful: one by one; many: all of them)."""
        if not addrs:
            return
        v = self.vcpu
        if len(addrs) > DROP_CODE_ONE_BY_ONE:
            v.uc.ctl_flush_tb()
            return
        st = v.st
        saved = st.exception_state()    # Unicorn's lookup may leave a #PF behind
        for addr in addrs:
            v.invalidate_code(addr + before, addr + after)
        st.restore_exception_state(saved)

    # -- the guest stopped at an exit -------------------------------------------------------
    def at_exit(self):
        """The guest stopped at an exit address: emulate what is there.  True
        if handled (False: not an exit of ours, e.g. a hlt)."""
        v = self.vcpu
        st = v.st
        rip = v.linear_rip()
        if v.debug is not None and v.debug.at_exit(rip):
            return True                        # a breakpoint: reported or stepped over
        if rip not in self.sites:
            return False
        try:
            insn = v.walker.read(rip, 3, ACCESS_READ, st.cpl == 3)
        except (PageFault, BadPhysical):
            return False
        if insn[:2] in (WRMSR, RDMSR):
            v.emulate_msr(insn[:2] == WRMSR)
            v.retire_emulated()
        elif insn[:2] == SYSRET:
            syscall.do_sysret(v, rex_w=False)
            v.retire_emulated()
        elif 0x40 <= insn[0] <= 0x4F and insn[1:3] == SYSRET and st.code64:
            syscall.do_sysret(v, rex_w=bool(insn[0] & 8))
            v.retire_emulated()
        elif insn[:2] == MOV_TO_CR and insn[2] & 0x38 == 0x20:
            v.emulate_write_cr4(0, insn[2])
            v.retire_emulated()
        elif 0x40 <= insn[0] <= 0x4F and insn[1:3] == MOV_TO_CR and st.code64:
            try:
                modrm = v.walker.read(rip + 3, 1, ACCESS_READ, st.cpl == 3)[0]
            except (PageFault, BadPhysical):
                modrm = 0
            if modrm & 0x38 == 0x20:
                v.emulate_write_cr4(insn[0], modrm)
                v.retire_emulated()
            else:
                self.step_over(rip)
        else:
            self.step_over(rip)                # e.g. `dec %eax` in 32-bit code
        return True

    def step_over(self, rip):
        """Execute the instruction at an exit address natively.  What ended
        the step, if anything did, becomes the slice's exit."""
        v = self.vcpu
        self.load(skip=rip)
        exit_ = v.emulate_once(v.st.rip, 0, 1)
        self.load()
        if v.stop_exit is None:
            v.stop_exit = exit_
