"""What the tests need built first (the guests, the firmware scenarios, XTF)
and what a test does without it.

A test that needs a built guest, scenario or XTF tree skips with one line
saying how to build it, so a plain `pytest` on a fresh clone runs the unit
tests.  Under HVSIM_REQUIRE_BUILT=1, which `make test` and .ci/run set, the
same test fails instead: a run that built nothing cannot pass by skipping.

    @built.needs(GUEST, how="make guests")      # a marker, checked at set-up
    built.need(path)                            # inside a test or fixture
    built.guest("hvm64", "example")             # a built guest's ELF, or need() it
    built.missing("why")                        # anything else not built
"""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
GUESTS = ROOT / "guests" / "build"
FIRMWARE = ROOT / "firmware" / "build"
MAKE_GUESTS = "make guests"
MAKE_FIRMWARE = "make guests firmware"


def required():
    """HVSIM_REQUIRE_BUILT=1: a missing build fails the test."""
    return os.environ.get("HVSIM_REQUIRE_BUILT") == "1"


def missing(what):
    """Skip the calling test: `what` is not built (fail it under
    HVSIM_REQUIRE_BUILT=1)."""
    if required():
        pytest.fail("HVSIM_REQUIRE_BUILT=1: " + what, pytrace=False)
    pytest.skip(what)


def need(*paths, how=MAKE_GUESTS):
    """missing() for the first of `paths` that does not exist."""
    for p in paths:
        if not os.path.exists(p):
            missing("%s is not built (run `%s`)" % (p, how))


def needs(*paths, how=MAKE_GUESTS):
    """A marker: need(*paths) before the test runs (tests/conftest.py)."""
    return pytest.mark.needs_built(*paths, how=how)


def guest(env, name="example"):
    """guests/build/ENV/NAME.elf, need()ed."""
    elf = GUESTS / env / ("%s.elf" % name)
    need(elf)
    return elf
