"""The gdb stub on arm64 guests (`hvsim run --gdb`, `hvsim boot --gdb`),
driven by stock gdb-multiarch in batch mode against real arm64 guests: the
aarch64 target description (core, fpu, hvsim's system registers), g/p/P,
breakpoints, stepi, memory by guest virtual address through the guest's own
stage-1 tables (arm64-traps turns its MMU on with a VA alias), a register
write that changes the verdict, and the dom0less boot's dNvM threads."""

import re
import shutil
import xml.etree.ElementTree as ET

import pytest

import built
from test_gdbstub import ROOT, TIMEOUT, Client, start  # noqa: F401 (start: a fixture)
from test_gdb_boot import boot, threads, gdb as gdb_session  # noqa: F401 (boot: a fixture)

from hvsim.arch.arm64.debug import REGS, TARGET
from hvsim.debug import gdbstub as g

GDB = shutil.which("gdb-multiarch")
needs_gdb = pytest.mark.skipif(GDB is None, reason="gdb-multiarch is not installed (`make deps` "
                                                    "installs it: apt-get install gdb-multiarch)")
A64 = built.GUESTS / "arm64"
DOM0LESS = ROOT / "firmware" / "dom0less-arm64"


def gdb(elf, port, *commands):
    return gdb_session(elf, port, *commands, program=GDB)


def test_target_description():
    root = ET.fromstring(g.target_xml(TARGET))
    assert root.find("architecture").text == "aarch64"
    features = {f.get("name"): [r.get("name") for r in f.iter("reg")] for f in root.iter("feature")}
    assert features["org.gnu.gdb.aarch64.core"] == ["x%d" % n for n in range(31)] + \
        ["sp", "pc", "cpsr"]
    assert features["org.gnu.gdb.aarch64.fpu"] == ["v%d" % n for n in range(32)] + \
        ["fpsr", "fpcr"]
    for name in ("sctlr_el1", "ttbr0_el1", "ttbr1_el1", "tcr_el1", "mair_el1", "vbar_el1",
                 "esr_el1", "far_el1", "elr_el1", "spsr_el1", "sp_el0", "sp_el1", "tpidr_el0",
                 "tpidr_el1", "cntv_ctl_el0", "cntv_cval_el0", "cntp_ctl_el0"):
        assert name in features["org.hvsim.aarch64.sys"]
    nums = [int(r.get("regnum")) for r in root.iter("reg")]
    assert nums == list(range(len(REGS)))
    assert [r.get("bitsize") for r in root.iter("reg")][32:35] == ["64", "32", "128"]


@needs_gdb
@built.needs(A64 / "example.elf")
def test_gdb_session_breakpoint_registers_stepi(start):
    elf = A64 / "example.elf"
    h = start(elf)
    assert "connect with: gdb-multiarch " in h.banner
    out = gdb(elf, h.port,
              "info registers x0 pc cpsr sctlr_el1",
              "break test_main", "continue", "bt",
              "info registers pc", "stepi", "info registers pc", "x/2i $pc",
              "info threads", "p/x $v0.d.u", "p $fpcr", "continue")
    # the entry state Xen gives an arm64 vCPU: x0 = the DTB, EL1h with DAIF masked, MMU off
    assert re.search(r"^x0\s+0x40200000\b", out, re.M), out
    assert re.search(r"^pc\s+0x40080000\s+0x40080000 <_start>", out, re.M), out
    assert re.search(r"^cpsr\s+0x3c5\s+\[ SP EL=1 F I A D \]", out, re.M), out
    assert re.search(r"^sctlr_el1\s+0x30d00800", out, re.M), out
    assert "Breakpoint 1, test_main () at tests/example/main.c" in out, out
    assert re.search(r"#1\s+0x[0-9a-f]+ in xtf_main \(\)", out), out
    pcs = [int(x, 16) for x in re.findall(r"^pc\s+(0x[0-9a-f]+)", out, re.M)]
    assert pcs[-1] == pcs[-2] + 4, pcs                 # stepi: exactly one instruction
    assert re.search(r'Thread 1001 "d1v0" \(runnable\)', out), out
    assert "$1 = {0x0, 0x0}" in out, out
    assert "[Inferior 1 (Remote target) exited normally]" in out, out
    rc, stdout, _ = h.finish()
    assert rc == 0 and stdout.splitlines()[-1] == "Test result: SUCCESS", stdout


