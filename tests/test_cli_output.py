"""What hvsim writes where: the guests' consoles alone on stdout, hvsim's own
lines (summary, verdicts, Xen's lines) on stderr; --version, and `-` as
stdout for the files it writes (--trace, --timeline, --junit)."""

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import unicorn

import built
from cliutil import summary, summary_table, xen_lines
from x86util import build_pvh_elf, debugcon

OK = debugcon("hello\nTest result: SUCCESS\n") + "cli\nhlt\n"


def hvsim(*args):
    r = subprocess.run([sys.executable, "-m", "hvsim", *map(str, args)], capture_output=True,
                       text=True, timeout=120)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    return r


XTF_EXAMPLE_CONSOLE = ["--- Xen Test Framework ---", "Environment: HVM 64bit (Long mode 4 levels)",
                       "Hello World", "Test result: SUCCESS"]


def test_stdout_is_the_guests_consoles_alone(xtf_dir):
    """XTF's example, one domain then two: stdout is exactly what the guests
    printed; the summary table and verdicts are on stderr."""
    example = xtf_dir / "tests" / "example" / "test-hvm64-example"
    one = hvsim("run", example)
    assert one.returncode == 0, one.stderr
    assert one.stdout.splitlines() == XTF_EXAMPLE_CONSOLE
    two = hvsim("run", "--deterministic", example, example)
    assert two.returncode == 0, two.stderr
    assert two.stdout.splitlines() == ["(d%d) %s" % (d, l) for d in (1, 2)
                                       for l in XTF_EXAMPLE_CONSOLE]
    assert summary(two.stderr) == {"d1": ("poweroff", "SUCCESS"), "d2": ("poweroff", "SUCCESS")}
    assert summary_table(two.stderr)[0].split()[:2] == ["domain", "name"]
    quiet = hvsim("run", "-q", example)
    assert quiet.returncode == 0 and quiet.stdout == ""
    assert quiet.stderr == "hvsim: d1 (test-hvm64-example): SUCCESS\n"


def test_test_results_are_on_stdout_as_xtf_runners(xtf_dir):
    """`hvsim test` on XTF's example in each HVM environment: its result rows
    and summary line are the command's output, on stdout, as xtf-runner
    prints its results (progress stays on stderr)."""
    example = xtf_dir / "tests" / "example"
    envs = ("hvm64", "hvm32pae", "hvm32pse", "hvm32")
    r = hvsim("test", *(example / ("test-%s-example" % e) for e in envs))
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {l.split()[0]: l.split()[1] for l in r.stdout.splitlines()[1:] if l.strip()}
    assert all(rows.get("test-%s-example" % e) == "SUCCESS" for e in envs), r.stdout
    assert r.stdout.splitlines()[-1].endswith("4 SUCCESS; worst SUCCESS (exit 0)"), r.stdout


def test_crash_and_timeout_reports_are_on_stderr(tmp_path):
    """A guest that spins past --timeout beside one that succeeds: the
    consoles on stdout, the timeout report and the summary on stderr."""
    spin = build_pvh_elf(tmp_path, debugcon("spinning\n") + "1: jmp 1b\n", name="spin.elf")
    ok = build_pvh_elf(tmp_path, OK, name="ok.elf")
    r = hvsim("run", "--timeout", "2", ok, spin)
    assert r.returncode == 6
    assert sorted(r.stdout.splitlines()) == ["(d1) Test result: SUCCESS", "(d1) hello",
                                             "(d2) spinning"]
    assert any("timeout after 2s" in l for l in xen_lines(r.stderr)), r.stderr
    assert summary(r.stderr) == {"d1": ("poweroff", "SUCCESS"), "d2": ("running", "CRASH")}


def test_version_names_unicorn_and_the_xen_interface():
    r = hvsim("--version")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("hvsim ")
    assert lines[1] == "Unicorn %s" % unicorn.__version__
    assert lines[2].startswith("Xen interface: Xen 4.") and "domctl 0x" in lines[2]


def test_trace_to_stdout(tmp_path):
    elf = build_pvh_elf(tmp_path, OK)
    r = hvsim("run", "-q", "--trace", "-", "--trace-streams", "hypercalls,exceptions", elf)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "-").exists()
    assert "hello" not in r.stdout                   # -q: the console is not shown
    assert r.stderr.endswith(": SUCCESS\n")          # but the verdict is


def test_quiet_still_gives_the_verdict(tmp_path):
    elf = build_pvh_elf(tmp_path, debugcon("Test result: FAILURE\n") + "cli\nhlt\n")
    r = hvsim("run", "-q", elf)
    assert r.returncode == 5 and r.stdout == ""
    assert r.stderr == "hvsim: d1 (guest.elf): FAILURE\n"


