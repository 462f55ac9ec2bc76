"""XTF: every HVM image of the XTF build against tests/xtf-expected.tsv, and
`hvsim test`'s support for it (XTF's layout, xtf-runner's selection,
expectations files).

test_xtf_image runs each image of the XTF build (build/xtf, see xtfutil.py)
as `hvsim test` runs it and wants the verdict the expectations file gives
(Xen's, or a reason why not).  The runner's logic is checked on a small tree
laid out as XTF lays out its build (tests/<name>/info.json beside
test-<env>-<name> images), built from tiny guests that print a verdict; the
selection is checked against xtf-runner itself on the XTF build.
"""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import xtfutil
from hvsim.errors import ConfigError
from hvsim.testing import runner, xtf
from hvsim.testing.expect import Expectations
from test_runner import HALT, hvsim_test, summary_line
from x86util import build_pvh_elf, debugcon

# name -> (category, environments, variations, what its images print)
FAKE = {
    "alpha": ("functional", ["pv64", "hvm64", "hvm32"], [], "Test result: SUCCESS\n"),
    "beta": ("xsa", ["hvm64"], [], "Fail: still vulnerable\nTest result: FAILURE\n"),
    "gamma": ("special", ["hvm32pae"], [], "Skip: no widget\nTest result: SKIP\n"),
    "delta": ("xsa", ["hvm32"], ["hap", "shadow"], "Test result: SUCCESS\n"),
}


@pytest.fixture(scope="module")
def fake_xtf(tmp_path_factory):
    """An XTF build tree of tiny guests (PV images are never run: none built)."""
    root = tmp_path_factory.mktemp("xtf")
    for name, (cat, envs, variations, text) in FAKE.items():
        d = root / "tests" / name
        d.mkdir(parents=True)
        (d / "info.json").write_text(json.dumps({"name": name, "category": cat,
                                                 "environments": envs,
                                                 "variations": variations}))
        for env in envs:
            if env.startswith("hvm"):
                build_pvh_elf(d, debugcon(text) + HALT, name="test-%s-%s" % (env, name))
    (root / "tests" / "broken").mkdir()
    (root / "tests" / "broken" / "info.json").write_text("{not json")     # ignored, as by xtf-runner
    return root


def listed(*args):
    r = hvsim_test("--list", "-q", "--xtf", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.split()


# -- selection -------------------------------------------------------------------

def test_selection_as_xtf_runner(fake_xtf):
    assert listed(fake_xtf, "alpha") == ["test-hvm32-alpha", "test-hvm64-alpha", "test-pv64-alpha"]
    assert listed(fake_xtf, "hvm") == ["test-hvm32-alpha", "test-hvm64-alpha", "test-hvm64-beta",
                                       "test-hvm32-delta"]          # default categories only
    assert listed(fake_xtf, "hvm", "--non-default") == ["test-hvm32pae-gamma"]
    assert listed(fake_xtf, "xsa", "hvm64") == ["test-hvm64-beta"]
    assert listed(fake_xtf, "hvm64-alpha", "gamma") == ["test-hvm64-alpha", "test-hvm32pae-gamma"]
    assert listed(fake_xtf, "test-hvm32-delta~shadow") == ["test-hvm32-delta"]   # one run
    assert listed(fake_xtf, "--all", "--host") == ["test-hvm32-alpha", "test-hvm64-alpha",
                                                   "test-hvm64-beta", "test-hvm32-delta"]


def test_pv_environments_are_skips_that_do_not_run(fake_xtf, tmp_path):
    r = hvsim_test("--list", "--xtf", fake_xtf, "pv64-alpha")
    assert r.stdout.split(None, 1) == ["test-pv64-alpha", "(SKIP, not run: %s)\n" % xtf.NO_PV]
    r = hvsim_test("--xtf", fake_xtf, "alpha")
    assert r.returncode == 3                        # xtf-runner's code for it
    assert "test-pv64-alpha   SKIP (expected)" in r.stdout and xtf.NO_PV in r.stdout
    assert "test-hvm64-alpha  SUCCESS" in r.stdout
    none = tmp_path / "none.tsv"
    none.write_text("# nothing known\n")
    r = hvsim_test("--xtf", fake_xtf, "--expect", none, "alpha")
    assert r.returncode == 0 and "3 as expected, 0 unexpected (exit 0)" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["--xtf", "{tmp}/none"], "--xtf {tmp}/none: no such directory"),
    (["--xtf", "{tmp}"], "no XTF tests here"),
    (["--xtf", "{xtf}"], "no tests selected"),
    (["--xtf", "{xtf}", "omega"], "unrecognised test 'omega'"),
    (["--xtf", "{xtf}", "pv32pae-alpha"], "test 'alpha' has no environment 'pv32pae'"),
    (["--xtf", "{xtf}", "alpha~hap"], "test 'alpha' has no variations"),
    (["--xtf", "{xtf}", "delta~ept"], "test 'delta' has no variation 'ept'"),
    (["--all", "{xtf}"], "give --xtf DIR"),
    (["{xtf}"], "({xtf} is an XTF tree: use --xtf {xtf} [SELECTION])"),
])
def test_bad_selections_are_one_line(fake_xtf, tmp_path, args, message):
    fill = dict(tmp=tmp_path, xtf=fake_xtf)
    r = hvsim_test(*[a.format(**fill) for a in args])
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message.format(**fill) in r.stderr


