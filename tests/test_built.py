"""tests/built.py: a test whose build is missing skips, and fails under
HVSIM_REQUIRE_BUILT=1 (as `make test` and .ci/run set it)."""

import os
import subprocess
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))

CONFTEST = '''
import importlib.util
spec = importlib.util.spec_from_file_location("hvsim_tests_conftest", %r)
hvsim_tests = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hvsim_tests)
pytest_configure = hvsim_tests.pytest_configure
pytest_runtest_setup = hvsim_tests.pytest_runtest_setup
'''

PROBE = '''
import built

@built.needs("/nonexistent/guest.elf")
def test_marker():
    pass

def test_call():
    built.need("/nonexistent/guest.elf", how="make firmware")

def test_present():
    built.need(__file__)
'''


def run_probe(tmp_path, required):
    (tmp_path / "conftest.py").write_text(CONFTEST % os.path.join(TESTS, "conftest.py"))
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = dict(os.environ, HVSIM_REQUIRE_BUILT="1" if required else "0")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-rA",
                           "-p", "no:cacheprovider", str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout


def test_a_missing_build_skips_with_how_to_build_it(tmp_path):
    rc, out = run_probe(tmp_path, required=False)
    assert rc == 0, out
    assert "1 passed, 2 skipped" in out, out
    assert "/nonexistent/guest.elf is not built (run `make guests`)" in out
    assert "(run `make firmware`)" in out


def test_a_missing_build_fails_when_builds_are_required(tmp_path):
    rc, out = run_probe(tmp_path, required=True)
    assert rc == 1, out
    assert "1 failed, 1 passed, 1 error" in out, out
    assert "HVSIM_REQUIRE_BUILT=1: /nonexistent/guest.elf is not built" in out
