"""Ctrl-C from a real terminal: every command stops within a fraction of a
second from any guest state (spinning in CPUID, whose hook is a Python
callback, in a loop that makes no hook call at all, or in hypercalls), says
so in one line, prints what finished and exits 130.  The commands run on a pseudo-terminal
as its foreground process group; Ctrl-C is the ^C byte typed on it, so the
terminal driver sends SIGINT as a shell's terminal would."""

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
import xml.etree.ElementTree as ET

import pytest

from x86util import build_pvh_elf, debugcon

# A guest that prints a line, then spins for ever in CPUID (a Python hook per
# instruction executed) or in a plain loop (no hook at all).
SPIN_CPUID = debugcon("spinning\n") + "1:\n    xor %eax, %eax\n    cpuid\n    jmp 1b\n"
SPIN_PLAIN = debugcon("spinning\n") + "1:\n    jmp 1b\n"
# ... or in hypercalls: xen_version(XENVER_version) by vmcall, for ever
SPIN_HYPERCALL = debugcon("spinning\n") + ("1:\n    mov $17, %eax\n    xor %ebx, %ebx\n"
                                            "    xor %ecx, %ecx\n    vmcall\n    jmp 1b\n")
OK = debugcon("hello\nTest result: SUCCESS\n") + "cli\nhlt\n"
STOP_WITHIN = 2.0                      # s from Ctrl-C to exit (a loaded 2-core machine)


def stop_within():
    """STOP_WITHIN, stretched by how oversubscribed the machine is now (the
    1-minute load average per CPU): under `make test -n 2` beside other
    builds a process may get a tenth of a CPU, and the time it takes to
    stop and exit grows with that, not with anything hvsim does."""
    return STOP_WITHIN * max(1.0, os.getloadavg()[0] / len(os.sched_getaffinity(0)))


def _controlling_tty():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    # as an interactive shell starts a command (a non-interactive one, e.g.
    # under make or a CI job runner, may have left SIGINT ignored)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Terminal:
    """A command on a new pseudo-terminal (its stdin, stdout and stderr)."""

    def __init__(self, *args):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "hvsim", *map(str, args)],
                                     stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True, preexec_fn=_controlling_tty)
        os.close(slave)
        self.output = b""

    def read_until(self, text, timeout=60):
        end = time.monotonic() + timeout
        while text.encode() not in self.output:
            assert time.monotonic() < end, self.output.decode(errors="replace")
            self._read(0.2)

    def _read(self, wait):
        if select.select([self.master], [], [], wait)[0]:
            try:
                self.output += os.read(self.master, 65536)
            except OSError:                # the command ended and closed the terminal
                pass

    def type(self, data):
        os.write(self.master, data)

    def ctrl_c(self):
        """Type ^C; the exit code and how long the command took to end."""
        start = time.monotonic()
        self.type(b"\x03")
        while self.proc.poll() is None:
            assert time.monotonic() - start < 30, "Ctrl-C ignored: " + self.text()
            self._read(0.02)
        took = time.monotonic() - start
        self._read(0.2)
        os.close(self.master)
        return self.proc.returncode, took

    def text(self):
        return self.output.decode(errors="replace").replace("\r\n", "\n")


@pytest.mark.parametrize("body", [SPIN_CPUID, SPIN_PLAIN, SPIN_HYPERCALL],
                         ids=["cpuid", "plain-loop", "hypercalls"])
@pytest.mark.parametrize("mode", [[], ["--deterministic"]], ids=["fast", "deterministic"])
def test_ctrl_c_stops_run(tmp_path, body, mode):
    elf = build_pvh_elf(tmp_path, body, name="spin.elf")
    term = Terminal("run", "--console", "none", "--timeout", "0", *mode, elf)
    term.read_until("spinning")
    time.sleep(0.3)
    code, took = term.ctrl_c()
    _check_interrupted_run(term.text(), code, took)


@pytest.mark.parametrize("detach", [False, True], ids=["attached", "detached"])
def test_ctrl_c_with_the_console_attached_or_detached(tmp_path, detach):
    """On a terminal `hvsim run` attaches it to d1's console; Ctrl-C stops
    hvsim there too (it is not typed into the guest's ring), and after
    Ctrl-] as well."""
    elf = build_pvh_elf(tmp_path, SPIN_CPUID, name="spin.elf")
    term = Terminal("run", "--timeout", "0", elf)
    term.read_until("spinning")
    if detach:
        term.type(b"\x1d")
        term.read_until("detached")
    code, took = term.ctrl_c()
    _check_interrupted_run(term.text(), code, took)