# -- expectations ------------------------------------------------------------------

def test_without_expectations_the_worst_verdict_counts(fake_xtf):
    r = hvsim_test("-j", "2", "--xtf", fake_xtf, "--all", "--host")
    assert r.returncode == 5
    assert summary_line(r.stdout).endswith("3 SUCCESS, 1 FAILURE; worst FAILURE (exit 5)")


def test_expected_verdicts_are_not_surprises(fake_xtf, tmp_path):
    expect = tmp_path / "expected.tsv"
    expect.write_text("# test\tverdict\twhy\n"
                      "test-hvm64-beta\tFAILURE\tXen says so too (see XSA-999)\n"
                      "test-*-gamma\tSKIP\tno widget on Xen either\n")
    r = hvsim_test("-j", "2", "--expect", expect, "--xtf", fake_xtf, "--all", "--non-default", "hvm")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "test-hvm64-beta      FAILURE (expected)  " in r.stdout
    assert "Fail: still vulnerable [Xen says so too (see XSA-999)]" in r.stdout
    assert summary_line(r.stdout).endswith(": 3 SUCCESS, 1 SKIP, 1 FAILURE; "
                                           "5 as expected, 0 unexpected (exit 0)")


def test_surprises_set_the_exit_code(fake_xtf, tmp_path):
    expect = tmp_path / "expected.tsv"
    expect.write_text("test-hvm32-alpha\tFAILURE\tused to fail\n"
                      "test-hvm32pae-gamma\tSKIP\tno widget\n")
    r = hvsim_test("-q", "--expect", expect, "--xtf", fake_xtf, "alpha", "beta", "gamma", "hvm")
    assert r.returncode == 5                         # beta: an unexpected FAILURE
    lines = r.stdout.splitlines()
    assert any(l.startswith("test-hvm64-beta") and " FAILURE " in l for l in lines)
    assert any(l.startswith("test-hvm32-alpha") and "SUCCESS (expected FAILURE)" in l
               for l in lines)                       # did better: listed, exit 0 for it
    assert not any(l.startswith("test-hvm64-alpha") for l in lines)     # -q: as expected
    assert "2 as expected, 2 unexpected: worst FAILURE (exit 5)" in r.stdout
    assert "1 test did better than expected: update the expectations file" in r.stdout


def test_junit_reports_expected_verdicts_as_skipped(fake_xtf, tmp_path):
    expect = tmp_path / "expected.tsv"
    expect.write_text("test-hvm64-beta\tFAILURE\tknown\n")
    out = tmp_path / "r.xml"
    r = hvsim_test("--junit", out, "--expect", expect, "--xtf", fake_xtf, "beta", "alpha", "hvm")
    assert r.returncode == 0
    suite = ET.parse(out).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "0", "1")
    case = {c.get("name"): c for c in suite.findall("testcase")}["test-hvm64-beta"]
    assert case.get("classname") == "hvsim.xtf.beta"
    assert case.find("skipped").get("message").startswith("FAILURE (expected): ")


