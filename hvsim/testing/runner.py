"""`hvsim test`: run guest images as tests, like xtf-runner.

Every test is one `python -m hvsim run` subprocess, so a crash or a hang of
one guest (or of hvsim itself) never affects another.  A pool of N threads
(-j N) keeps N of them running; each is given `--timeout S` and is killed by
the host S+10 seconds after it started if it has not exited by then.

Test names.  PATH arguments are ELF files or directories; a directory is
searched recursively for *.elf.  A test's name is the image's path below the
directory given, without ".elf", with "/" replaced by "-", as XTF names its
tests: guests/build/hvm64/example.elf found under guests/build is
"hvm64-example" (XTF's test-hvm64-example).  An ELF given directly is named
after its file ("example").  When two images would get the same name the
later ones get "#2", "#3", ... appended.

Verdicts come from `hvsim run`'s exit code (xtf-runner's codes).  `hvsim run`
refusing the image (exit 2: not a PVH ELF, ...) or failing internally is an
ERROR: the test could not be run.  Being killed by the host, or any other
exit, is a CRASH.  `hvsim test` exits with the worst verdict's code.
"""

import argparse
import concurrent.futures
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

from ..errors import ConfigError, HvsimError
from ..options import parse_size, silence_stdout
from ..verdict import (EXIT_BROKEN_PIPE, EXIT_CODES, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE,
                       VERDICTS, worst)

DEFAULT_TIMEOUT = 60.0
HARD_KILL_GRACE = 10.0          # host kill at --timeout + this many seconds
TAIL_LINES = 20                 # console lines shown for a failing test

VERDICT_OF_EXIT = {code: verdict for verdict, code in EXIT_CODES.items()}
NOT_PASSING = ("ERROR", "FAILURE", "CRASH")


# -- what to run -------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class GuestTest:
    """One guest image to run: `name` (see the module docstring), the image
    `path`, and `group`, the directories between the PATH given and it."""
    name: str
    path: str
    group: tuple = ()


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How every guest is run: the options passed on to `hvsim run`."""
    timeout: float = DEFAULT_TIMEOUT
    deterministic: bool = False
    mem: str = None
    cmdline: str = None

    @property
    def hard_timeout(self):
        """Host seconds after which a guest process is killed (None: never)."""
        return self.timeout + HARD_KILL_GRACE if self.timeout else None


def _elf_files(directory):
    """Every *.elf file below `directory`, as sorted relative path tuples."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = os.path.relpath(root, directory)
        parts = () if rel == os.curdir else tuple(rel.split(os.sep))
        found += [parts + (f,) for f in files
                  if f.endswith(".elf") and os.path.isfile(os.path.join(root, f))]
    return sorted(found)


def _tests_in(path):
    """The tests a PATH argument names; ConfigError if it names nothing usable."""
    if os.path.isdir(path):
        return [GuestTest("-".join(rel[:-1] + (rel[-1][:-len(".elf")],)),
                          os.path.join(path, *rel), rel[:-1])
                for rel in _elf_files(path)]
    if os.path.isfile(path):
        base = os.path.basename(path)
        return [GuestTest(base[:-len(".elf")] if base.endswith(".elf") else base, path)]
    if os.path.exists(path):
        raise ConfigError("%s: not a file or a directory" % path)
    raise ConfigError("%s: no such file or directory" % path)


def _unique(tests):
    """Drop images named twice; make clashing test names unique with '#N'."""
    seen_paths, seen_names, out = set(), {}, []
    for t in tests:
        real = os.path.realpath(t.path)
        if real in seen_paths:
            continue
        seen_paths.add(real)
        n = seen_names.get(t.name, 0) + 1
        seen_names[t.name] = n
        out.append(t if n == 1 else dataclasses.replace(t, name="%s#%d" % (t.name, n)))
    return out


def discover(paths):
    """The tests to run for PATH arguments, in argument order, each directory's
    images sorted.  Raises ConfigError for a PATH that does not exist."""
    tests = []
    for p in paths:
        tests += _tests_in(p)
    return _unique(tests)


# -- running one test ----------------------------------------------------------

@dataclasses.dataclass
class TestResult:
    """What one guest run gave: its verdict, how long it took, `hvsim run`'s
    exit code (None if it was killed or never started) and output."""
    test: GuestTest
    verdict: str
    seconds: float
    returncode: int = None
    console: str = ""
    stderr: str = ""
    killed: bool = False
    note: str = ""

    @property
    def console_lines(self):
        return self.console.splitlines()


