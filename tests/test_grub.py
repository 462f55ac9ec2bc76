"""GRUB as a Xen PVH guest: Debian's grub-xen-bin made into i386-xen_pvh
images by its own grub-mkimage (`make grub`, guests/grub/build.py), booted
as they would be on Xen.

GRUB finds Xen through CPUID, installs the hypercall page, maps shared_info
and the grant table, talks to its console and to xenstore through their
rings, and reads its clock from the TSC at the rate vcpu_time_info gives
(grub_tsc_calibrate_from_xen).  Checked here:

- grub-halt.elf (guests/grub/halt.cfg) prints its platform, sleeps one
  second by that clock (one second of host time in fast mode, of guest time
  in deterministic mode) and halts: the domain powers off, and with no
  'Test result:' line the run exits 6 with one line on stderr saying why;
- deterministic runs of it are byte-identical;
- grub-shell.elf stops at GRUB's `grub>` prompt, which answers what is typed
  in a terminal (`hvsim run -i`, tmux) and halts on `halt`.

Skipped, with the reason `make grub` left, where the packages cannot be
fetched."""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

import built
from test_interrupt_tmux import Pane

ROOT = built.ROOT
GRUB = ROOT / "build" / "grub"
HALT = GRUB / "grub-halt.elf"
SHELL = GRUB / "grub-shell.elf"
TMUX = shutil.which("tmux")
TIMEOUT = 60
LINES = ["Welcome to GRUB!", "hvsim-grub: GRUB xen_pvh i386", "hvsim-grub: slept 1 s",
         "hvsim-grub: halting"]
NO_RESULT = ("hvsim: d1 (grub-halt.elf) ended (poweroff) with no 'Test result:' line: "
             "verdict CRASH by xtf-runner's rule, exit code 6")


def grub(image):
    if not image.exists():
        why = GRUB / "unavailable"
        reason = why.read_text().strip() if why.exists() else "not built"
        pytest.skip("GRUB's PVH image is not in build/grub (%s): run `make grub`" % reason)
    return str(image)


def hvsim(*args):
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "hvsim", "run", "--timeout", str(TIMEOUT), *args],
                       capture_output=True, text=True, cwd=ROOT, timeout=TIMEOUT * 2,
                       stdin=subprocess.DEVNULL)
    return r, time.monotonic() - start


def console(stdout):
    return [l for l in stdout.splitlines() if l.strip() and not l.startswith("{")]


def test_grub_sleeps_a_second_and_halts():
    r, seconds = hvsim(grub(HALT))
    assert console(r.stdout) == LINES, r.stdout + r.stderr
    assert r.returncode == 6 and r.stderr.strip() == NO_RESULT, r.stderr
    # GRUB's clock is the TSC at vcpu_time_info's rate, and fast mode's TSC
    # follows the host's clock: its `sleep 1` takes a second here too
    assert seconds >= 1.0, seconds


def test_grub_deterministic_runs_are_identical():
    runs = [hvsim("--deterministic", "--json", grub(HALT))[0] for _ in range(2)]
    assert runs[0].stdout == runs[1].stdout and runs[0].stderr == runs[1].stderr
    r = runs[0]
    assert console(r.stdout) == LINES, r.stdout + r.stderr
    summary = json.loads(r.stdout.splitlines()[-1])
    d1 = summary["domains"][0]
    assert (d1["ended"], d1["verdict"], summary["exit_code"]) == ("poweroff", "CRASH", 6)
    # one second of GRUB's sleep, by the guest's own clock (CPUIDs cost
    # guest time as their VM exits do on Xen, so its polling loop advances it)
    assert 1000 <= d1["guest_ms"] < 1500, d1


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (make deps)")
def test_grub_prompt_is_interactive(tmp_path):
    pane = Pane(tmp_path, "run", "-i", grub(SHELL))
    try:
        pane.wait_for(r"grub> ", timeout=TIMEOUT)
        pane.type("echo hello-grub-$grub_platform", "Enter")
        pane.wait_for(r"(?m)^hello-grub-xen_pvh\s*$", timeout=TIMEOUT)
        pane.type("halt", "Enter")
        m = pane.wait_for(r"EXIT=(\d+)", timeout=TIMEOUT)
        assert int(m.group(1)) == 6, pane.text()
        assert re.search(r"ended \(poweroff\)", pane.text()), pane.text()
    finally:
        pane.close()
