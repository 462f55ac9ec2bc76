"""The hypercall fuzzer guest (guests/tests/fuzz-hypercalls) in every x86
environment, with a fixed seed: SUCCESS, and no hvsim traceback or internal
error.  `make fuzz` runs it for HVSIM_FUZZ_CALLS (1,000,000) calls instead."""
import os
import subprocess

import pytest

import built
from test_guests import BUILD, ENVS, PYTHON, ROOT

CALLS = int(os.environ.get("HVSIM_FUZZ_CALLS", "5000"))
SEED = int(os.environ.get("HVSIM_FUZZ_SEED", "1"))


@pytest.mark.parametrize("env", ENVS)
def test_fuzz_hypercalls(env):
    built.need(BUILD)
    elf = BUILD / env / "fuzz-hypercalls.elf"
    timeout = max(60, CALLS // 500)
    res = subprocess.run([PYTHON, "-m", "hvsim", "run", "--timeout", str(timeout),
                          "--cmdline", "seed=%d calls=%d" % (SEED, CALLS), str(elf)],
                         capture_output=True, text=True, timeout=timeout + 60, cwd=ROOT)
    out = res.stdout + res.stderr
    assert "Fuzzing: seed=%d calls=%d" % (SEED, CALLS) in out
    assert "Traceback" not in out and "internal error" not in out.lower(), out[-3000:]
    assert "Test result: SUCCESS" in out, out[-3000:]
    assert res.returncode == 0, out[-3000:]
