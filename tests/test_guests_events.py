"""Boot the event channel, timer and SMP guests under hvsim.

These guests need more than test_guests.py's one domain with one vCPU:

  evtchn-ops   every EVTCHNOP, 2-level then FIFO (alone, as two domains, with 2 vCPUs)
  timer        singleshot/periodic timers, SCHEDOP_block/poll, system time (1 and 2 vCPUs)
  ping-pong    two domains bouncing notifications (alone it must SKIP)
  smp          vCPU bring-up and an IPI ring with --vcpus 4 (alone it must SKIP)
  shared-ring  a frontend and a backend domain sharing a ring by grants (alone: SKIP)
  grant-copy   bulk GNTTABOP_copy between two domains (alone: SKIP)
  gnttab-ops   as two domains: each may not use the other's table
  lapic        with --vcpus 2: local APIC IPIs between vCPUs (test_guests.py runs it alone)
  sipi         with --vcpus 2: vCPU 1 started by INIT/SIPI in real mode (alone: SKIP)
  preempt-rmw  with --vcpus 2, in fast mode too: read-modify-write loops that only
               the scheduler's asynchronous preemption ends (alone: SKIP)
  cross-modify with --vcpus 2, in fast mode too: vCPU 1 runs code vCPU 0 patched
               (alone: SKIP)

Every run is --deterministic, so that a failure can be replayed exactly (in
the default host-time mode preemption points vary from run to run), except
preempt-rmw's and cross-modify's, which run in both modes: in fast mode a
vCPU that makes no hook call is preempted from the ticker thread, which
must never end a slice in the middle of an instruction (arch/uc.BlockStop).

Each domain's console (lines prefixed "(dN) " when there are several
domains) must end "Test result: SUCCESS" (or SKIP where expected), count
enough checks with none failed, and show the guest's proof lines.
"""

import os
import re
import subprocess

import pytest

import built

from test_guests import BUILD, CHECKS_RE, COMMON_LINES, ENVS, PYTHON, ROOT

HVSIM_TIMEOUT = 60

# Per guest: least number of counted checks, and console lines (regular
# expressions matching whole lines) that prove the work was done.
EXPECT = {
    "evtchn-ops": {
        "checks": 250,
        "lines": [r"Testing EVTCHNOP_status", r"Testing EVTCHNOP_bind_virq",
                  r"Testing FIFO event channels"],
    },
    "timer": {
        "checks": 100,
        "lines": [r"Testing events without a callback", r"Testing SCHEDOP_poll",
                  r"Testing the runstate and vcpu time memory areas",
                  r"\d+ VIRQ_TIMER events, system time \d+ ms"],
    },
    "ping-pong": {
        "checks": 13,
        "lines": {
            1: [r"d1 plays ping against d2, 1000 rounds", r"ping: offering port 3 to d2",
                r"ping: port 3 <-> d2 port \d+",
                r"ping: 1000 round trips with d2, \d+ ns each, \d+ upcalls"],
            2: [r"d2 plays pong against d1, 1000 rounds", r"pong: bound d1 port 3 after \d+ scans",
                r"pong: port \d+ <-> d1 port 3",
                r"pong: 1000 round trips with d1, \d+ ns each, \d+ upcalls"],
        },
    },
    "gnttab-ops": {
        "checks": 188,
        "lines": [r"Testing the table's set-up", r"Testing copy \(v2\)",
                  r"Testing the ops an HVM guest may not call"],
    },
    "shared-ring": {
        "checks": 17,
        "lines": {
            1: [r"d1 is the frontend, d2 the backend",
                r"front: 24 requests answered, checksums and data verified",
                r"front: the backend unmapped the ring; revoking every grant"],
            2: [r"back: read-only grant mapped, a write through it faults",
                r"back: 24 requests served \(mapped and copied\), checksums match",
                r"back: 100 map\+unmap pairs, \d+ ns each",
                r"back: after revocation map and copy fail with GNTST_general_error"],
        },
    },
    "grant-copy": {
        "checks": 24,
        "lines": {
            1: [r"front: 64 KiB pushed back, every byte checked"],
            2: [r"back: transitive and sub-page grants of a v2 domain copied from",
                r"back: pulled 8 x 64 KiB in 512-byte copies, \d+ us per round",
                r"back: pushed 64 KiB back inverted"],
        },
    },
    "lapic": {
        "checks": 100,
        "lines": [r"Testing xAPIC mode", r"Testing x2APIC mode", r"Testing IPIs between vCPUs"],
    },
    "sipi": {
        "checks": 7,
        "lines": [r"Testing INIT, STARTUP 0x08", r"  vCPU 1 ran at 0800:0000, EDX 0xf00, CR0 0x10",
                  r"Testing STARTUP for an initialised vCPU", r"Testing INIT, STARTUP again"],
    },
    "preempt-rmw": {
        "checks": 9,
        "lines": [r"Testing 300000 iterations on 2 vCPUs",
                  r"  list of \d+ nodes intact, \d+ \+ \d+ lock misses"],
    },
    "cross-modify": {
        "checks": 8,
        "lines": [r"Testing 4 rounds of patching code vCPU 1 runs", r"  vCPU 1 saw 1 2 3 4"],
    },
    "smp": {
        "checks": 60,
        # With n vCPUs.
        "lines": lambda n: [
            r"%d vCPUs" % n, r"Testing vCPU bring-up errors", r"Bringing up vCPUs 1-%d" % (n - 1),
            r"vCPU 1: 10 IPIs received, \d+ upcalls, vcpu_info at 0x[0-9a-f]+",
            r"vCPU %d: 10 IPIs received, \d+ upcalls, vcpu_info at 0x[0-9a-f]+" % (n - 1),
            r"vCPU %d: IPI port \d+, 10 IPIs, offline" % (n - 1),
            r"vCPU 0: IPI port \d+, 10 IPIs; %d IPIs in ring order" % (10 * n)],
    },
}


