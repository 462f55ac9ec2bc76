"""The debugging hooks `--trace-insn` and `--timeline` put on a vCPU, for
every arch: an instruction trace over one address range (a code hook on that
range only) and a watch on the vCPU's boot phase (a block hook, until the
timeline has seen what it needs).  The arch vCPU provides `uc`,
`trace_hooks` (its RawHooks), `boot_phase()`, `describe_insn(address)` and
`_mode_hook` (None until watched)."""

from unicorn import UC_HOOK_BLOCK, UC_HOOK_CODE

from . import uc as ucx


class TraceHooks:
    def trace_instructions(self, start, end, fn):
        """Call fn(address, text) for every instruction executed in [start,
        end], text its disassembly in the CPU's current mode."""
        def hook(uch, address, size, ud):
            try:
                fn(address, self.describe_insn(address))
            except BaseException as e:
                self.trace_hooks.failed(e)
        self.trace_hooks.add(UC_HOOK_CODE, ucx.CB_CODE, hook, start, end)
        self.uc.ctl_flush_tb()

    def watch_mode(self, fn):
        """Call fn(phase) whenever boot_phase() changes (checked at every
        translation-block start: the instructions that switch modes, or turn
        the MMU on, end a block).  A debugging aid for boot flows;
        unwatch_mode() removes it."""
        last = [self.boot_phase()]

        def hook(uch, address, size, ud):
            try:
                phase = self.boot_phase()
                if phase != last[0]:
                    last[0] = phase
                    fn(phase)
            except BaseException as e:
                self.trace_hooks.failed(e)
        self.unwatch_mode()
        self._mode_hook = self.trace_hooks.add(UC_HOOK_BLOCK, ucx.CB_CODE, hook)
        self.uc.ctl_flush_tb()

    def unwatch_mode(self):
        handle = self._mode_hook
        if handle is not None:
            self._mode_hook = None
            self.trace_hooks.remove(handle)
