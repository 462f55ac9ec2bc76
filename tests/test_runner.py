"""`hvsim test` (hvsim.testing.runner) and the pytest plugin, on tiny guests
that print a verdict on port 0xE9."""

import argparse
import importlib.metadata
import io
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from hvsim.testing import runner
from x86util import build_pvh_elf, debugcon

pytest_plugins = ["pytester"]

HALT = "cli\nhlt\n"

# name -> (console text, verdict); the tree is <env>/<name>.elf
GUESTS = {
    "hvm32/ok": ("hello\nTest result: SUCCESS\n", "SUCCESS"),
    "hvm32/skip": ("Skip: no widget here\nTest result: SKIP\n", "SKIP"),
    "hvm64/error": ("Error: bad setup\nTest result: ERROR\n", "ERROR"),
    "hvm64/fail": ("Fail: 1 != 2\nTest result: FAILURE\n", "FAILURE"),
    "hvm64/noresult": ("I forgot to say\n", "CRASH"),
}


def hvsim_test(*args, timeout=60):
    """Run `hvsim test ARGS` (as `python -m hvsim.testing.runner`, which is the
    same command without needing hvsim.cli to know it)."""
    r = subprocess.run([sys.executable, "-m", "hvsim.testing.runner", *map(str, args)],
                       capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    return r


def build_tree(root, guests=GUESTS):
    """Build `guests` as root/<env>/<name>.elf; returns root."""
    for rel, (text, _) in guests.items():
        env, name = rel.split("/")
        (root / env).mkdir(parents=True, exist_ok=True)
        build_pvh_elf(root / env, debugcon(text) + HALT, name=name + ".elf")
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return build_tree(tmp_path_factory.mktemp("guests"))


def summary_line(stdout):
    """The last line of the summary `hvsim test` writes on stdout, as
    xtf-runner does (on stderr with --junit -; progress is on stderr)."""
    return stdout.strip().splitlines()[-1]


# -- the command ---------------------------------------------------------------

@pytest.mark.parametrize("rel", sorted(GUESTS))
def test_each_verdict_gives_its_exit_code(tree, rel):
    verdict = GUESTS[rel][1]
    code = runner.EXIT_CODES[verdict]
    r = hvsim_test(tree / (rel + ".elf"))
    assert r.returncode == code
    name = rel.split("/")[1]
    assert summary_line(r.stdout).startswith("1 test in ")
    assert summary_line(r.stdout).endswith(": 1 %s; worst %s (exit %d)" % (verdict, verdict, code))
    row = [l for l in r.stdout.splitlines() if l.startswith(name + " ")]
    assert row and row[0].split()[1] == verdict
    assert r.stderr.startswith("[1/1] %s %s " % (name, verdict))     # not a TTY: plain lines


def test_notes_say_why(tree):
    r = hvsim_test(tree / "hvm32/skip.elf", tree / "hvm64/fail.elf", tree / "hvm64/noresult.elf")
    assert "no widget here" in r.stdout
    assert "Fail: 1 != 2" in r.stdout
    assert "no 'Test result:' line" in r.stdout


def test_hanging_guest_times_out_as_crash(tmp_path):
    elf = build_pvh_elf(tmp_path, debugcon("spinning\n") + "1: jmp 1b\n", name="hang.elf")
    r = hvsim_test("--timeout", "1", elf, timeout=30)
    assert r.returncode == 6
    assert any(l.split()[:2] == ["hang", "CRASH"] for l in r.stdout.splitlines())
    assert "timeout after 1s" in r.stdout


def stuck_guest(argv):
    """A guest process that ignores its --timeout."""
    print("stuck", flush=True)
    time.sleep(60)


def test_host_kills_a_guest_process_that_does_not_exit(monkeypatch):
    """`hvsim run` ignoring its --timeout is killed S+grace seconds in: CRASH."""
    # killed 5 s in: time for the process to import this module and print, even on a
    # loaded machine
    monkeypatch.setattr(runner, "HARD_KILL_GRACE", 4.5)
    monkeypatch.setattr(runner, "GUEST_MAIN", ("test_runner", "stuck_guest"))
    t = runner.GuestTest("stuck", "/nonexistent/stuck.elf")
    r = runner.run_test(t, runner.RunOptions(timeout=0.5))
    assert r.killed and r.verdict == "CRASH" and r.returncode is None
    assert 5 <= r.seconds < 20
    assert "stuck" in r.console and "killed by the host" in r.note


def test_directory_runs_everything_in_parallel(tree):
    r = hvsim_test("-j", "2", tree)
    assert r.returncode == 6                                  # the worst: CRASH
    names = ["hvm32-ok", "hvm32-skip", "hvm64-error", "hvm64-fail", "hvm64-noresult"]
    rows = [l.split()[:2] for l in r.stdout.splitlines()]
    for rel, name in zip(sorted(GUESTS), names):
        assert [name, GUESTS[rel][1]] in rows
    assert summary_line(r.stdout).startswith("5 tests in ")
    assert "1 SUCCESS, 1 SKIP, 1 ERROR, 1 FAILURE, 1 CRASH; worst CRASH (exit 6)" \
        in summary_line(r.stdout)
    progress = [l for l in r.stderr.splitlines() if l.startswith("[")]
    assert len(progress) == 5 and progress[-1].startswith("[5/5] ")


def test_worst_verdict_without_a_crash(tree):
    r = hvsim_test("-j", "2", tree / "hvm32", tree / "hvm64/fail.elf")
    assert r.returncode == 5
    table = r.stdout.splitlines()
    assert [l.split()[0] for l in table[1:4]] == ["ok", "skip", "fail"]


def test_list_runs_nothing(tree):
    r = hvsim_test("--list", tree)
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert [l.split()[0] for l in lines] == ["hvm32-ok", "hvm32-skip", "hvm64-error",
                                             "hvm64-fail", "hvm64-noresult"]
    assert lines[0].split()[1] == str(tree / "hvm32" / "ok.elf")


def test_junit_xml(tree, tmp_path):
    out = tmp_path / "report.xml"
    r = hvsim_test("-j", "2", "--junit", out, tree)
    assert r.returncode == 6
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("5", "1", "2", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert sorted(cases) == ["hvm32-ok", "hvm32-skip", "hvm64-error", "hvm64-fail",
                             "hvm64-noresult"]
    assert all(float(c.get("time")) > 0 for c in cases.values())
    assert cases["hvm32-ok"].find("failure") is None and cases["hvm32-ok"].find("error") is None
    assert cases["hvm32-skip"].find("skipped").get("message") == "no widget here"
    fail = cases["hvm64-fail"].find("failure")
    assert fail.get("type") == "FAILURE" and "Fail: 1 != 2" in fail.get("message")
    assert cases["hvm64-error"].find("error").get("type") == "ERROR"
    assert cases["hvm64-noresult"].find("error").get("type") == "CRASH"
    assert cases["hvm32-ok"].get("classname") == "hvsim.hvm32"
    assert "Test result: SUCCESS" in cases["hvm32-ok"].find("system-out").text


def test_verbose_shows_failing_consoles_quiet_hides_progress(tree):
    v = hvsim_test("-v", tree / "hvm64/fail.elf", tree / "hvm32/ok.elf")
    assert "---- fail: FAILURE" in v.stdout and "Fail: 1 != 2" in v.stdout
    assert "---- ok:" not in v.stdout
    q = hvsim_test("-q", tree / "hvm64/fail.elf", tree / "hvm32/ok.elf")
    assert q.returncode == 5 and q.stderr == ""
    rows = [l.split()[0] for l in q.stdout.splitlines() if l.strip()]
    assert not any(r.startswith("[") for r in rows)               # -q: no progress
    assert "fail" in rows and "ok" not in rows


def test_unbootable_image_is_an_error(tmp_path):
    (tmp_path / "junk.elf").write_bytes(b"MZ" + bytes(100))
    r = hvsim_test(tmp_path)
    assert r.returncode == 4
    assert "not an ELF file" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["{tmp}/nope.elf"], "{tmp}/nope.elf: no such file or directory"),
    (["{tmp}"], "no tests found"),
    (["-j", "0", "{tmp}"], "-j 0: must be at least 1"),
    (["--timeout", "-1", "{tmp}"], "--timeout -1"),
    (["--mem", "lots", "{tmp}"], "--mem 'lots'"),
    (["--junit", "{tmp}/no/such/dir/r.xml", "{tmp}"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    r = hvsim_test(*[a.format(tmp=tmp_path) for a in args])
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message.format(tmp=tmp_path) in r.stderr and r.stdout == ""


def test_names_and_clashes(tmp_path):
    for rel in ("b/x.elf", "a/deep/y.elf", "a/z.elf", "notes.txt", ".hidden/w.elf"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    tests = runner.discover([str(tmp_path), str(tmp_path / "a" / "z.elf"),
                             str(tmp_path / "b" / "x.elf"), str(tmp_path / "b" / "x.elf")])
    assert [t.name for t in tests] == ["a-deep-y", "a-z", "b-x"]       # same images once
    other = tmp_path / "c" / "x.elf"
    other.parent.mkdir()
    other.write_bytes(b"")
    assert [t.name for t in runner.discover([str(tmp_path / "b/x.elf"), str(other)])] == \
        ["x", "x#2"]
    assert runner.discover([str(tmp_path)])[0].group == ("a", "deep")


def test_progress_bar_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True
    stream = Tty()
    p = runner.Progress(2, stream)
    p.begin()
    t = runner.GuestTest("hvm64-x", "x.elf")
    p.result(runner.TestResult(t, "SUCCESS", 0.1))
    p.result(runner.TestResult(t, "FAILURE", 0.2, note="Fail: boom"))
    p.close()
    text = stream.getvalue()
    assert "\r\x1b[K[" in text and "2/2" in text
    assert "[2/2] hvm64-x FAILURE 0.2s  (Fail: boom)\n" in text      # stays on screen
    assert "[1/2] hvm64-x SUCCESS" not in text                       # passes only in the bar
    assert text.endswith("\r\x1b[K")


def test_main_is_callable_with_parsed_args(tree, capsys):
    parser = argparse.ArgumentParser(prog="hvsim")
    runner.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["test", "--list", "-q", str(tree / "hvm32")])
    assert args.func is runner.main
    assert runner.main(args) == 0
    assert capsys.readouterr().out == "ok\nskip\n"


# -- the pytest plugin ---------------------------------------------------------

def test_plugin_is_registered():
    eps = importlib.metadata.entry_points(group="pytest11")
    assert any(ep.name == "hvsim" and ep.value == "hvsim.testing.pytest_plugin" for ep in eps), \
        "reinstall: pip install -e '.[dev]'"


@pytest.fixture
def plugin_tree(pytester):
    return build_tree(pytester.path / "guests")


def test_plugin_runs_guests(pytester, plugin_tree):
    r = pytester.runpytest("--hvsim-guests", "guests", "--hvsim-timeout", "10", "-rfs")
    r.assert_outcomes(passed=1, skipped=1, failed=3)
    out = r.stdout.str()
    r.stdout.fnmatch_lines(["*guests::hvm64-error - ERROR: Error: bad setup*",
                            "*guests::hvm64-fail - FAILURE: Fail: 1 != 2*",
                            "*guests::hvm64-noresult - CRASH: no 'Test result:' line*"])
    assert "no widget here" in out                                # the skip reason
    assert "I forgot to say" in out                               # the console tail


def test_plugin_with_xdist_and_k(pytester, plugin_tree):
    r = pytester.runpytest_subprocess("--hvsim-guests", "guests", "-n", "2", "-k", "hvm32",
                                      "--hvsim-deterministic")
    r.assert_outcomes(passed=1, skipped=1)


def test_plugin_does_nothing_without_its_option(pytester, plugin_tree):
    pytester.makepyfile("def test_one():\n    pass\n")
    r = pytester.runpytest()
    r.assert_outcomes(passed=1)


def test_plugin_bad_directory_is_a_usage_error(pytester):
    r = pytester.runpytest("--hvsim-guests", "nowhere")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*--hvsim-guests nowhere: no such directory*"])
