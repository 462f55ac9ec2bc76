"""`hvsim boot`: whole host boots from boot configs + LCMs."""

import os
import subprocess
import sys

import pytest

import built
from cliutil import hvsim_lines, summary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
GUEST = os.path.join(ROOT, "guests", "build", "hvm64", "example.elf")

needs_build = built.needs(GUEST, os.path.join(FIRMWARE, "build"), how=built.MAKE_FIRMWARE)


def boot(*args, timeout=120):
    r = subprocess.run([sys.executable, "-m", "hvsim", "boot", *args], capture_output=True,
                       text=True, timeout=timeout, cwd=ROOT)
    assert "Traceback" not in r.stderr, r.stderr
    return r


@needs_build
@pytest.mark.parametrize("scenario,count", [("one", 1), ("sixteen", 16), ("dom0less", 2),
                                            ("classic", 1), ("dom0less-arm64", 2)])
def test_scenarios_boot_and_succeed(scenario, count):
    r = boot("firmware/%s" % scenario, "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""                           # -q: no console; the summary on stderr
    rows = summary(r.stderr)
    assert len(rows) == count
    assert all(verdict == "SUCCESS" for _, verdict in rows.values()), rows


@needs_build
@pytest.mark.parametrize("mode", [[], ["--deterministic"]], ids=["fast", "deterministic"])
def test_demo3_control_hardware_and_guest(mode):
    r = boot("firmware/demo3", *mode)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "(XEN) hyperlaunch boot from firmware/demo3/boot.cfg: 3 domains" in r.stderr
    for d in ("(d0) ", "(d1) ", "(d2) "):
        assert d + "Test result: SUCCESS" in out
    # the control domain saw every domain, paused the guest, followed it to its end
    assert "(d0)   d2 " in out and "(d0)   paused d2: " in out
    assert "(d0)   d2 changed: state 0x3" in out                 # EXIST | SHUTDOWN
    assert "(XEN)" not in out                                     # Xen's lines: on stderr
    # the hardware domain ends last and takes the host with it (both streams, in order)
    merged = subprocess.run([sys.executable, "-m", "hvsim", "boot", "firmware/demo3", *mode],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=120, cwd=ROOT).stdout
    lines = merged.splitlines()
    assert lines.index("(XEN) Hardware Dom1 halted: halting machine") > max(
        i for i, l in enumerate(lines) if l.startswith("(d0) Test result"))
    assert "host down" not in merged


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


@needs_build
def test_dom0less_arm64_domains_play_ping_pong():
    """dom0less on Arm: two arm64 domains built from the LCM by the Arm
    builder (one from an Image, one from an ELF; one with two vCPUs) find
    each other and bounce events, each taking PPI 31."""
    built.need(os.path.join(ROOT, "guests", "build", "arm64", "ping-pong.Image"))
    r = boot("firmware/dom0less-arm64", "--deterministic")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "(d1) d1 plays ping against d2, 200 rounds" in out
    assert "(d2) d2 plays pong against d1, 200 rounds" in out
    for d in ("(d1) ", "(d2) "):
        assert d + "Environment: arm64 EL1 (MMU off)" in out
        assert d + "Test result: SUCCESS" in out
    assert "(d1) ping: 200 round trips with d2" in out


def test_mixed_architectures_refused(tmp_path):
    """One host runs one architecture: an LCM naming an x86 and an arm64
    kernel stops before boot, in one line."""
    example = os.path.join(ROOT, "guests", "build", "arm64", "example.Image")
    built.need(GUEST, example)
    (tmp_path / "lcm.dts").write_text(open(os.path.join(FIRMWARE, "dom0less", "lcm.dts")).read())
    subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(tmp_path / "lcm.dtb"),
                    str(tmp_path / "lcm.dts")], check=True)
    (tmp_path / "boot.cfg").write_text(
        'menuentry "mixed" {\n    multiboot2 /boot/xen.gz\n    module2 lcm.dtb\n'
        '    module2 %s\n    module2 %s\n}\n' % (GUEST, example))
    r = boot(str(tmp_path / "boot.cfg"))
    assert r.returncode != 0
    err = hvsim_lines(r.stderr)
    assert len(err) == 1 and "arm64 kernels (domU2) and x86 kernels (domU1) in one boot" in err[0], \
        r.stderr
