"""Snapshots (hvsim/snapshot/): `--snapshot-at/--snapshot-file` and `hvsim resume`.

In deterministic mode, [run to the snapshot] + [resume] must print exactly
what one uninterrupted run prints (consoles and traces), whatever the CPU
mode, with event channels, timers and blocked vCPUs in flight; broken files
give one line and exit 2.
"""

import contextlib
import gc
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys

import pytest

import built
from cliutil import hvsim_lines, summary_table

from hvsim.arch.x86.cpustate import load_cpu, save_cpu
from hvsim.snapshot import machine
from hvsim.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUESTS = os.path.join(ROOT, "guests", "build")
HC64 = os.path.join(GUESTS, "hvm64", "hypercalls.elf")
HC32 = os.path.join(GUESTS, "hvm32", "hypercalls.elf")
DEMO3 = os.path.join(ROOT, "firmware", "demo3", "boot.cfg")
TIMER = os.path.join(GUESTS, "hvm64", "timer.elf")
EVTCHN = os.path.join(GUESTS, "hvm64", "evtchn-ops.elf")

needs_guests = built.needs(HC64, HC32)
needs_firmware = built.needs(os.path.join(ROOT, "firmware", "build", "demo3"),
                             how=built.MAKE_FIRMWARE)


def hvsim(*argv):
    """`hvsim ARGV` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    gc.collect()                        # Unicorn instances of finished runs
    assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue(), \
        err.getvalue()
    return rc, out.getvalue(), err.getvalue()


def without_host_seconds(text):
    """The summary's last column is host time: the one thing allowed to differ."""
    return re.sub(r"(?m)^(d\d+ .*?)\s+\d+\.\d+$", r"\1", text)


def private_copy(tmp_path, elf):
    """The guest as of now (the build may be redone while a test runs)."""
    folder = tmp_path / os.path.basename(os.path.dirname(elf))
    folder.mkdir(exist_ok=True)
    return shutil.copy(elf, folder)


def read(path):
    with open(path) as f:
        return f.read()


def cut_and_resume(tmp_path, cmd, point, trace=True):
    """Run `cmd` uncut, and cut at `point` then resumed: both results."""
    full_trace, a_trace, b_trace = (tmp_path / n for n in ("full.trace", "a.trace", "b.trace"))
    snap = tmp_path / "s.hvsnap"
    extra = lambda t: ["--trace", t] if trace else []           # the default streams
    full = hvsim(*cmd, "--deterministic", *extra(full_trace))
    a = hvsim(*cmd, "--deterministic", *extra(a_trace), "--snapshot-at", point,
              "--snapshot-file", snap)
    assert a[0] == 0 and "snapshot at" in a[2], a[2]
    b = hvsim("resume", snap, *extra(b_trace))
    assert "resuming" in b[2]
    assert b[0] == full[0]
    assert without_host_seconds(a[1] + b[1]) == without_host_seconds(full[1])
    if trace:
        assert read(a_trace) + read(b_trace) == read(full_trace)
        assert read(full_trace)
    return snap, full


# ---- (1) single domain, in each CPU mode ---------------------------------------------------
@needs_guests
@pytest.mark.parametrize("guest,point,mode,paging", [
    (HC64, "0ns", "32-bit", False),          # the PVH entry state, before any instruction
    (HC32, "100us", "32-bit", False),        # mid-run, protected mode without paging
    (HC64, "100us", "64-bit", True),         # mid-run, long mode
    (HC64, "2000insn", "64-bit", True),      # an instruction count
], ids=["hvm64-entry", "hvm32-nopaging", "hvm64-long", "hvm64-insn"])
def test_single_domain_resume_is_byte_identical(tmp_path, guest, point, mode, paging):
    snap, full = cut_and_resume(tmp_path, ["run", private_copy(tmp_path, guest)], point)
    assert full[0] == 0 and "Test result: SUCCESS" in full[1]
    loaded = machine.load(str(snap))
    arch = loaded.hv.all_domains[0].vcpus[0].arch
    assert arch.mode_name() == mode
    assert bool(arch.st.cr[0] >> 31) == paging
    if point != "0ns":
        assert loaded.header["instructions"] > 0


@needs_guests
@pytest.mark.parametrize("point", ["500us", "800us"])
def test_resume_mid_code_patching_is_byte_identical(tmp_path, point):
    """cross-modify with 2 vCPUs cut while vCPU 0 is between patches of the
    code vCPU 1 runs (500us: inside a write episode): the resumed engines
    map the code read-only again, and the increment it patches with still
    takes effect once (arch/codewatch.py)."""
    guest = private_copy(tmp_path, os.path.join(GUESTS, "hvm64", "cross-modify.elf"))
    snap, full = cut_and_resume(tmp_path, ["run", "--vcpus", "2", guest], point)
    assert full[0] == 0 and "vCPU 1 saw 1 2 3 4" in full[1], full[1]