def _check_interrupted_run(out, code, took):
    assert code == 130, out
    assert took < stop_within(), "%.2f s\n%s" % (took, out)
    assert "Traceback" not in out and "Exception ignored" not in out, out
    assert out.count("hvsim: interrupted") == 1, out
    row = [l for l in out.splitlines() if l.startswith("d1 ")]
    assert row and "running" in row[0] and "CRASH" in row[0], out      # the summary


@pytest.mark.parametrize("reached", [True, False], ids=["after-snapshot", "before-snapshot"])
def test_ctrl_c_leaves_snapshots_consistent(tmp_path, reached):
    """Ctrl-C after a snapshot was written (--snapshot-continue) leaves it
    whole and resumable; before the point, no file (nor half of one)."""
    elf = build_pvh_elf(tmp_path, SPIN_CPUID, name="spin.elf")
    snap = tmp_path / "s.hvsnap"
    term = Terminal("run", "--console", "none", "--timeout", "0", "--snapshot-at",
                    "1ms" if reached else "10000s", "--snapshot-file", snap,
                    "--snapshot-continue", elf)
    term.read_until("snapshot at" if reached else "spinning")
    code, _ = term.ctrl_c()
    out = term.text()
    assert code == 130 and out.count("hvsim: interrupted") == 1, out
    assert not (tmp_path / "s.hvsnap.tmp").exists()
    if not reached:
        assert not snap.exists() and "no snapshot was written" in out, out
        return
    info = subprocess.run([sys.executable, "-m", "hvsim", "resume", "--info", str(snap)],
                          capture_output=True, text=True, timeout=60)
    assert info.returncode == 0 and "d1" in info.stdout, info.stdout + info.stderr
    resumed = subprocess.run([sys.executable, "-m", "hvsim", "resume", "-q", "--timeout", "1",
                              str(snap)], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 6 and resumed.stdout == "", resumed.stderr  # spins to --timeout
    assert resumed.stderr.startswith("hvsim: resuming") and \
        resumed.stderr.endswith("hvsim: d1 (spin.elf): CRASH\n"), resumed.stderr


def test_ctrl_c_with_gdb_attached_tells_gdb_the_exit(tmp_path):
    """Ctrl-C at hvsim's terminal while stock gdb is connected and the guest
    runs: hvsim ends as always (130) and gdb is told the run exited with
    that code (not a dropped connection)."""
    import re
    import shutil
    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed (`make deps` installs it)")
    elf = build_pvh_elf(tmp_path, SPIN_CPUID, name="spin.elf")
    term = Terminal("run", "--console", "none", "--timeout", "0", "--gdb", "127.0.0.1:0", elf)
    term.read_until("target remote 127.0.0.1:")
    term.read_until("\n")
    port = re.search(r"target remote 127\.0\.0\.1:(\d+)", term.text()).group(1)
    gdb = subprocess.Popen(["gdb", "-batch", "-nx", "-ex", "target remote 127.0.0.1:" + port,
                            "-ex", "continue", str(elf)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        term.read_until("spinning")
        time.sleep(0.3)
        code, _ = term.ctrl_c()
        out, _ = gdb.communicate(timeout=60)
    finally:
        if gdb.poll() is None:
            gdb.kill()
    assert code == 130 and term.text().count("hvsim: interrupted") == 1, term.text()
    assert "exited with code 0202" in out, out            # 130, as gdb prints it


def ok_and_spin_tree(tmp_path):
    """A test tree: hvm32-a-ok succeeds, hvm32-b-spin spins for ever."""
    tree = tmp_path / "tree" / "hvm32"
    tree.mkdir(parents=True)
    build_pvh_elf(tree, OK, name="a-ok.elf")
    build_pvh_elf(tree, SPIN_CPUID, name="b-spin.elf")
    return tree.parent


def test_ctrl_c_stops_test_and_writes_finished_junit(tmp_path):
    junit = tmp_path / "junit.xml"
    term = Terminal("test", "-j", "1", "--timeout", "0", "--junit", junit,
                    ok_and_spin_tree(tmp_path))
    term.read_until("a-ok")
    time.sleep(1.0)                      # b-spin is spinning
    code, took = term.ctrl_c()
    out = term.text()
    assert code == 130, out
    assert took < stop_within(), "%.2f s\n%s" % (took, out)
    assert "Traceback" not in out, out
    assert "hvsim: interrupted" in out and "1 of 2 tests finished" in out, out
    cases = ET.parse(junit).getroot().iter("testcase")
    assert [c.get("name") for c in cases] == ["hvm32-a-ok"]
