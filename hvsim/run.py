"""`hvsim run` (guest kernels as domains) and `hvsim boot` (a whole host boot
from a boot config + LCM): build, run, stream consoles, give a verdict.

Output: stdout holds only the guests' consoles (and what was asked for on
it: --json, --trace -, --timeline -, --xenstore-dump -); every line hvsim
writes itself (Xen's "(XEN)" lines, crash and timeout reports, the summary
table, verdicts) goes to stderr."""

import os
import sys

from .arch.uc import check_unicorn_version
from .boot import arm64, launch
from .boot.firmware import scenario_config
from .boot.pvh import DomainSpec, Module, build_domain
from .errors import ConfigError, read_input
from .hv.console import ConsoleSink
from .hv.hypervisor import Hypervisor
from .options import check_host_can_give, parse_size, validate
from .snapshot import fileformat, machine
from .snapshot.point import Request
from .verdict import EXIT_CODES, EXIT_INTERNAL, EXIT_INTERRUPTED, verdict_of, worst
from .toolstack import console_client

FIRST_DOMID = 1


def run_guests(args):
    check_unicorn_version()
    snap = Request.from_args(args, args.deterministic)
    mem = parse_size(args.mem)
    if len(args.guests) > 1:
        check_host_can_give(mem * len(args.guests), "--mem %s for each of %d domains"
                            % (args.mem, len(args.guests)))
    check_guest_files(args.guests)
    prefix = args.prefix if args.prefix is not None else len(args.guests) > 1
    sink = ConsoleSink.terminal(args.quiet, prefix)
    hv = Hypervisor(deterministic=args.deterministic, console=sink)
    gdb = _gdb_server(hv, args, args.guests[0])
    domains = build_guests(hv, args, args.guests, mem)
    if gdb is not None:
        _attach_gdb(gdb, domains)
    return _run_and_report(hv, args, domains, snap=snap, debugger=gdb)


def create_domain(args):
    """`hvsim create FILE.cfg`: the domain an xl config describes, run as
    `hvsim run` runs one (toolstack/xlcfg.py)."""
    from .toolstack import xlcfg
    cfg = xlcfg.load(args.config)
    for key, action in cfg.actions:
        sys.stderr.write("hvsim: %s: %s = %r: hvsim destroys the domain instead\n"
                         % (cfg.path, key, action))
    args.guests, args.vcpus, args.names = [cfg.kernel], cfg.vcpus, {0: cfg.name}
    args.mem, args.cmdline, args.ramdisk = "%dM" % cfg.memory_mib, cfg.cmdline, cfg.ramdisk
    validate(args)
    return run_guests(args)


def check_guest_files(paths):
    """ConfigError for the first guest kernel file that does not exist."""
    for g in paths:
        if not os.path.exists(g):
            raise ConfigError("%s: no such file" % g)


# what arm64 domains cannot do yet (issue 12), as (args attribute, option)
def build_guests(hv, args, paths, mem):
    """One paused domain per kernel in `paths` (domids from FIRST_DOMID),
    with args.cmdline, args.ramdisk (module 0, with no command line, as
    libxl gives it) and args.vcpus (1 for commands without --vcpus): an
    arm64 domain for an arm64 Image or AArch64 ELF, else a PVH one (an ELF
    or a bzImage)."""
    modules = []
    if args.ramdisk:
        modules.append(Module(read_input(args.ramdisk, "--ramdisk: cannot open: %s",
                                         "check the path"), name=args.ramdisk))
    domains = []
    for i, g in enumerate(paths):
        spec = DomainSpec(FIRST_DOMID + i, g, mem, cmdline=args.cmdline, modules=modules,
                          vcpus=getattr(args, "vcpus", 1),
                          name=(getattr(args, "names", None) or {}).get(i, os.path.basename(g)))
        data = read_input(g, "cannot open: %s", "check the path")
        spec.kernel_data = data
        builder = arm64.build_domain if arm64.is_arm64_kernel(data) else build_domain
        domains.append(launch.build_or_crash(hv, builder, spec))
    return domains


def _gdb_server(hv, args, elf_path):
    """--gdb [HOST]:PORT: a listening gdb stub (hvsim/debug/gdbstub.py), or None."""
    if not getattr(args, "gdb", None):
        return None
    from .debug.gdbstub import GdbServer, parse_address
    server = GdbServer(hv, parse_address(args.gdb), elf_path=elf_path)
    server.listen()
    return server


