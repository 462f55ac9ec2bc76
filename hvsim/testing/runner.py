"""`hvsim test`: run guest images as tests, like xtf-runner.

Every test is one `hvsim run` in its own process, so a crash or a hang of
one guest (or of hvsim itself) never affects another.  The processes are
forked from a server that has hvsim, Unicorn and capstone loaded already
(multiprocessing's forkserver), which saves each one Python's start-up.  A
pool of N threads (-j N) keeps N of them running; each is given `--timeout S`
and is killed by the host S+10 seconds after it started if it has not exited
by then.

Test names.  PATH arguments are ELF files or directories; a directory is
searched recursively for *.elf.  An image with a manifest beside it (the
project's guests: manifest.py) is named by it, `<env>-<name>` as XTF names
its tests test-<env>-<name>, however it was reached, and runs with the
manifest's settings and expectation.  Any other image is named after its
path below the directory given, without ".elf", with "/" replaced by "-"; an
ELF given directly is named after its file ("example").  When two images
would get the same name the later ones get "#2", "#3", ... appended.  Words
that are not paths select among the tests found (select.py); with no path at
all, the project's own guests/build is searched.

XTF's own layout: with --xtf DIR the arguments are a selection as
xtf-runner takes it (names, environments, categories; see xtf.py), and tests
have XTF's names (test-hvm64-example).

Verdicts come from `hvsim run`'s exit code (xtf-runner's codes).  `hvsim run`
refusing the image (exit 2: not a PVH ELF, ...) or failing internally is an
ERROR: the test could not be run.  Being killed by the host, or any other
exit, is a CRASH.  `hvsim test` exits with the worst verdict's code; with an
expectations file (--expect, see expect.py), with the worst verdict of the
tests that did not give their expected one (0 when all did).
"""

import argparse
import concurrent.futures
import dataclasses
import importlib
import json
import multiprocessing
import multiprocessing.connection
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