@pytest.mark.parametrize("text,message", [
    ("x\tBROKEN\twhy\n", "e.tsv:1: x: verdict 'BROKEN' is none of SUCCESS, SKIP, ERROR"),
    ("# c\n\nx\tFAILURE\n", "e.tsv:3: x: an expected FAILURE needs its reason"),
    ("x SUCCESS\n", "e.tsv:1: expected NAME<TAB>VERDICT<TAB>REASON"),
    ("x\tSKIP\ta\nx\tSKIP\tb\n", "e.tsv:2: x is already expected at e.tsv:1"),
])
def test_bad_expectations_name_file_and_line(text, message):
    with pytest.raises(ConfigError, match=None) as e:
        Expectations.parse(text, "e.tsv")
    assert message in str(e.value)


def test_expectation_lookup():
    e = Expectations.parse("test-*-x\tSKIP\tpattern\ntest-hvm64-x\tFAILURE\texact\n", "e")
    assert (e.get("test-hvm64-x").verdict, e.get("test-hvm32-x").verdict,
            e.get("test-hvm32-y").verdict) == ("FAILURE", "SKIP", "SUCCESS")


# -- the real XTF -----------------------------------------------------------------------

XTF_TIMEOUT = 30            # host seconds per image; each takes well under one


def _xtf_images():
    """Every HVM image of the XTF build with its expectation (one skipped
    parameter without a build)."""
    d = xtfutil.xtf_dir()
    if d is None:
        return [pytest.param(None, id="no-xtf")]
    tests = runner.discover_xtf(str(d), ["hvm"], all_default=True, non_default=True)
    tests = runner.with_expectations(tests, Expectations.load(str(xtfutil.EXPECTED)))
    return [pytest.param(t, id=t.name) for t in tests]


@pytest.mark.parametrize("image", _xtf_images())
def test_xtf_image(image):
    """The image gives the verdict tests/xtf-expected.tsv expects of it."""
    if image is None:
        xtfutil.missing()
    r = runner.run_test(image, runner.RunOptions(timeout=XTF_TIMEOUT))
    exp = image.expect
    assert r.verdict == exp.verdict, "%s gave %s (%s), %s expects %s: %s\n%s" % (
        image.name, r.verdict, r.note or "no note", exp.where or "tests/xtf-expected.tsv",
        exp.verdict, exp.reason or "not listed", runner.format_console(r, runner.TAIL_LINES))


SELECTIONS = ["hvm64 xsa", "hvm", "pv", "example", "invlpg hvm32", "--all", "special",
              "--non-default hvm32pse", "test-hvm64-invlpg~hap memop-seg", "xsa functional pv64",
              "utility in-development"]


@pytest.mark.parametrize("selection", SELECTIONS)
def test_selection_matches_xtf_runner(xtf_dir, selection):
    """hvsim picks what xtf-runner --list picks (variations folded into one run)."""
    runner_script = xtf_dir / "xtf-runner"
    if not runner_script.is_file():
        pytest.skip("%s has no xtf-runner" % xtf_dir)
    want = subprocess.run([sys.executable, str(runner_script), "--list", *selection.split()],
                          capture_output=True, text=True, check=True).stdout.split()
    want = sorted({w.split("~")[0] for w in want})
    assert sorted(listed(xtf_dir, *selection.split())) == want


def test_expectations_name_real_tests(xtf_dir):
    """Every line of tests/xtf-expected.tsv names a test of the XTF build."""
    expected = Expectations.load(str(xtfutil.EXPECTED))
    names = {t.name for t in xtf.select(xtf.load(str(xtf_dir)), ["hvm"], True, True)}
    assert sorted(set(expected.exact) - names) == []
    for pattern, _ in expected.patterns:
        assert any(Expectations.parse("%s\tSKIP\tx" % pattern).get(n).verdict == "SKIP"
                   for n in names), pattern
