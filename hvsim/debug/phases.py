"""Boot phases a debugger can stop at: the milestones of a domain's life in
a host boot, seen by the gdb stub (`monitor stop-at PHASE`) and the stepper
(`hvsim step --until PHASE`).

Owns the phase names, which phases stop the machine for which domains
(PhaseStops), and the trace sink that notices them (PhaseSink, a sink of
trace.py's interface).  A phase is reached once per domain:
* built: the domain exists (every domain of a boot plan before the first
  instruction; a domain created by a guest's XEN_DOMCTL_createdomain at the
  next slice boundary);
* unpaused: its first domain_unpause_by_systemcontroller() (the boot's
  start, or a control domain's XEN_DOMCTL_unpausedomain);
* first-instruction: before its first vCPU's first instruction;
* first-hypercall: after its first hypercall returned;
* shutdown: it shut down, crashed or was destroyed.
RunControl (control.py) turns a wanted phase into an all-stop.
"""

from ..errors import ConfigError
from .sink import TraceSink

BUILT, UNPAUSED, FIRST_INSN, FIRST_HYPERCALL, SHUTDOWN = (
    "built", "unpaused", "first-instruction", "first-hypercall", "shutdown")
PHASES = (BUILT, UNPAUSED, FIRST_INSN, FIRST_HYPERCALL, SHUTDOWN)
_NOT_ENDS = ("paused", "unpaused")       # the domain events that are not an end


def parse_domid(text):
    """'d2' or '2' -> 2; ConfigError otherwise."""
    t = text[1:] if text[:1] in "dD" else text
    if not t.isdigit():
        raise ConfigError("%r: name a domain as dN, e.g. d1" % text)
    return int(t)


class PhaseStops:
    """The phases that stop the machine: phase -> set of domids (None: every
    domain)."""

    def __init__(self):
        self.wanted = {}

    def add(self, phase, domid=None):
        if phase not in PHASES:
            raise ConfigError("%s: not a boot phase (choose from %s)" % (phase, ", ".join(PHASES)))
        if domid is None:
            self.wanted[phase] = None
        elif self.wanted.get(phase, ()) is not None:
            self.wanted.setdefault(phase, set()).add(domid)

    def clear(self):
        self.wanted.clear()

    def wants(self, phase, domid):
        if phase not in self.wanted:
            return False
        domids = self.wanted[phase]
        return domids is None or domid in domids

    def describe(self):
        if not self.wanted:
            return "no boot phase stops the machine"
        return "stopping at: " + ", ".join(
            p + ("" if self.wanted[p] is None else
                 " of " + ",".join("d%d" % i for i in sorted(self.wanted[p])))
            for p in PHASES if p in self.wanted)


class PhaseSink(TraceSink):
    """A trace sink telling `reached(domain, phase, vcpu, detail)` about
    unpauses, hypercalls and ends."""

    def __init__(self, reached):
        self.reached = reached

    def hypercall(self, v, nr, args, result, start_ns):
        from ..hv.hypercall import decode_hypercall
        self.reached(v.domain, FIRST_HYPERCALL, v, lambda: decode_hypercall(nr, args, result))

    def domain_event(self, d, what):
        if what == UNPAUSED:
            self.reached(d, UNPAUSED, None, None)
        elif what not in _NOT_ENDS:
            self.reached(d, SHUTDOWN, None, lambda: what)