PREFIX_RE = re.compile(r"\((d\d+)\) (.*)")


def elf(env, guest):
    return BUILD / env / ("%s.elf" % guest)


def hvsim(elfs, *options, trace=None, env=None):
    """Run hvsim on one or more guests: (exit code, stdout text).  `env`:
    extra environment variables."""
    cmd = [PYTHON, "-m", "hvsim", "run", "--timeout", str(HVSIM_TIMEOUT)]
    cmd += list(options)
    if trace is not None:
        cmd += ["--trace", str(trace)]
    cmd += [str(e) for e in elfs]
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=HVSIM_TIMEOUT * 2,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})))
    return proc.returncode, proc.stdout


def consoles(stdout, ndomains):
    """Each domain's console lines, by domid (1, 2, ...)."""
    if ndomains == 1:
        return {1: stdout.splitlines()}
    out = {d: [] for d in range(1, ndomains + 1)}
    for line in stdout.splitlines():
        m = PREFIX_RE.fullmatch(line)
        if m:
            out.setdefault(int(m.group(1)[1:]), []).append(m.group(2))
    return out


def check_console(guest, domid, lines, stdout, result="SUCCESS", vcpus=1):
    """Check one domain's console: its result, proof lines and checks."""
    expect = EXPECT[guest]
    text = "\n".join(lines)
    fails = [l for l in lines if l.startswith("Fail: ")]
    assert not fails, "d%d (%s): %s\n%s" % (domid, guest, fails[0], stdout)
    last = [l for l in lines if l.strip()][-1:] or ["<no output>"]
    assert last[0] == "Test result: %s" % result, \
        "d%d (%s) ended with %r:\n%s" % (domid, guest, last[0], stdout)
    for pattern in COMMON_LINES:
        assert any(re.fullmatch(pattern, l) for l in lines), \
            "d%d: no console line matching %r:\n%s" % (domid, pattern, text)
    if result == "SKIP":
        return
    proof = expect["lines"]
    if isinstance(proof, dict):
        proof = proof[domid]
    elif callable(proof):
        proof = proof(vcpus)
    for pattern in proof:
        assert any(re.fullmatch(pattern, l) for l in lines), \
            "d%d (%s): no console line matching %r:\n%s" % (domid, guest, pattern, text)
    counts = [m for m in (CHECKS_RE.fullmatch(l) for l in lines) if m]
    assert len(counts) == 1, "d%d: expected one 'Checks:' line:\n%s" % (domid, text)
    run, failed = int(counts[0].group(1)), int(counts[0].group(2))
    assert failed == 0, text
    assert run >= expect["checks"], \
        "d%d (%s): only %d checks run (expected at least %d):\n%s" % (
            domid, guest, run, expect["checks"], text)


# Proof lines of particular runs, by domid.
PEER_PROBE = {1: [r"Testing another domain's ports \(d2\)"]}
SECOND_VCPU = {1: [r"Testing a second vCPU",
                   r"  vCPU 1: 16 time stamps in turn with vCPU 0, woken \d+ ns after its deadline"]}

# The timer guest counts periodic ticks against system time, which in fast mode
# is the host's clock: on a loaded host hvsim is descheduled for milliseconds
# and the ticks merge, as Xen merges a vCPU's missed ticks.  Its manifest
# (guests/tests/timer/test.toml) runs it deterministic; so do these.
TIMER = ["--deterministic"]

