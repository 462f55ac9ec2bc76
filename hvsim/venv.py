"""hvsim started from a Python that lacks the packages it needs (unicorn,
capstone, pyelftools, fdt, lz4): another Python than the checkout's .venv,
or a virtualenv made before a package was added.  Started as a command in a
checkout where `make` made .venv (`python3 -m hvsim ...`), hvsim runs again
in .venv's Python; otherwise one line names what is missing and `make venv`,
instead of a traceback.  Standard library only: it runs before the
packages are imported."""

import os
import sys

VENV = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv")
VENV_PYTHON = os.path.join(VENV, "bin", "python")
REEXEC_ENV = "HVSIM_VENV_REEXEC"        # set on the re-run, so that it happens once
EXIT_USAGE = 2                          # verdict.EXIT_USAGE (not importable here)


def is_missing_package(exc):
    """A ModuleNotFoundError for a package outside hvsim (not an hvsim bug)."""
    return bool(exc.name) and exc.name.split(".")[0] != "hvsim"


def missing_package(exc, reexec=True):
    """Re-run hvsim in .venv's Python if that can help (reexec: started as a
    command, with sys.argv), else say what is missing; the exit code."""
    package = exc.name.split(".")[0]
    if reexec and os.environ.get(REEXEC_ENV) != "1" and os.path.exists(VENV_PYTHON) \
            and os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        os.environ[REEXEC_ENV] = "1"
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(VENV_PYTHON, [VENV_PYTHON, "-m", "hvsim"] + sys.argv[1:])
    sys.stderr.write("hvsim: error: the Python package '%s' is not installed in %s (run "
                     "`make venv`, which installs hvsim's packages into .venv, and use "
                     ".venv/bin/hvsim)\n" % (package, sys.executable))
    return EXIT_USAGE