def debug_target(domains):
    """The architecture debuggers see (hvsim/arch/gdbregs.py Target): aarch64
    for arm64 domains, else x86-64 if any kernel is 64-bit, else i386."""
    machines = {d.kernel.machine for d in domains}
    if "EM_AARCH64" in machines:
        from .arch.arm64.debug import TARGET
        return TARGET
    from .arch.x86.debug import TARGET_32, TARGET_64
    return TARGET_64 if "EM_X86_64" in machines else TARGET_32


def _attach_gdb(gdb, domains, paths=None):
    """The stub takes the machine, stopped before its first instruction;
    the banner says how to connect (paths: domid -> kernel file)."""
    domains = [d for d in domains if d.kernel is not None]     # not those a loader bug crashed
    gdb.set_arch(debug_target(domains))
    gdb.attach()
    sys.stderr.write(gdb.banner(domains, paths or {}) + "\n")
    if any(d.kernel.machine == "EM_X86_64" and d.kernel.elfclass == 32 for d in domains):
        sys.stderr.write("hvsim: gdb: an ELF32 x86-64 kernel (XTF's hvm64): gdb takes it for "
                         "x32; say `set architecture i386:x86-64` before `target remote`\n")
    sys.stderr.flush()


def boot_scenario(args):
    """`hvsim boot SCENARIO`: firmware -> MBI -> LCM -> domains -> run."""
    check_unicorn_version()
    snap = Request.from_args(args, args.deterministic)
    host_mem = parse_size(args.host_mem, "--host-mem")
    cfg, plan = read_boot_plan(args.scenario, args.entry, host_mem)
    prefix = args.prefix if args.prefix is not None else True
    sink = ConsoleSink.terminal(args.quiet, prefix)
    hv = boot_host(cfg, plan, host_mem, args.deterministic, sink, args.keep_host)
    paths = kernel_paths(plan)
    gdb = _gdb_server(hv, args, next(iter(paths.values()), None))
    domains = launch.build_plan(hv, plan)
    if gdb is not None:
        _attach_gdb(gdb, domains, paths)
    return _run_and_report(hv, args, domains, order=args.order, summary=True, snap=snap,
                           debugger=gdb)


def is_boot_scenario(path):
    """A scenario directory or a boot config, not a kernel (an ELF or an arm64
    Image: `hvsim step`)."""
    if os.path.isdir(path):
        return True
    head = read_input(path, "cannot open: %s", "check the path")[:64]
    return head[:4] != b"\x7fELF" and not arm64.is_arm64_kernel(head)


def read_boot_plan(scenario, entry, host_mem):
    """SCENARIO (a boot.cfg or its directory) -> (config path, boot plan)."""
    from .boot import lcm
    cfg = scenario_config(scenario)
    plan, _ = lcm.boot_plan(cfg, entry, host_mem)
    for w in plan.warnings:
        sys.stderr.write("hvsim: warning: %s\n" % w)
    return cfg, plan


def boot_host(cfg, plan, host_mem, deterministic, sink, keep_host=False):
    """The hypervisor a boot plan runs on (its domains not built yet)."""
    hv = Hypervisor(deterministic=deterministic, console=sink, host_mem=host_mem,
                    cmdline=plan.hypervisor_cmdline)
    hv.hwdom_shutdown_halts_host = not keep_host
    hv.log("%s boot from %s: %d domain%s" % (plan.kind, cfg, len(plan.domains),
                                            "s" if len(plan.domains) != 1 else ""))
    return hv


def kernel_paths(plan):
    """domid -> the file each domain's kernel was read from (gdb's symbols)."""
    return {dp.domid: dp.kernel.path for dp in plan.domains if dp.kernel.path}


