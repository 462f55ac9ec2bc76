"""The `hvsim` command."""

import argparse
import os
import sys
import tempfile
import traceback

from . import __version__
from .errors import ConfigError, HvsimError

# xtf-runner's exit codes and the order in which verdicts get worse
VERDICTS = ("SUCCESS", "SKIP", "ERROR", "FAILURE", "CRASH")
EXIT_CODES = {"SUCCESS": 0, "SKIP": 3, "ERROR": 4, "FAILURE": 5, "CRASH": 6}
EXIT_USAGE = 2
EXIT_INTERNAL = 70              # an internal error (a bug in hvsim): sysexits' EX_SOFTWARE
EXIT_INTERRUPTED = 130          # as a shell reports a process killed by SIGINT
EXIT_BROKEN_PIPE = 141          # as a shell reports a process killed by SIGPIPE


def parse_size(text, what="--mem"):
    """'128M', '1G', '65536K' or plain bytes -> bytes."""
    t = text.strip().upper().rstrip("B") or "0"
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1], 1)
    num = t[:-1] if t[-1] in "KMGT" else t
    try:
        value = int(num, 0) * mult
    except ValueError:
        raise ConfigError("%s %r: not a size (use e.g. 64M, 1G)" % (what, text)) from None
    if value <= 0 or value % 4096:
        raise ConfigError("%s %r: must be a positive multiple of 4 KiB" % (what, text))
    return value


def verdict_of(domain, timed_out=False):
    """xtf-runner's rule: the last console line's 'Test result:'; a crash or a
    timeout is CRASH whatever was printed."""
    if timed_out or domain.crash_report is not None:
        return "CRASH"
    lines = [l for l in domain.console.transcript if l.strip()]
    if not lines or "Test result:" not in lines[-1]:
        return "CRASH"
    for v in VERDICTS[:4]:
        if v in lines[-1]:
            return v
    return "CRASH"


def worst(verdicts):
    return max(verdicts, key=VERDICTS.index) if verdicts else "CRASH"


def cmd_run(args):
    from .run import run_guests
    return run_guests(args)


def cmd_boot(args):
    from .run import boot_scenario
    return boot_scenario(args)


def _guest_options(p):
    """What each guest kernel gets: `run` and `step`."""
    p.add_argument("--cmdline", default="", help="kernel command line for every guest")
    p.add_argument("--mem", default="128M", help="memory per domain (default 128M)")


def _deterministic_option(p):
    """--deterministic: every command that boots guests."""
    p.add_argument("--deterministic", action="store_true",
                   help="slice by instruction count and derive time from instructions "
                        "retired: identical inputs give identical output")


def _common_run_options(p):
    _deterministic_option(p)
    pr = p.add_mutually_exclusive_group()
    pr.add_argument("--prefix", dest="prefix", action="store_true", default=None,
                    help="prefix console lines with (dN) (default with several domains)")
    pr.add_argument("--no-prefix", dest="prefix", action="store_false")
    _output_options(p)
    _snapshot_options(p)


def _output_options(p):
    """The time limit, consoles and traces: every command that runs guests,
    `resume` included."""
    p.add_argument("--timeout", type=float, default=60.0,
                   help="give up after this many host seconds (default 60; 0 = never)")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print guest consoles")
    p.add_argument("--trace", metavar="FILE",
                   help="write an event trace (FILE.jsonl: JSON lines, else readable text)")
    p.add_argument("--trace-streams", metavar="LIST",
                   default="hypercalls,exceptions,upcalls,evtchn",
                   help="comma-separated: hypercalls, exceptions, upcalls, evtchn, insn "
                        "(default: all but insn)")
    p.add_argument("--trace-insn", metavar="START:END",
                   help="trace every instruction executed in this address range")
    p.add_argument("--timeline", metavar="FILE.json",
                   help="write a boot timeline in Chrome trace format (open it in Perfetto): "
                        "a lane per domain and vCPU with boot phases, hypercalls and "
                        "blocked time")


def _snapshot_options(p):
    from .snapshot import POINT_HELP
    g = p.add_argument_group(
        "snapshots", "Save the whole system (every domain's memory and vCPUs, event channels, "
        "timers, virtual clock, scheduler, consoles) to a file at the first slice boundary at "
        "or after POINT, and stop there (exit 0); `hvsim resume FILE` carries on from it.  "
        "With --deterministic, [run to the snapshot] + [resume] prints exactly what one "
        "uninterrupted run prints.  Snapshots are pickles: resume only files you trust.")
    g.add_argument("--snapshot-at", metavar="POINT", help=POINT_HELP)
    g.add_argument("--snapshot-file", metavar="FILE", help="where to write the snapshot")
    g.add_argument("--snapshot-continue", action="store_true",
                   help="keep running after writing the snapshot (the run then ends with "
                        "its verdict as usual)")


