"""TraceSink: the events the hypervisor reports to whatever observes a run
(hv.tracer: the --trace Tracer, the --timeline Timeline, the boot-phase
sink of gdb and the stepper, the stepper itself; trace.attach() fans them
out).  Each method is a no-op here: a sink overrides the events it wants,
so that an event added to the hypervisor reaches every sink."""


class TraceSink:
    def hypercall(self, v, nr, args, result, start_ns):
        """vCPU v made hypercall nr(args), which returned result."""

    def exception(self, v, vector, kind, error_code, rip):
        """An exception or interrupt delivered through v's guest IDT."""

    def upcall(self, v, vector):
        """An event-channel upcall injected into v."""

    def evtchn_pending(self, d, port, v):
        """Port `port` of domain d set pending (for vCPU v)."""

    def domain_event(self, d, what):
        """A domain life-cycle event (unpaused, shut down, ...)."""

    def xen_message(self, v, text):
        """Xen's gprintk() about vCPU v: why a request was refused."""

    def slice(self, v, start_ns, end_ns, exit_):
        """v ran from start_ns to end_ns of virtual time and exited."""

    def runstate(self, v, old, new, now):
        """v's runstate changed from old to new at virtual time now."""
