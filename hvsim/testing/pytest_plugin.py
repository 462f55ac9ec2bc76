"""pytest plugin: `pytest --hvsim-guests DIR` runs every guest image under DIR.

Each *.elf under DIR becomes a test item named as `hvsim test` names it
(e.g. "hvm64-example"; node id "DIR::hvm64-example") and runs in its own
`hvsim run` process through hvsim.testing.runner, so it works with
pytest-xdist (`-n N`).  SUCCESS passes, SKIP is a pytest skip (with the
guest's "Skip: ..." reason), ERROR, FAILURE and CRASH fail with the verdict
and the tail of the console.

Options: --hvsim-guests DIR (repeatable), --hvsim-timeout S (default 60),
--hvsim-deterministic.  Without --hvsim-guests the plugin does nothing.
Registered as the "hvsim" pytest11 entry point (`-p no:hvsim` disables it).
"""

import os
import pathlib

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("hvsim", "hvsim guest images as tests")
    group.addoption("--hvsim-guests", action="append", default=[], metavar="DIR",
                    help="run every guest image (*.elf, searched recursively) under DIR "
                         "as a test (repeatable)")
    group.addoption("--hvsim-timeout", type=float, default=None, metavar="S",
                    help="per-guest limit in host seconds (default 60; 0 = never)")
    group.addoption("--hvsim-deterministic", action="store_true", default=False,
                    help="run the guests with `hvsim run --deterministic`")


def pytest_configure(config):
    """Check the options early: a bad DIR is a usage error, not a crash."""
    dirs = config.getoption("hvsim_guests")
    if not dirs:
        return
    for d in dirs:
        if not os.path.isdir(d):
            raise pytest.UsageError("--hvsim-guests %s: %s" % (
                d, "not a directory" if os.path.exists(d) else "no such directory"))
    timeout = config.getoption("hvsim_timeout")
    if timeout is not None and timeout < 0:
        raise pytest.UsageError("--hvsim-timeout %g: must be 0 (never) or positive" % timeout)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """Add the guests' items before -k, -m and --deselect filter the list."""
    dirs = config.getoption("hvsim_guests")
    if not dirs:
        return
    for d in dirs:
        tree = GuestDirectory.from_parent(session, name=d, path=pathlib.Path(os.path.abspath(d)),
                                          nodeid=_nodeid(config, d))
        items.extend(session.genitems(tree))


def _nodeid(config, d):
    """DIR relative to the rootdir if it is below it, else absolute."""
    path = os.path.abspath(d)
    try:
        rel = os.path.relpath(path, str(config.rootpath))
    except ValueError:
        return path
    if rel == os.curdir:
        return "."
    return path if rel.startswith(os.pardir) else rel.replace(os.sep, "/")


def _run_options(config):
    from .runner import DEFAULT_TIMEOUT, RunOptions
    timeout = config.getoption("hvsim_timeout")
    return RunOptions(timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                      deterministic=config.getoption("hvsim_deterministic"))


class GuestDirectory(pytest.Collector):
    """The guest images under one --hvsim-guests DIR."""

    def collect(self):
        from .runner import discover
        return [GuestItem.from_parent(self, name=t.name, path=pathlib.Path(t.path), guest=t)
                for t in discover([os.fspath(self.path)])]


class GuestFailed(Exception):
    """A guest's verdict was ERROR, FAILURE or CRASH."""

    def __init__(self, result):
        super().__init__(result.verdict)
        self.result = result


class GuestItem(pytest.Item):
    """One guest image, run by `hvsim run` in its own process."""

    def __init__(self, *, guest, **kw):
        super().__init__(**kw)
        self.guest = guest

    def runtest(self):
        from .runner import TAIL_LINES, run_test
        result = run_test(self.guest, _run_options(self.config))
        self.user_properties.append(("verdict", result.verdict))
        passed = result.verdict in ("SUCCESS", "SKIP")
        if passed or len(result.console_lines) > TAIL_LINES:    # else the failure shows it all
            self.add_report_section("call", "guest console", result.console)
        if result.verdict == "SKIP":
            _skip(result.note or "guest reported SKIP")
        if not passed:
            raise GuestFailed(result)

    def repr_failure(self, excinfo, style=None):
        """A guest's failure is its verdict and console tail, not a traceback."""
        if isinstance(excinfo.value, GuestFailed):
            return _describe(excinfo.value.result)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, 0, "hvsim guest %s" % self.name


def _skip(reason):
    """pytest.skip, reported at the guest image rather than at this file."""
    try:
        raise pytest.skip.Exception(reason, _use_item_location=True)
    except TypeError:                   # a pytest without _use_item_location
        pytest.skip(reason)


def _describe(result):
    """A failed guest for pytest: verdict and why, then the console's tail."""
    from .runner import TAIL_LINES, format_console
    return "%s: %s\n  image %s: hvsim run %s after %.2fs\n---- console ----\n%s" % (
        result.verdict, result.note or "(no reason printed)", result.test.path,
        "killed" if result.killed else "exit %s" % result.returncode, result.seconds,
        format_console(result, TAIL_LINES, header=False))