def resume(args):
    """`hvsim resume FILE`: carry on a run from a snapshot (hvsim/snapshot/)."""
    if args.info:
        header, _ = fileformat.read_header(args.snapshot)
        print("\n".join(fileformat.info_lines(args.snapshot, header)))
        return 0
    loaded = machine.load(args.snapshot)
    hv = loaded.hv
    snap = Request.from_args(args, hv.clock.deterministic)
    hv.console.show(args.quiet)
    h = loaded.header
    sys.stderr.write("hvsim: resuming %s at %s (loaded in %.2f s)\n"
                     % ("stdin" if args.snapshot == "-" else args.snapshot,
                        fileformat.describe_point(h), loaded.load_seconds))
    return _run_and_report(hv, args, loaded.run["domains"], summary=loaded.run["summary"],
                           snap=snap, resumed=True)


def _run_and_report(hv, args, domains, order="domid", summary=None, snap=None, resumed=False,
                    debugger=None):
    """Unpause the domains in `order` (see hvsim.boot.launch.start; a resumed
    run carries on as it was), run them to the end and report: the exit code."""
    summary = bool(summary or len(domains) > 1)
    if snap is not None:
        snap.arm(hv, {"domains": domains, "summary": summary})
    attach_to = console_client.parse_console(getattr(args, "console", None), domains)
    sinks = _start_observers(hv, args, [debugger.sink] if debugger is not None else [])
    if resumed:
        pass
    elif debugger is not None:            # unpaused where a boot phase can stop them
        debugger.start_domains(launch.start_order(domains, order))
    else:
        launch.start(domains, order)
    client = console_client.attach(hv, attach_to, interactive=getattr(args, "interactive", False))
    try:
        result = hv.run(timeout=args.timeout or None, resumed=resumed)
    finally:
        if client is not None:
            client.detach()
        for sink in sinks:
            sink.close()
    if snap is not None and snap.saved is None:
        snap.report()                   # the run ended before the snapshot point
    if result.reason == "snapshot":           # stopped after writing it
        if debugger is not None:
            debugger.finish(0)
        return 0
    if result.reason == "interrupted" and hv.scheduler.interrupted:     # Ctrl-C, not gdb's kill
        return _interrupted(hv, domains, debugger)
    if result.reason == "timeout":
        hv.log("timeout after %gs: stopping every domain" % args.timeout)
    elif result.reason == "stalled":
        for d in domains:
            if not d.finished:
                why = "paused" if d.paused else "every vCPU is blocked with no event or " \
                    "timer pending"
                hv.log("d%d can never run again: %s" % (d.domid, why))
    verdicts = [verdict_of(d) for d in domains]
    _dump_xenstore(hv, args)
    code = EXIT_INTERNAL if hv.internal_errors else EXIT_CODES[worst(verdicts)]
    if getattr(args, "json", False):
        print_json_summary(hv, domains, verdicts, code)
    elif summary:
        print_summary(hv, domains, verdicts)
    elif getattr(args, "quiet", False):     # -q: no console, but still the verdict
        print_verdicts(domains, verdicts)
    else:
        explain_no_result(domains, verdicts)
    report_internal_errors(hv)
    if debugger is not None:
        debugger.finish(code)           # gdb sees the exit code
    return code


def explain_no_result(domains, verdicts):
    """A run with no summary table: one line on stderr for a domain that
    shut down cleanly but is CRASH for want of a 'Test result:' line (a
    guest that is not a test: GRUB's halt, Linux's poweroff), so that its
    exit code 6 does not come unexplained."""
    for d, verdict in zip(domains, verdicts):
        if verdict == "CRASH" and d.finished and d.crash_report is None and d.end_reason:
            sys.stderr.write("hvsim: d%d (%s) ended (%s) with no 'Test result:' line: verdict "
                             "CRASH by xtf-runner's rule, exit code %d\n"
                             % (d.domid, d.name, d.end_reason, EXIT_CODES["CRASH"]))
    sys.stderr.flush()


def report_internal_errors(hv):
    """The end of a run that met hvsim bugs (Hypervisor.internal_error): how
    many, and each in one line, on stderr; the run exits EXIT_INTERNAL."""
    errors = hv.internal_errors
    if not errors:
        return
    sys.stderr.write("hvsim: internal errors: %d (bugs in hvsim; each crashed the domain it "
                     "served, exit status %d)\n" % (len(errors), EXIT_INTERNAL))
    for line in errors:
        sys.stderr.write("hvsim:   %s\n" % line)
    sys.stderr.flush()


