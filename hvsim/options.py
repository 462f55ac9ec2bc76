"""Command-line options shared by the `hvsim` sub-commands (run, boot,
resume, step, test, lcm check): their argparse definitions, the size parser
behind --mem/--host-mem, and the stdout clean-up after a broken pipe.

`hvsim/cli.py` wires the sub-commands' parsers from these; each sub-command
module adds its own options beside them.
"""

import os
import sys

from .errors import ConfigError
from .snapshot.point import POINT_HELP

_SIZE_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_SUFFIXES = ("IB", "B", "")      # 512M, 512MB, 512MiB: all binary, as QEMU and xl read them
PAGE_SIZE = 4096
MAX_VCPUS = 128         # vCPUs a domain may have (--vcpus, xl's vcpus =)
SIZE_HELP = ("a size: 512M, 512MiB, 2G, 1.5G, 65536K; a bare number is MiB, as QEMU's -m and "
             "xl's memory=")


def host_ram():
    """Bytes of RAM this host has (the most any emulated memory can be)."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def parse_size(text, what="--mem"):
    """'512M', '512MiB', '2G', '65536K', or a bare number of MiB -> bytes.
    ConfigError (one line) for what is not a size, not a positive multiple
    of 4 KiB, or more RAM than this host has (before anything is allocated)."""
    t = text.strip().upper()
    for suffix in _SIZE_SUFFIXES:
        if suffix and t.endswith(suffix) and t[:-len(suffix)][-1:] in _SIZE_UNITS:
            t = t[:-len(suffix)]
            break
    mult = _SIZE_UNITS.get(t[-1:], 1 << 20)
    num = t[:-1].strip() if t[-1:] in _SIZE_UNITS else t
    try:
        value = int(num, 10) * mult
    except ValueError:
        value = _fraction(num, mult, what, text)
    if value <= 0 or value % PAGE_SIZE:
        raise ConfigError("%s %r: must be a positive multiple of 4 KiB" % (what, text))
    check_host_can_give(value, "%s %s" % (what, text))
    return value


def _fraction(num, mult, what, text):
    """'1.5' of a unit (QEMU takes -m 1.5G) -> bytes; ConfigError if `num` is
    not a plain decimal number."""
    if not num.replace(".", "", 1).isdigit():
        raise ConfigError("%s %r: not a size (%s)" % (what, text, SIZE_HELP)) from None
    whole, _, frac = num.partition(".")
    return (int(whole or "0") * (10 ** len(frac)) + int(frac or "0")) * mult // (10 ** len(frac))


def check_host_can_give(size, what):
    """ConfigError unless this host has `size` bytes of RAM to back it."""
    ram = host_ram()
    if size > ram:
        raise ConfigError("%s: more memory than this host has (%s)" % (what, format_size(ram)))


def format_size(size):
    """Bytes -> '512 MiB', '23.5 GiB'."""
    for unit, name in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= unit:
            return ("%d %s" if size % unit == 0 else "%.1f %s") % (
                size // unit if size % unit == 0 else size / unit, name)
    return "%d bytes" % size


def validate(args):
    """The checks every sub-command's options get, after parsing and before
    anything runs: sizes (--mem, --host-mem), --vcpus, time limits
    (--timeout) and which output takes stdout.
    Raises ConfigError (one line, exit 2)."""
    for name, what in (("mem", "--mem"), ("host_mem", "--host-mem")):
        if getattr(args, name, None) is not None:
            parse_size(getattr(args, name), what)
    vcpus = getattr(args, "vcpus", None)
    if vcpus is not None and not 1 <= vcpus <= MAX_VCPUS:
        raise ConfigError("--vcpus %d: must be between 1 and %d" % (vcpus, MAX_VCPUS))
    timeout = getattr(args, "timeout", None)
    if timeout is not None and not timeout >= 0:       # also NaN
        raise ConfigError("--timeout %g: must be 0 (never) or a positive number of seconds"
                          % timeout)
    interactive = getattr(args, "interactive", False)
    if interactive:
        if getattr(args, "console", None) == "none":
            raise ConfigError("-i attaches the terminal to a console: give --console dN, "
                              "not none")
        if not _stdin_is_a_terminal():
            raise ConfigError("-i: stdin is not a terminal (run hvsim in one, or leave -i out)")
    if hasattr(args, "timeout") and timeout is None:
        args.timeout = 0 if interactive else DEFAULT_TIMEOUT
    on_stdout = [option + " -" for attr, option in STDOUT_OUTPUTS
                 if getattr(args, attr, None) == "-"]
    if getattr(args, "json", False) is True:
        on_stdout.append("--json")
    if len(on_stdout) > 1:
        raise ConfigError("%s: only one output can go to stdout: give the others a file"
                          % " and ".join(on_stdout))


def _stdin_is_a_terminal():
    try:
        return os.isatty(sys.stdin.fileno())
    except (AttributeError, ValueError, OSError):
        return False


# the outputs a file name of `-` sends to stdout: (args attribute, option)
STDOUT_OUTPUTS = (("trace", "--trace"), ("timeline", "--timeline"),
                  ("xenstore_dump", "--xenstore-dump"), ("snapshot_file", "--snapshot-file"),
                  ("junit", "--junit"))


def guest_options(p):
    """What each guest kernel gets: `run` and `step`."""
    p.add_argument("--cmdline", default="", help="kernel command line for every guest "
                   "(QEMU's -append)")
    p.add_argument("--ramdisk", metavar="FILE",
                   help="initramfs (or any ramdisk) for every guest, given as module 0 of "
                        "its hvm_start_info, as xl's ramdisk= (QEMU's -initrd)")
    p.add_argument("--mem", default="128M", metavar="SIZE",
                   help="memory per domain (default 128M; %s)" % SIZE_HELP)
    p.add_argument("--vcpus", type=int, default=1,
                   help="vCPUs per domain (default 1, at most %d)" % MAX_VCPUS)


def deterministic_option(p):
    """--deterministic: every command that boots guests."""
    p.add_argument("--deterministic", action="store_true",
                   help="slice by instruction count and derive time from instructions "
                        "retired: identical inputs give identical output")


def run_options(p):
    """`run` and `boot`: the mode, console prefixes, outputs and snapshots."""
    deterministic_option(p)
    pr = p.add_mutually_exclusive_group()
    pr.add_argument("--prefix", dest="prefix", action="store_true", default=None,
                    help="prefix console lines with (dN) (default with several domains)")
    pr.add_argument("--no-prefix", dest="prefix", action="store_false")
    output_options(p)
    snapshot_options(p)


DEFAULT_TIMEOUT = 60.0                 # --timeout: host seconds (none with -i)


def output_options(p):
    """The time limit, consoles and traces: every command that runs guests,
    `resume` included."""
    p.add_argument("--timeout", type=float, default=None,
                   help="give up after this many host seconds (default %g, none with -i; "
                        "0 = never)" % DEFAULT_TIMEOUT)
    p.add_argument("-i", "--interactive", action="store_true",
                   help="a session at the console: the terminal is attached to the first "
                        "domain's (or --console dN's) console and the run has no time limit "
                        "unless --timeout gives one.  Ctrl-] detaches, Ctrl-C stops hvsim")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="do not print the consoles (the guests' on stdout, Xen's lines on "
                        "stderr); the verdict or the summary table is still printed, on stderr")
    p.add_argument("--json", action="store_true",
                   help="end with the run's summary as one JSON object on stdout (domains, "
                        "verdicts, exit code) instead of the table; with -q stdout is only "
                        "that object")
    p.add_argument("--console", metavar="dN",
                   help="attach the terminal to dN's PV console for input, as `xl console` "
                        "(default: the first domain; `none`: no input; only when stdin is "
                        "a terminal).  Ctrl-] detaches")
    p.add_argument("--trace", metavar="FILE",
                   help="write an event trace (FILE.jsonl: JSON lines, else readable text; "
                        "-: stdout, e.g. with -q)")
    p.add_argument("--trace-streams", metavar="LIST",
                   default="hypercalls,exceptions,upcalls,evtchn",
                   help="comma-separated: hypercalls, exceptions, upcalls, evtchn, insn "
                        "(default: all but insn)")
    p.add_argument("--trace-insn", metavar="START:END",
                   help="trace every instruction executed in this address range")
    p.add_argument("--xenstore-dump", metavar="FILE",
                   help="after the run, write the xenstore tree (as `xenstore-ls -f -p` prints "
                        "it: path = \"value\"  (permissions)) to FILE, - for stdout")
    p.add_argument("--timeline", metavar="FILE.json",
                   help="write a boot timeline in Chrome trace format (open it in Perfetto): "
                        "a lane per domain and vCPU with boot phases, hypercalls and "
                        "blocked time; -: stdout at the end of the run")


def snapshot_options(p):
    """--snapshot-at/--snapshot-file/--snapshot-continue (hvsim/snapshot/)."""
    g = p.add_argument_group(
        "snapshots", "Save the whole system (every domain's memory and vCPUs, event channels, "
        "timers, virtual clock, scheduler, consoles) to a file at the first slice boundary at "
        "or after POINT, and stop there (exit 0); `hvsim resume FILE` carries on from it.  "
        "With --deterministic, [run to the snapshot] + [resume] prints exactly what one "
        "uninterrupted run prints.  Snapshots are pickles: resume only files you trust.")
    g.add_argument("--snapshot-at", metavar="POINT", help=POINT_HELP)
    g.add_argument("--snapshot-file", metavar="FILE",
                   help="where to write the snapshot (-: stdout, with -q; `hvsim resume -` "
                        "reads it from stdin)")
    g.add_argument("--snapshot-continue", action="store_true",
                   help="keep running after writing the snapshot (the run then ends with "
                        "its verdict as usual)")


def silence_stdout():
    """Point stdout at /dev/null so that exiting does not fail flushing a closed pipe."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