@needs_gdb
@built.needs(A64 / "arm64-traps.elf")
def test_gdb_memory_through_the_guests_mmu(start):
    """arm64-traps maps VA 0x80000000 onto RAM at 0x40000000 with its own
    tables: gdb reads and writes the alias by virtual address (the stub
    walks the guest's stage-1 tables), and an address the tables leave
    unmapped cannot be read."""
    elf = A64 / "arm64-traps.elf"
    source = ROOT / "guests" / "tests" / "arm64-traps" / "main.c"
    line = next(n for n, text in enumerate(source.read_text().splitlines(), 1)
                if '"console_io from an aliased buffer"' in text)
    h = start(elf)
    alias = "(char *)((unsigned long)&alias_buf + 0x40000000)"
    out = gdb(elf, h.port,
              "x/bx %s" % alias,                          # MMU off: no such physical memory
              "break main.c:%d" % line, "continue",        # after the console_io
              "info registers sctlr_el1 ttbr0_el1",
              "x/s %s" % alias, "x/s &alias_buf",
              "set var *%s = 'T'" % alias, "x/s &alias_buf",
              "x/gx 0xc0000008",                          # the tables leave this unmapped
              "delete", "continue")
    assert re.search(r"Cannot access memory at address 0x80", out), out
    assert re.search(r"^sctlr_el1\s+0x30d01805", out, re.M), out     # M, C, I set by the guest
    assert re.search(r':\s+"through the alias\\n"', out), out
    assert re.search(r':\s+"Through the alias\\n"', out), out
    assert "Cannot access memory at address 0xc0000008" in out, out
    rc, stdout, _ = h.finish()
    assert rc == 0 and stdout.splitlines()[-1] == "Test result: SUCCESS", stdout


@needs_gdb
@built.needs(A64 / "example.elf")
def test_gdb_watchpoint_and_a_register_write_changes_the_verdict(start):
    """A write watchpoint reported after the store; `set $pc = xtf_failure`
    at xtf_success turns the verdict into FAILURE (exit code 5)."""
    elf = A64 / "example.elf"
    h = start(elf)
    out = gdb(elf, h.port, "watch xen_major", "continue", "delete",
              "break *xtf_success", "continue", "set $pc = xtf_failure", "continue")
    assert re.search(r"Hardware watchpoint 1: xen_major\s+Old value = 0\s+New value = 4", out), out
    assert "Breakpoint 2, " in out and "xtf_success" in out, out
    assert "exited with code 05" in out, out
    rc, stdout, _ = h.finish()
    assert rc == 5 and "Test result: FAILURE" in stdout, stdout


def test_protocol_g_p_and_errors(start):
    """g/G/p/P and memory packets on an arm64 vCPU, as gdb sends them."""
    elf = A64 / "example.elf"
    built.need(elf)
    h = start(elf)
    c = Client(h.port)
    assert "qXfer:features:read+" in c.ask("qSupported:swbreak+")
    xml = c.ask("qXfer:features:read:target.xml:0,10000")
    assert xml.startswith("l") and "<architecture>aarch64</architecture>" in xml
    regs = bytes.fromhex(c.ask("g"))
    assert len(regs) == sum(r.size for r in REGS)
    assert int.from_bytes(regs[0:8], "little") == 0x40200000                # x0: the DTB
    assert int.from_bytes(regs[32 * 8:33 * 8], "little") == 0x40080000      # pc
    assert c.ask("P5=efbeadde00000000") == "OK"
    assert c.ask("p5") == "efbeadde00000000"
    code = (A64 / "example.Image").read_bytes()[:4] if (A64 / "example.Image").exists() else None
    assert len(c.ask("m40080000,4")) == 8 and (code is None or c.ask("m40080000,4") == code.hex())
    assert c.ask("m80000000,4") == "E0e"                                   # MMU off: no RAM there
    assert c.ask("p%x" % len(REGS)).startswith("E")
    assert c.ask("P21=%s" % (0x3C4 | 0x10).to_bytes(4, "little").hex()).startswith("E")  # AArch32
    c.send("k")


@needs_gdb
@built.needs(A64 / "ping-pong.elf", built.FIRMWARE / "dom0less-arm64" / "lcm.dtb",
             how=built.MAKE_FIRMWARE)
def test_dom0less_threads_and_a_domain_breakpoint(boot):
    """`hvsim boot --gdb` on the dom0less arm64 scenario: every vCPU of both
    domains is a thread dNvM; a breakpoint limited to d2 stops d2v0 only."""
    b = boot(DOM0LESS)
    assert "d1 (domU1): threads d1v0" in b.hints and "d2 (domU2): threads d2v0 d2v1" in b.hints
    elf = A64 / "ping-pong.elf"
    out = gdb(elf, b.port, "info threads", "monitor break-domain d2", "break test_main",
              "continue", "info threads", "info registers x0 pc", "thread 1",
              "info registers pc", "delete", "monitor break-domain all", "continue")
    first = out.split("breakpoints and watchpoints in d2 only")[0]
    assert set(threads(first).values()) == {("d1v0", "paused"), ("d2v0", "paused"),
                                            ("d2v1", "paused")}, out
    assert re.search(r'Thread \d+ "d2v0" hit Breakpoint 1, test_main', out), out
    rc, stdout, _ = b.finish()
    assert rc == 0, stdout
