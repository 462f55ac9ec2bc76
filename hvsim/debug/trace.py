"""Event traces: `--trace FILE` of `hvsim run`, `boot` and `resume`.

One line per event, stamped with virtual time (from the hypervisor's clock,
so deterministic runs give identical traces), in one of two formats:
readable text, seconds then who (dNvM, or "xen"), the event and what
happened:

        0.001234567 d1v0   hypercall  sched_op(SCHEDOP_yield) = 0

or JSON lines (FILE.jsonl: one object per line, "t" in ns, "dom", "vcpu",
"ev", "text" and the event's own fields).  Streams:

  hypercalls   every hypercall, decoded like strace: sub-op names and results
  exceptions   exceptions and interrupts delivered through the guest IDT
  upcalls      event-channel upcalls injected into vCPUs
  evtchn       ports set pending (which domain, port, vCPU)
  insn         every instruction executed inside an address range (only that
               range pays for the hook; the rest runs at full speed)
Xen's own messages about a vCPU (gprintk: why a request was refused) and
domain life-cycle events are always traced.  The Tracer is one of the sinks
behind hv.tracer (attach()); the boot timeline (timeline.py) is another and
takes the same calls, including slice and runstate, which the Tracer drops.
"""

import json

from ..arch.x86.traps import vector_name
from ..arch.arm64.sysregs import TRACE_KIND as ARM64_KIND, ec_name
from ..hv.hypercall import decode_hypercall
from .sink import TraceSink

STREAMS = ("hypercalls", "exceptions", "upcalls", "evtchn", "insn")
DEFAULT_STREAMS = ("hypercalls", "exceptions", "upcalls", "evtchn")


def exception_name(vector, kind):
    """#PF, #GP, ... for x86; the exception class (EC 0x25 (data abort), ...) for arm64."""
    return ec_name(vector) if kind == ARM64_KIND else vector_name(vector)


class Tracer(TraceSink):
    def __init__(self, hv, stream, streams=DEFAULT_STREAMS, fmt="text", insn_range=None):
        self.hv = hv
        self.out = stream
        self.streams = frozenset(streams)
        self.json = fmt == "jsonl"
        self.insn_range = insn_range

    def install_insn_hooks(self):
        """The insn stream: a code hook on the traced range only."""
        if "insn" in self.streams and self.insn_range:
            for d in self.hv.domains.values():
                for v in d.vcpus:
                    v.arch.trace_instructions(self.insn_range[0], self.insn_range[1],
                                              self._insn_hook(v))

    # -- output --------------------------------------------------------------------------
    def _emit(self, v, event, text, **fields):
        t = self.hv.clock.now()
        if self.json:
            rec = {"t": t, "dom": v.domain.domid if v is not None else None,
                   "vcpu": v.vcpu_id if v is not None else None, "ev": event, "text": text}
            rec.update(fields)
            self.out.write(json.dumps(rec, sort_keys=True) + "\n")
        else:
            who = "d%dv%d" % (v.domain.domid, v.vcpu_id) if v is not None else "xen"
            self.out.write("%15.9f %-6s %-10s %s\n" % (t / 1e9, who, event, text))

    # -- streams ---------------------------------------------------------------------------
    def hypercall(self, v, nr, args, result, start_ns):
        if "hypercalls" not in self.streams:
            return
        self._emit(v, "hypercall", decode_hypercall(nr, args, result, v), nr=nr,
                   args=[a for a in args], ret=result)

    def exception(self, v, vector, kind, error_code, rip):
        if "exceptions" not in self.streams:
            return
        ec = "" if error_code is None else "[%#x]" % error_code
        name = exception_name(vector, kind)
        self._emit(v, "exception", "%s%s %s at %#x" % (name, ec, kind, rip),
                   vector=vector, kind=kind, error_code=error_code, rip=rip)

    def upcall(self, v, vector):
        if "upcalls" in self.streams:
            self._emit(v, "upcall", "vector %#x" % vector, vector=vector)

    def evtchn_pending(self, d, port, v):
        if "evtchn" in self.streams:
            self._emit(v, "evtchn", "port %d of d%d pending" % (port, d.domid), port=port)

    def domain_event(self, d, what):
        self._emit(None, "domain", "d%d %s" % (d.domid, what), domid=d.domid)

    def xen_message(self, v, text):
        """What Xen prints about a vCPU (gprintk): why a request was refused."""
        self._emit(v, "xen", text)

    def slice(self, v, start_ns, end_ns, exit_):
        pass

    def runstate(self, v, old, new, now):
        pass

    def _insn_hook(self, v):
        def hook(address, text):
            self._emit(v, "insn", "%#x: %s" % (address, text), rip=address)
        return hook

    def close(self):
        self.out.flush()


class Tee:
    """Several sinks (a Tracer and a Timeline) behind the one hv.tracer slot."""

    def __init__(self, sinks):
        self.sinks = sinks

    def __getattr__(self, name):
        """The fan-out for event `name`, built on first use and kept."""
        methods = [getattr(s, name) for s in self.sinks]

        def fan_out(*args):
            for m in methods:
                m(*args)
        setattr(self, name, fan_out)
        return fan_out


def attach(hv, sinks):
    """Make `sinks` receive the hypervisor's events (hv.tracer and the
    hypercall table's tracer slot; both stay None when nothing traces)."""
    if not sinks:
        return
    sink = sinks[0] if len(sinks) == 1 else Tee(sinks)
    hv.tracer = sink
    hv.hypercalls.tracer = sink.hypercall


def parse_range(text):
    """'0x100000:0x100400' -> (start, end)."""
    try:
        a, b = text.split(":", 1)
        start, end = int(a, 0), int(b, 0)
    except ValueError:
        return None
    return (start, end) if start <= end else None