# ---- (2) several domains: event channels, timers, blocked vCPUs in flight --------------------
@needs_guests
@needs_firmware
def test_demo3_resume_is_byte_identical_with_events_in_flight(tmp_path):
    snap, full = cut_and_resume(tmp_path, ["boot", DEMO3], "40us")
    assert full[0] == 0 and full[1].count("Test result: SUCCESS") == 3
    hv = machine.load(str(snap)).hv
    vcpus = [v for d in hv.all_domains for v in d.vcpus]
    assert len(vcpus) == 4 and any(v.blocked for v in vcpus)        # d0v0 polls
    assert any(not v.online for v in vcpus)                          # d1v1 not up yet
    assert any(d.evtchn.abi.is_pending(c) for d in hv.all_domains
               for c in d.evtchn.channels.values() if c.state > 1)   # static port 10


def state_digest(hv):
    """Everything a continuation depends on, from a loaded snapshot."""
    h = hashlib.sha256()
    put = lambda *x: h.update(repr(x).encode())
    put(hv.clock.now(), hv.scheduler._rr, repr(hv.scheduler.last),
        [(t.deadline, t.fn.__name__, t.owner.domid) for t in hv.scheduler.timers])
    for d in hv.all_domains:
        put(d.domid, d.end_reason, d.console.transcript, bytes(d.console.partial),
            d.evtchn.abi.name, sorted((p, c.state, c.notify_vcpu_id, c.remote_port, c.priority,
                                       c.pending) for p, c in d.evtchn.channels.items()))
        for r in d.physmap.regions:
            h.update(r.buf)
        h.update(d.shared_info.buf)
        for v in d.vcpus:
            put(v.online, v.blocked, v.polling, v.runstate, v.runstate_time, v.insns,
                v.vlapic.irr, v.vlapic.isr, v.vlapic.regs, v.periodic_period,
                v.periodic_last_event)
            h.update(save_cpu(v.arch.uc))
    return h.hexdigest()


@needs_guests
@built.needs(TIMER, EVTCHN)
def test_timers_and_fifo_events_survive_a_snapshot(tmp_path):
    """A timer armed, a vCPU blocked and FIFO events pending at A; B (past the
    timer's deadline) reached uncut and through A gives the same consoles and
    the same state.  (These guests take seconds to finish: B is compared.)"""
    cmd = ["run", "--deterministic", private_copy(tmp_path, TIMER),
           private_copy(tmp_path, EVTCHN)]
    a, b1, b2 = (tmp_path / n for n in ("a.hvsnap", "b1.hvsnap", "b2.hvsnap"))
    uncut = hvsim(*cmd, "--snapshot-at", "4200us", "--snapshot-file", b1)
    # 1430us: evtchn-ops is in its FIFO tests with events pending (a hypercall
    # costs 1 us of guest time in deterministic runs), timer waits for its tick
    first = hvsim(*cmd, "--snapshot-at", "1430us", "--snapshot-file", a)
    hv = machine.load(str(a)).hv
    assert hv.scheduler.timers, "no timer armed at the snapshot point"
    assert any(v.blocked for d in hv.all_domains for v in d.vcpus)
    fifo = [d for d in hv.all_domains if d.evtchn.abi.name == "FIFO"]
    assert fifo and any(fifo[0].evtchn.abi.is_pending(c)
                        for c in fifo[0].evtchn.channels.values() if c.state > 1)
    deadline = min(t.deadline for t in hv.scheduler.timers)
    second = hvsim("resume", a, "--snapshot-at", "4200us", "--snapshot-file", b2)
    assert first[1] + second[1] == uncut[1]
    h1, h2 = (machine.load(str(p)) for p in (b1, b2))
    assert h1.header["virtual_ns"] == h2.header["virtual_ns"] > deadline
    assert state_digest(h1.hv) == state_digest(h2.hv)