from ..errors import ConfigError, HvsimError
from . import xtf
from . import manifest, select
from .expect import UNLISTED, Expectation, Expectations
from ..options import silence_stdout, validate
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
    `path`, `group` (the directories between the PATH given and it; for XTF,
    ("xtf", test name)), the verdict it is expected to give, and `skip`: if
    set, the reason it is reported SKIP without being run.  A project guest
    also has its manifest's `env`, `base` name, `category` and `settings`."""
    name: str
    path: str
    group: tuple = ()
    expect: object = UNLISTED
    skip: str = ""
    env: str = ""
    base: str = ""
    category: str = ""
    settings: manifest.Settings = manifest.Settings()


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How every guest is run: the options passed on to `hvsim run`."""
    timeout: float = DEFAULT_TIMEOUT
    deterministic: bool = False
    mem: str = None
    cmdline: str = None

    def for_test(self, test):
        """These options with a test's own settings (its manifest's) applied."""
        s = test.settings
        return dataclasses.replace(
            self, timeout=s.timeout or self.timeout,
            deterministic=self.deterministic or s.deterministic,
            mem=s.mem or self.mem, cmdline=s.cmdline if s.cmdline is not None else self.cmdline)

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


def _test(name, path, group=()):
    """The GuestTest for an image: named and set up by its manifest if it has
    one, else called `name`."""
    m = manifest.load(path)
    if m is None:
        return GuestTest(name, path, group)
    return GuestTest(m.test_name, path, (m.env,), m.expect, env=m.env, base=m.name,
                     category=m.category, settings=m.settings)


def _xl_test(path):
    """The test an xl config describes (XTF's test-<env>-<name>.cfg): its
    name, kernel, vCPUs, memory and command line."""
    from ..toolstack import xlcfg
    cfg = xlcfg.load(path)
    if cfg.ramdisk:
        raise ConfigError("%s: ramdisk: hvsim does not load an initramfs yet" % path)
    return GuestTest(cfg.name, cfg.kernel, settings=manifest.Settings(
        vcpus=cfg.vcpus, mem="%dM" % cfg.memory_mib, cmdline=cfg.cmdline or None))


def _tests_in(path):
    """The tests a PATH argument names; ConfigError if it names nothing usable."""
    if os.path.isdir(path):
        return [_test("-".join(rel[:-1] + (rel[-1][:-len(".elf")],)),
                      os.path.join(path, *rel), rel[:-1])
                for rel in _elf_files(path)]
    if os.path.isfile(path) and path.endswith(".cfg"):
        return [_xl_test(path)]
    if os.path.isfile(path):
        base = os.path.basename(path)
        return [_test(base[:-len(".elf")] if base.endswith(".elf") else base, path)]
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


NOT_RUN = Expectation("SKIP", xtf.NO_PV, "hvsim")


def discover_xtf(directory, words, all_default=False, non_default=False, host=False):
    """The tests an xtf-runner selection names in an XTF tree (xtf.py); PV
    environments are SKIPs that do not run (and are expected to)."""
    return [GuestTest(t.name, t.path, ("xtf", t.info.name),
                      *((UNLISTED, "") if t.runnable else (NOT_RUN, xtf.NO_PV)),
                      env=t.env, base=t.info.name, category=t.info.category)
            for t in xtf.select(xtf.load(directory), words, all_default, non_default, host)]


def with_expectations(tests, expectations):
    """The tests, each with its Expectation from an Expectations file (a test
    the file does not list keeps the one it has)."""
    out = []
    for t in tests:
        exp = expectations.get(t.name)
        out.append(t if exp is UNLISTED else dataclasses.replace(t, expect=exp))
    return out


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

    @property
    def expected(self):
        """The test gave the verdict expected of it (SUCCESS if nothing was)."""
        return self.verdict == self.test.expect.verdict


def hvsim_argv(test, opts):
    """The `hvsim run` arguments for one test (`opts` already for_test()'s):
    its image once per domain it asks for."""
    s = test.settings
    argv = ["run", "--no-prefix" if s.domains == 1 else "--prefix", "--timeout", "%g" % opts.timeout]
    if opts.deterministic:
        argv.append("--deterministic")
    if opts.mem:
        argv += ["--mem", opts.mem]
    if opts.cmdline:
        argv += ["--cmdline", opts.cmdline]
    if s.vcpus:
        argv += ["--vcpus", str(s.vcpus)]
    return argv + ["--"] + [test.path] * s.domains


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
    if v == "CRASH":                        # Xen's lines are on hvsim run's stderr
        return (_first(result.stderr.splitlines(), r"^\(XEN\) .*(crashed|timeout after)")
                [len("(XEN) "):]
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
    if test.skip:
        return TestResult(test, "SKIP", 0.0, note=test.skip)
    opts = opts.for_test(test)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hvsim-test-") as tmp:
        out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        try:
            proc = _start(test, opts, live, out, err)
        except OSError as e:
            return TestResult(test, "ERROR", 0.0, note="cannot start hvsim: %s" % e)
        if proc is None:                       # the pool was interrupted
            return None
        try:
            returncode = _wait(proc, opts.hard_timeout)
            killed = returncode is None
            if killed:
                _kill(proc)
                _wait(proc)
        except BaseException:
            _kill(proc)
            _wait(proc)
            raise
        finally:
            if live is not None:
                live.discard(proc)
        result = TestResult(test, verdict_of_exit(returncode, killed), time.monotonic() - start,
                            returncode, _read_text(out), _read_text(err), killed)
    result.note = _note(result)
    return result


# What a guest process runs: hvsim's own command, as `hvsim ARGV` would
# (a (module, function) pair, so that tests can give another).
GUEST_MAIN = ("hvsim.cli", "main")
# Imported once by the server that forks the guest processes: a guest process
# starts with hvsim, Unicorn and capstone already loaded (~0.2 s each saved).
_PRELOAD = ["hvsim.cli", "hvsim.run"]
_context_lock = threading.Lock()
_context = []
# multiprocessing's Process is not thread-safe: start() polls every running
# child, and two threads reading one child's exit status from the fork server
# at once lose it (exit 255).  Every start and status read holds this lock.
_process_lock = threading.Lock()


def _process_context():
    """The multiprocessing context guest processes come from: a fork server
    with hvsim preloaded (one per `hvsim test` or pytest worker), or spawn
    where there is none."""
    with _context_lock:
        if not _context:
            try:
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(_PRELOAD)
            except ValueError:
                ctx = multiprocessing.get_context("spawn")
            _context.append(ctx)
        return _context[0]


def _guest_process(entry, argv, out, err):
    """The body of a guest process: its own session (so that a kill reaches
    everything it starts), no stdin, stdout and stderr into files, then
    `entry(argv)`; its return value is the exit code."""
    os.setsid()
    for fd, path, mode in ((0, os.devnull, os.O_RDONLY), (1, out, os.O_WRONLY),
                           (2, err, os.O_WRONLY)):
        f = os.open(path, mode)
        os.dup2(f, fd)
        os.close(f)
    module, name = entry
    sys.exit(getattr(importlib.import_module(module), name)(argv))


def _start(test, opts, live, out, err):
    """Start a guest process (None if `live` says the pool was interrupted)."""
    for path in (out, err):
        open(path, "wb").close()
    def start():
        proc = _process_context().Process(target=_guest_process, daemon=True,
                                          args=(GUEST_MAIN, hvsim_argv(test, opts), out, err))
        with _process_lock:
            proc.start()
        return proc
    return live.start(start) if live is not None else start()


def _read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _wait(proc, timeout=None):
    """A guest process's exit code once it has exited; None if it is still
    running after `timeout` seconds (None: no limit)."""
    multiprocessing.connection.wait([proc.sentinel], timeout)
    with _process_lock:
        return proc.exitcode


def _kill(proc):
    """SIGKILL a guest process and anything it started (its own session)."""
    with _process_lock:
        if proc.exitcode is not None:
            return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (AttributeError, OSError):
        proc.kill()


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


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during run_all: `results` are the tests that had finished, in
    the order of the tests."""

    def __init__(self, results):
        super().__init__()
        self.results = results


def run_all(tests, opts, jobs, on_result=None, on_tick=None):
    """Run every test, `jobs` at a time; call on_result(result) as each ends
    and on_tick() about twice a second (both in this thread).  Returns the
    results in the order of `tests`.  On Ctrl-C, kills the running guests and
    raises Interrupted with the results of the tests that had finished."""
    live = _LiveProcesses()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(jobs, len(tests))))
    results = [None] * len(tests)
    try:
        index = {pool.submit(run_test, t, opts, live): i for i, t in enumerate(tests)}
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
    except BaseException as e:
        live.kill_all()
        pool.shutdown(wait=False, cancel_futures=True)
        if isinstance(e, KeyboardInterrupt):
            raise Interrupted([r for r in results if r is not None]) from None
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
        line = "[%d/%d] %s %s %.1fs" % (self.done, self.total, r.test.name, shown_verdict(r),
                                         r.seconds)
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

