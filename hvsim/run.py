"""`hvsim run`: boot guest kernels as domains, stream consoles, give a verdict."""

import os
import sys

from .arch.uc import check_unicorn_version
from .boot.pvh import DomainSpec, build_domain
from .cli import EXIT_CODES, parse_size, verdict_of, worst
from .errors import ConfigError
from .hv.console import ConsoleSink
from .hv.hypervisor import Hypervisor

FIRST_DOMID = 1


def run_guests(args):
    check_unicorn_version()
    mem = parse_size(args.mem)
    if args.vcpus < 1 or args.vcpus > 128:
        raise ConfigError("--vcpus %d: must be between 1 and 128" % args.vcpus)
    for g in args.guests:
        if not os.path.exists(g):
            raise ConfigError("%s: no such file" % g)
    prefix = args.prefix if args.prefix is not None else len(args.guests) > 1
    sink = ConsoleSink(stream=None if args.quiet else sys.stdout, prefix_domains=prefix)
    hv = Hypervisor(deterministic=args.deterministic, console=sink)
    domains = []
    for i, g in enumerate(args.guests):
        spec = DomainSpec(FIRST_DOMID + i, g, mem, cmdline=args.cmdline, vcpus=args.vcpus,
                          name=os.path.basename(g))
        domains.append(build_domain(hv, spec))
    tracer = _start_trace(hv, args)
    for d in domains:
        d.unpause()
    try:
        result = hv.run(timeout=args.timeout or None)
    finally:
        if tracer is not None:
            tracer.close()
    timed_out = result.reason in ("timeout", "interrupted")
    if result.reason == "timeout":
        hv.log("timeout after %gs: stopping every domain" % args.timeout)
    elif result.reason == "stalled":
        for d in domains:
            if not d.finished:
                hv.log("d%d can never run again: every vCPU is blocked with no event or "
                       "timer pending" % d.domid)
    verdicts = [verdict_of(d, timed_out or not d.finished) for d in domains]
    if len(domains) > 1:
        print_summary(hv, domains, verdicts)
    return EXIT_CODES[worst(verdicts)]


def _start_trace(hv, args):
    from .debug.trace import STREAMS, Tracer, parse_range
    if not args.trace:
        return None
    streams = [s.strip() for s in args.trace_streams.split(",") if s.strip()]
    bad = [s for s in streams if s not in STREAMS]
    if bad:
        raise ConfigError("--trace-streams: unknown stream %s (choose from %s)"
                          % (", ".join(bad), ", ".join(STREAMS)))
    insn_range = None
    if args.trace_insn:
        insn_range = parse_range(args.trace_insn)
        if insn_range is None:
            raise ConfigError("--trace-insn %r: use START:END, e.g. 0x100000:0x100400"
                              % args.trace_insn)
        if "insn" not in streams:
            streams.append("insn")
    try:
        out = open(args.trace, "w")
    except OSError as e:
        raise ConfigError("--trace %s: %s" % (args.trace, e.strerror)) from None
    fmt = "jsonl" if args.trace.endswith((".jsonl", ".json")) else "text"
    tracer = Tracer(hv, out, streams, fmt, insn_range)
    tracer.attach()
    return tracer


def print_summary(hv, domains, verdicts):
    out = sys.stdout
    out.write("\n%-6s %-28s %-10s %-10s %s\n" % ("domain", "name", "verdict", "ended", "host s"))
    for d, v in zip(domains, verdicts):
        took = (d.host_end or 0) - d.host_start if d.host_end else 0
        out.write("%-6s %-28s %-10s %-10s %.2f\n" % ("d%d" % d.domid, d.name[:28], v,
                                                    d.end_reason or "running", took))
    out.flush()
