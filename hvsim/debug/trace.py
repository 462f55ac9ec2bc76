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

from ..abi import errno as xerrno
from ..abi import console, domctl, event_channel, grant_table, hvm, memory, sched, sysctl, vcpu
from ..abi import version, xen
from ..abi.errno import HypercallError
from ..arch.x86.traps import vector_name
from ..arch.arm64.sysregs import TRACE_KIND as ARM64_KIND, ec_name
from ..hv.hypercall import hypercall_name
from .sink import TraceSink
from ..arch.x86.disasm import disassembler

STREAMS = ("hypercalls", "exceptions", "upcalls", "evtchn", "insn")
DEFAULT_STREAMS = ("hypercalls", "exceptions", "upcalls", "evtchn")


def _names(module, prefix):
    return {v: k for k, v in vars(module).items() if k.startswith(prefix) and isinstance(v, int)}


# hypercall -> (sub-op names, is the first argument the sub-op)
_SUBOPS = {
    xen.__HYPERVISOR_sched_op: _names(sched, "SCHEDOP_"),
    xen.__HYPERVISOR_xen_version: _names(version, "XENVER_"),
    xen.__HYPERVISOR_event_channel_op: _names(event_channel, "EVTCHNOP_"),
    xen.__HYPERVISOR_hvm_op: _names(hvm, "HVMOP_"),
    xen.__HYPERVISOR_memory_op: _names(memory, "XENMEM_"),
    xen.__HYPERVISOR_vcpu_op: _names(vcpu, "VCPUOP_"),
    xen.__HYPERVISOR_console_io: _names(console, "CONSOLEIO_"),
    xen.__HYPERVISOR_grant_table_op: _names(grant_table, "GNTTABOP_"),
    xen.__HYPERVISOR_vm_assist: _names(xen, "VMASST_CMD_"),
}
# hypercalls whose second argument is named too
_SECOND_ARG = {
    xen.__HYPERVISOR_vm_assist: _names(xen, "VMASST_TYPE_"),
}
# hypercalls whose only argument is a struct starting with its u32 command
_STRUCT_CMDS = {
    xen.__HYPERVISOR_domctl: _names(domctl, "XEN_DOMCTL_"),
    xen.__HYPERVISOR_sysctl: _names(sysctl, "XEN_SYSCTL_"),
}
for _table in _STRUCT_CMDS.values():        # not commands
    for _k in [k for k, n in _table.items() if n.endswith("INTERFACE_VERSION")]:
        del _table[_k]


def _struct_cmd(v, nr, ptr):
    """'XEN_DOMCTL_getdomaininfo' for a domctl/sysctl struct at ptr, read from
    the caller's memory after the call (None if it cannot be read)."""
    from ..hv.guest_access import copy_from_guest
    try:
        cmd = int.from_bytes(copy_from_guest(v, ptr, 4), "little")
    except HypercallError:
        return None
    return _STRUCT_CMDS[nr].get(cmd, "cmd %d" % cmd)


def decode_hypercall(nr, args, result, v=None):
    """'sched_op(SCHEDOP_shutdown, 0x12f00) = 0' (errno names for errors):
    only the arguments the hypercall takes, its sub-op by name; with the
    calling vCPU `v`, domctl and sysctl show the command in their struct."""
    name = hypercall_name(nr)
    shown = list(args[:xen.hypercall_nargs(nr, v.hcall_abi.ulong if v is not None else 8)])
    parts = []
    if nr in _STRUCT_CMDS and v is not None and shown:
        cmd = _struct_cmd(v, nr, shown[0])
        if cmd:
            parts.append("{%s}" % cmd)
    subops = _SUBOPS.get(nr)
    if subops is not None:
        sub = shown.pop(0)
        if nr == xen.__HYPERVISOR_memory_op:
            sub &= memory.MEMOP_CMD_MASK
        parts.append(subops.get(sub, str(sub)))
    second = _SECOND_ARG.get(nr)
    if second is not None and shown:
        parts.append(second.get(shown[0], "%#x" % shown[0]))
        shown.pop(0)
    parts.extend("%#x" % a for a in shown)
    if result < 0:
        res = "-%s" % xerrno.name(-result)
    else:
        res = "%d" % result if result < 0x10000 else "%#x" % result
    return "%s(%s) = %s" % (name, ", ".join(parts), res)


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
        name = ec_name(vector) if kind == ARM64_KIND else vector_name(vector)
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
        def hook(address, code, code64):
            md = disassembler(code64)
            text = next(("%s %s" % (i.mnemonic, i.op_str) for i in md.disasm(code, address)),
                        code.hex())
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