def _interrupted(hv, domains, debugger):
    """Ctrl-C: one line saying so, the summary of every domain (those that
    finished have their verdicts), exit code 130 as a shell reports SIGINT."""
    sys.stderr.write("hvsim: interrupted\n")
    print_summary(hv, domains, [verdict_of(d) for d in domains])
    if debugger is not None:
        debugger.finish(EXIT_INTERRUPTED)
    return EXIT_INTERRUPTED


def _dump_xenstore(hv, args):
    """--xenstore-dump: the built-in xenstored's tree as the run left it."""
    path = getattr(args, "xenstore_dump", None)
    if not path:
        return
    text = hv.toolstack.xenstored.dump() if hv.toolstack is not None else ""
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise ConfigError("--xenstore-dump %s: %s" % (path, e.strerror)) from None


def _start_observers(hv, args, debug_sinks=()):
    """The --trace and --timeline outputs, attached to the hypervisor with
    the debugger's sinks; the outputs (to close at the end)."""
    from .debug import trace
    sinks = [s for s in (_open_trace(hv, args), _open_timeline(hv, args)) if s is not None]
    trace.attach(hv, sinks + list(debug_sinks))
    return sinks


def _open_timeline(hv, args):
    from .debug.timeline import Timeline
    path = getattr(args, "timeline", None)
    if not path:
        return None
    if path == "-":                           # stdout, at the end of the run
        return Timeline(hv, path)
    try:
        open(path, "w").close()
    except OSError as e:
        raise ConfigError("--timeline %s: %s" % (path, e.strerror)) from None
    return Timeline(hv, path)


def _open_trace(hv, args):
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
        out = sys.stdout if args.trace == "-" else open(args.trace, "w")
    except OSError as e:
        raise ConfigError("--trace %s: %s" % (args.trace, e.strerror)) from None
    fmt = "jsonl" if args.trace.endswith((".jsonl", ".json")) else "text"
    tracer = Tracer(hv, out, streams, fmt, insn_range)
    tracer.install_insn_hooks()
    return tracer


def _summary_rows(hv, domains, verdicts):
    """Per domain: domid, name, capabilities, how it ended, verdict, guest ms
    and host s (None in deterministic runs, whose output must not vary)."""
    from .boot.plan import capability_names
    for d, verdict in zip(domains, verdicts):
        end_ns = d.ended_ns if d.ended_ns is not None else hv.clock.now()
        host = (d.host_end or 0) - d.host_start if d.host_end else 0
        yield {"domid": d.domid, "name": d.name, "capabilities": capability_names(d.caps),
               "ended": d.end_reason or "running", "verdict": verdict,
               "guest_ms": round((end_ns - d.created_ns) / 1e6, 3),
               "host_s": None if hv.clock.deterministic else round(host, 2)}


def print_json_summary(hv, domains, verdicts, code):
    """--json: the summary as one JSON object on stdout."""
    import json
    doc = {"verdict": worst(verdicts), "exit_code": code,
           "domains": list(_summary_rows(hv, domains, verdicts)),
           "internal_errors": list(hv.internal_errors)}
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def print_verdicts(domains, verdicts):
    """One hvsim line per domain on stderr: "hvsim: d1 (NAME): VERDICT"."""
    for d, verdict in zip(domains, verdicts):
        sys.stderr.write("hvsim: d%d (%s): %s\n" % (d.domid, d.name, verdict))
    sys.stderr.flush()


def print_summary(hv, domains, verdicts):
    """The summary table on stderr (stdout holds only the guests' consoles):
    one line per domain: how it ended, its verdict, virtual and host time
    (host time is left out of deterministic runs, whose output must not vary)."""
    out = sys.stderr
    out.write("\n%-6s %-20s %-22s %-11s %-9s %10s %8s\n" % (
        "domain", "name", "capabilities", "ended", "verdict", "guest ms", "host s"))
    for r in _summary_rows(hv, domains, verdicts):
        out.write("%-6s %-20s %-22s %-11s %-9s %10.3f %8s\n" % (
            "d%d" % r["domid"], r["name"][:20], r["capabilities"][:22], r["ended"],
            r["verdict"], r["guest_ms"], "-" if r["host_s"] is None else "%.2f" % r["host_s"]))
    if hv.internal_errors:
        out.write("internal errors: %d\n" % len(hv.internal_errors))
    out.flush()
