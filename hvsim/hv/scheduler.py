"""The run loop: round-robin scheduling of every vCPU of every domain on
one virtual clock (Xen's scheduler, reduced to what an emulator needs).

Each vCPU runs a slice in Unicorn until it blocks, halts, yields, ends its
domain, or uses its budget: host time in fast mode (a ticker thread stops
the running vCPU every TICK_MS), an instruction count in deterministic
mode (cut short to stop at the next timer deadline).  A vCPU that is blocked or halted costs nothing; when no vCPU can run
the clock jumps to the next timer deadline, and when there is none the run
ends, reporting the domains that can never make progress.  Pending
event-channel upcalls are injected at slice start, when the guest can take
an interrupt.
"""

import threading
import time

from ..abi.vcpu import (RUNSTATE_blocked, RUNSTATE_offline, RUNSTATE_runnable,
                        RUNSTATE_running)
from . import time as vtime

TICK_MS = 1                            # fast mode: preemption and timer granularity
DETERMINISTIC_SLICE = 200_000          # instructions per slice
MIN_DETERMINISTIC_SLICE = 1_000


class RunResult:
    def __init__(self, reason):
        self.reason = reason            # "done", "timeout", "stalled", "interrupted"


class _Ticker(threading.Thread):
    """Stops the running vCPU every TICK_MS of host time (fast mode), so that
    timers fire and other vCPUs get their turn."""

    def __init__(self, scheduler):
        super().__init__(name="hvsim-ticker", daemon=True)
        self.scheduler = scheduler
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(TICK_MS / 1000.0):
            cur = self.scheduler.current
            if cur is not None and cur.arch is not None:
                cur.arch.stop()


class Scheduler:
    def __init__(self, hv):
        self.hv = hv
        self.current = None
        self.last = None                 # the vCPU that ran last (context switches)
        self._rr = 0
        self.timers = []                 # Timer objects (hv/timer.py), any order
        self.on_slice = None             # debug hook: callable(vcpu, exit)

    # -- vCPU state changes ------------------------------------------------------------------
    def vcpu_woken(self, v):
        """A vCPU became runnable (nothing to do: it is picked up next round)."""

    def wake_domain(self, d):
        pass

    # -- timers ------------------------------------------------------------------------------
    def add_timer(self, timer):
        if timer not in self.timers:
            self.timers.append(timer)

    def remove_timer(self, timer):
        if timer in self.timers:
            self.timers.remove(timer)

    def _fire_timers(self):
        now = self.hv.clock.now()
        due = sorted((t for t in self.timers if t.deadline <= now), key=lambda t: t.deadline)
        for t in due:
            self.timers.remove(t)
            t.fire()

    def _next_deadline(self):
        live = [t.deadline for t in self.timers if not t.owner_finished()]
        return min(live) if live else None

    # -- main loop ---------------------------------------------------------------------------
    def _vcpus(self):
        return [v for d in self.hv.domains.values() for v in d.vcpus]

    def _pick(self, vcpus):
        n = len(vcpus)
        for i in range(n):
            v = vcpus[(self._rr + i) % n]
            if v.runnable:
                self._rr = (self._rr + i + 1) % n
                return v
        return None

    def run(self, timeout=None):
        """Run every domain until all have ended.  `timeout`: host seconds."""
        hv = self.hv
        deadline = time.monotonic() + timeout if timeout else None
        ticker = None
        if not hv.clock.deterministic:
            ticker = _Ticker(self)
            ticker.start()
        try:
            while True:
                if all(d.finished for d in hv.domains.values()):
                    return RunResult("done")
                if deadline is not None and time.monotonic() >= deadline:
                    return RunResult("timeout")
                self._fire_timers()
                v = self._pick(self._vcpus())
                if v is None:
                    nxt = self._next_deadline()
                    if nxt is None:
                        return RunResult("stalled")
                    hv.clock.skip_to(nxt)
                    continue
                self._run_slice(v)
        except KeyboardInterrupt:
            return RunResult("interrupted")
        finally:
            self.current = None
            if ticker is not None:
                ticker.done.set()

    def _switch_to(self, v):
        last = self.last
        if last is not v:
            if last is not None:
                last.switched_out()
            v.switched_in()
            self.last = v

    def _inject(self, v):
        """Pending NMI first (not blocked by IF), then the event-channel upcall."""
        arch = v.arch
        if v.nmi_pending:
            v.nmi_pending = False
            arch.inject_nmi()
            return
        vector = v.interrupt_vector()
        if vector is not None and arch.inject_interrupt(vector):
            v.interrupt_delivered(vector)
            if self.hv.tracer is not None:
                self.hv.tracer.upcall(v, vector)

    def _run_slice(self, v):
        hv = self.hv
        arch = v.arch
        self._switch_to(v)
        v.set_runstate(RUNSTATE_running)
        self._inject(v)
        self.current = v
        clock = hv.clock
        start_ns = clock.now()
        if clock.deterministic:
            budget = DETERMINISTIC_SLICE
            nxt = self._next_deadline()
            if nxt is not None:
                left = (nxt - clock.now()) // vtime.NS_PER_INSN
                budget = max(MIN_DETERMINISTIC_SLICE, min(budget, left))
            clock.slice_started(arch)
            exit_ = arch.run(count=budget)
            done = arch.slice_insns
            clock.slice_ended(done)
            v.insns += done
        else:
            exit_ = arch.run()
        self.current = None
        if hv.tracer is not None:
            hv.tracer.slice(v, start_ns, clock.now(), exit_)
        self._handle_exit(v, exit_)
        v.set_runstate(RUNSTATE_blocked if v.blocked else
                       RUNSTATE_runnable if v.online else RUNSTATE_offline)
        if self.on_slice is not None:
            self.on_slice(v, exit_)

    def _handle_exit(self, v, exit_):
        kind = exit_.kind
        if kind == "halted":
            v.hlt()
        elif kind == "crashed":
            v.domain.crash(v.crash_report(exit_))
        # 'slice' and 'stopped' (block/yield/shutdown): state was already updated

