"""Boot every test guest under hvsim and check its verdict and console.

The guests are built by `make guests` (guests/Makefile) into
guests/build/<env>/<test>.elf.  Each one ends with "Test result: <status>"
and hvsim's exit code follows xtf-runner's (0 SUCCESS, 3 SKIP, 4 ERROR,
5 FAILURE, 6 CRASH).  Besides the verdict, a few console lines per guest
prove that it really did its work.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

import built
from hvsim.testing import manifest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = ROOT / "guests" / "build"
ENVS = ("hvm32", "hvm32pse", "hvm32pae", "hvm64")
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
HVSIM_TIMEOUT = 60



def _known_failure(elf):
    """The reason a guest's manifest (guests/tests/<name>/test.toml) gives
    for the FAILURE it is known to end with on hvsim, else None."""
    m = manifest.load(str(elf))
    return m.expect.reason if m is not None and m.expect.verdict == "FAILURE" else None

# Per guest: console lines (regular expressions, each must match a whole
# line) that show the guest did its work.  "checks" is the least number of
# counted checks (the "Checks: N run, 0 failed" line).
EXPECT = {
    "example": {"lines": [r"Hello World"]},
    # booted here without modules; with them by tests/test_linux_path.py
    "boot-modules": {"lines": [r"cmdline ''", r"modules: 0"], "checks": 1},
    "exceptions": {
        "lines": [r"Testing vectors", r"Testing segment loads", r"Testing double fault"],
        "checks": 80,
    },
    "irq-window": {"lines": [r"Testing the interrupt window after sti, popf, iret, run-time code"],
                   "checks": 17},
    # hvm32 has no paging: only the bad hypercall buffers apply there
    "fault-state": {"lines": [r"Testing hypercalls with bad buffers, each followed by a slice end"],
                    "checks": 5},
    "exceptions-unemulated": {"lines": [r"Testing #AC", r"Testing #XM",
                                        r"Testing I/O privilege"], "checks": 11},
    "hypercalls": {
        "lines": [r"console_io: CONSOLEIO_write works",
                  r"  capabilities: \".*hvm-3\.0-x86_64.*\"",
                  r"Testing memory_op", r"Testing hypercalls from ring 3"],
        "checks": 250,
    },
    "syscall": {"lines": [r"CPU vendor: Intel", r"Testing SYSENTER/SYSEXIT \((32|64)-bit\)"],
                "checks": 14},
    "msr-cpuid": {"lines": [r"Testing Xen's CPUID leaves", r"Testing CPUID subleaves",
                            r"Testing Xen's MSRs"],
                  "checks": 70},
    "lapic": {"lines": [r"Testing xAPIC mode", r"Testing x2APIC mode"], "checks": 95},
    # fast mode here (slices end at the ticker's preemption points); deterministic below
    "trap-runs": {"lines": [r"Testing 40000 rounds of cpuid\+rdtsc, rdtsc\+rdtsc, rdtsc\+cpuid, "
                            r"in\+in", r"  largest step between TSC reads: \d+ ticks"],
                  "checks": 3},
    "gnttab-ops": {"lines": [r"Testing the table's set-up", r"Testing copy \(v1\)",
                             r"Testing copy \(v2\)", r"Testing swap_grant_ref \(v2\)",
                             r"Testing the ops an HVM guest may not call"],
                   "checks": 188},
    "memory-ops": {"lines": [r"Testing decrease_reservation and populate_physmap",
                             r"Testing remove_from_physmap and add_to_physmap gmfn",
                             r"  \d+ pages, all of maximum_reservation \d+",
                             r"Testing memory_map and set_memory_map"],
                   "checks": 82},
    "xenstore": {"lines": [r"xenstore on port \d+", r"  name \".+\", domid \d+"],
                 "checks": 45},
    "platform": {"lines": [r"Testing unbacked guest-physical space and ports",
                           r"Testing CR4 against the CPUID policy",
                           r"Testing a hole that Xen maps a page into"],
                 "checks": 67},
}

# Guests that only make sense booted another way (a firmware scenario with
# several domains, or several vCPUs), and the test file that boots them.
ELSEWHERE = {
    "fuzz-hypercalls": "test_fuzz_hypercalls.py",
    "fuzz-innocent": "test_fuzz_hypercalls.py (firmware/fuzz-multi)",
    "launch-demo": "test_boot.py (firmware/demo3)",
    "xsm-policy": "test_xsm_matrix.py (firmware/xsm-a, xsm-b)",
    "evtchn-ops": "test_guests_events.py",
    "timer": "test_guests_events.py",
    "ping-pong": "test_guests_events.py (two domains)",
    "smp": "test_guests_events.py (--vcpus 4)",
    "sipi": "test_guests_events.py (--vcpus 2)",
    "preempt-rmw": "test_guests_events.py (--vcpus 2, fast mode)",
    "cross-modify": "test_guests_events.py (--vcpus 2, fast mode)",
    "shared-ring": "test_guests_events.py (two domains)",
    "grant-copy": "test_guests_events.py (two domains)",
    "isolation": "test_isolation.py (a victim and hostile neighbours from one LCM)",
    "pv-console": "test_toolstack.py (each line once, typed input)",
}

# Lines every guest prints.
COMMON_LINES = [r"--- Xen Test Framework ---", r"Xen \d+\.\d+, CPUID leaves at 0x40000000"]
CHECKS_RE = re.compile(r"Checks: (\d+) run, (\d+) failed")


def _guest_params():
    if not BUILD.is_dir():
        return [pytest.param(None, None, id="no-guests", marks=built.needs(BUILD))]
    params = []
    for env in ENVS:
        for elf in sorted((BUILD / env).glob("*.elf")):
            if elf.stem in ELSEWHERE:
                continue
            marks = []
            reason = _known_failure(elf)
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            params.append(pytest.param(env, elf, id="%s-%s" % (env, elf.stem), marks=marks))
    return params


def run_guest(elf):
    """Run one guest under hvsim: (exit code, console lines)."""
    proc = subprocess.run(
        [PYTHON, "-m", "hvsim", "run", str(elf), "--timeout", str(HVSIM_TIMEOUT)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=HVSIM_TIMEOUT * 2, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return proc.returncode, proc.stdout.splitlines()


@pytest.mark.parametrize("env, elf", _guest_params())
def test_guest(env, elf):
    rc, lines = run_guest(elf)
    console = "\n".join(lines)
    assert elf.stem in EXPECT, "no expectations for guest %s: add it to EXPECT" % elf.stem
    expect = EXPECT[elf.stem]

    last = [l for l in lines if l.strip()][-1:] or ["<no output>"]
    assert last[0] == "Test result: SUCCESS", "%s ended with %r:\n%s" % (elf, last[0], console)
    assert rc == 0, "hvsim exit code %d for %s:\n%s" % (rc, elf, console)

    for pattern in COMMON_LINES + expect["lines"]:
        assert any(re.fullmatch(pattern, l) for l in lines), \
            "no console line matching %r:\n%s" % (pattern, console)

    if "checks" in expect:
        counts = [CHECKS_RE.fullmatch(l) for l in lines]
        counts = [m for m in counts if m]
        assert len(counts) == 1, "expected one 'Checks:' line:\n%s" % console
        run, failed = int(counts[0].group(1)), int(counts[0].group(2))
        assert failed == 0, console
        assert run >= expect["checks"], \
            "only %d checks run (expected at least %d):\n%s" % (run, expect["checks"], console)


@pytest.mark.parametrize("env", ["hvm64", "hvm32"])
def test_trap_runs_deterministic(env):
    """trap-runs with counted slices: a slice that ends at a CPUID or TSC
    read (its budget used up there) leaves the next trapped instruction of
    the block to hvsim too; and a CPUID costs guest time (CPUID_INSNS)."""
    elf = BUILD / env / "trap-runs.elf"
    built.need(elf)
    proc = subprocess.run(
        [PYTHON, "-m", "hvsim", "run", "--deterministic", "--json", str(elf),
         "--timeout", str(HVSIM_TIMEOUT)],
        cwd=ROOT, capture_output=True, text=True, timeout=HVSIM_TIMEOUT * 2,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    lines = proc.stdout.splitlines()
    assert "Test result: SUCCESS" in lines and "Checks: 3 run, 0 failed" in lines, proc.stdout
    summary = json.loads(lines[-1])
    # 80,000 CPUIDs at 1 us each, beside 280,000 other trapped instructions
    assert summary["domains"][0]["guest_ms"] >= 80, summary


def test_every_guest_is_tested_somewhere():
    """A new guest must be booted here (EXPECT) or by another test (ELSEWHERE)."""
    built.need(BUILD)
    images = {elf.stem for env in ENVS for elf in (BUILD / env).glob("*.elf")}
    assert images <= set(EXPECT) | set(ELSEWHERE), images - set(EXPECT) - set(ELSEWHERE)