def shown_verdict(r):
    """A result's verdict as reports show it: "FAILURE (expected)" for a
    known one, "SUCCESS (expected FAILURE)" for a test that did better."""
    expected = r.test.expect.verdict
    if expected == "SUCCESS":
        return r.verdict
    return "%s (expected)" % r.verdict if r.expected else "%s (expected %s)" % (r.verdict, expected)


def shown_note(r):
    """A result's note, with the expectation's reason where one applies."""
    if r.test.expect.verdict == "SUCCESS":
        return r.note
    why = r.test.expect.reason
    return "%s [%s]" % (r.note, why) if r.note and r.note != why else why


def exit_code(results, expecting=False):
    """xtf-runner's code for the worst verdict; `expecting` (an expectations
    file was given): for the worst verdict of the tests that did not give
    their expected one, 0 if all did (a test doing better exits 0 too)."""
    if not expecting:
        return EXIT_CODES[worst([r.verdict for r in results])]
    surprises = [r.verdict for r in results if not r.expected]
    return EXIT_CODES[worst(surprises)] if surprises else 0


def count_verdicts(results):
    """{verdict: how many}, for the verdicts that occurred, in VERDICTS order."""
    counts = {v: 0 for v in VERDICTS}
    for r in results:
        counts[r.verdict] += 1
    return {v: n for v, n in counts.items() if n}


