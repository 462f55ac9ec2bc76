"""`hvsim boot`: whole host boots from boot configs + LCMs."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
GUEST = os.path.join(ROOT, "guests", "build", "hvm64", "example.elf")

needs_build = pytest.mark.skipif(
    not os.path.exists(GUEST) or not os.path.isdir(os.path.join(FIRMWARE, "build")),
    reason="run `make guests firmware` first")


def boot(*args, timeout=120):
    r = subprocess.run([sys.executable, "-m", "hvsim", "boot", *args], capture_output=True,
                       text=True, timeout=timeout, cwd=ROOT)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def summary(stdout):
    """{domain: (ended, verdict)} from the summary table."""
    rows = {}
    lines = stdout.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("domain "))
    for line in lines[start + 1:]:
        parts = line.split()
        if parts:
            rows[parts[0]] = (parts[-4], parts[-3])
    return rows


@needs_build
@pytest.mark.parametrize("scenario,count", [("one", 1), ("sixteen", 16), ("dom0less", 2),
                                            ("classic", 1)])
def test_scenarios_boot_and_succeed(scenario, count):
    r = boot("firmware/%s" % scenario, "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = summary(r.stdout)
    assert len(rows) == count
    assert all(verdict == "SUCCESS" for _, verdict in rows.values()), rows


@needs_build
def test_demo3_builds_three_domains_with_capabilities():
    r = boot("firmware/demo3")
    assert "(XEN) hyperlaunch boot from firmware/demo3/boot.cfg: 3 domains" in r.stdout
    for d in ("(d0) ", "(d1) ", "(d2) "):
        assert d + "Test result: SUCCESS" in r.stdout
    assert "CONTROL|XENSTORE" in r.stdout and "HARDWARE|DEVICE_MODEL" in r.stdout


@needs_build
def test_static_event_channels_are_bound_before_start(tmp_path):
    from hvsim.boot import launch, lcm
    from hvsim.hv.console import ConsoleSink
    from hvsim.hv.evtchn import ECS_INTERDOMAIN
    from hvsim.hv.hypervisor import Hypervisor
    plan, _ = lcm.boot_plan(os.path.join(FIRMWARE, "dom0less", "boot.cfg"))
    hv = Hypervisor(console=ConsoleSink(stream=None))
    launch.build_plan(hv, plan)
    (a, pa), (b, pb) = plan.static_evtchn_pairs()[0]
    ca = hv.domains[a].evtchn.channel(pa)
    cb = hv.domains[b].evtchn.channel(pb)
    assert ca.state == cb.state == ECS_INTERDOMAIN
    assert (ca.remote_dom.domid, ca.remote_port) == (b, pb)
    assert (cb.remote_dom.domid, cb.remote_port) == (a, pa)
    assert hv.domains[b].evtchn.abi.is_pending(cb)        # as Xen: the binder's port is pending
    assert all(d.paused for d in hv.domains.values())


def test_missing_scenario_is_one_line():
    r = boot("firmware/nope")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "no such boot config" in r.stderr