def hvsim_command(test, opts):
    """The `hvsim run` command line for one test."""
    cmd = [sys.executable, "-m", "hvsim", "run", "--no-prefix", "--timeout", "%g" % opts.timeout]
    if opts.deterministic:
        cmd.append("--deterministic")
    if opts.mem:
        cmd += ["--mem", opts.mem]
    if opts.cmdline:
        cmd += ["--cmdline", opts.cmdline]
    return cmd + ["--", test.path]


def _child_env():
    """The environment of a guest process: this hvsim first on the path."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def verdict_of_exit(returncode, killed=False):
    """xtf-runner's verdict for `hvsim run`'s exit code."""
    if killed or returncode is None:
        return "CRASH"
    if returncode in VERDICT_OF_EXIT:
        return VERDICT_OF_EXIT[returncode]
    if returncode in (EXIT_USAGE, EXIT_INTERNAL):
        return "ERROR"          # hvsim could not run the image at all
    return "CRASH"


def _first(lines, pattern):
    """The first line matching `pattern` (a regex), stripped, else ''."""
    rx = re.compile(pattern)
    return next((l.strip() for l in lines if rx.search(l)), "")


def skip_reason(console_lines):
    """The reason a skipped guest gave: its last 'Skip...' line, if any."""
    for line in reversed(console_lines):
        m = re.match(r"\s*Skip(ped)?\b[:\s]*(.*)", line, re.IGNORECASE)
        if m:
            return m.group(2).strip() or line.strip()
    return ""


def _note(result):
    """One short line saying why a test did not pass ('' if it did)."""
    lines = result.console_lines
    v = result.verdict
    if result.killed:
        return "killed by the host: no exit %gs after start" % result.seconds
    if result.returncode in (EXIT_USAGE, EXIT_INTERNAL):
        err = [l for l in result.stderr.splitlines() if l.strip()]
        text = err[-1] if err else "hvsim run exited %d" % result.returncode
        return re.sub(r"^hvsim: (error: )?", "", text.strip())
    if v == "SKIP":
        return skip_reason(lines)
    if v == "CRASH":
        return (_first(lines, r"^\(XEN\) .*(crashed|timeout after)")[len("(XEN) "):]
                or _first(lines, r"^\s*PANIC")
                or ("no 'Test result:' line" if result.returncode == EXIT_CODES["CRASH"]
                    else "hvsim run exited %s" % result.returncode))
    if v in ("ERROR", "FAILURE"):
        return _first(lines, r"^\s*(Fail|Error|PANIC)")
    return ""


def run_test(test, opts, live=None):
    """Run one guest in its own `hvsim run` process and return its TestResult.

    `live`, if given, is a _LiveProcesses the process is registered with while
    it runs (so that an interrupted pool can kill it).  Never raises for
    anything the guest or hvsim does."""
    start = time.monotonic()
    try:
        proc = _start(test, opts, live)
    except OSError as e:
        return TestResult(test, "ERROR", 0.0, note="cannot start hvsim: %s" % e)
    if proc is None:                       # the pool was interrupted
        return None
    killed = False
    try:
        try:
            out, err = proc.communicate(timeout=opts.hard_timeout)
        except subprocess.TimeoutExpired:
            killed = True
            _kill(proc)
            out, err = proc.communicate()
    except BaseException:
        _kill(proc)
        proc.wait()
        raise
    finally:
        if live is not None:
            live.discard(proc)
    result = TestResult(test, verdict_of_exit(proc.returncode, killed),
                        time.monotonic() - start, None if killed else proc.returncode,
                        out or "", err or "", killed)
    result.note = _note(result)
    return result


def _start(test, opts, live):
    """Start a guest process (None if `live` says the pool was interrupted)."""
    def popen():
        return subprocess.Popen(hvsim_command(test, opts), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=_child_env(), text=True, encoding="utf-8",
                                errors="replace", start_new_session=True)
    return live.start(popen) if live is not None else popen()


def _kill(proc):
    """SIGKILL a guest process and anything it started (its own session)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (AttributeError, OSError):
        proc.kill()


# -- running many ------------------------------------------------------------

