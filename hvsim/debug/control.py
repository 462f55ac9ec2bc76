"""Run control for debuggers: the scheduler hook behind the gdb stub
(gdbstub.py) and `hvsim step` (step.py).

Owns what "stopped", "continue" and "step" mean for a whole machine, in
all-stop mode:
* stopped: no vCPU runs; the front end's `stopped(event)` is called on the
  scheduler's thread between two slices and returns once it has chosen how
  to resume (`cont()` or `step(vcpu)`).  Host time spent stopped is hidden
  from the guests (virtual clock) and from `--timeout`;
* continue: the scheduler runs as usual until a breakpoint, a watchpoint,
  or `interrupt()` (from any thread, e.g. Ctrl-C from gdb) stops it;
* step: only the stepped vCPU runs, for exactly one instruction (if it is
  blocked, the others run until it wakes).  Interrupts are held during a
  step unless the front end asks for them (`step_interrupts`), as QEMU's
  gdb stub does by default;
* the machine's breakpoints and watchpoints, pushed to every vCPU's arch
  debug state (hvsim/arch/x86/debug.py).

The scheduler calls before_slice() (hiding the time spent stopped from the
guests) and execute(), and VCpu.inject_pending() asks holds_interrupts(),
only while a RunControl is attached.
"""

import threading

from ..arch.x86.debug import X86Debug

ANY = "any"                       # step target: whichever vCPU runs next


class StopRun(KeyboardInterrupt):
    """Raised by a front end to end the whole run (gdb's kill, the stepper's
    quit): the scheduler ends the run as it does on Ctrl-C."""


class StopEvent:
    """Why the machine stopped.  kind: 'start', 'breakpoint', 'watch', 'step',
    'interrupt'; vcpu: the hv VCpu concerned; watch: (kind, address) of a
    watchpoint hit."""

    def __init__(self, kind, vcpu, watch=None):
        self.kind = kind
        self.vcpu = vcpu
        self.watch = watch

    def __repr__(self):
        return "StopEvent(%s, %r)" % (self.kind, self.vcpu)


class RunControl:
    """Base class of debugger front ends: implement stopped(event)."""

    step_interrupts = False       # deliver pending interrupts before a step

    def __init__(self, hv):
        self.hv = hv
        self.breakpoints = set()          # addresses (software and hardware alike)
        self.watchpoints = set()          # (addr, length, kind)
        self.event = None                 # the stop to report at the next slice boundary
        self._step = None                 # None, ANY or the vCPU to step
        self._interrupted = threading.Event()
        self.attached = False

    # -- wiring -----------------------------------------------------------------------------
    def vcpus(self):
        return [v for d in self.hv.domains.values() for v in d.vcpus]

    def attach(self, stop_first=True):
        """Take control of the scheduler; with stop_first, the machine is
        stopped before its first instruction."""
        for v in self.vcpus():
            self.arch_debug(v)
        self.hv.scheduler.debugger = self
        self.attached = True
        vcpus = self.vcpus()
        if stop_first and vcpus:
            self.event = StopEvent("start", vcpus[0])

    def detach(self):
        """Remove every breakpoint and watchpoint and let the machine run on."""
        for v in self.vcpus():
            if v.arch is not None and v.arch.debug is not None:
                v.arch.debug.detach()
        self.breakpoints.clear()
        self.watchpoints.clear()
        self.event = None
        self._step = None
        self.attached = False
        if self.hv.scheduler.debugger is self:
            self.hv.scheduler.debugger = None

    def arch_debug(self, v):
        """The vCPU's arch debug state, created (with the machine's breakpoints
        and watchpoints) the first time a vCPU is seen."""
        dbg = v.arch.debug
        if dbg is None:
            dbg = X86Debug(v.arch)
            dbg.set_breakpoints(self.breakpoints)
            for w in self.watchpoints:
                dbg.add_watch(*w)
        return dbg

    # -- breakpoints and watchpoints ----------------------------------------------------------
    def add_breakpoint(self, addr):
        self.breakpoints.add(addr)
        self._push_breakpoints()

    def remove_breakpoint(self, addr):
        self.breakpoints.discard(addr)
        self._push_breakpoints()

    def _push_breakpoints(self):
        for v in self.vcpus():
            self.arch_debug(v).set_breakpoints(self.breakpoints)

    def add_watchpoint(self, addr, length, kind):
        self.watchpoints.add((addr, length, kind))
        for v in self.vcpus():
            self.arch_debug(v).add_watch(addr, length, kind)

    def remove_watchpoint(self, addr, length, kind):
        self.watchpoints.discard((addr, length, kind))
        for v in self.vcpus():
            self.arch_debug(v).remove_watch(addr, length, kind)

    # -- resuming (called by the front end from stopped()) ------------------------------------
    def cont(self):
        self._step = None

    def step(self, vcpu=ANY):
        self._step = vcpu

    def interrupt(self):
        """Stop the machine as soon as possible (any thread)."""
        self._interrupted.set()
        cur = self.hv.scheduler.current
        if cur is not None and cur.arch is not None:
            cur.arch.stop()

    # -- the front end ----------------------------------------------------------------------
    def stopped(self, event):
        """Every vCPU is stopped: report `event`, return after cont()/step()."""
        raise NotImplementedError

    # -- scheduler protocol -----------------------------------------------------------------
    def before_slice(self, v):
        """Called before each slice with the vCPU the scheduler picked (or
        None): report pending stops, then return the vCPU to run."""
        if self._interrupted.is_set():
            self._interrupted.clear()
            if self.event is None:
                self.event = StopEvent("interrupt", self._interrupted_vcpu(v))
        while self.event is not None and self.attached:
            event, self.event = self.event, None
            self.stopped(event)
        target = self._step
        if target is None or target is ANY:
            return v
        if target.runnable:
            return target
        if target.domain.finished:
            self._step = None
        return v

    def _interrupted_vcpu(self, picked):
        sched = self.hv.scheduler
        for v in (sched.last, picked):
            if v is not None:
                return v
        vcpus = self.vcpus()
        return vcpus[0] if vcpus else None

    def stepping(self, v):
        return self._step is ANY or (self._step is not None and self._step is v)

    def holds_interrupts(self, v):
        """True: do not inject interrupts before this slice (a held step)."""
        return self.stepping(v) and not self.step_interrupts

    def execute(self, v, count):
        """Run one slice of v (one instruction if v is being stepped)."""
        dbg = self.arch_debug(v)
        if self.stepping(v):
            self._step = None
            exit_ = dbg.step()
            self.event = self._event(v, exit_, dbg) or StopEvent("step", v)
            return exit_
        exit_ = dbg.run(count)
        if exit_.kind == "debug":
            self.event = self._event(v, exit_, dbg)
        return exit_

    @staticmethod
    def _event(v, exit_, dbg):
        if exit_.kind != "debug":
            return None
        if exit_.reason == "watch":
            return StopEvent("watch", v, dbg.hit)
        return StopEvent("breakpoint", v)