def format_summary(results, elapsed, only_not_passing=False, expecting=False):
    """The summary table (test, verdict, seconds, note) and the totals line;
    `expecting`: how many gave their expected verdict, and the exit code
    from the others (see exit_code)."""
    shown = [r for r in results if not only_not_passing or r.verdict != "SUCCESS"
             or not r.expected]
    out = []
    if shown:
        w = max([len("test")] + [len(r.test.name) for r in shown])
        v = max([len("verdict")] + [len(shown_verdict(r)) for r in shown])
        out.append("%-*s  %-*s  %7s  %s" % (w, "test", v, "verdict", "seconds", "note"))
        out += [("%-*s  %-*s  %7.2f  %s" % (w, r.test.name, v, shown_verdict(r), r.seconds,
                                          shown_note(r))).rstrip()
                for r in shown]
        out.append("")
    counts = ", ".join("%d %s" % (n, v) for v, n in count_verdicts(results).items())
    total = "%d test%s in %.1fs: %s" % (len(results), "" if len(results) == 1 else "s",
                                        elapsed, counts)
    if expecting:
        surprises = [r for r in results if not r.expected]
        worse = [r.verdict for r in surprises if r.verdict != "SUCCESS"]
        out.append("%s; %d as expected, %d unexpected%s (exit %d)" % (
            total, len(results) - len(surprises), len(surprises),
            ": worst %s" % worst(worse) if worse else "", exit_code(results, True)))
        better = len(surprises) - len(worse)
        if better:
            out.append("%d test%s did better than expected: update the expectations file"
                       % (better, "" if better == 1 else "s"))
    else:
        verdict = worst([r.verdict for r in results])
        out.append("%s; worst %s (exit %d)" % (total, verdict, EXIT_CODES[verdict]))
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


def _junit_kind(r):
    """What a result is in JUnit: None (passed), "skipped", "failure", "error".
    A verdict other than SUCCESS that was expected is "skipped" (as pytest
    reports an xfail)."""
    if r.verdict == "SUCCESS":
        return None
    if r.verdict == "SKIP" or r.expected:
        return "skipped"
    return "failure" if r.verdict == "FAILURE" else "error"


def junit_tree(results, elapsed, opts, started=None):
    """A JUnit XML document: one testsuite, a testcase per test.  FAILURE is a
    <failure>, ERROR and CRASH are <error>s, SKIP and an expected verdict are
    <skipped>; the verdict is the element's type, the console is in
    <system-out>.  The suite's timestamp is when the run `started` (seconds
    since the epoch; default: now), as JUnit's is."""
    kinds = [_junit_kind(r) for r in results]
    totals = {"tests": str(len(results)), "failures": str(kinds.count("failure")),
              "errors": str(kinds.count("error")), "skipped": str(kinds.count("skipped")),
              "time": "%.3f" % elapsed}
    root = ET.Element("testsuites", name="hvsim test", **totals)
    suite = ET.SubElement(root, "testsuite", name="hvsim", hostname=socket.gethostname(),
                          timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                          **totals)
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
    kind = _junit_kind(r)
    note = shown_note(r)
    if kind == "skipped":
        message = (note or "guest reported SKIP") if r.verdict == "SKIP" else \
            "%s (expected): %s" % (r.verdict, note)
        ET.SubElement(case, "skipped", message=_xml_text(message))
    elif kind is not None:
        message = shown_verdict(r) + (": " + note if note else "")
        el = ET.SubElement(case, kind, type=r.verdict, message=_xml_text(message))
        el.text = _xml_text(format_console(r, TAIL_LINES))
    ET.SubElement(case, "system-out").text = _xml_text(r.console)
    if r.stderr:
        ET.SubElement(case, "system-err").text = _xml_text(r.stderr)


