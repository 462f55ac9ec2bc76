import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import built  # noqa: E402  (tests/ on the path first)
import xtfutil  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_built(*paths, how): the test needs these built "
                            "files (tests/built.py): skip without them, fail under "
                            "HVSIM_REQUIRE_BUILT=1")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_built"):
        built.need(*mark.args, **mark.kwargs)


@pytest.fixture(scope="session")
def xtf_dir():
    """The built XTF tree (build/xtf, or $HVSIM_XTF_DIR): a pathlib.Path whose
    tests/<name>/ hold info.json and the test-<env>-<name> images.  Skips the
    test without one (fails it with HVSIM_REQUIRE_XTF=1)."""
    d = xtfutil.xtf_dir()
    if d is None:
        xtfutil.missing()
    return d
