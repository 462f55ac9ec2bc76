"""Ctrl-C typed into a tmux pane, as a user at a terminal does it:
`hvsim run`, `hvsim boot` and `hvsim test` each stop within a fraction of a
second from a guest spinning in CPUID (a Python hook at every instruction),
exit 130 with one "interrupted" line and the summary of what finished (for
`test`, the JUnit file of the finished tests).  tmux owns the terminal and
its foreground process group; the command runs under bash as a shell's
job would (test_interrupt.py drives a bare pseudo-terminal instead)."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from test_gdb_boot import lcm_scenario
from test_interrupt import OK, SPIN_CPUID, ok_and_spin_tree, stop_within
from x86util import build_pvh_elf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TMUX = shutil.which("tmux")

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")

LCM = """/dts-v1/;
/ {
    chosen {
        ok { compatible = "xen,domain"; cpus = <1>; memory = <0x0 0x8000>;
             kernel { compatible = "multiboot,kernel", "multiboot,module"; module-index = <1>; }; };
        spin { compatible = "xen,domain"; cpus = <1>; memory = <0x0 0x8000>;
               kernel { compatible = "multiboot,kernel", "multiboot,module"; module-index = <2>; }; };
    };
};
"""


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Pane:
    """A command in a detached tmux session on its own server socket."""

    def __init__(self, tmp_path, *args):
        self.socket = "hvsim-test-%d-%d" % (os.getpid(), time.monotonic_ns())
        script = tmp_path / "cmd.sh"
        cmd = " ".join("'%s'" % str(a) for a in (sys.executable, "-m", "hvsim", *args))
        # `trap true INT`: the shell survives the ^C its job gets, and says how the job ended
        script.write_text("trap true INT\ncd '%s'\nexport PYTHONPATH='%s'\n%s\n"
                          "echo \"EXIT=$?\"\nsleep 600\n" % (ROOT, ROOT, cmd))
        self._tmux("new-session", "-d", "-s", "t", "-x", "220", "-y", "50", "bash " + str(script))

    def _tmux(self, *args):
        # the tmux server (started by new-session) and so the command get
        # SIGINT's default, as an interactive shell gives it: under make or
        # a CI runner it may have been left ignored
        return subprocess.run([TMUX, "-f", "/dev/null", "-L", self.socket, *args],
                              capture_output=True, text=True, timeout=30,
                              preexec_fn=_default_sigint).stdout

    def text(self):
        return self._tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "t")

    def wait_for(self, pattern, timeout=60):
        end = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.text())
            if m:
                return m
            assert time.monotonic() < end, "%r never showed:\n%s" % (pattern, self.text())
            time.sleep(0.05)

    def ctrl_c(self):
        """Send C-c; (the command's exit code, seconds until it said so)."""
        start = time.monotonic()
        self._tmux("send-keys", "-t", "t", "C-c")
        m = self.wait_for(r"EXIT=(\d+)", timeout=30)
        return int(m.group(1)), time.monotonic() - start

    def type(self, *keys):
        self._tmux("send-keys", "-t", "t", *keys)

    def close(self):
        self._tmux("kill-server")


@pytest.fixture
def pane(tmp_path):
    panes = []

    def _open(*args):
        p = Pane(tmp_path, *args)
        panes.append(p)
        return p
    yield _open
    for p in panes:
        p.close()


def _check(out, code, took):
    assert code == 130, out
    assert took < stop_within(), "%.2f s\n%s" % (took, out)
    assert "Traceback" not in out and "Exception ignored" not in out, out
    assert out.count("hvsim: interrupted") == 1, out


def test_tmux_ctrl_c_stops_run(tmp_path, pane):
    elf = build_pvh_elf(tmp_path, SPIN_CPUID, name="spin.elf")
    p = pane("run", "--console", "none", "--timeout", "0", elf)
    p.wait_for("spinning")
    time.sleep(0.3)
    code, took = p.ctrl_c()
    out = p.text()
    _check(out, code, took)
    assert re.search(r"^d1 .*running.*CRASH", out, re.M), out


def test_tmux_ctrl_c_stops_boot(tmp_path, pane):
    ok = build_pvh_elf(tmp_path, OK, name="ok.elf")
    spin = build_pvh_elf(tmp_path, SPIN_CPUID, name="spin.elf")
    p = pane("boot", "--timeout", "0", lcm_scenario(tmp_path, LCM, ok, spin))
    p.wait_for(r"\(d2\) spinning")
    p.wait_for(r"\(d1\) Test result: SUCCESS")
    time.sleep(0.3)
    code, took = p.ctrl_c()
    out = p.text()
    _check(out, code, took)
    # the summary: d1 had finished (ended: poweroff), d2 was still running
    assert re.search(r"^d1 .*poweroff\s+[A-Z]+", out, re.M), out
    assert re.search(r"^d2 .*running.*CRASH", out, re.M), out


def test_tmux_ctrl_c_stops_test_with_junit(tmp_path, pane):
    junit = tmp_path / "junit.xml"
    p = pane("test", "-j", "1", "--timeout", "0", "--junit", junit, ok_and_spin_tree(tmp_path))
    p.wait_for("a-ok")
    time.sleep(1.0)                     # b-spin is spinning
    code, took = p.ctrl_c()
    out = p.text()
    _check(out, code, took)
    assert "1 of 2 tests finished" in out, out
    cases = ET.parse(junit).getroot().iter("testcase")
    assert [c.get("name") for c in cases] == ["hvm32-a-ok"]


@pytest.mark.parametrize("command", ["boot-gdb", "step"])
def test_tmux_ctrl_c_stops_gdb_wait_and_step(tmp_path, pane, command):
    """Waiting for gdb to connect (`boot --gdb`), or stepping a spinning
    guest instruction by instruction (`step`): C-c ends it the same way."""
    elf = build_pvh_elf(tmp_path, SPIN_CPUID, name="spin.elf")
    if command == "step":
        p = pane("step", elf)
        p.wait_for("step> ")
        p.type("1000000", "Enter")          # a million steps at the prompt
        p.wait_for(r"<_start\+0x[0-9a-f]+> +cpuid")
    else:
        p = pane("boot", "--gdb", "127.0.0.1:0", lcm_scenario(tmp_path, LCM, elf, elf))
        p.wait_for("monitor help")
    time.sleep(0.3)
    code, took = p.ctrl_c()
    _check(p.text(), code, took)
