"""What the user sees for the crashes the host-input fuzzers found
(tests/corpus/<target>/crash-*): `hvsim` exits 2 with one line on stderr,
`hvsim: error: FILE: FIELD: problem (fix)`, and no traceback."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus"
# crashes whose input is fine once the bug is fixed (it boots)
ACCEPTED = {"crash-symtab-not-sht-symtab.elf"}


def cases():
    out = []
    for f in sorted((CORPUS / "elf").glob("crash-*")):
        if f.name not in ACCEPTED:
            out.append(pytest.param(["run", "--timeout", "5"], f, id="run-" + f.name))
    for f in sorted((CORPUS / "snapshot").glob("crash-*"))[:3]:
        out.append(pytest.param(["resume", "--info"], f, id="resume-info-" + f.name))
        out.append(pytest.param(["resume"], f, id="resume-" + f.name))
    for f in sorted((CORPUS / "lcm").glob("crash-*")):
        out.append(pytest.param(["lcm", "check"], f, id="lcm-check-" + f.name))
    return out


@pytest.mark.parametrize("argv,path", cases())
def test_crash_input_is_one_line(argv, path):
    r = subprocess.run([sys.executable, "-m", "hvsim", *argv, str(path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("hvsim: error: %s: " % path) and r.stderr.count("\n") == 1, \
        r.stderr