class _LiveProcesses:
    """The guest processes a pool is running, so that Ctrl-C can kill them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs = set()
        self.stopped = False

    def start(self, popen):
        with self.lock:
            if self.stopped:
                return None
            proc = popen()
            self.procs.add(proc)
            return proc

    def discard(self, proc):
        with self.lock:
            self.procs.discard(proc)

    def kill_all(self):
        with self.lock:
            self.stopped = True
            for p in self.procs:
                _kill(p)


def run_all(tests, opts, jobs, on_result=None, on_tick=None):
    """Run every test, `jobs` at a time; call on_result(result) as each ends
    and on_tick() about twice a second (both in this thread).  Returns the
    results in the order of `tests`.  On Ctrl-C, kills the running guests and
    re-raises KeyboardInterrupt."""
    live = _LiveProcesses()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(jobs, len(tests))))
    try:
        index = {pool.submit(run_test, t, opts, live): i for i, t in enumerate(tests)}
        results = [None] * len(tests)
        pending = set(index)
        while pending:
            done, pending = concurrent.futures.wait(
                pending, timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED)
            for fut in sorted(done, key=index.get):
                results[index[fut]] = fut.result()
                if on_result:
                    on_result(results[index[fut]])
            if on_tick:
                on_tick()
        return results
    except BaseException:
        live.kill_all()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)


# -- progress ----------------------------------------------------------------

class Progress:
    """Progress on a stream: a redrawn bar on a terminal, else one line per
    test ("[3/40] hvm64-example SUCCESS 0.4s"); nothing when disabled."""

    def __init__(self, total, stream=None, enabled=True, bar=None):
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.bar = _isatty(self.stream) if bar is None else bar
        self.done = 0
        self.last = ""
        self.counts = {}
        self.start = time.monotonic()

    def begin(self):
        """Draw the empty bar."""
        if self.enabled and self.bar:
            self._draw("")

    def result(self, r):
        """Record a finished test and show it."""
        self.done += 1
        self.counts[r.verdict] = self.counts.get(r.verdict, 0) + 1
        if not self.enabled:
            return
        line = "[%d/%d] %s %s %.1fs" % (self.done, self.total, r.test.name, r.verdict, r.seconds)
        if not self.bar:
            self._write(line + "\n")
            return
        if r.verdict != "SUCCESS":          # keep the tests that did not pass on screen
            self._write("\r\x1b[K" + line + ("  (%s)" % r.note if r.note else "") + "\n")
        self.last = "last: " + r.test.name
        self._draw(self.last)

    def tick(self):
        """Redraw the bar (its clock) while tests run."""
        if self.enabled and self.bar:
            self._draw(self.last)

    def close(self):
        """Clear the bar, leaving the lines written above it."""
        if self.enabled and self.bar:
            self._write("\r\x1b[K")

    def _draw(self, last):
        """Redraw the bar line: [####....] done/total seconds counts last."""
        width = shutil.get_terminal_size((80, 24)).columns
        slots = 24
        filled = slots * self.done // max(1, self.total)
        counts = " ".join("%s %d" % (v, self.counts[v]) for v in VERDICTS if v in self.counts)
        text = "[%s%s] %d/%d %.0fs %s %s" % ("#" * filled, "." * (slots - filled), self.done,
                                          self.total, time.monotonic() - self.start, counts, last)
        self._write("\r\x1b[K" + text[:max(10, width - 1)])

    def _write(self, text):
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False            # a closed or broken stream: stop reporting


def _isatty(stream):
    """Whether `stream` is a terminal (False for anything that cannot say)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


# -- reports -----------------------------------------------------------------

def count_verdicts(results):
    """{verdict: how many}, for the verdicts that occurred, in VERDICTS order."""
    counts = {v: 0 for v in VERDICTS}
    for r in results:
        counts[r.verdict] += 1
    return {v: n for v, n in counts.items() if n}


def format_summary(results, elapsed, only_not_passing=False):
    """The summary table (test, verdict, seconds, note) and the totals line."""
    shown = [r for r in results if not only_not_passing or r.verdict != "SUCCESS"]
    out = []
    if shown:
        w = max([len("test")] + [len(r.test.name) for r in shown])
        out.append("%-*s  %-7s  %7s  %s" % (w, "test", "verdict", "seconds", "note"))
        out += [("%-*s  %-7s  %7.2f  %s" % (w, r.test.name, r.verdict, r.seconds, r.note)).rstrip()
                for r in shown]
        out.append("")
    counts = count_verdicts(results)
    verdict = worst([r.verdict for r in results])
    out.append("%d test%s in %.1fs: %s; worst %s (exit %d)" % (
        len(results), "" if len(results) == 1 else "s", elapsed,
        ", ".join("%d %s" % (n, v) for v, n in counts.items()), verdict, EXIT_CODES[verdict]))
    return "\n".join(out) + "\n"


def format_console(result, tail=None, header=True):
    """A test's console (its last `tail` lines) and stderr, under a header."""
    lines = result.console_lines
    cut = lines[-tail:] if tail and len(lines) > tail else lines
    body = ([("[... %d earlier lines ...]" % (len(lines) - len(cut)))] if len(cut) < len(lines)
            else []) + cut + ["[stderr] " + l for l in result.stderr.splitlines()]
    head = ["---- %s: %s (%s) ----" % (result.test.name, result.verdict, result.test.path)]
    return "\n".join((head if header else []) + (body or ["(no output)"])) + "\n"


_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text):
    """`text` without the characters XML 1.0 cannot hold."""
    return _XML_BAD.sub("\ufffd", text)


