"""The gdb stub (hvsim run --gdb): the packet layer, the protocol driven by a
raw client (Ctrl-C, memory writes, errors), and stock gdb in batch mode
against real guests (breakpoints, registers, backtrace, memory, stepi,
watchpoints, a register write that changes the guest's verdict)."""

import os
import pathlib
import re
import select
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

import built

from hvsim.arch.x86.debug import REGS_64, TARGET_32, TARGET_64
from hvsim.debug import gdbstub as g
from hvsim.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
GDB = shutil.which("gdb")
TIMEOUT = 30

needs_gdb = pytest.mark.skipif(GDB is None, reason="gdb is not installed (`make deps` "
                                                    "installs it: apt-get install gdb)")


guest = built.guest


# ---- the packet layer -------------------------------------------------------------------------
def test_checksum_and_frame():
    assert g.checksum(b"OK") == 0x9A
    assert g.frame(b"OK") == b"$OK#9a"
    assert g.frame(b"") == b"$#00"


def test_escape_roundtrip_and_special_bytes():
    data = bytes(range(256))
    esc = g.escape(data)
    for special in b"#$*":
        assert special not in esc
    assert g.unescape(esc) == data
    assert g.escape(b"a}b") == b"a}]b"
    # the checksum covers the escaped bytes
    framed = g.frame(b"#")
    assert framed == b"$}\x03#%02x" % g.checksum(b"}\x03")


def test_reader_splits_stream():
    r = g.PacketReader()
    stream = b"+" + g.frame(b"qSupported:xmlRegisters=i386") + b"\x03" + b"$g#00" + b"-"
    events = r.feed(stream[:7]) + r.feed(stream[7:])
    assert events == [("ack",), ("packet", b"qSupported:xmlRegisters=i386"), ("interrupt",),
                      ("bad", b"g"), ("nak",)]
    assert r.feed(b"$m10") == []                    # incomplete: kept for later
    assert r.feed(b"0,4#%02x" % g.checksum(b"m100,4")) == [("packet", b"m100,4")]


def test_run_length_decoding():
    assert g.decode_rle(b"0* ") == b"0000"           # ' ' = 32: three more
    assert g.decode_rle(b"ab") == b"ab"


def test_parse_address():
    assert g.parse_address(":1234") == ("127.0.0.1", 1234)
    assert g.parse_address("1234") == ("127.0.0.1", 1234)
    assert g.parse_address("0.0.0.0:0") == ("0.0.0.0", 0)
    for bad in ("", "host:", ":70000", "a:b", "[::1]:1234"):
        with pytest.raises(ConfigError):
            g.parse_address(bad)


@pytest.mark.parametrize("target, wide, arch", [(TARGET_64, True, "i386:x86-64"),
                                                (TARGET_32, False, "i386")])
def test_target_description(target, wide, arch):
    regs = target.regs
    root = ET.fromstring(g.target_xml(target))
    assert root.find("architecture").text == arch
    nums = [int(r.get("regnum")) for r in root.iter("reg")]
    assert nums == list(range(len(regs)))
    names = [r.get("name") for r in root.iter("reg")]
    for name in ("eflags", "cs", "cr0", "cr3", "efer", "fs_base", "st0", "mxcsr"):
        assert name in names
    assert ("rip" if wide else "eip") in names
    assert all(f.findall("reg") for f in root.iter("feature"))   # gdb rejects empty ones


