"""The XSM matrix: every capability x every privileged operation, run by real
guests and compared with Xen's default (dummy) policy.

The actual results come from guests/tests/xsm-policy booted by
firmware/xsm-a and firmware/xsm-b: one prober domain per capability set
(none, control, hardware, xenstore, device model, and two combinations)
tries each operation on a plain domU ("target"), on a domU flagged
NOT_HYPERCALL_TARGET ("untargetable") and on itself, and prints the result.
The expected results come from tests/data/xsm-dummy-policy.tsv (each
operation's dummy.h hook and action class) through xsm_default_action()
below, with the proposed DEVICE_MODEL and NOT_HYPERCALL_TARGET rules.
"""

import pathlib
import re
import subprocess
import sys

import pytest

import built

ROOT = pathlib.Path(__file__).resolve().parents[1]
POLICY = ROOT / "tests" / "data" / "xsm-dummy-policy.tsv"
SCENARIOS = ("xsm-a", "xsm-b")
CONTROL, HARDWARE, XENSTORE, DEVICE_MODEL = 0x1, 0x2, 0x4, 0x8
EPERM = -1
RESULT = re.compile(r"^\(d\d+\) xsm-result caps=(0x[0-9a-f]+|0) op=(\S+) on=(\S+) rc=(-?\d+)$",
                    re.M)


def policy():
    """{op: (action, hook, call site, refused rc)} from the data file."""
    table = {}
    for line in POLICY.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        op, action, hook, site, refused = line.split("\t")
        table[op] = (action, hook, site, int(refused))
    return table


def xsm_default_action(action, caps, on):
    """dummy.h's xsm_default_action(action, src, target) as a bool, src having
    the capabilities `caps`, target being `on` (target, untargetable, self or
    none), in its fall-through order, with the proposed rules: a DEVICE_MODEL
    source passes DM_PRIV for any target, a NOT_HYPERCALL_TARGET target fails
    DM_PRIV and PRIV, the control domain passes XS_PRIV.  No domain here has a
    stub-domain target (XEN_DOMCTL_set_target)."""
    untargetable = on == "untargetable"
    if action == "HOOK":
        return True
    if action == "TARGET" and on == "self":
        return True
    if action == "XS_PRIV" and caps & (XENSTORE | CONTROL):
        return True
    if action in ("TARGET", "XS_PRIV", "DM_PRIV"):
        if untargetable:
            return False
        if caps & DEVICE_MODEL:
            return True
    if untargetable:
        return False
    return bool(caps & CONTROL)


def boot(scenario):
    built.need(ROOT / "firmware" / "build" / scenario, how=built.MAKE_FIRMWARE)
    built.need(ROOT / "guests" / "build" / "hvm64" / "xsm-policy.elf")
    r = subprocess.run([sys.executable, "-m", "hvsim", "boot", "firmware/%s" % scenario,
                        "--keep-host", "--deterministic"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def results():
    """[(caps, op, on, rc)] from both scenarios."""
    rows = []
    for scenario in SCENARIOS:
        rows += [(int(c, 16), op, on, int(rc)) for c, op, on, rc in RESULT.findall(boot(scenario))]
    return rows


def outcome(rc, refused):
    return "refused" if rc == refused else "allowed"


def test_every_capability_tried_every_operation(results):
    table = policy()
    caps_seen = {c for c, _, _, _ in results}
    assert caps_seen == {0, CONTROL, HARDWARE, XENSTORE, DEVICE_MODEL, CONTROL | XENSTORE,
                         HARDWARE | DEVICE_MODEL}
    for caps in caps_seen:
        assert {op for c, op, _, _ in results if c == caps} == set(table), hex(caps)


def test_matrix_matches_xens_default_policy(results):
    table = policy()
    mismatches = []
    for caps, op, on, rc in results:
        action, hook, site, refused = table[op]
        want = "allowed" if xsm_default_action(action, caps, on) else "refused"
        if outcome(rc, refused) != want:
            mismatches.append("caps %#x %s on %s: rc %d, but %s (%s, %s) says %s"
                              % (caps, op, on, rc, hook, action, site, want))
    assert not mismatches, "\n".join(mismatches)


def matrix_markdown(results):
    """The README's table: one row per operation and domain, one column per
    capability set; '+' allowed, '-' refused."""
    table = policy()
    cols = [0, CONTROL, HARDWARE, XENSTORE, DEVICE_MODEL, CONTROL | XENSTORE,
            HARDWARE | DEVICE_MODEL]
    names = {0: "none", CONTROL: "control", HARDWARE: "hardware", XENSTORE: "xenstore",
             DEVICE_MODEL: "dm", CONTROL | XENSTORE: "control+xs", HARDWARE | DEVICE_MODEL: "hw+dm"}
    got = {(c, op, on): outcome(rc, table[op][3]) for c, op, on, rc in results}
    lines = ["| operation | on | action | " + " | ".join(names[c] for c in cols) + " |",
             "| --- | --- | --- |" + " --- |" * len(cols)]
    for op, (action, _, _, _) in table.items():
        for on in ("target", "untargetable", "self", "none"):
            if (cols[0], op, on) in got:
                cells = ["+" if got[(c, op, on)] == "allowed" else "-" for c in cols]
                lines.append("| %s | %s | %s | %s |" % (op, on, action, " | ".join(cells)))
    return "\n".join(lines)


if __name__ == "__main__":      # print the README's table from a fresh run
    rows = []
    for s in SCENARIOS:
        rows += [(int(c, 16), op, on, int(rc)) for c, op, on, rc in RESULT.findall(boot(s))]
    print(matrix_markdown(rows))