def junit_tree(results, elapsed, opts):
    """A JUnit XML document: one testsuite, a testcase per test.  FAILURE is a
    <failure>, ERROR and CRASH are <error>s, SKIP is <skipped>; the verdict is
    the element's type, the console is in <system-out>."""
    counts = count_verdicts(results)
    totals = {"tests": str(len(results)), "failures": str(counts.get("FAILURE", 0)),
              "errors": str(counts.get("ERROR", 0) + counts.get("CRASH", 0)),
              "skipped": str(counts.get("SKIP", 0)), "time": "%.3f" % elapsed}
    root = ET.Element("testsuites", name="hvsim test", **totals)
    suite = ET.SubElement(root, "testsuite", name="hvsim", hostname=socket.gethostname(),
                          timestamp=time.strftime("%Y-%m-%dT%H:%M:%S"), **totals)
    props = ET.SubElement(suite, "properties")
    for k, v in (("timeout", "%g" % opts.timeout),
                 ("deterministic", "true" if opts.deterministic else "false")):
        ET.SubElement(props, "property", name=k, value=v)
    for r in results:
        _junit_case(suite, r)
    return ET.ElementTree(root)


def _junit_case(suite, r):
    """One <testcase>: classname "hvsim.<dirs>", the verdict, the output."""
    case = ET.SubElement(suite, "testcase", name=_xml_text(r.test.name),
                         classname=_xml_text(".".join(("hvsim",) + r.test.group)),
                         file=_xml_text(r.test.path), time="%.3f" % r.seconds)
    message = r.verdict + (": " + r.note if r.note else "")
    if r.verdict == "SKIP":
        ET.SubElement(case, "skipped", message=_xml_text(r.note or "guest reported SKIP"))
    elif r.verdict in NOT_PASSING:
        tag = "failure" if r.verdict == "FAILURE" else "error"
        el = ET.SubElement(case, tag, type=r.verdict, message=_xml_text(message))
        el.text = _xml_text(format_console(r, TAIL_LINES))
    ET.SubElement(case, "system-out").text = _xml_text(r.console)
    if r.stderr:
        ET.SubElement(case, "system-err").text = _xml_text(r.stderr)


def write_junit(path, results, elapsed, opts):
    """Write the JUnit XML file; ConfigError (one line) if it cannot be written."""
    tree = junit_tree(results, elapsed, opts)
    ET.indent(tree)
    try:
        tree.write(path, encoding="utf-8", xml_declaration=True)
    except OSError as e:
        raise ConfigError("--junit %s: cannot write: %s" % (path, e.strerror or e)) from None


# -- the command -------------------------------------------------------------

HELP = "run guest images as tests, like xtf-runner"
DESCRIPTION = (
    "Run each guest image (a PVH ELF, XTF-style test) in its own `hvsim run` process, "
    "several at once, and exit with xtf-runner's code for the worst verdict: SUCCESS 0, "
    "SKIP 3, ERROR 4, FAILURE 5, CRASH 6 (crash, no result line, timeout, killed).  Every "
    "test runs: one failing never stops the others.")
EPILOG = (
    "test names: a directory is searched recursively for *.elf; a test is named after its "
    "image's path below that directory, without .elf, with / replaced by - (under "
    "guests/build, hvm64/example.elf is 'hvm64-example', XTF's test-hvm64-example).  An ELF "
    "given directly is named after its file.  An image hvsim cannot boot at all (not a PVH "
    "ELF, ...) is an ERROR.")