# ---- the stub in a process ------------------------------------------------------------------
class Hvsim:
    """`hvsim run --gdb 127.0.0.1:0 ELF` (or another command) in the background;
    .port once it listens."""

    def __init__(self, elf, *extra, command="run"):
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "hvsim", command, "--gdb", "127.0.0.1:0", "--timeout", str(TIMEOUT),
             str(elf), *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=str(ROOT)))
        self.banner = self._read_banner()
        self.port = int(re.search(r"target remote 127\.0\.0\.1:(\d+)", self.banner).group(1))

    def _read_banner(self):
        """The stub's banner line on stderr (after Xen's "(XEN)" lines, kept in
        .before)."""
        deadline = time.monotonic() + TIMEOUT
        line, self.before = b"", []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.5)
            if ready:
                byte = os.read(self.proc.stderr.fileno(), 1)    # unbuffered: select stays true
                if not byte:
                    break
                line += byte
                if line.startswith(b"(XEN) ") and line.endswith(b"\n"):
                    self.before.append(line.decode())
                    line = b""
                elif line.endswith(b"\n"):
                    break
        assert b"target remote" in line, "no banner from hvsim: %r" % line
        return line.decode()

    def finish(self):
        """(exit code, stdout, stderr after the banner)."""
        try:
            out, err = self.proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail("hvsim did not end: %s" % err.decode())
        return self.proc.returncode, out.decode(), err.decode()


@pytest.fixture
def start():
    started = []

    def _start(elf, *extra, command="run"):
        h = Hvsim(elf, *extra, command=command)
        started.append(h)
        return h
    yield _start
    for h in started:
        if h.proc.poll() is None:
            h.proc.kill()
            h.proc.communicate()


