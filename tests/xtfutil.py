"""Where the XTF images the tests run are, and what to do when there are none.

`make test` (mk/xtf-build.sh) builds XTF's HVM images from $XTF_SRC
(default ../shared/xtf) in build/xtf; HVSIM_XTF_DIR=DIR runs another built
tree (an XTF build or install directory) as is.  Without either, the XTF
tests skip with one line saying how to get XTF: XTF is an outside input, not
something this tree builds, so HVSIM_REQUIRE_BUILT does not make that a
failure; HVSIM_REQUIRE_XTF=1 (CI, where ../shared/xtf always exists) does.
"""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
XTF_BUILD = ROOT / "build" / "xtf"
EXPECTED = ROOT / "tests" / "xtf-expected.tsv"
HOW_TO = ("no XTF build: `make test` builds one from ../shared/xtf or XTF_SRC=/path/to/xtf "
          "(git clone https://xenbits.xen.org/git-http/xtf.git); HVSIM_XTF_DIR=DIR runs a "
          "built tree as is")


def missing():
    """Skip the calling test: there is no XTF tree (fail it under
    HVSIM_REQUIRE_XTF=1)."""
    if os.environ.get("HVSIM_REQUIRE_XTF") == "1":
        pytest.fail("HVSIM_REQUIRE_XTF=1: " + HOW_TO, pytrace=False)
    pytest.skip(HOW_TO)


def xtf_dir():
    """The XTF tree to run (a pathlib.Path), or None if there is none."""
    given = os.environ.get("HVSIM_XTF_DIR")
    if given:
        return pathlib.Path(given)
    return XTF_BUILD if (XTF_BUILD / ".hvsim-built").is_file() else None