def write_junit(path, results, elapsed, opts, started=None):
    """Write the JUnit XML file (`-`: to stdout); ConfigError (one line) if it
    cannot be written."""
    tree = junit_tree(results, elapsed, opts, started)
    ET.indent(tree)
    try:
        if path == "-":
            tree.write(sys.stdout.buffer, encoding="utf-8", xml_declaration=True)
            sys.stdout.buffer.write(b"\n")
            sys.stdout.flush()
        else:
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
    "test names: a directory is searched recursively for *.elf.  The project's guests have "
    "a manifest beside each image (<name>.test.toml, from guests/tests/<name>/test.toml): "
    "they are named <env>-<name> (hvm64-example, as XTF's test-hvm64-example) however they "
    "are reached, run with their vCPUs, domains and command line, and a verdict the manifest "
    "expects (with its reason) is reported as expected.  Other images are named after their "
    "path below the directory given, without .elf, with / replaced by -; an ELF given "
    "directly after its file.  An image hvsim cannot boot at all (not a PVH ELF, ...) is an "
    "ERROR.\n\n"
    "selection: arguments that are not paths pick tests: names (hvm64-example, or example "
    "in every environment), environments (hvm64, hvm32pae, hvm32pse, hvm32, arm64; hvm) and "
    "categories, united within a kind and intersected across kinds, as xtf-runner does; "
    "with no path, the project's guests/build.  E.g. `hvsim test hvm64 smp ping-pong`, "
    "`hvsim test -k 'grant and not hvm32'`.\n\n"
    "XTF: with --xtf DIR (an XTF build or install tree: tests/<name>/info.json beside "
    "test-<env>-<name> images), the arguments are a selection as xtf-runner takes it: "
    "categories (functional, xsa, special, utility, in-development), environments (hvm64, "
    "hvm32pae, hvm32pse, hvm32, pv64, pv32pae; hvm, pv) and tests ([[test-]ENV-]NAME), "
    "united within a kind and intersected across kinds; e.g. `hvsim test --xtf DIR hvm64 "
    "xsa`.  Tests keep XTF's names (test-hvm64-example).  PV environments are SKIPs that do "
    "not run (hvsim runs HVM guests); a test's variations (hap, shadow) run once.\n\n"
    "expectations: --expect FILE lists the verdicts tests are known to give, one "
    "'NAME<TAB>VERDICT<TAB>REASON' per line (NAME may be a pattern such as test-*-xsa-195; "
    "a test not listed is expected to succeed); a known SKIP or FAILURE is reported as "
    "expected and the exit code is the worst verdict of the surprises (0 if none).")


def add_parser(subparsers):
    """Register the `test` sub-command on an argparse subparsers object."""
    p = subparsers.add_parser("test", help=HELP, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("paths", nargs="*", metavar="PATH|SELECTION",
                   help="guest ELF file, or a directory searched recursively for *.elf "
                        "(none: the project's guests/build); other words select tests by "
                        "name, environment or category; with --xtf, selection words as "
                        "xtf-runner takes them")
    xg = p.add_argument_group("XTF", "run tests from an XTF tree, selected as xtf-runner does")
    xg.add_argument("--xtf", metavar="DIR",
                    help="an XTF build or install tree (tests/<name>/info.json and "
                         "test-<env>-<name> images)")
    xg.add_argument("-a", "--all", action="store_true",
                    help="with --xtf: select the default categories (functional, xsa)")
    xg.add_argument("--non-default", action="store_true",
                    help="with --xtf: select the non-default categories (special, utility, "
                         "in-development)")
    xg.add_argument("--host", action="store_true",
                    help="with --xtf: only tests this host can run (the HVM environments)")
    p.add_argument("-k", dest="keyword", metavar="EXPR",
                   help="only tests whose name, environment or category match EXPR, as "
                        "pytest's -k: words (substrings) with and, or, not, parentheses")
    p.add_argument("--expect", metavar="FILE",
                   help="the verdicts tests are known to give, and why (see below): those "
                        "are reported as expected and only the others set the exit code")
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
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report to FILE (-: stdout)")
    p.add_argument("--list", action="store_true",
                   help="list the tests that would run (name and image) and exit")
    p.add_argument("--json", action="store_true",
                   help="with --list: the list as a JSON array of {name, path, group, "
                        "expect, skip}")
    verbosity = p.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true",
                           help="no progress; the summary lists only tests that did not "
                                "succeed or did not give their expected verdict")
    verbosity.add_argument("-v", "--verbose", action="store_true",
                           help="print the console of every test that did not pass "
                                "(ERROR, FAILURE, CRASH)")
    p.set_defaults(func=main)
    return p


def _options(args):
    """Check the command-line values; RunOptions and the job count."""
    validate(args)
    if args.json and not args.list:
        raise ConfigError("--json goes with --list (the run's results: --junit FILE)")
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        raise ConfigError("-j %d: must be at least 1" % jobs)
    if args.junit and args.junit != "-":
        parent = os.path.dirname(os.path.abspath(args.junit))
        if not os.path.isdir(parent):
            raise ConfigError("--junit %s: directory %s does not exist" % (args.junit, parent))
    return RunOptions(args.timeout, args.deterministic, args.mem, args.cmdline), jobs