def gdb_batch(elf, port, *commands):
    args = [GDB, "-batch", "-nx", "-ex", "set pagination off",
            "-ex", "target remote 127.0.0.1:%d" % port]
    for c in commands:
        args += ["-ex", c]
    r = subprocess.run(args + [str(elf)], cwd=ROOT, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert "internal-error" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r.stdout + r.stderr


class Client:
    """A minimal gdb: send a packet, read the reply."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.reader = g.PacketReader()
        self.pending = []

    def send(self, payload):
        self.sock.sendall(g.frame(payload.encode("latin-1") if isinstance(payload, str)
                                  else payload))

    def reply(self):
        while True:
            while self.pending:
                ev = self.pending.pop(0)
                if ev[0] == "packet":
                    self.sock.sendall(b"+")
                    return ev[1].decode("latin-1")
            data = self.sock.recv(65536)
            assert data, "the stub hung up"
            self.pending += self.reader.feed(data)

    def ask(self, payload):
        self.send(payload)
        return self.reply()


def _le(hexstr):
    return int.from_bytes(bytes.fromhex(hexstr), "little")


def test_protocol_ctrl_c_memory_and_errors(start):
    elf = guest("hvm64")
    h = start(elf)
    c = Client(h.port)
    assert "PacketSize=" in c.ask("qSupported:multiprocess+;swbreak+;hwbreak+")
    assert c.ask("?").startswith("T05thread:3e9;")          # d1v0 = 1001
    assert c.ask("qfThreadInfo") == "m3e9" and c.ask("qsThreadInfo") == "l"
    assert bytes.fromhex(c.ask("qThreadExtraInfo,3e9")).decode() == "paused"   # not started
    xml = c.ask("qXfer:threads:read::0,1000")
    assert xml.startswith("l") and '<thread id="3e9" name="d1v0">paused</thread>' in xml
    nm = subprocess.run(["nm", str(elf)], capture_output=True, text=True).stdout
    test_main = int(re.search(r"^([0-9a-f]+) T test_main$", nm, re.M).group(1), 16)
    rip = REGS_64.index(next(r for r in REGS_64 if r.name == "rip"))
    # paging is off at the PVH entry: code is reachable by address, 4 GiB+ is not
    assert c.ask("m%x,4" % test_main) != "E0e"
    assert c.ask("mdead00000000,4") == "E0e"
    # make test_main spin (binary write: eb fe, then '#', which travels escaped),
    # run into it, and stop the machine with Ctrl-C
    assert c.ask(b"X%x,3:\xeb\xfe#" % test_main) == "OK"
    assert c.ask("m%x,3" % test_main) == "ebfe23"
    for _ in range(20):                # a loaded machine may need more than one go
        c.send("c")
        time.sleep(0.3)
        c.sock.sendall(b"\x03")
        assert c.reply().startswith("T02thread:3e9;")
        if _le(c.ask("p%x" % rip)) == test_main:
            break
    assert _le(c.ask("p%x" % rip)) == test_main
    assert c.ask("p%x" % len(REGS_64)).startswith("E")      # no such register
    c.send("k")
    rc, _, err = h.finish()
    assert rc == 6 and "gdb killed the run" in err


@needs_gdb
def test_gdb_hvm64_session(start):
    elf = guest("hvm64")
    h = start(elf)
    out = gdb_batch(elf, h.port,
                    "info registers eflags cr0", "watch xen_major", "continue",
                    "delete", "break test_main", "continue", "bt", "info registers rip",
                    "x/4i $pc", "stepi", "p $pc", "info threads", "p/x $cr0", "p $efer",
                    "x/2x 0x7fff0000", "break *xtf_success", "continue",
                    "set $pc = xtf_failure", "continue")
    # start: 32-bit protected mode at the PVH entry
    assert re.search(r"cr0\s+0x11\s+\[ PE ET \]", out), out
    # the watchpoint: the write happened, reported after the instruction
    assert re.search(r"Hardware watchpoint 1: xen_major\s+Old value = 0\s+New value = \d+", out)
    assert "Breakpoint 2, test_main () at tests/example/main.c" in out
    assert re.search(r"#1 .* in xtf_main \(\)", out), out
    assert re.search(r"rip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <test_main>", out), out
    assert "=> 0x" in out and "<test_main>:" in out
    assert re.search(r"\$1 = .*<test_main\+\d+>", out), out
    assert re.search(r"\* 1\s+Thread 1001 \"d1v0\" \(runnable\)", out), out
    assert re.search(r"\$2 = 0x8\d+", out), out                        # PG set
    assert "[ LME LMA NXE ]" in out
    assert "Cannot access memory at address 0x7fff0000" in out
    # the register write turned the verdict into FAILURE (exit code 5)
    assert "exited with code 05" in out, out
    rc, console, _ = h.finish()
    assert rc == 5 and "Test result: FAILURE" in console


@needs_gdb
def test_gdb_hvm32_session(start):
    elf = guest("hvm32pae")
    h = start(elf)
    out = gdb_batch(elf, h.port,
                    "info registers eip cr0", "break test_main", "continue", "p $eip",
                    "stepi", "p $eip == test_main", "info registers cr4", "watch xtf_nr_checks",
                    "delete 1", "continue")
    assert re.search(r"eip\s+0x100000\s+0x100000 <_start>", out), out
    assert "Breakpoint 1, test_main () at tests/example/main.c" in out
    assert "$2 = 0" in out                                             # stepi moved
    assert re.search(r"cr4\s+0x[0-9a-f]+\s+\[ .*PAE.* \]", out), out
    assert "exited normally" in out, out
    rc, console, _ = h.finish()
    assert rc == 0 and "Test result: SUCCESS" in console


@needs_gdb
def test_gdb_detach_lets_the_guest_finish(start):
    elf = guest("hvm64")
    h = start(elf)
    out = gdb_batch(elf, h.port, "break test_main", "continue", "detach")
    assert "Detaching from program" in out or "detached" in out.lower(), out
    rc, console, _ = h.finish()
    assert rc == 0 and "Test result: SUCCESS" in console


@pytest.mark.parametrize("addr, what", [("nonsense", "use [HOST]:PORT"),
                                        ("127.0.0.1:99999", "use [HOST]:PORT"),
                                        ("no-such-host.invalid:1234", "unknown host")])
def test_bad_gdb_address(addr, what):
    elf = guest("hvm64")
    r = subprocess.run([PYTHON, "-m", "hvsim", "run", "--gdb", addr, str(elf)], cwd=ROOT,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and what in lines[0] and "Traceback" not in r.stderr


def test_port_in_use():
    elf = guest("hvm64")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = subprocess.run([PYTHON, "-m", "hvsim", "run", "--gdb", ":%d" % port, str(elf)],
                           cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "hvsim: error: --gdb 127.0.0.1:%d: cannot listen: Address already in use" % port]
