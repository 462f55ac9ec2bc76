"""`--timeline FILE.json`: boot timelines in Chrome trace event format."""

import json
import os
import subprocess
import sys

import pytest

import built

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "guests", "build")

needs_build = built.needs(os.path.join(BUILD, "hvm64", "example.elf"),
                          os.path.join(ROOT, "firmware", "build"), how=built.MAKE_FIRMWARE)


def hvsim(*args):
    r = subprocess.run([sys.executable, "-m", "hvsim", *args], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def timeline(tmp_path, *args, name="tl.json"):
    path = tmp_path / name
    r = hvsim(*args, "-q", "--timeline", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(path.read_text())
    assert doc["otherData"]["generator"] == "hvsim"
    return path, doc["traceEvents"]


def lanes(events):
    """{(pid, tid): lane name} and {pid: process name} from the metadata."""
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
               if e["ph"] == "M" and e["name"] == "thread_name"}
    procs = {e["pid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "process_name"}
    return threads, procs


def spans(events, pid, tid, name=None):
    return sorted(((e["ts"], e["ts"] + e["dur"], e["name"]) for e in events
                   if e["ph"] == "X" and e["pid"] == pid and e["tid"] == tid
                   and (name is None or e["name"] == name)))


@needs_build
@pytest.mark.parametrize("env,phases", [
    ("hvm32", ["32-bit"]),
    ("hvm32pse", ["32-bit", "32-bit paged"]),
    ("hvm32pae", ["32-bit", "32-bit PAE"]),
    ("hvm64", ["32-bit", "compat", "64-bit"]),
])
def test_boot_phases_follow_the_mode_switches(tmp_path, env, phases):
    _, events = timeline(tmp_path, "run", "--deterministic",
                         os.path.join(BUILD, env, "example.elf"))
    threads, procs = lanes(events)
    assert procs == {1: "d1 example.elf"}
    assert threads == {(1, 1): "v0", (1, 2): "v0 mode"}
    mode = spans(events, 1, 2)
    assert [name for _, _, name in mode] == phases
    assert mode[0][0] == 0
    for (_, end, _), (start, _, _) in zip(mode, mode[1:]):
        assert start == pytest.approx(end, abs=1e-6)  # phases tile the vCPU's life
    end_of_life = next(e["ts"] for e in events if e["ph"] == "i" and e["name"] == "poweroff")
    assert mode[-1][1] == pytest.approx(end_of_life, abs=0.01)


@needs_build
def test_hypercalls_nest_inside_running_slices(tmp_path):
    _, events = timeline(tmp_path, "run", "--deterministic",
                         os.path.join(BUILD, "hvm64", "hypercalls.elf"))
    running = spans(events, 1, 1, "running")
    calls = [e for e in events if e["ph"] == "X" and e["tid"] == 1 and "call" in
             e.get("args", {})]
    assert len(calls) > 100
    assert any(e["name"] == "xen_version" and "XENVER_version" in e["args"]["call"]
               for e in calls)
    assert any(e["args"]["call"].endswith("= -ENOSYS") for e in calls)
    for e in calls:
        assert any(s <= e["ts"] and e["ts"] + e["dur"] <= t for s, t, _ in running), e


@needs_build
def test_exceptions_are_marked(tmp_path):
    _, events = timeline(tmp_path, "run", "--deterministic",
                         os.path.join(BUILD, "hvm64", "exceptions.elf"))
    marks = {e["name"] for e in events if e["ph"] == "i" and e["tid"] == 1}
    assert {"#PF", "#GP", "#UD", "#BP", "#DE"} <= marks


@needs_build
def test_demo3_lanes_blocked_time_and_domain_events(tmp_path):
    path, events = timeline(tmp_path, "boot", "--deterministic", "firmware/demo3")
    threads, procs = lanes(events)
    assert procs == {0: "d0 ctl", 1: "d1 hw", 2: "d2 guest"}
    assert {name for (pid, _), name in threads.items() if pid == 1} >= {"v0", "v0 mode"}
    # the control domain blocks waiting for VIRQ_DOM_EXC; the hardware domain for its port
    assert spans(events, 0, 1, "blocked")
    # it paused and unpaused the guest, and every domain powered off
    d2 = [e["name"] for e in events if e["ph"] == "i" and e["pid"] == 2 and e["s"] == "p"]
    assert d2 == ["unpaused", "paused", "unpaused", "poweroff"]
    assert all(any(e["ph"] == "i" and e["pid"] == d and e["name"] == "poweroff"
                   for e in events) for d in (0, 1, 2))
    # deterministic: the same file twice, also when a trace is written alongside
    again, _ = timeline(tmp_path, "boot", "--deterministic", "firmware/demo3",
                        "--trace", str(tmp_path / "t.txt"), name="again.json")
    assert path.read_bytes() == again.read_bytes()
    assert "d2 paused" in (tmp_path / "t.txt").read_text()


def test_unwritable_timeline_is_one_line(tmp_path):
    r = hvsim("run", os.path.join(BUILD, "hvm64", "example.elf"), "--timeline",
              str(tmp_path / "no" / "such" / "dir.json"))
    assert r.returncode == 2
    assert r.stderr.startswith("hvsim: error: --timeline ") and r.stderr.count("\n") == 1
