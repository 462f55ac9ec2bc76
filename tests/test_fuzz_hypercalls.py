"""The hypercall fuzzer guest (guests/tests/fuzz-hypercalls) in every
environment (the four x86 ones and arm64), with a fixed seed: SUCCESS (no
invariant broken), and no hvsim traceback or internal error.  `make test`
makes 100,000 calls per environment; `make fuzz` sets HVSIM_FUZZ_CALLS to
1,000,000.

The multi-domain variant (firmware/fuzz-multi, booted from a copy of its
LCM with the same call count, or HVSIM_FUZZ_MULTI_CALLS): two fuzzers (the
64-bit and the 32-bit ABI) beside an innocent domain that must end SUCCESS
with its memory untouched (it checks a pattern and its code)."""
import os
import re
import subprocess

import pytest

import built
from test_guests import BUILD, ENVS, PYTHON, ROOT

CALLS = int(os.environ.get("HVSIM_FUZZ_CALLS", "100000"))
SEED = int(os.environ.get("HVSIM_FUZZ_SEED", "1"))
MULTI_CALLS = int(os.environ.get("HVSIM_FUZZ_MULTI_CALLS", str(min(CALLS, 20000))))
FIRMWARE = ROOT / "firmware"


def _timeout(calls):
    return max(120, calls // 400)


def _clean(out):
    assert "Traceback" not in out and "internal error" not in out.lower(), out[-3000:]


@pytest.mark.parametrize("env", ENVS + ("arm64",))
def test_fuzz_hypercalls(env):
    elf = BUILD / env / "fuzz-hypercalls.elf"
    built.need(elf)
    timeout = _timeout(CALLS)
    res = subprocess.run([PYTHON, "-m", "hvsim", "run", "--timeout", str(timeout),
                          "--cmdline", "seed=%d calls=%d" % (SEED, CALLS), str(elf)],
                         capture_output=True, text=True, timeout=timeout + 60, cwd=ROOT)
    out = res.stdout + res.stderr
    assert "Fuzzing: seed=%d calls=%d" % (SEED, CALLS) in out
    _clean(out)
    assert "Test result: SUCCESS" in out, out[-3000:]
    assert res.returncode == 0, out[-3000:]
    made = re.search(r"(\d+) hypercalls made \((\d+) skipped\)", out)
    assert made and int(made.group(1)) + int(made.group(2)) == CALLS


def test_fuzz_multi_domain(tmp_path):
    """firmware/fuzz-multi with MULTI_CALLS calls per fuzzer: all three
    domains SUCCESS, the innocent one having checked its memory."""
    src = FIRMWARE / "fuzz-multi"
    guests = [BUILD / "hvm64" / "fuzz-innocent.elf", BUILD / "hvm64" / "fuzz-hypercalls.elf",
              BUILD / "hvm32pae" / "fuzz-hypercalls.elf"]
    built.need(*guests)
    dts = (src / "lcm.dts").read_text()
    assert dts.count("calls=1000000") == 2
    (tmp_path / "lcm.dts").write_text(dts.replace("calls=1000000", "calls=%d" % MULTI_CALLS))
    subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(tmp_path / "lcm.dtb"),
                    str(tmp_path / "lcm.dts")], check=True)
    cfg = (src / "boot.cfg").read_text()
    cfg = cfg.replace("../build/fuzz-multi/lcm.dtb", str(tmp_path / "lcm.dtb"))
    cfg = cfg.replace("../../guests/build/", str(BUILD) + "/")
    (tmp_path / "boot.cfg").write_text(cfg)
    timeout = 2 * _timeout(MULTI_CALLS)
    res = subprocess.run([PYTHON, "-m", "hvsim", "boot", "--timeout", str(timeout),
                          str(tmp_path / "boot.cfg")],
                         capture_output=True, text=True, timeout=timeout + 60, cwd=ROOT)
    out = res.stdout + res.stderr
    _clean(out)
    for d, seed in ((1, 1), (2, 2)):
        assert "(d%d) Fuzzing: seed=%d calls=%d" % (d, seed, MULTI_CALLS) in out, out[-3000:]
        assert "(d%d) Test result: SUCCESS" % d in out, out[-3000:]
    assert "(d0) Pattern and code intact after" in out, out[-3000:]
    assert "(d0) Test result: SUCCESS" in out, out[-3000:]
    assert res.returncode == 0, out[-3000:]