# (test id, guest, the env of each domain, hvsim options, extra proof lines)
RUNS = []
for _env in ENVS:
    RUNS.append(("evtchn-ops-%s" % _env, "evtchn-ops", [_env], [], {}))
    RUNS.append(("timer-%s" % _env, "timer", [_env], TIMER, {}))
    RUNS.append(("ping-pong-%s" % _env, "ping-pong", [_env, _env], [], {}))
    RUNS.append(("smp-%s-4vcpus" % _env, "smp", [_env], ["--vcpus", "4"], {}))
    RUNS.append(("shared-ring-%s" % _env, "shared-ring", [_env, _env], [], {}))
    RUNS.append(("grant-copy-%s" % _env, "grant-copy", [_env, _env], [], {}))
RUNS += [
    ("evtchn-ops-hvm64+hvm32", "evtchn-ops", ["hvm64", "hvm32"], [], PEER_PROBE),
    ("evtchn-ops-hvm32pae-2vcpus", "evtchn-ops", ["hvm32pae"], ["--vcpus", "2"], {}),
    ("timer-hvm64-2vcpus", "timer", ["hvm64"], TIMER + ["--vcpus", "2"], SECOND_VCPU),
    ("timer-hvm32-2vcpus", "timer", ["hvm32"], TIMER + ["--vcpus", "2"], SECOND_VCPU),
    ("ping-pong-hvm64+hvm32", "ping-pong", ["hvm64", "hvm32"], [], {}),
    ("ping-pong-hvm32pae+hvm64", "ping-pong", ["hvm32pae", "hvm64"], [], {}),
    ("smp-hvm64-2vcpus", "smp", ["hvm64"], ["--vcpus", "2"], {}),
    ("shared-ring-hvm64+hvm32", "shared-ring", ["hvm64", "hvm32"], [], {}),
    ("shared-ring-hvm32pae+hvm64", "shared-ring", ["hvm32pae", "hvm64"], [], {}),
    ("grant-copy-hvm32+hvm64", "grant-copy", ["hvm32", "hvm64"], [], {}),
    ("gnttab-ops-hvm64+hvm32pae", "gnttab-ops", ["hvm64", "hvm32pae"], [],
     {1: [r"Testing another domain's table \(d2\)"],
      2: [r"Testing another domain's table \(d1\)"]}),
    ("lapic-hvm64-2vcpus", "lapic", ["hvm64"], ["--vcpus", "2"], {}),
    ("lapic-hvm32pae-2vcpus", "lapic", ["hvm32pae"], ["--vcpus", "2"], {}),
    ("sipi-hvm64-2vcpus", "sipi", ["hvm64"], ["--vcpus", "2"], {}),
    ("sipi-hvm32-2vcpus", "sipi", ["hvm32"], ["--vcpus", "2"], {}),
    ("sipi-hvm32pae-2vcpus", "sipi", ["hvm32pae"], ["--vcpus", "2"], {}),
]


def _run_params():
    params = []
    for test_id, guest, envs, options, extra in RUNS:
        params.append(pytest.param(guest, envs, options, extra, id=test_id,
                                   marks=built.needs(*[elf(e, guest) for e in envs])))
    return params


@pytest.mark.parametrize("guest, envs, options, extra", _run_params())
def test_events_guest(guest, envs, options, extra):
    rc, stdout = hvsim([elf(e, guest) for e in envs], "--deterministic", *options)
    per_domain = consoles(stdout, len(envs))
    vcpus = int(options[options.index("--vcpus") + 1]) if "--vcpus" in options else 1
    for domid in range(1, len(envs) + 1):
        check_console(guest, domid, per_domain[domid], stdout, vcpus=vcpus)
        for pattern in extra.get(domid, []):
            assert any(re.fullmatch(pattern, l) for l in per_domain[domid]), \
                "d%d (%s): no console line matching %r:\n%s" % (domid, guest, pattern, stdout)
    assert rc == 0, "hvsim exit code %d:\n%s" % (rc, stdout)