# ---- behaviour of the options ---------------------------------------------------------------
@needs_guests
@needs_firmware
def test_continue_chain_and_cli(tmp_path):
    """--snapshot-continue runs to the end; a resumed run can snapshot again;
    the real command line (a subprocess) prints one status line to stderr."""
    full = hvsim("boot", DEMO3, "--deterministic")
    s1, s2 = tmp_path / "1.hvsnap", tmp_path / "2.hvsnap"
    cont = hvsim("boot", DEMO3, "--deterministic", "--snapshot-at", "20us", "--snapshot-file",
                 s1, "--snapshot-continue")
    assert without_host_seconds(cont[1]) == without_host_seconds(full[1]) and cont[0] == 0
    first = hvsim("boot", DEMO3, "--deterministic", "--snapshot-at", "20us", "--snapshot-file",
                  tmp_path / "0.hvsnap")
    mid = hvsim("resume", s1, "--snapshot-at", "50us", "--snapshot-file", s2)
    r = subprocess.run([sys.executable, "-m", "hvsim", "resume", str(s2)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert r.stderr.startswith("hvsim: resuming %s at 0.05" % s2)
    assert len(hvsim_lines(r.stderr)) == 1
    assert without_host_seconds(first[1] + mid[1] + r.stdout) == without_host_seconds(full[1])
    # the summary (on stderr) is the uninterrupted run's
    assert summary_table(without_host_seconds(r.stderr)) == \
        summary_table(without_host_seconds(full[2])) != []
    info = hvsim("resume", "--info", s2)
    assert info[0] == 0 and "deterministic run at 0.05" in info[1] and "d2" in info[1]


@needs_guests
@needs_firmware
def test_snapshot_through_a_pipe():
    """`-` is stdout for --snapshot-file (with -q: the consoles would share
    it) and stdin for resume: a pipe carries the run on to the same end."""
    full = hvsim("boot", DEMO3, "--deterministic", "-q")
    cmd = [sys.executable, "-m", "hvsim"]
    writer = subprocess.Popen(cmd + ["boot", DEMO3, "--deterministic", "-q", "--snapshot-at",
                                     "20us", "--snapshot-file", "-"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader = subprocess.run(cmd + ["resume", "-q", "-"], cwd=ROOT, stdin=writer.stdout,
                            capture_output=True, text=True, timeout=120)
    writer.stdout.close()
    assert writer.wait(60) == 0, writer.stderr.read()
    assert "written to stdout" in writer.stderr.read().decode()
    assert reader.returncode == 0 and reader.stdout == "", reader.stderr
    # the snapshot is taken at the first safe point at or after 20 us
    assert re.match(r"hvsim: resuming stdin at 0\.0[2-9]\d* ms of virtual time", reader.stderr)
    assert summary_table(without_host_seconds(reader.stderr)) == \
        summary_table(without_host_seconds(full[2])) != []
    loud = hvsim_fails("boot", DEMO3, "--snapshot-at", "20us", "--snapshot-file", "-")
    assert "--snapshot-file -: the snapshot goes to stdout" in loud and "add -q" in loud
    two = hvsim_fails("boot", DEMO3, "-q", "--trace", "-", "--snapshot-at", "20us",
                      "--snapshot-file", "-")
    assert "--trace - and --snapshot-file -: only one output can go to stdout" in two


def hvsim_fails(*argv):
    """`hvsim ARGV` refused before it runs: its one line on stderr."""
    rc, out, err = hvsim(*argv)
    assert rc == 2 and out == "" and err.count("\n") == 1, (rc, out, err)
    return err


@needs_guests
def test_point_not_reached_and_bad_options(tmp_path):
    snap = tmp_path / "s.hvsnap"
    rc, out, err = hvsim("run", "--deterministic", "-q", HC64, "--snapshot-at", "10s",
                         "--snapshot-file", snap)
    assert rc == 0 and "no snapshot was written" in err and not snap.exists()
    for args, msg in ((["--snapshot-at", "5"], "give virtual time"),
                      (["--snapshot-at", "5ms"], "go together"),
                      (["--snapshot-at", "10insn", "--snapshot-file", snap], "--deterministic"),
                      (["--snapshot-at", "5ms", "--snapshot-file", tmp_path / "no" / "s"],
                       "cannot write")):
        rc, out, err = hvsim("run", HC64, *args)
        assert rc == 2 and msg in err and err.count("\n") == 1, err


# ---- (3) files that are not snapshots we can resume -------------------------------------------
@pytest.fixture(scope="module")
def good_snapshot(tmp_path_factory):
    built.need(HC64)
    path = tmp_path_factory.mktemp("snap") / "good.hvsnap"
    rc, _, _ = hvsim("run", "--deterministic", "-q", HC64, "--snapshot-at", "100us",
                     "--snapshot-file", path)
    assert rc == 0
    with open(path, "rb") as f:
        return f.read()


def _bad(data):
    d = bytearray(data)
    hlen = int.from_bytes(d[10:14], "little")
    return {
        "not-a-snapshot": (b"\x7fELF" + bytes(100), "not an hvsim snapshot"),
        "empty": (b"", "truncated snapshot"),
        "truncated-header": (bytes(d[:30]), "truncated snapshot"),
        "truncated-body": (bytes(d[:len(d) // 2]), "truncated snapshot"),
        "format-version": (bytes(d[:8]) + b"\x63\x00" + bytes(d[10:]), "snapshot format 99"),
        "hvsim-version": (bytes(d).replace(b'"hvsim": "', b'"hvsim": "9', 1)
                          .replace(b'", "instructions"', b'", "instruction"', 1),
                          "written by hvsim 9"),
        "corrupt-body": (bytes(d[:-50]) + bytes(x ^ 0xFF for x in d[-50:]), "checksum"),
        "corrupt-header": (bytes(d[:14]) + b"{" * hlen + bytes(d[14 + hlen:]), "corrupt"),
    }


@pytest.mark.parametrize("case", ["not-a-snapshot", "empty", "truncated-header",
                                  "truncated-body", "format-version", "hvsim-version",
                                  "corrupt-body", "corrupt-header"])
def test_bad_snapshot_files_give_one_line(tmp_path, good_snapshot, case):
    data, msg = _bad(good_snapshot)[case]
    path = tmp_path / "bad.hvsnap"
    path.write_bytes(data)
    for argv in (["resume", path], ["resume", "--info", path]):
        rc, out, err = hvsim(*argv)
        assert rc == 2 and out == ""
        assert err.startswith("hvsim: error: %s: " % path) and err.count("\n") == 1, err
        assert msg in err and "(" in err, err


# ---- the CPU state itself --------------------------------------------------------------------
def test_cpu_state_round_trip():
    """Every register class Unicorn exposes survives save_cpu -> load_cpu into a
    new instance (the guest-visible state a snapshot must carry)."""
    from unicorn import UC_ARCH_X86, UC_MODE_64, Uc
    from unicorn import x86_const as X
    from hvsim.arch.x86.cpustate import CpuState, R_CS, R_FS
    regs = [X.UC_X86_REG_RAX, X.UC_X86_REG_R15, X.UC_X86_REG_RIP, X.UC_X86_REG_CR0,
            X.UC_X86_REG_CR3, X.UC_X86_REG_CR4, X.UC_X86_REG_DR0, X.UC_X86_REG_DR3,
            X.UC_X86_REG_DR6, X.UC_X86_REG_DR7, X.UC_X86_REG_FPCW, X.UC_X86_REG_FPSW,
            X.UC_X86_REG_MXCSR, X.UC_X86_REG_XMM0, X.UC_X86_REG_XMM15, X.UC_X86_REG_FP0,
            X.UC_X86_REG_FP7, X.UC_X86_REG_GDTR, X.UC_X86_REG_IDTR, X.UC_X86_REG_FS_BASE,
            X.UC_X86_REG_GS_BASE, X.UC_X86_REG_RFLAGS]
    msrs = [0xC0000080, 0xC0000081, 0xC0000082, 0xC0000083, 0xC0000084, 0xC0000102,
            0xC0000103, 0x174, 0x175, 0x176, 0x277]
    src = Uc(UC_ARCH_X86, UC_MODE_64)
    st = CpuState(src)
    for i, r in enumerate(regs):
        if r in (X.UC_X86_REG_GDTR, X.UC_X86_REG_IDTR):
            src.reg_write(r, (0, 0x1000 * (i + 1), 0xFFF, 0))
        elif r in (X.UC_X86_REG_XMM0, X.UC_X86_REG_XMM15):
            src.reg_write(r, (0x0123456789ABCDEF << 64) | (i + 1))
        elif r in (X.UC_X86_REG_FP0, X.UC_X86_REG_FP7):
            src.reg_write(r, (0x3FFF, 0xC000000000000000 + i))
        elif r not in (X.UC_X86_REG_CR0, X.UC_X86_REG_CR4, X.UC_X86_REG_RFLAGS,
                       X.UC_X86_REG_FPSW, X.UC_X86_REG_MXCSR, X.UC_X86_REG_FPCW,
                       X.UC_X86_REG_DR7, X.UC_X86_REG_DR6):
            src.reg_write(r, 0x1000 + i)
    src.reg_write(X.UC_X86_REG_MXCSR, 0x1FA0)
    src.reg_write(X.UC_X86_REG_FPCW, 0x27F)
    for i, m in enumerate(msrs):
        src.msr_write(m, 0xD01 if m == 0xC0000080 else
                      0x0007040600070406 + i if m == 0x277 else 0x2000 + 8 * i)
    st.segs[R_CS].flags, st.segs[R_FS].base = 0x00AF9B00, 0x7777000
    st.hflags = st.hflags | 3                          # CPL 3 lives in hflags
    dst = Uc(UC_ARCH_X86, UC_MODE_64)
    CpuState(dst)
    load_cpu(dst, save_cpu(src))
    for r in regs:
        assert dst.reg_read(r) == src.reg_read(r), r
    for m in msrs:
        assert dst.msr_read(m) == src.msr_read(m), hex(m)
    st2 = CpuState(dst)
    assert st2.cpl == 3 and st2.segs[R_CS].flags == 0x00AF9B00
    assert st2.segs[R_FS].base == 0x7777000


@needs_guests
def test_zero_pages_cost_nothing(good_snapshot):
    """128 MiB of guest RAM, a few dozen pages written: a small file."""
    assert len(good_snapshot) < 128 * 1024
