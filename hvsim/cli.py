"""The `hvsim` command: wires the sub-commands' parsers (run, boot, resume
here; test, lcm, step from their own modules) and turns errors into exit
codes.  The options they share are in options.py, the verdict rules and exit
codes in verdict.py."""

import argparse
import os
import sys
import tempfile
import traceback

from . import __version__
from . import options, venv
from .errors import HvsimError
from .verdict import EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE


def cmd_run(args):
    from .run import run_guests
    return run_guests(args)


def cmd_create(args):
    from .run import create_domain
    return create_domain(args)


def cmd_boot(args):
    from .run import boot_scenario
    return boot_scenario(args)


def cmd_resume(args):
    from .run import resume
    return resume(args)


GDB_HELP = ("serve the GDB remote protocol on HOST:PORT (HOST defaults to 127.0.0.1; port 0 "
            "picks a free one) and wait at the first instruction until gdb connects; each "
            "vCPU is a gdb thread")


def version_text():
    """--version: hvsim's, the CPU emulator's and the Xen interface's versions."""
    import unicorn
    from .abi.domctl import XEN_DOMCTL_INTERFACE_VERSION
    from .abi.sysctl import XEN_SYSCTL_INTERFACE_VERSION
    from .hv.version import XEN_EXTRAVERSION, version_tuple
    return ("hvsim %s\nUnicorn %s\nXen interface: Xen %d.%d%s as guests see it "
            "(XENVER_version), domctl %#x, sysctl %#x"
            % ((__version__, unicorn.__version__) + version_tuple() +
               (XEN_EXTRAVERSION, XEN_DOMCTL_INTERFACE_VERSION, XEN_SYSCTL_INTERFACE_VERSION)))


class _Version(argparse.Action):
    """--version, printed as version_text() has it (argparse's would re-wrap it)."""

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write(version_text() + "\n")
        parser.exit()


def build_parser():
    p = argparse.ArgumentParser(
        prog="hvsim",
        description="hvsim: a hypervisor emulator that behaves like Xen. Boots PVH guest "
                    "kernels on emulated CPUs and speaks Xen's guest ABI.")
    p.add_argument("--version", action=_Version, nargs=0,
                   help="show hvsim's, Unicorn's and the Xen interface's versions and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="boot guest kernels (one domain each) and stream their consoles",
                       description="Boot each GUEST (a PVH kernel ELF) as its own domain, "
                                   "stream the consoles, and exit with xtf-runner's code for "
                                   "the worst verdict: SUCCESS 0, SKIP 3, ERROR 4, FAILURE 5, "
                                   "CRASH (crash, no result, timeout) 6.")
    r.add_argument("guests", nargs="+", metavar="GUEST", help="PVH kernel ELF file")
    options.guest_options(r)
    r.add_argument("--gdb", metavar="[HOST]:PORT", help=GDB_HELP)
    options.run_options(r)
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("create", help="boot the domain an xl config file describes, as `xl "
                                       "create`",
                       description="Read FILE.cfg as xl reads a domain configuration (xl.cfg(5): "
                                   "name, type, kernel or firmware_override, cmdline/extra/root, "
                                   "memory, vcpus, on_*; an unknown key stops with file:line) and "
                                   "run that domain as `hvsim run` does; exit codes as for run.")
    c.add_argument("config", metavar="FILE.cfg", help="xl domain configuration file")
    c.add_argument("--gdb", metavar="[HOST]:PORT", help=GDB_HELP)
    options.run_options(c)
    c.set_defaults(func=cmd_create)

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
    b.add_argument("--gdb", metavar="[HOST]:PORT",
                   help=GDB_HELP + " (dNvM: vCPU M of domain N); every domain is built and "
                        "paused when gdb connects; `monitor help` for boot-phase stops")
    b.add_argument("--keep-host", action="store_true",
                   help="do not take the host down when the hardware domain shuts down "
                        "(Xen does)")
    options.run_options(b)
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
    s.add_argument("snapshot", metavar="FILE", help="snapshot file (-: stdin)")
    s.add_argument("--info", action="store_true",
                   help="print what the snapshot holds (versions, point, domains) and exit")
    options.output_options(s)
    options.snapshot_options(s)
    s.set_defaults(func=cmd_resume)

    from . import lcmcheck
    from .debug import step
    from .testing import runner
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


def main(argv=None):
    try:
        parser = build_parser()
    except ModuleNotFoundError as e:
        if not venv.is_missing_package(e):
            return _internal_error(e)
        return venv.missing_package(e, reexec=argv is None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        options.validate(args)
        return args.func(args)
    except HvsimError as e:
        sys.stderr.write("hvsim: error: %s\n" % e)
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("hvsim: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:              # e.g. `hvsim run ... | head`
        options.silence_stdout()
        return EXIT_BROKEN_PIPE
    except ModuleNotFoundError as e:     # a package a command imports (venv.py)
        if not venv.is_missing_package(e):
            return _internal_error(e)
        return venv.missing_package(e, reexec=False)
    except Exception as e:          # noqa: BLE001 - last line of defence
        return _internal_error(e)


if __name__ == "__main__":
    sys.exit(main())