@pytest.mark.parametrize("env", ["hvm64", "hvm32"])
@pytest.mark.parametrize("mode", [[], ["--deterministic"]], ids=["fast", "deterministic"])
@pytest.mark.parametrize("guest", ["preempt-rmw", "cross-modify"])
def test_two_vcpus_fast_and_deterministic(guest, env, mode):
    """preempt-rmw: two vCPUs' read-modify-write loops on shared memory come
    out exact when only asynchronous preemption ends their slices (fast
    mode): no instruction runs twice or not at all
    (unicorn-engine/unicorn#1355).  cross-modify: code one vCPU patches is
    what the other runs next (one Unicorn instance per vCPU: X7)."""
    built.need(elf(env, guest))
    rc, stdout = hvsim([elf(env, guest)], "--vcpus", "2", *mode)
    check_console(guest, 1, stdout.splitlines(), stdout)
    assert rc == 0, "hvsim exit code %d:\n%s" % (rc, stdout)


@pytest.mark.parametrize("guest, options, reason", [
    ("ping-pong", [], r"Skip: needs two domains, ping \(d1\) and pong \(d2\): .*"),
    ("smp", [], r"Skip: one vCPU: run with --vcpus 4"),
    ("sipi", [], r"Skip: one vCPU: run with --vcpus 2"),
    ("preempt-rmw", [], r"Skip: one vCPU: run with --vcpus 2"),
    ("cross-modify", [], r"Skip: one vCPU: run with --vcpus 2"),
    ("shared-ring", [], r"Skip: needs two domains, d1 and d2 \(we are d1\)"),
    ("grant-copy", [], r"Skip: needs two domains, d1 and d2 \(we are d1\)"),
])
@pytest.mark.parametrize("env", ["hvm64", "hvm32"])
def test_events_guest_skips_alone(env, guest, options, reason):
    """Without the second domain / vCPUs they need, the guests SKIP."""
    built.need(elf(env, guest))
    rc, stdout = hvsim([elf(env, guest)], "--deterministic", *options)
    lines = stdout.splitlines()
    check_console(guest, 1, lines, stdout, result="SKIP")
    assert any(re.fullmatch(reason, l) for l in lines), stdout
    assert rc == 3, "hvsim exit code %d (expected 3, SKIP):\n%s" % (rc, stdout)


def _ping_pong_pair():
    pair = [elf("hvm64", "ping-pong"), elf("hvm32", "ping-pong")]
    built.need(*pair)
    return pair


def test_ping_pong_deterministic_byte_identical(tmp_path):
    """Two --deterministic runs of ping-pong (two domains) are identical, byte
    for byte: the whole stdout and the default --trace streams."""
    pair = _ping_pong_pair()
    runs = []
    for i in range(2):
        trace = tmp_path / ("trace%d.txt" % i)
        rc, stdout = hvsim(pair, "--deterministic", trace=trace)
        assert rc == 0, stdout
        runs.append((stdout, trace.read_bytes()))
    assert runs[0][0] == runs[1][0], "stdout differs between identical runs"
    assert runs[0][1] == runs[1][1], "--trace output differs between identical runs"
    trace = runs[0][1].decode()
    assert "EVTCHNOP_send" in trace and "upcall" in trace and "SCHEDOP_block" in trace


def test_native_interrupt_injection_is_calibrated():
    """The pinned Unicorn delivers hvsim's upcalls itself (cpustate.VirqPage):
    if this calibration fails, every upcall takes the slower Python path."""
    from hvsim.arch.x86 import cpustate
    cpustate.calibrate()
    assert cpustate.OFF.interrupt_request is not None and cpustate.OFF.vm_vmcb is not None


@pytest.mark.parametrize("guest, envs, options", [
    ("ping-pong", ["hvm64", "hvm32"], []),
    ("evtchn-ops", ["hvm64", "hvm32pae"], []),
    ("smp", ["hvm32"], ["--vcpus", "4"]),
    ("timer", ["hvm64"], ["--vcpus", "2"]),
    ("irq-window", ["hvm64", "hvm32"], []),
], ids=["ping-pong", "evtchn-ops", "smp", "timer", "irq-window"])
def test_native_and_soft_upcalls_identical(tmp_path, guest, envs, options):
    """QEMU's own IDT delivery of a posted interrupt and hvsim's Python one
    (HVSIM_SOFT_IRQ=1) push the same frame at the same instruction: two
    --deterministic runs, one each way, are byte-identical (console and trace)."""
    elfs = [elf(e, guest) for e in envs]
    built.need(*elfs)
    runs = []
    for soft in ("", "1"):
        trace = tmp_path / ("trace%s.txt" % soft)
        rc, stdout = hvsim(elfs, "--deterministic", *options, trace=trace,
                           env={"HVSIM_SOFT_IRQ": soft})
        assert rc == 0, stdout
        runs.append((stdout, trace.read_bytes()))
    assert runs[0][0] == runs[1][0], "stdout differs:\n%s\n----\n%s" % (runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1], "--trace output differs"
    assert b"upcall" in runs[0][1]
