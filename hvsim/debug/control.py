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
  debug state (hvsim/arch/x86/debug.py, hvsim/arch/arm64/debug.py);
* boot phases (phases.py): the domains handed to start_domains() are
  unpaused one at a time from the scheduler's loop, so that the first stop
  sees every domain built and paused, and a stop at a phase (`phase_stops`)
  is an all-stop like a breakpoint's.  `sink` is the trace sink
  (trace.attach) that reports the phases seen in the hypervisor.

The scheduler calls before_slice() (hiding the time spent stopped from the
guests) and execute(), and VCpu.inject_pending() asks holds_interrupts(),
only while a RunControl is attached.
"""

import threading

from ..arch.arm64.debug import Arm64Debug
from ..arch.arm64.vcpu import Arm64Vcpu
from ..arch.x86.debug import X86Debug
from .phases import BUILT, FIRST_INSN, PhaseSink, PhaseStops

ANY = "any"                       # step target: whichever vCPU runs next


class StopRun(KeyboardInterrupt):
    """Raised by a front end to end the whole run (gdb's kill, the stepper's
    quit): the scheduler ends the run as it does on Ctrl-C."""


class StopEvent:
    """Why the machine stopped.  kind: 'start', 'breakpoint', 'watch', 'step',
    'interrupt', 'phase'; vcpu: the hv VCpu concerned; watch: (kind, address)
    of a watchpoint hit; phase, detail: the boot phase reached (phases.py)
    and what it was (e.g. the hypercall)."""

    def __init__(self, kind, vcpu, watch=None, phase=None, detail=""):
        self.kind = kind
        self.vcpu = vcpu
        self.watch = watch
        self.phase = phase
        self.detail = detail

    def describe(self):
        """'d2 first-hypercall: xen_version(...) = 0' for a phase stop."""
        d = self.vcpu.domain
        text = "d%d %s" % (d.domid, self.phase)
        return text + (": " + self.detail if self.detail else "")

    def __repr__(self):
        return "StopEvent(%s, %r)" % (self.kind, self.vcpu)


class RunControl:
    """Base class of debugger front ends: implement stopped(event)."""

    step_interrupts = False       # deliver pending interrupts before a step

    def __init__(self, hv):
        self.hv = hv
        self.breakpoints = set()          # addresses (software and hardware alike)
        self.watchpoints = set()          # (addr, length, kind)
        self._stops = []                  # stops to report at the next slice boundary
        self._step = None                 # None, ANY or the vCPU to step
        self._interrupted = threading.Event()
        self.attached = False
        self.phase_stops = PhaseStops()   # which boot phases stop the machine
        self.sink = PhaseSink(self.reached)
        self._reached = set()             # (domid, phase) seen
        self._to_start = []               # domains still to unpause, in order
        self._ndomains = 0
        self.bp_domain = None             # domid: breakpoints/watchpoints only in that domain
        self.hold_others = False          # while stepping a domain, the others do not run

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
        self._notice_new_domains()
        vcpus = self.vcpus()
        if stop_first and vcpus:
            self._post(StopEvent("start", vcpus[0]))

    def start_domains(self, domains):
        """Unpause `domains` in this order from the scheduler's loop, after the
        first stop (launch.start's work, done where a phase can stop it)."""
        self._to_start = list(domains)

    def detach(self):
        """Remove every breakpoint and watchpoint and let the machine run on."""
        for v in self.vcpus():
            if v.arch is not None and v.arch.debug is not None:
                v.arch.debug.detach()
        self.breakpoints.clear()
        self.watchpoints.clear()
        self._stops = []
        self._step = None
        self.attached = False
        if self.hv.scheduler.debugger is self:
            self.hv.scheduler.debugger = None
        to_start, self._to_start = self._to_start, []
        for d in to_start:
            d.unpause()

    def arch_debug(self, v):
        """The vCPU's arch debug state, created (with the machine's breakpoints
        and watchpoints) the first time a vCPU is seen."""
        dbg = v.arch.debug
        if dbg is None:
            dbg = (Arm64Debug if isinstance(v.arch, Arm64Vcpu) else X86Debug)(v.arch)
            if self._watched(v):
                dbg.set_breakpoints(self.breakpoints)
                for w in self.watchpoints:
                    dbg.add_watch(*w)
        return dbg

    def _watched(self, v):
        """Do the breakpoints and watchpoints apply to v (bp_domain)?"""
        return self.bp_domain is None or v.domain.domid == self.bp_domain

    def limit_breakpoints(self, domid):
        """Breakpoints and watchpoints in domain `domid` only (None: every
        domain): the others' vCPUs run past those addresses at full speed."""
        self.bp_domain = domid
        for v in self.vcpus():
            dbg = self.arch_debug(v)
            watched = self._watched(v)
            dbg.set_breakpoints(self.breakpoints if watched else set())
            for w in self.watchpoints:
                dbg.remove_watch(*w)
                if watched:
                    dbg.add_watch(*w)

    # -- breakpoints and watchpoints ----------------------------------------------------------
    def add_breakpoint(self, addr):
        self.breakpoints.add(addr)
        self._push_breakpoints()

    def remove_breakpoint(self, addr):
        self.breakpoints.discard(addr)
        self._push_breakpoints()

    def _push_breakpoints(self):
        for v in self.vcpus():
            if self._watched(v):
                self.arch_debug(v).set_breakpoints(self.breakpoints)

    def add_watchpoint(self, addr, length, kind):
        self.watchpoints.add((addr, length, kind))
        for v in self.vcpus():
            if self._watched(v):
                self.arch_debug(v).add_watch(addr, length, kind)

    def remove_watchpoint(self, addr, length, kind):
        self.watchpoints.discard((addr, length, kind))
        for v in self.vcpus():
            self.arch_debug(v).remove_watch(addr, length, kind)

    # -- resuming (called by the front end from stopped()) ------------------------------------
    def cont(self):
        self._step = None

    def step(self, vcpu=ANY):
        """Step one instruction of `vcpu`, of ANY vCPU, or of any vCPU of a
        domain (a Domain)."""
        self._step = vcpu

    def interrupt(self):
        """Stop the machine as soon as possible (any thread)."""
        self._interrupted.set()
        cur = self.hv.scheduler.current
        if cur is not None and cur.arch is not None:
            cur.arch.stop()

    # -- boot phases -------------------------------------------------------------------------
    def reached(self, d, phase, v=None, detail=None):
        """Domain d reached `phase` (PhaseSink, before_slice); the first time,
        and if phase_stops wants it, the machine stops (the running vCPU ends
        its slice).  detail: None or a callable giving the text to show."""
        key = (d.domid, phase)
        if key in self._reached:
            return
        self._reached.add(key)
        if not self.attached or not self.phase_stops.wants(phase, d.domid):
            return
        if v is None:
            v = d.vcpus[0] if d.vcpus and self.hv.domains.get(d.domid) is d else \
                self._interrupted_vcpu(None)
        if v is None:
            return                        # no thread to report the stop on
        self._post(StopEvent("phase", v, phase=phase, detail=detail() if detail else ""))
        cur = self.hv.scheduler.current
        if cur is not None and cur.arch is not None:
            cur.arch.stop()

    def _notice_new_domains(self):
        if len(self.hv.domains) != self._ndomains:
            self._ndomains = len(self.hv.domains)
            for d in list(self.hv.domains.values()):
                self.reached(d, BUILT)

    def _post(self, event):
        self._stops.append(event)

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
            if not self._stops:
                self._post(StopEvent("interrupt", self._interrupted_vcpu(v)))
        while self.attached:
            self._notice_new_domains()
            if self._stops:
                self.stopped(self._stops.pop(0))
                continue
            if self._to_start:
                self._to_start.pop(0).unpause()      # may reach 'unpaused'
                continue
            v = self._steer(v)
            if v is not None and (v.domain.domid, FIRST_INSN) not in self._reached:
                self.reached(v.domain, FIRST_INSN, v)
                if self._stops:
                    continue
            break
        return v

    def _steer(self, v):
        """The vCPU to run: the one being stepped if it can run, else the
        scheduler's pick (made again if the stop changed what can run)."""
        sched = self.hv.scheduler
        if v is None or not v.runnable:
            v = sched._pick(sched._vcpus())
        target = self._step
        if target is None or target is ANY:
            return v
        domain = getattr(target, "domain", target)        # a vCPU or a Domain
        if target is domain:
            mine = [u for u in domain.vcpus if u.runnable]
            if mine:
                return v if v in mine else mine[0]
        elif target.runnable:
            return target
        if domain.finished:
            self._step = None
        elif self.hold_others:
            return None                   # the others stay stopped; time moves on
        return v

    def _interrupted_vcpu(self, picked):
        sched = self.hv.scheduler
        for v in (sched.last, picked):
            if v is not None:
                return v
        vcpus = self.vcpus()
        return vcpus[0] if vcpus else None

    def stepping(self, v):
        t = self._step
        return t is ANY or (t is not None and (t is v or t is v.domain))

    def holds_interrupts(self, v):
        """True: do not inject interrupts before this slice (a held step)."""
        return self.stepping(v) and not self.step_interrupts

    def execute(self, v, count):
        """Run one slice of v (one instruction if v is being stepped)."""
        dbg = self.arch_debug(v)
        if self.stepping(v):
            self._step = None
            exit_ = dbg.step()
            if not self._stops:           # a phase reached during the step says it all
                self._post(self._event(v, exit_, dbg) or StopEvent("step", v))
            return exit_
        exit_ = dbg.run(count)
        if exit_.kind == "debug" and not self._stops:
            self._post(self._event(v, exit_, dbg))
        return exit_

    @staticmethod
    def _event(v, exit_, dbg):
        if exit_.kind != "debug":
            return None
        if exit_.reason == "watch":
            return StopEvent("watch", v, dbg.hit)
        return StopEvent("breakpoint", v)