def add_parser(subparsers):
    """Register the `test` sub-command on an argparse subparsers object."""
    p = subparsers.add_parser("test", help=HELP, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="guest ELF file, or a directory searched recursively for *.elf")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="run N guests at once (default: the number of CPUs, %d here)"
                        % (os.cpu_count() or 1))
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                   help="per-test limit in host seconds, passed to `hvsim run`; a guest "
                        "process still alive S+%g s after its start is killed (CRASH) "
                        "(default %g; 0 = never)" % (HARD_KILL_GRACE, DEFAULT_TIMEOUT))
    p.add_argument("--deterministic", action="store_true",
                   help="run every guest with `hvsim run --deterministic`")
    p.add_argument("--mem", default=None, metavar="SIZE",
                   help="memory per guest (default: hvsim run's)")
    p.add_argument("--cmdline", default=None, metavar="S",
                   help="kernel command line for every guest")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report to FILE")
    p.add_argument("--list", action="store_true",
                   help="list the tests that would run (name and image) and exit")
    verbosity = p.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true",
                           help="no progress; the summary lists only tests that did not succeed")
    verbosity.add_argument("-v", "--verbose", action="store_true",
                           help="print the console of every test that did not pass "
                                "(ERROR, FAILURE, CRASH)")
    p.set_defaults(func=main)
    return p


def _options(args):
    """Check the command-line values; RunOptions and the job count."""
    if args.timeout < 0:
        raise ConfigError("--timeout %g: must be 0 (never) or a positive number of seconds"
                          % args.timeout)
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        raise ConfigError("-j %d: must be at least 1" % jobs)
    if args.mem is not None:
        parse_size(args.mem)
    if args.junit:
        parent = os.path.dirname(os.path.abspath(args.junit))
        if not os.path.isdir(parent):
            raise ConfigError("--junit %s: directory %s does not exist" % (args.junit, parent))
    return RunOptions(args.timeout, args.deterministic, args.mem, args.cmdline), jobs


def _list(tests, quiet, out):
    """--list: the tests' names and images (-q: names alone)."""
    w = max(len(t.name) for t in tests)
    for t in tests:
        out.write(t.name + "\n" if quiet else "%-*s  %s\n" % (w, t.name, t.path))
    return 0


def _run(args, tests, opts, jobs):
    """Run the tests and report; the exit code."""
    progress = Progress(len(tests), enabled=not args.quiet)
    start = time.monotonic()
    progress.begin()
    try:
        results = run_all(tests, opts, jobs, progress.result, progress.tick)
    finally:
        progress.close()
    elapsed = time.monotonic() - start
    try:
        _report(results, elapsed, args.verbose, args.quiet, sys.stdout)
    except BrokenPipeError:             # `hvsim test ... | head`: the verdict still counts
        silence_stdout()
    if args.junit:
        write_junit(args.junit, results, elapsed, opts)
    return EXIT_CODES[worst([r.verdict for r in results])]


def _report(results, elapsed, verbose, quiet, out):
    """-v's consoles of the tests that did not pass, then the summary."""
    if verbose:
        for r in results:
            if r.verdict in NOT_PASSING:
                out.write(format_console(r) + "\n")
    out.write(format_summary(results, elapsed, only_not_passing=quiet))
    out.flush()


def main(args):
    """`hvsim test`, given its parsed arguments: the exit code."""
    try:
        opts, jobs = _options(args)
        tests = discover(args.paths)
        if not tests:
            raise ConfigError("no tests found: no *.elf under %s" % " ".join(args.paths))
        if args.list:
            return _list(tests, args.quiet, sys.stdout)
        return _run(args, tests, opts, jobs)
    except HvsimError as e:
        sys.stderr.write("hvsim: error: %s\n" % e)
        return EXIT_USAGE
    except BrokenPipeError:
        silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        sys.stderr.write("hvsim: interrupted: running guests killed\n")
        return EXIT_INTERRUPTED


def build_parser():
    """A stand-alone `hvsim` parser with just the `test` sub-command."""
    p = argparse.ArgumentParser(prog="hvsim")
    add_parser(p.add_subparsers(dest="command", metavar="COMMAND", required=True))
    return p


def cli(argv=None):
    """`python -m hvsim.testing.runner PATH...` == `hvsim test PATH...`."""
    args = build_parser().parse_args(["test"] + list(sys.argv[1:] if argv is None else argv))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(cli())