def test_timeline_to_stdout(tmp_path):
    elf = build_pvh_elf(tmp_path, OK)
    r = hvsim("run", "-q", "--timeline", "-", elf)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["otherData"]["generator"] == "hvsim" and doc["traceEvents"]


def test_junit_to_stdout_with_start_timestamp(tmp_path):
    (tmp_path / "hvm32").mkdir()
    build_pvh_elf(tmp_path / "hvm32", OK, name="ok.elf")
    build_pvh_elf(tmp_path / "hvm32", debugcon("spin\n") + "1: jmp 1b\n", name="spin.elf")
    before = time.time()
    r = hvsim("test", "--timeout", "3", "--junit", "-", tmp_path)
    after = time.time()
    assert after - before >= 3
    assert r.returncode == 6, r.stderr
    root = ET.fromstring(r.stdout)
    assert [c.get("name") for c in root.iter("testcase")] == ["hvm32-ok", "hvm32-spin"]
    assert "1 SUCCESS" in r.stderr                   # the summary moved out of the way
    stamp = time.mktime(time.strptime(root.find("testsuite").get("timestamp"),
                                      "%Y-%m-%dT%H:%M:%S"))
    # when the run started (the spinning test kept it going 3 s longer), not when it
    # ended; however long hvsim took to start on a loaded machine
    assert before - 1 <= stamp <= after - 3


def test_list_as_json(tmp_path):
    (tmp_path / "hvm32").mkdir()
    build_pvh_elf(tmp_path / "hvm32", OK, name="ok.elf")
    r = hvsim("test", "--list", "--json", tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"name": "hvm32-ok", "path": str(tmp_path / "hvm32/ok.elf"),
                                     "group": ["hvm32"], "expect": "SUCCESS", "skip": None}]


@built.needs(built.ROOT / "firmware" / "build" / "dom0less")
def test_lcm_check_as_json():
    r = subprocess.run([sys.executable, "-m", "hvsim", "lcm", "check", "--json",
                        "firmware/dom0less/boot.cfg"], capture_output=True, text=True,
                       cwd=built.ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == "dom0less" and doc["errors"] == []
    assert [(d["domid"], d["name"], d["memory"]) for d in doc["domains"]] == \
        [(1, "domU1", 32 << 20), (2, "domU2", 32 << 20)]
    assert doc["static_evtchns"]


def test_lcm_check_json_unreadable_input_is_one_line(tmp_path):
    cfg = tmp_path / "boot.cfg"
    cfg.write_text("menuentry 'x' {\n  multiboot2 /nonexistent/xen.gz\n}\n")
    r = hvsim("lcm", "check", "--json", cfg)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "no MB2 modules" in r.stderr


def test_run_summary_as_json(tmp_path):
    ok = build_pvh_elf(tmp_path, OK, name="ok.elf")
    bad = build_pvh_elf(tmp_path, debugcon("Test result: FAILURE\n") + "cli\nhlt\n",
                        name="bad.elf")
    r = hvsim("run", "-q", "--json", "--deterministic", ok, bad)
    assert r.returncode == 5, r.stderr
    doc = json.loads(r.stdout)                 # -q --json: stdout is only the object
    assert doc["verdict"] == "FAILURE" and doc["exit_code"] == 5
    rows = {d["name"]: d for d in doc["domains"]}
    assert rows["ok.elf"]["verdict"] == "SUCCESS" and rows["bad.elf"]["verdict"] == "FAILURE"
    assert [d["domid"] for d in doc["domains"]] == [1, 2]
    assert all(d["host_s"] is None and d["guest_ms"] >= 0 for d in doc["domains"])


def test_run_json_keeps_the_console_without_q(tmp_path):
    r = hvsim("run", "--json", build_pvh_elf(tmp_path, OK))
    assert r.returncode == 0, r.stderr
    console, last = r.stdout.rstrip("\n").rsplit("\n", 1)
    assert "hello" in console and json.loads(last)["verdict"] == "SUCCESS"


@built.needs(built.ROOT / "firmware" / "build" / "one")
def test_boot_summary_as_json():
    r = subprocess.run([sys.executable, "-m", "hvsim", "boot", "-q", "--json", "--deterministic",
                        "firmware/one/boot.cfg"], capture_output=True, text=True,
                       cwd=built.ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "SUCCESS" and doc["exit_code"] == 0
    assert [(d["domid"], d["name"], d["ended"]) for d in doc["domains"]] == \
        [(0, "dom0", "poweroff")]
