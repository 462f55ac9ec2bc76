"""Virtual time: the one clock the scheduler owns (Xen's NOW() and the TSC).

Two modes:
* fast: system time follows the host's monotonic clock, plus the time
  skipped while every vCPU was idle (the clock jumps to the next deadline);
* deterministic: system time is derived from guest instructions retired
  (NS_PER_INSN each), plus idle jumps, plus TSC_READ_NS for every TSC read
  the guest makes (RDTSC, RDTSCP and rdmsr of the TSC are trapped: on Xen
  with an emulated TSC each is a VM exit of about a microsecond, and in
  fast mode the exit's host time passes as well; without it a delay loop
  polling the TSC would take one exit per ten instructions of guest time);
  the same inputs give the same times.

The guest TSC is a fixed linear function of system time (TSC_KHZ), so the
pvclock parameters in vcpu_time_info (tsc_to_system_mul/shift) are exact and
never need re-sampling.  Wallclock (shared_info wc_*) is the host's real time
at boot, or a fixed epoch in deterministic mode.
"""

import time

from ..snapshot import state as snapstate

TSC_KHZ = 2_000_000                  # a 2 GHz TSC: ns = tsc / 2
MILLISECS = 1_000_000                # Xen's MILLISECS(1): system time is in ns
TSC_TO_SYSTEM_MUL = 1 << 31          # (tsc << shift) * mul >> 32 == tsc / 2
TSC_SHIFT = 0
NS_PER_INSN = 1                      # deterministic mode: 1 GIPS
TSC_READ_NS = 0                      # deterministic mode: what a trapped TSC read takes
DETERMINISTIC_EPOCH = 1767225600     # 2026-01-01T00:00:00Z


def ns_to_tsc(ns):
    return ns * TSC_KHZ // MILLISECS


def tsc_to_ns(tsc):
    return ((tsc << TSC_SHIFT) * TSC_TO_SYSTEM_MUL) >> 32 if TSC_SHIFT >= 0 else \
        ((tsc >> -TSC_SHIFT) * TSC_TO_SYSTEM_MUL) >> 32


class VirtualClock:
    def __init__(self, deterministic=False):
        self.deterministic = deterministic
        self._skipped = 0                     # ns added by idle jumps
        self._retired_ns = 0                  # deterministic: ns of finished slices
        self._running = None                  # deterministic: arch vCPU in a slice
        self._host_t0 = time.monotonic_ns()
        self.wallclock_base = DETERMINISTIC_EPOCH * 10**9 if deterministic else time.time_ns()

    # snapshots: in fast mode system time goes on from where it was saved
    def __getstate__(self):
        return snapstate.rebase_host_stamps(dict(self.__dict__), ("_host_t0",), time.monotonic_ns)

    def __setstate__(self, state):
        self.__dict__.update(snapstate.rebase_host_stamps(state, ("_host_t0",), time.monotonic_ns))

    def now(self):
        """System time in ns since boot (Xen's NOW())."""
        if self.deterministic:
            ns = self._retired_ns + self._skipped
            if self._running is not None:
                ns += self._running.slice_insns * NS_PER_INSN
            return ns
        return time.monotonic_ns() - self._host_t0 + self._skipped

    def slice_started(self, arch_vcpu):
        self._running = arch_vcpu

    def slice_ended(self, instructions):
        """Deterministic mode: account the instructions the slice retired."""
        self._running = None
        self._retired_ns += instructions * NS_PER_INSN

    def tsc_read(self):
        """The guest read its TSC (trapped): deterministic mode charges it
        TSC_READ_NS; fast mode has paid the host time of the exit."""
        if self.deterministic:
            self._skipped += TSC_READ_NS

    def skip_to(self, deadline_ns):
        """Every vCPU is idle: jump forward to the next deadline."""
        now = self.now()
        if deadline_ns > now:
            self._skipped += deadline_ns - now

    def exclude_host_time(self, ns):
        """Fast mode: host time the guests must not see (a debugger held every
        vCPU stopped).  Deterministic time only moves with instructions."""
        if not self.deterministic:
            self._skipped -= ns

    def slice_abandoned(self):
        """Deterministic mode: a slice an hvsim bug cut short (if one was
        running): account what it retired."""
        if self._running is not None:
            self.slice_ended(self._running.slice_insns)

    def wallclock_ns(self):
        """Wall time of the present moment (boot wallclock + system time)."""
        return self.wallclock_base + self.now()

    def boot_wallclock(self):
        """(sec, nsec) of wallclock at system time 0, for shared_info."""
        return divmod(self.wallclock_base, 10**9)