def _list(tests, quiet, out, as_json=False):
    """--list: the tests' names and images (-q: names alone; --json: a JSON
    array of {name, path, group, expect, skip})."""
    if as_json:
        json.dump([{"name": t.name, "path": t.path, "group": list(t.group),
                    "expect": t.expect.verdict, "skip": t.skip or None} for t in tests],
                  out, indent=1)
        out.write("\n")
        return 0
    w = max(len(t.name) for t in tests)
    for t in tests:
        where = t.path if not t.skip else "(SKIP, not run: %s)" % t.skip
        out.write(t.name + "\n" if quiet else "%-*s  %s\n" % (w, t.name, where))
    return 0


def _tests(args):
    """The tests the arguments name, with their expectations; ConfigError if
    they name none."""
    if args.xtf is not None:
        tests = select.select(discover_xtf(args.xtf, args.paths, args.all, args.non_default,
                                           args.host), [], args.keyword)
        if not tests:
            raise ConfigError("--xtf %s: no tests selected: name tests, environments or "
                              "categories (e.g. `hvm64 xsa`), or give --all" % args.xtf)
    else:
        if args.all or args.non_default or args.host:
            raise ConfigError("--all, --non-default and --host select XTF tests: give --xtf DIR")
        paths, words = _paths_and_words(args.paths)
        tests = discover(paths)
        if not tests:
            hint = next((" (%s is an XTF tree: use --xtf %s [SELECTION])" % (p, p)
                         for p in paths if xtf.is_xtf_tree(p)), "")
            raise ConfigError("no tests found: no *.elf under %s%s" % (" ".join(paths), hint))
        tests = select.select(tests, words, args.keyword)
        if not tests:
            raise ConfigError("no tests selected by %s" % " ".join(
                words + (["-k %r" % args.keyword] if args.keyword else [])))
    if args.expect:
        tests = with_expectations(tests, Expectations.load(args.expect))
    return tests


# The project's own guests, when hvsim runs from its source tree.
PROJECT_GUESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "guests", "build")


def _paths_and_words(args):
    """Split the arguments into paths (those that exist) and selection words;
    with no path, the project's guests/build.  ConfigError if there is none."""
    paths = [a for a in args if os.path.exists(a)]
    words = [a for a in args if not os.path.exists(a)]
    bad = [w for w in words if os.sep in w or w.endswith(".elf")]
    if bad:                                  # meant as a path, not a name
        raise ConfigError("%s: no such file or directory" % bad[0])
    if paths:
        return paths, words
    if os.path.isdir(PROJECT_GUESTS):
        return [PROJECT_GUESTS], words
    raise ConfigError("no tests given: name guest images or directories, or an XTF tree "
                      "with --xtf DIR")


def _expecting(args, tests):
    """Whether verdicts are judged against expectations (--expect, or a test
    whose manifest expects a verdict)."""
    return bool(args.expect) or any(manifest.is_manifest(t.expect.where) for t in tests)


def _run(args, tests, opts, jobs):
    """Run the tests and report; the exit code."""
    progress = Progress(len(tests), enabled=not args.quiet)
    started = time.time()
    start = time.monotonic()
    progress.begin()
    interrupted = False
    try:
        results = run_all(tests, opts, jobs, progress.result, progress.tick)
    except Interrupted as e:
        results, interrupted = e.results, True
    finally:
        progress.close()
    elapsed = time.monotonic() - start
    if interrupted:
        sys.stderr.write("hvsim: interrupted: running guests killed; %d of %d tests finished\n"
                         % (len(results), len(tests)))
    try:
        _report(results, elapsed, args, sys.stderr if args.junit == "-" else sys.stdout)
    except BrokenPipeError:             # `hvsim test ... | head`: the verdict still counts
        silence_stdout()
    if args.junit:
        write_junit(args.junit, results, elapsed, opts, started)
    if interrupted:
        return EXIT_INTERRUPTED
    return exit_code(results, _expecting(args, tests))


def _report(results, elapsed, args, out):
    """-v's consoles of the tests that did not pass, then the summary."""
    if args.verbose:
        for r in results:
            if r.verdict in NOT_PASSING:
                out.write(format_console(r) + "\n")
    out.write(format_summary(results, elapsed, only_not_passing=args.quiet,
                             expecting=_expecting(args, [r.test for r in results])))
    out.flush()


def main(args):
    """`hvsim test`, given its parsed arguments: the exit code."""
    try:
        opts, jobs = _options(args)
        tests = _tests(args)
        if args.list:
            return _list(tests, args.quiet, sys.stdout, args.json)
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
