"""The hypervisor: every domain, the virtual clock, the scheduler, the
hypercall table, the XSM policy and the host console.

This is the object the boot code builds domains into and the CLI runs.
"""

from .console import ConsoleSink
from .domain import Domain
from .hypercall import HypercallTable
from .scheduler import Scheduler
from .time import VirtualClock
from .xsm import XsmPolicy

DEFAULT_HOST_MEM = 16 << 30            # the emulated machine's RAM (XENMEM_maximum_ram_page)


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
        return d

    def log(self, text):
        """A line on Xen's own console."""
        self.console.xen_line(text)

    def report_crash(self, domain, report):
        for line in report.splitlines():
            self.log(line)

    def run(self, timeout=None):
        for d in self.domains.values():
            d.console.flush()
        result = self.scheduler.run(timeout)
        for d in self.domains.values():
            d.console.flush()
        return result
