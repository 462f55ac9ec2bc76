"""The hypervisor: every domain, the virtual clock, the scheduler, the
hypercall table, the XSM policy and the host console.

This is the object the boot code builds domains into and the CLI runs.
"""

from ..snapshot import state as snapstate
from ..abi import errno
from ..abi.errno import HypercallError
from ..abi.sched import SHUTDOWN_crash, SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_watchdog
from ..abi.xen import DOMID_SELF, VIRQ_DOM_EXC
from ..errors import InternalError, exception_line, raised_at
from .console import ConsoleSink
from .domain import Domain
from .evtchn import global_virq_handler
from .hypercall import HypercallTable
from .scheduler import Scheduler
from .time import VirtualClock
from .xsm import XsmPolicy

DEFAULT_HOST_MEM = 16 << 30            # the emulated machine's RAM (XENMEM_maximum_ram_page)
HOST_PCPUS = 4                         # the emulated machine's physical CPUs (affinity masks)
_HWDOM_SHUTDOWN = {                    # hwdom_shutdown()'s message per reason
    SHUTDOWN_poweroff: "halted: halting machine",
    SHUTDOWN_reboot: "shutdown: rebooting machine",
    SHUTDOWN_crash: "crashed: rebooting machine",
    SHUTDOWN_watchdog: "shutdown: watchdog rebooting machine",
}


class Hypervisor:
    def __init__(self, deterministic=False, console=None, host_mem=DEFAULT_HOST_MEM,
                 cmdline=""):
        self.clock = VirtualClock(deterministic)
        self.console = console if console is not None else ConsoleSink()
        self.domains = {}
        self.scheduler = Scheduler(self)
        self.hypercalls = HypercallTable(self)
        self.xsm = XsmPolicy(self)
        self.host_mem = host_mem
        self.cmdline = cmdline
        self.global_virq_handlers = {}     # virq -> Domain (e.g. DOM_EXC -> xenstore)
        self.all_domains = []              # every domain ever created, for the summary
        self.dom_state_changed = None      # domids to report (get_domain_state), or None
        self._unique = 0x5A17
        self.pcpus = HOST_PCPUS
        self.tracer = None                 # hvsim.debug.trace.Tracer, when tracing
        self.hwdom_shutdown_halts_host = True
        self.host_down = False
        self.toolstack = None              # dom0's user space (hvsim/toolstack), if any
        self.internal_errors = []          # one line per hvsim bug met while serving a
                                           # domain (internal_error): the run exits 70

    @property
    def hardware_domain(self):
        for d in self.domains.values():
            if d.is_hardware_domain:
                return d
        return None

    @property
    def max_page(self):
        """Host's highest MFN + 1 (XENMEM_maximum_ram_page)."""
        return self.host_mem >> 12

    def create_domain(self, domid, **kwargs):
        if domid in self.domains:
            raise ValueError("domain %d exists" % domid)
        d = Domain(self, domid, **kwargs)
        self.domains[domid] = d
        self.all_domains.append(d)
        self.domain_state_changed(d, notify=False)
        return d

    def domain_by_any_id(self, caller, domid):
        """rcu_lock_domain_by_any_id(): DOMID_SELF is the caller's domain;
        -ESRCH for a domain that does not exist."""
        d = caller if domid == DOMID_SELF else self.domains.get(domid)
        if d is None:
            raise HypercallError(errno.ESRCH)
        return d

    def next_unique_id(self):
        """A per-domain 64-bit id that is never reused (get_unique_id())."""
        x = self._unique
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        self._unique = x
        return x

    def domain_state_changed(self, d, notify):
        """domain_changed_state(), and VIRQ_DOM_EXC to its handler when a
        domain finished shutting down or died (not on creation)."""
        if self.dom_state_changed is not None:
            self.dom_state_changed.add(d.domid)
        if notify:
            handler = global_virq_handler(self, VIRQ_DOM_EXC)
            if handler is not None and not handler.finished:
                handler.evtchn.send_global_virq(VIRQ_DOM_EXC)

    def hwdom_shutdown(self, d, reason):
        """hwdom_shutdown(): the hardware domain going down takes the host."""
        if not self.hwdom_shutdown_halts_host or self.host_down:
            return
        self.log("Hardware Dom%d %s" % (d.domid, _HWDOM_SHUTDOWN.get(
            reason, "shutdown (reason %d): rebooting machine" % reason)))
        self.host_down = True
        others_reason = reason if reason in (SHUTDOWN_poweroff, SHUTDOWN_reboot) \
            else SHUTDOWN_reboot
        for other in self.domains.values():
            if other is not d and not other.finished:
                other.shutdown(others_reason)
                other.end_reason = "host down"

    def domain_destroyed(self, d):
        self.domains.pop(d.domid, None)
        self.domain_state_changed(d, notify=True)
        if self.toolstack is not None:       # dom0's daemons see @releaseDomain
            self.toolstack.domain_destroyed(d)

    def log(self, text):
        """A line on Xen's own console."""
        self.console.xen_line(text)

    def gprintk(self, v, text):
        """Xen's gprintk(): a line about vCPU v ("d1v0 ...") on Xen's console,
        and in the trace."""
        self.log("%r %s" % (v, text))
        if self.tracer is not None:
            self.tracer.xen_message(v, text)

    def internal_error(self, who, exc, what="running the domain"):
        """A Python exception while serving `who` (a VCpu or a Domain): a bug
        in hvsim, not the guest's fault.  Crash that domain only, with a
        report naming the domain, the vCPU, what hvsim was doing and the
        exception (one line, then where it was raised; the traceback goes
        to a file), and count it: the run's summary shows it and hvsim
        exits with EXIT_INTERNAL (hvsim/verdict.py).  `exc`: an
        InternalError (hvsim says what it was doing where it catches the
        exception) or any other exception (then `what` says it)."""
        if not isinstance(exc, InternalError):
            exc = InternalError(what, exc)
        cause = exc.__cause__
        head = "hvsim internal error in %s: %s" % (exc.what, exception_line(cause))
        where = "  at %s (traceback in %s)" % (raised_at(cause), _save_traceback(cause))
        d = who.domain if hasattr(who, "domain") else who
        self.internal_errors.append("%r: %s" % (who, head))
        if d.finished:                       # no crash to report it: say it here
            self.log("%r %s" % (who, head))
            self.log(where)
            return
        arch = getattr(who, "arch", None)
        if arch is not None:
            lines = who.describe_crash(arch.crash_report(head)).split("\n")
        else:
            lines = ["%r crashed: %s" % (who, head)]
        d.crash("\n".join(lines[:1] + [where] + lines[1:]))

    def report_crash(self, domain, report):
        for line in report.splitlines():
            self.log(line)

    def run(self, timeout=None, resumed=False):
        """Run to the end (or a snapshot).  A half-written console line is
        printed when the run ends, but not when it stops for a snapshot or
        resumes from one: the line is completed later in the run."""
        if not resumed:
            for d in self.domains.values():
                d.console.flush()
        result = self.scheduler.run(timeout)
        if result.reason != "snapshot":
            for d in self.domains.values():
                d.console.flush()
            if self.toolstack is not None:
                self.toolstack.flush()
        return result

    def __getstate__(self):            # snapshots: tracers are re-attached on resume
        return snapstate.transient(self, tracer=None)


def _save_traceback(exc):
    """Write exc's traceback to a new file (the user's report stays one line
    and a place); returns its path."""
    import os
    import tempfile
    import traceback
    fd, path = tempfile.mkstemp(prefix="hvsim-internal-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=f)
    return path
