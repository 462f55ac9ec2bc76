"""The run loop: round-robin scheduling of every vCPU of every domain on
one virtual clock (Xen's scheduler, reduced to what an emulator needs).

Each vCPU runs a slice in Unicorn until it blocks, halts, yields, ends its
domain, or uses its budget: host time in fast mode (a ticker thread ends
the running vCPU's slice every TICK_MS, at its next hypercall, port access
or TSC read if it makes one soon), an instruction count in deterministic
mode (cut short to stop at the next timer deadline).  A vCPU that is blocked or halted costs nothing; when no vCPU can run
the clock jumps to the next timer deadline, and when there is none the run
ends, reporting the domains that can never make progress.  While a
terminal is attached to a domain's console, an idle run with no timer
waits for input instead, and once the user has typed, fast mode waits in
real time up to the next timer rather than jumping.  Pending
event-channel upcalls are injected at slice start, when the guest can take
an interrupt; a hypercall that makes one deliverable to its own vCPU, or
arms an already expired timer, ends the slice so that it takes effect
before the guest's next instruction.  A vCPU that stops being runnable
loses its pCPU: its periodic timer stops until it is switched in again.
"""

import signal
import sys
import threading
import time

from ..abi.vcpu import (RUNSTATE_blocked, RUNSTATE_offline, RUNSTATE_runnable,
                        RUNSTATE_running)
from ..snapshot import state as snapstate
from . import time as vtime

TICK_MS = 1                            # fast mode: timer granularity
TIMESLICE_TICKS = 5                    # fast mode: a vCPU's slice while others wait
MAX_SLICE_TICKS = 50                   # fast mode: back to the run loop at least this often
                                       # (--timeout, Ctrl-C)
PREEMPT_GRACE_TICKS = 4                # ticks a vCPU may take to reach a preemption point
DETERMINISTIC_SLICE = 200_000          # instructions per slice
MIN_DETERMINISTIC_SLICE = 1_000
IDLE_INPUT_WAIT = 0.05                 # s: idle, waiting for typed input (then the
                                       # timeout and Ctrl-C are checked again)


class RunResult:
    def __init__(self, reason):
        self.reason = reason            # "done", "timeout", "stalled", "interrupted", "snapshot"


class _Ticker(threading.Thread):
    """Fast mode: every TICK_MS of host time, ends the running vCPU's slice
    if a timer has expired, if it has run TIMESLICE_TICKS while another vCPU
    waits, or after MAX_SLICE_TICKS in any case.  (Ending slices that need not
    end is expensive: a vCPU woken by an event would then often find the
    other one preempted with interrupts disabled.)

    It asks first: the vCPU stops at its next hypercall, port access, TSC
    read or CPUID (VCpu.preempt_point()), from inside that hook.  Only a vCPU
    that makes none for PREEMPT_GRACE_TICKS is stopped asynchronously, which
    the arch's stop() does without uc_emu_stop() when called from another
    thread (x86: at the next translated block's start, arch/uc.BlockStop):
    a uc_emu_stop() from this thread could land in the middle of an
    instruction and make Unicorn run it again (a lost or doubled update of
    guest memory), and Unicorn (helper_rdtsc, helper_cpuid, ...) stops
    walking its instruction-hook list once a stop is requested, so a stop
    landing just before such an instruction would skip hvsim's hook."""

    def __init__(self, scheduler):
        super().__init__(name="hvsim-ticker", daemon=True)
        self.scheduler = scheduler
        self.done = threading.Event()

    def run(self):
        sched = self.scheduler
        serial, ticks, asked = None, 0, None
        while not self.done.wait(TICK_MS / 1000.0):
            cur = sched.current
            if cur is None or cur.arch is None:
                continue
            if serial != sched.slice_serial:
                serial, ticks, asked = sched.slice_serial, 0, None
            ticks += 1
            if asked is not None:
                if ticks - asked >= PREEMPT_GRACE_TICKS:
                    cur.arch.stop()
            elif ticks >= MAX_SLICE_TICKS or sched.timer_due() or \
                    (ticks >= TIMESLICE_TICKS and sched.others_runnable(cur)):
                asked = ticks
                sched.slice_expired = True
                sched.preempt_requested = True