def cmd_resume(args):
    from .run import resume
    return resume(args)


def build_parser():
    p = argparse.ArgumentParser(
        prog="hvsim",
        description="hvsim: a hypervisor emulator that behaves like Xen. Boots PVH guest "
                    "kernels on emulated CPUs and speaks Xen's guest ABI.")
    p.add_argument("--version", action="version", version="hvsim %s" % __version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="boot guest kernels (one domain each) and stream their consoles",
                       description="Boot each GUEST (a PVH kernel ELF) as its own domain, "
                                   "stream the consoles, and exit with xtf-runner's code for "
                                   "the worst verdict: SUCCESS 0, SKIP 3, ERROR 4, FAILURE 5, "
                                   "CRASH (crash, no result, timeout) 6.")
    r.add_argument("guests", nargs="+", metavar="GUEST", help="PVH kernel ELF file")
    _guest_options(r)
    r.add_argument("--vcpus", type=int, default=1, help="vCPUs per domain (default 1)")
    r.add_argument("--gdb", metavar="[HOST]:PORT",
                   help="serve the GDB remote protocol on HOST:PORT (HOST defaults to "
                        "127.0.0.1; port 0 picks a free one) and wait at the first "
                        "instruction until gdb connects; each vCPU is a gdb thread")
    _common_run_options(r)
    r.set_defaults(func=cmd_run)

    b = sub.add_parser("boot", help="boot a whole host from a boot config (Multiboot2 + LCM)",
                       description="Run a host boot like hyperlaunch: read SCENARIO (a GRUB-style "
                                   "boot config, or a directory holding boot.cfg), write the "
                                   "Multiboot2 information as GRUB would, read the Launch Control "
                                   "Module (module 0), build every domain it describes paused, "
                                   "then start them and run until all have ended.  Exit code: "
                                   "the worst verdict, as for `hvsim run`.")
    b.add_argument("scenario", metavar="SCENARIO", help="boot config file or scenario directory")
    b.add_argument("--entry", help="menu entry to boot (index, title or --id; default: "
                                   "the config's default)")
    b.add_argument("--order", choices=("lcm", "domid"), default="lcm",
                   help="unpause order (default: LCM order)")
    b.add_argument("--host-mem", default="4G", help="the emulated host's RAM (default 4G)")
    b.add_argument("--keep-host", action="store_true",
                   help="do not take the host down when the hardware domain shuts down "
                        "(Xen does)")
    _common_run_options(b)
    b.set_defaults(func=cmd_boot)

    s = sub.add_parser("resume", help="carry on a run from a snapshot file",
                       description="Load a snapshot written by `hvsim run/boot --snapshot-at "
                                   "POINT --snapshot-file FILE` and carry on: consoles are "
                                   "printed from where the snapshot was taken, and the run ends "
                                   "with the same verdict, summary and exit code as a normal "
                                   "run.  The snapshot keeps the run's mode (--deterministic) "
                                   "and console prefixes.  A snapshot is read only by the hvsim "
                                   "and Unicorn versions that wrote it; like any pickle, it is "
                                   "trusted input.")
    s.add_argument("snapshot", metavar="FILE", help="snapshot file")
    s.add_argument("--info", action="store_true",
                   help="print what the snapshot holds (versions, point, domains) and exit")
    _output_options(s)
    _snapshot_options(s)
    s.set_defaults(func=cmd_resume)

    from . import lcmcheck
    from .debug import step
    from .testing import runner          # imports this module's verdict rules
    runner.add_parser(sub)
    lcmcheck.add_parser(sub)
    step.add_parser(sub)
    return p


def _internal_error(exc):
    fd, path = tempfile.mkstemp(prefix="hvsim-crash-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=f)
    sys.stderr.write("hvsim: internal error: %s: %s (this is a bug in hvsim; the traceback "
                     "is in %s)\n" % (type(exc).__name__, exc, path))
    return EXIT_INTERNAL


def _silence_stdout():
    """Point stdout at /dev/null so that exiting does not fail flushing a closed pipe."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except HvsimError as e:
        sys.stderr.write("hvsim: error: %s\n" % e)
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("hvsim: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:              # e.g. `hvsim run ... | head`
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as e:          # noqa: BLE001 - last line of defence
        return _internal_error(e)


if __name__ == "__main__":
    sys.exit(main())
