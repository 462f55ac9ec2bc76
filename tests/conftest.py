import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import xtfutil  # noqa: E402  (tests/ on the path first)


@pytest.fixture(scope="session")
def xtf_dir():
    """The built XTF tree (build/xtf, or $HVSIM_XTF_DIR): a pathlib.Path whose
    tests/<name>/ hold info.json and the test-<env>-<name> images.  Skips the
    test without one (fails it with HVSIM_REQUIRE_BUILT=1)."""
    d = xtfutil.xtf_dir()
    if d is None:
        xtfutil.missing()
    return d