class Scheduler:
    def __init__(self, hv):
        self.hv = hv
        self.current = None
        self.last = None                 # the vCPU that ran last (context switches)
        self._rr = 0
        self.timers = []                 # Timer objects (hv/timer.py), any order
        self.first_deadline = None       # the earliest armed deadline (None: no timer)
        self.slice_end_ns = None         # deterministic: when the running slice's time is up
        self.slice_serial = 0            # fast mode: slices started, and whether the
        self.preempt_requested = False   # ticker wants the current one to end
        self.slice_expired = False       # fast mode: the ticker ended the slice
        self.carry = None                # (vCPU, budget left): a slice that ended early
                                         # for the hypervisor goes on (_carry_on)
        self.debugger = None             # hvsim/debug/control.py RunControl: stops, steps
        self.stop_when = None            # callable() -> True: end the run at this slice
                                         # boundary (snapshots, hvsim/snapshot/)
        self.input = None                # the terminal attached to a console (poll() at
                                         # slice boundaries, wait(s) when idle, attached,
                                         # typed; hvsim/toolstack/console_client.py)
        self.interrupted = False         # Ctrl-C: end the run at the next slice boundary

    def __getstate__(self):              # snapshots: hooks belong to the host session
        return snapstate.transient(self, debugger=None, stop_when=None, input=None,
                                   interrupted=False)

    # -- vCPU state changes ------------------------------------------------------------------
    def vcpu_woken(self, v):
        """A vCPU became runnable (nothing to do: it is picked up next round)."""

    def wake_domain(self, d):
        pass

    # -- timers ------------------------------------------------------------------------------
    def add_timer(self, timer):
        if timer not in self.timers:
            self.timers.append(timer)
        self._timers_changed()
        if self.current is not None and timer.deadline <= self.hv.clock.now():
            # Already expired (e.g. set_timer_op in the past): Xen runs it from
            # TIMER_SOFTIRQ before returning to the guest, so end the slice
            # and fire it before the vCPU's next instruction.
            self.current.end_slice()

    def remove_timer(self, timer):
        if timer in self.timers:
            self.timers.remove(timer)
            self._timers_changed()

    def _timers_changed(self):
        self.first_deadline = min((t.deadline for t in self.timers), default=None)

    def _fire_timers(self):
        now = self.hv.clock.now()
        if self.first_deadline is None or now < self.first_deadline:
            return
        due = sorted((t for t in self.timers if t.deadline <= now), key=lambda t: t.deadline)
        for t in due:
            self.timers.remove(t)
            self._timers_changed()
            try:
                t.fire()
            except Exception as e:          # noqa: BLE001 - an hvsim bug: its domain crashes
                self.hv.internal_error(_timer_owner(t), e, "a timer (%s)" % _qualname(t.fn))

    def _next_deadline(self):
        live = [t.deadline for t in self.timers if not t.owner_finished()]
        return min(live) if live else None

    # -- main loop ---------------------------------------------------------------------------
    def timer_due(self):
        """Fast mode (the ticker): has an armed timer expired?"""
        due = self.first_deadline
        return due is not None and self.hv.clock.now() >= due

    def others_runnable(self, cur):
        """Fast mode (the ticker): is any vCPU but `cur` waiting to run?"""
        return any(v.runnable for v in self._vcpus() if v is not cur)

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
            # The vCPU thread takes the GIL back at every hook it runs; let the
            # ticker have it within a tick rather than Python's default 5 ms.
            switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(switch_interval, TICK_MS / 4000.0))
            ticker.start()
        self.interrupted = False
        old_sigint = self._catch_sigint()
        try:
            while True:
                if self.interrupted:
                    return RunResult("interrupted")
                if all(d.finished for d in hv.domains.values()):
                    return RunResult("done")
                if self.stop_when is not None and self.stop_when():
                    return RunResult("snapshot")
                if deadline is not None and time.monotonic() >= deadline:
                    return RunResult("timeout")
                self._fire_timers()
                if self.input is not None:
                    self.input.poll()
                v = self._carried() or self._pick(self._vcpus())
                if self.debugger is not None:
                    held = time.monotonic_ns()
                    v = self.debugger.before_slice(v)     # may hold every vCPU stopped
                    held = time.monotonic_ns() - held
                    hv.clock.exclude_host_time(held)      # hidden from the guests
                    if deadline is not None:
                        deadline += held / 1e9            # and from --timeout
                if v is None:
                    nxt = self._next_deadline()
                    if self._wait_for_input(nxt):
                        continue
                    if nxt is None:
                        return RunResult("stalled")
                    hv.clock.skip_to(nxt)
                    continue
                self._run_slice_guarded(v)
        except KeyboardInterrupt:
            return RunResult("interrupted")
        finally:
            self.current = None
            if old_sigint is not None:
                signal.signal(signal.SIGINT, old_sigint)
            if ticker is not None:
                ticker.done.set()
                sys.setswitchinterval(switch_interval)

    def _catch_sigint(self):
        """Ctrl-C during the run goes to _on_sigint (only in the main thread,
        and only where nobody else has taken SIGINT); the handler it
        replaces, for run()'s end."""
        if threading.current_thread() is not threading.main_thread() or \
                signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return None
        return signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum, frame):
        """Ctrl-C.  Python runs this between two bytecodes of the main thread:
        while a vCPU runs that is inside one of its Unicorn hooks, where a
        KeyboardInterrupt would be swallowed by ctypes (and leave the
        hypervisor's state half-updated), so the running vCPU is asked to
        end its slice instead and run() returns "interrupted" at the slice
        boundary.  Outside a slice (between slices, waiting for gdb or for
        typed input) it is an ordinary KeyboardInterrupt, which run() turns
        into the same result.  Nothing is added to the hot path: a guest
        that makes no hook call is stopped by the ticker (fast mode) or its
        instruction budget (deterministic mode) within a slice."""
        self.interrupted = True
        cur = self.current
        if cur is None:
            raise KeyboardInterrupt
        if cur.arch is not None:
            cur.arch.stop()

    def _wait_for_input(self, deadline):
        """Every vCPU is idle and a terminal is attached: wait for what is
        typed (it may wake a vCPU): indefinitely when no timer is armed,
        and, once the user has typed something, in real time up to the
        next timer in fast mode (an interactive session keeps the wall
        clock's pace).  False: not waiting (the clock jumps to the deadline
        as in any run)."""
        inp = self.input
        if inp is None or not inp.attached:
            return False
        if deadline is None:
            inp.wait(IDLE_INPUT_WAIT)
            return True
        if self.hv.clock.deterministic or not inp.typed:
            return False
        left = (deadline - self.hv.clock.now()) / 1e9
        if left > 0:
            inp.wait(min(left, IDLE_INPUT_WAIT))
        return True

    def _switch_to(self, v):
        last = self.last
        if last is not v:
            if last is not None:
                last.switched_out()
            v.switched_in()
            self.last = v

    def _run_slice_guarded(self, v):
        """_run_slice(v); a Python exception outside the vCPU's hooks (they
        catch their own: _handle_exit) crashes v's domain only."""
        try:
            self._run_slice(v)
        except Exception as e:              # noqa: BLE001 - an hvsim bug: v's domain crashes
            self.current = self.carry = None
            self.hv.clock.slice_abandoned()
            self.hv.internal_error(v, e, "scheduling %r" % v)

    def _carried(self):
        """The vCPU whose slice goes on (see _carry_on), if it still can run."""
        carry = self.carry
        if carry is not None and not carry[0].runnable:
            self.carry = carry = None
        return carry[0] if carry is not None else None

    def _carry_on(self, v, exit_, budget, done):
        """A slice the hypervisor ended early (an upcall to inject, a timer
        to fire: VCpu.end_slice) goes on after it, as on Xen, where an event
        or a timer softirq costs the running vCPU nothing of its time slice:
        without this, a domain that takes events often would hand the rest
        of each slice to its neighbours (a CPU hog would get more than its
        share).  A slice that used its budget (deterministic mode) or that
        the ticker ended (fast mode), and a vCPU that blocked, yielded or
        halted, end as before (round robin)."""
        self.carry = None
        if exit_.kind != "slice" or not v.runnable:
            return
        if self.hv.clock.deterministic:
            if budget - done >= MIN_DETERMINISTIC_SLICE:
                self.carry = (v, budget - done)
        elif not self.slice_expired:
            self.carry = (v, None)

    def _run_slice(self, v):
        hv = self.hv
        arch = v.arch
        carried = self.carry is not None and self.carry[0] is v
        self._switch_to(v)
        v.set_runstate(RUNSTATE_running)
        v.inject_pending()
        if not carried:                   # fast mode: the ticker counts on
            self.slice_serial += 1
            self.slice_expired = False
        self.preempt_requested = False
        self.current = v
        clock = hv.clock
        start_ns = clock.now()
        budget = done = 0
        if clock.deterministic:
            budget = self.carry[1] if carried else DETERMINISTIC_SLICE
            nxt = self._next_deadline()
            if nxt is not None:
                left = (nxt - clock.now()) // vtime.NS_PER_INSN
                budget = max(MIN_DETERMINISTIC_SLICE, min(budget, left))
            # the slice's guest time, which TSC reads also use (time.TSC_READ_NS):
            # a vCPU polling the TSC yields once it is used up (VCpu.guest_tsc)
            self.slice_end_ns = start_ns + budget * vtime.NS_PER_INSN
            clock.slice_started(arch)
            exit_ = self._execute(v, budget)
            done = arch.slice_insns
            clock.slice_ended(done)
            v.insns += done
        else:
            exit_ = self._execute(v, 0)
        self.current = None
        if hv.tracer is not None:
            hv.tracer.slice(v, start_ns, clock.now(), exit_)
        self._handle_exit(v, exit_)
        self._carry_on(v, exit_, budget, done)
        v.set_runstate(RUNSTATE_blocked if v.blocked else
                       RUNSTATE_runnable if v.online else RUNSTATE_offline)
        if not v.runnable and self.last is v:
            # Blocked, down or paused: Xen switches its pCPU to idle, which
            # stops the periodic timer (sched_context_switch()); it catches up
            # when the vCPU is next switched in.
            v.switched_out()
            self.last = None

    def _execute(self, v, count):
        """One slice of v (through the debugger, which may make it one step)."""
        if self.debugger is not None:
            return self.debugger.execute(v, count)
        return v.arch.run(count=count)

    def _handle_exit(self, v, exit_):
        kind = exit_.kind
        if kind == "halted":
            v.hlt()
        elif kind == "crashed":
            if exit_.error is not None:
                self.hv.internal_error(v, exit_.error)
            else:
                v.domain.crash(v.crash_report(exit_))
        # 'slice' and 'stopped' (block/yield/shutdown): state was already updated



def _qualname(fn):
    return getattr(fn, "__qualname__", None) or repr(fn)


def _timer_owner(timer):
    """The vCPU a timer's function belongs to (a bound VCpu method), else
    the timer's domain."""
    v = getattr(timer.fn, "__self__", None)
    return v if hasattr(v, "vcpu_id") and hasattr(v, "domain") else timer.owner
