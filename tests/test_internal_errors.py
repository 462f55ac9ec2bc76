"""Internal-error accounting: a Python exception in hvsim while it serves a
domain (a hypercall handler, emulated port I/O or MMIO, a timer, the
loader) crashes that domain only, with a report naming the domain, the
vCPU, the call and the exception (one line, then where it was raised), is
counted in the end-of-run summary ("internal errors: N") and makes hvsim
exit 70 (EXIT_INTERNAL), never passing silently.

The bug is planted by tests/inject_bug.py, which patches one handler of an
unmodified hvsim in a subprocess to raise while it serves one domain."""

import json
import os
import re
import subprocess
import sys

import pytest

import built

from hvsim.verdict import EXIT_INTERNAL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INJECT = os.path.join(ROOT, "tests", "inject_bug.py")


def hvsim_with_bug(kind, domid, *argv, timeout=120):
    r = subprocess.run([sys.executable, INJECT, kind, str(domid), "--", *argv],
                       capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r


def verdicts(text):
    """{domain: verdict} from the summary table (on stdout or stderr)."""
    return dict(re.findall(r"^(d\d+)\s+\S+\s+\S+\s+\S+\s+(SUCCESS|SKIP|ERROR|FAILURE|CRASH)\b",
                           text, re.M))


def check_report(r, kind, who, what):
    """The crash report's first two lines, the summary's count, the one-line
    list on stderr, the traceback file; exit 70."""
    out = r.stdout + r.stderr
    assert r.returncode == EXIT_INTERNAL, out
    head = "(XEN) %s crashed: hvsim internal error in %s" % (who, what)
    lines = out.splitlines()
    first = [i for i, l in enumerate(lines)
             if l.startswith(head) and l.endswith(": PlantedBug: planted %s bug" % kind)]
    assert len(first) == 1, out
    where = re.match(r"\(XEN\)   at tests/inject_bug\.py:\d+ in buggy \(traceback in (\S+)\)$",
                     lines[first[0] + 1])
    assert where, lines[first[0] + 1]
    with open(where.group(1)) as f:
        assert "PlantedBug" in f.read()
    os.unlink(where.group(1))
    assert re.search(r"^internal errors: 1$", out, re.M), out
    assert "hvsim: internal errors: 1 (bugs in hvsim; each crashed the domain it served, " \
           "exit status 70)" in r.stderr
    assert re.search(r"^hvsim:   %s: hvsim internal error in %s.*: PlantedBug: planted %s bug$"
                     % (re.escape(who), re.escape(what), kind), r.stderr, re.M), r.stderr


def guest(name):
    return built.guest("hvm64", name)


@pytest.mark.parametrize("kind,victim,what,mode", [
    ("hypercall", "example", "hypercall console_io(0, 0x1b, ", []),
    ("hypercall", "example", "hypercall console_io(0, 0x1b, ", ["--deterministic"]),
    ("port", "platform", "a 1-byte read of I/O port 0x61", ["--deterministic"]),
    ("mmio", "platform", "a 4-byte MMIO read at 0xf0000000", []),
], ids=["hypercall-fast", "hypercall-deterministic", "port-deterministic", "mmio-fast"])
def test_bug_serving_one_domain_crashes_it_only(kind, victim, what, mode):
    """d2 meets the bug; d1 (the same or another guest) ends SUCCESS."""
    innocent = guest("evtchn-ops")
    r = hvsim_with_bug(kind, 2, "run", *mode, innocent, guest(victim))
    what = what.replace("(0, ", "(0x0, ")
    check_report(r, kind, "d2v0", what)
    assert "(d1) Test result: SUCCESS" in r.stdout
    assert "(d2) Test result" not in r.stdout
    assert verdicts(r.stdout + r.stderr) == {"d1": "SUCCESS", "d2": "CRASH"}


def test_bug_in_a_timer_names_the_vcpu():
    r = hvsim_with_bug("timer", 2, "run", "--deterministic", guest("example"), guest("timer"))
    check_report(r, "timer", "d2v0", "a timer (")
    assert verdicts(r.stdout + r.stderr) == {"d1": "SUCCESS", "d2": "CRASH"}


def test_bug_in_the_loader_crashes_that_domain_of_a_boot_config():
    """dom0less boots two domUs from one LCM: the loader fails on d2, d1
    boots and succeeds; d2 never ran (it has no vCPU to name)."""
    built.need(os.path.join(built.FIRMWARE, "dom0less", "lcm.dtb"), how=built.MAKE_FIRMWARE)
    r = hvsim_with_bug("loader", 2, "boot", "--deterministic", "firmware/dom0less")
    check_report(r, "loader", "d2", "the loader (building d2 from ")
    assert "(d1) Test result: SUCCESS" in r.stdout
    assert verdicts(r.stdout + r.stderr) == {"d1": "SUCCESS", "d2": "CRASH"}


def test_json_summary_lists_internal_errors():
    r = hvsim_with_bug("hypercall", 1, "run", "-q", "--json", "--deterministic",
                       guest("example"))
    assert r.returncode == EXIT_INTERNAL, r.stdout + r.stderr
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert doc["exit_code"] == EXIT_INTERNAL
    assert len(doc["internal_errors"]) == 1
    assert doc["internal_errors"][0].startswith("d1v0: hvsim internal error in hypercall "
                                                "console_io(")
    for line in r.stderr.splitlines():
        m = re.search(r"traceback in (\S+)\)", line)
        if m and os.path.exists(m.group(1)):
            os.unlink(m.group(1))


def test_no_bug_no_count():
    """The same run with nothing planted (an unknown domid): exit 0, no count."""
    r = hvsim_with_bug("hypercall", 9, "run", "--deterministic", guest("example"),
                       guest("example"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "internal error" not in r.stdout + r.stderr
