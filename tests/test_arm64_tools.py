"""hvsim's tools on real arm64 guests: `hvsim step` (capstone's AArch64
decoding, exceptions, mode changes), snapshots of arm64 domains, traces
decoding the arm64 hypercall ABI, and `hvsim test` on the arm64 build.
(The gdb stub's are in test_gdb_arm64.py.)"""

import os
import re
import subprocess
import sys

import pytest

import built

ROOT = built.ROOT
A64 = built.GUESTS / "arm64"
TRAPS = A64 / "arm64-traps.elf"
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() \
    else sys.executable


def hvsim(*args, timeout=120):
    """(exit code, stdout, stderr) of `hvsim ARGS`."""
    r = subprocess.run([PYTHON, "-m", "hvsim"] + [str(a) for a in args], cwd=ROOT,
                       capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return r.returncode, r.stdout, r.stderr


def _symbol(elf, name):
    out = subprocess.run(["aarch64-linux-gnu-nm", str(elf)], capture_output=True, text=True).stdout
    return int(re.search(r"^([0-9a-f]+) \w %s$" % name, out, re.M).group(1), 16)


def _insn_address(elf, mnemonic):
    """The address of the first `mnemonic` instruction in test_main."""
    out = subprocess.run(["aarch64-linux-gnu-objdump", "-d", "--no-show-raw-insn", str(elf)],
                         capture_output=True, text=True).stdout
    body = out.split("<test_main>:", 1)[1]
    return int(re.search(r"^\s*([0-9a-f]+):\s+%s\b" % mnemonic, body, re.M).group(1), 16)


# ---- hvsim step ------------------------------------------------------------------------------
@built.needs(TRAPS)
def test_step_disassembles_and_shows_register_changes():
    rc, out, _ = hvsim("step", TRAPS, "--until", "test_main", "-n", "4", "--deterministic")
    assert rc == 0, out
    lines = out.splitlines()
    assert lines[0] == "-- starts at 0x40080000 <_start> in EL1h, MMU off", out
    steps = [l for l in lines if l.startswith("0x")]
    assert len(steps) == 4, out
    assert re.match(r"0x[0-9a-f]+\s+<test_main>\s+stp x29, x30, \[sp, #-0x[0-9a-f]+\]!\s+"
                    r"sp=0x[0-9a-f]+ sp_el1=0x[0-9a-f]+$", steps[0]), steps
    assert re.search(r"<test_main\+0x4>\s+adrp x0, #0x[0-9a-f]+\s+x0=0x[0-9a-f]+$", steps[1]), steps
    assert lines[-1] == "-- stopped after 4 instructions", out


@built.needs(TRAPS)
def test_step_through_eret_svc_and_the_mmu_switch():
    """eret to EL0, an svc taken to the lower-EL vector (syndrome, ELR), and
    the guest's msr turning its MMU on, as the stepper reports them."""
    eret = _insn_address(TRAPS, "eret")
    rc, out, _ = hvsim("step", TRAPS, "--until", hex(eret), "-n", "4", "--deterministic")
    assert rc == 0, out
    assert "-- mode: EL1h, MMU off -> EL0t, MMU off" in out, out
    assert re.search(r"svc #0x11\s+.*esr_el1=0x56000011 elr_el1=0x[0-9a-f]+", out), out
    assert re.search(r"^-- EC 0x15 \(svc\)\[0x56000011\] \(arm64-sync\) at 0x[0-9a-f]+$", out,
                     re.M), out
    assert re.search(r"^0x[0-9a-f]+\s+<vectors\+0x400>", out, re.M), out   # lower-EL sync vector
    msr = _insn_address(TRAPS, r"msr\s+sctlr_el1")
    rc, out, _ = hvsim("step", TRAPS, "--until", hex(msr), "-n", "2", "--deterministic")
    assert re.search(r"msr sctlr_el1, x0\s+sctlr_el1=0x30d01805$", out, re.M), out
    assert "-- mode: EL1h, MMU off -> EL1h, MMU on (4K granule, 39-bit VA)" in out, out


@built.needs(A64 / "example.Image")
def test_step_an_image_and_a_hypercall():
    """An arm64 Image (no symbols) is a kernel, not a boot scenario; the
    stepper stops at the first hypercall, decoded with the arm64 ABI."""
    rc, out, _ = hvsim("step", A64 / "example.Image", "--until", "first-hypercall", "-n", "1",
                       "--deterministic")
    assert rc == 0, out
    assert re.search(r"^-- reached first-hypercall \(xen_version\(XENVER_version, 0x0\) = 0x40017\)"
                     r" at 0x[0-9a-f]+ in EL1h, MMU off$", out, re.M), out


# ---- snapshots -------------------------------------------------------------------------------
def _snapshot_tests():
    from test_snapshot import cut_and_resume, hvsim as hvsim_here   # noqa: F401
    return cut_and_resume, hvsim_here


DOM0LESS = ROOT / "firmware" / "dom0less-arm64"


def _cut_and_resume(tmp_path, cmd, point):
    """`hvsim CMD` uncut, and cut at `point` then `hvsim resume`d, each in
    its own process as a user runs them: the consoles and traces of the two
    must be the same, byte for byte.  Returns (snapshot, the uncut result)."""
    full_trace, a_trace, b_trace = (tmp_path / n for n in ("full.trace", "a.trace", "b.trace"))
    snap = tmp_path / "s.hvsnap"
    full = hvsim(*cmd, "--deterministic", "--trace", full_trace)
    a = hvsim(*cmd, "--deterministic", "--trace", a_trace, "--snapshot-at", point,
              "--snapshot-file", snap)
    assert a[0] == 0 and "snapshot at" in a[2], a[2]
    b = hvsim("resume", snap, "--trace", b_trace)
    assert "resuming" in b[2] and b[0] == full[0], b[2]
    assert a[1] + b[1] == full[1]
    assert a_trace.read_bytes() + b_trace.read_bytes() == full_trace.read_bytes()
    return snap, full


@pytest.mark.parametrize("cmd, point", [
    (["run", A64 / "arm64-traps.elf"], "0ns"),                  # the boot state Xen gives
    (["run", A64 / "arm64-traps.elf"], "900us"),                # exceptions, EL0, the MMU
    (["run", A64 / "arm64-irq.elf", "--vcpus", "2"], "30ms"),   # vGIC, SGIs, both timers
    (["run", A64 / "timer.elf", "--vcpus", "2"], "5ms"),        # Xen timers, blocked vCPUs
    (["run", A64 / "ping-pong.elf", A64 / "ping-pong.Image"], "500us"),   # event channels
    (["boot", DOM0LESS], "200us"),                               # a dom0less host boot
], ids=["traps-entry", "traps-mid", "irq", "timer", "ping-pong", "dom0less"])
def test_arm64_resume_is_the_uninterrupted_run(tmp_path, cmd, point):
    """[run to the snapshot] + [resume] prints what one run prints, console
    and trace byte for byte, with the same verdict (--deterministic)."""
    built.need(*[a for a in cmd if isinstance(a, type(ROOT)) and a.suffix], how=built.MAKE_FIRMWARE)
    if cmd[0] == "boot":
        built.need(built.FIRMWARE / "dom0less-arm64" / "lcm.dtb", how=built.MAKE_FIRMWARE)
    snap, full = _cut_and_resume(tmp_path, cmd, point)
    assert full[0] == 0 and "Test result: SUCCESS" in full[1], full
    from hvsim.snapshot import fileformat
    header, _ = fileformat.read_header(str(snap))
    assert header["arch"] == "aarch64"


@built.needs(A64 / "arm64-irq.elf")
def test_arm64_snapshot_holds_the_platform(tmp_path):
    """Mid-run, the resumed machine has the vGIC's and the timers' state and
    the system registers the guest set (VBAR_EL1, its stack, SP_EL0)."""
    _, hvsim_here = _snapshot_tests()
    snap = tmp_path / "s.hvsnap"
    rc, _, err = hvsim_here("run", "--deterministic", "-q", "--vcpus", "2",
                            A64 / "arm64-irq.elf", "--snapshot-at", "30ms", "--snapshot-file", snap)
    assert rc == 0, err
    from hvsim.arch.arm64.debug import Arm64Debug, REGS
    from hvsim.snapshot import machine
    hv = machine.load(str(snap)).hv
    v0, v1 = hv.domains[1].vcpus
    regs = {r.name: Arm64Debug(v0.arch).read_register(r) for r in REGS}
    vectors = _symbol(A64 / "arm64-irq.elf", "vectors")
    assert regs["vbar_el1"] == vectors and regs["sctlr_el1"] & 0x30D00800 == 0x30D00800
    assert regs["sp"] >> 20 == 0x400 and regs["pc"] >> 20 == 0x400
    assert v0.vgic.ctlr & 1 and v0.domain.vgic.ctlr & 1 and v0.vgic.pmr  # both GIC parts on
    assert v0.vgic.line == v0.arch.irq_line.level
    # the virtual timer the guest programmed, still armed on the resumed clock
    assert v0.timers.virt.ctl & 1 and v0.timers.virt.cval > 0
    assert v0.timers.virt.timer.armed and v0.timers.virt.timer in hv.scheduler.timers
    assert not v1.online                              # arm64-irq's second vCPU is off by then


def _rewrite_header(data, **changes):
    """A snapshot file with header keys changed (the body and its CRC kept)."""
    import json
    import struct
    hlen = struct.unpack_from("<I", data, 10)[0]
    header = json.loads(data[14:14 + hlen])
    header.update(changes)
    hjson = json.dumps(header, sort_keys=True).encode()
    return data[:10] + struct.pack("<I", len(hjson)) + hjson + data[14 + hlen:]


@built.needs(A64 / "example.elf", built.GUESTS / "hvm64" / "example.elf")
def test_snapshots_of_the_wrong_architecture_are_refused(tmp_path):
    """A header whose architecture is not the saved vCPUs', or one hvsim does
    not run, is refused in one line (exit 2) before anything runs."""
    _, hvsim_here = _snapshot_tests()
    files = {}
    for arch, elf in (("aarch64", A64 / "example.elf"),
                      ("x86_64", built.GUESTS / "hvm64" / "example.elf")):
        snap = tmp_path / ("%s.hvsnap" % arch)
        rc, _, err = hvsim_here("run", "--deterministic", "-q", elf, "--snapshot-at", "0ns",
                                "--snapshot-file", snap)
        assert rc == 0, err
        files[arch] = snap.read_bytes()
    rc, out, _ = hvsim_here("resume", "--info", tmp_path / "aarch64.hvsnap")
    assert rc == 0 and "aarch64 deterministic run at" in out, out
    cases = [("aarch64", "x86_64", "the header says x86_64 but the saved vCPUs are aarch64"),
             ("x86_64", "aarch64", "the header says aarch64 but the saved vCPUs are x86_64"),
             ("aarch64", "riscv64", "a snapshot of an riscv64 machine; this hvsim runs x86_64 "
                                    "and aarch64 ones")]
    for real, claimed, message in cases:
        bad = tmp_path / "bad.hvsnap"
        bad.write_bytes(_rewrite_header(files[real], arch=claimed))
        rc, out, err = hvsim_here("resume", bad)
        assert rc == 2 and out == "" and err.count("\n") == 1, err
        assert err.startswith("hvsim: error: %s: %s" % (bad, message)), err


@built.needs(A64 / "example.elf")
def test_cpu_state_of_another_architecture_is_refused():
    """An arm64 vCPU given an x86 CPU state (or one of another size) refuses
    it with a SnapshotError instead of loading it."""
    from hvsim.boot import arm64
    from hvsim.boot.pvh import DomainSpec
    from hvsim.hv.hypervisor import Hypervisor
    from hvsim.snapshot.fileformat import SnapshotError
    hv = Hypervisor(deterministic=True)
    d = arm64.build_domain(hv, DomainSpec(1, str(A64 / "example.elf"), 32 << 20))
    arch = d.vcpus[0].arch
    for saved, message in ((("x86_64", b"\0" * 64), "the saved CPU state is x86_64, the vCPU "
                                                      "aarch64"),
                           (("aarch64", b"\0" * 64), "CPU state of 64 bytes")):
        arch.__dict__["cpu"] = saved
        with pytest.raises(SnapshotError, match=re.escape(message)):
            arch.load_saved_cpu()


def test_arm64_cpu_state_round_trip():
    """Every register a snapshot must carry survives save_cpu -> load_cpu
    into a new instance: general and FP/SIMD registers, PSTATE, and the EL1
    system registers (SCTLR, TTBR0/1, TCR, MAIR, VBAR, ELR, SPSR, ESR, FAR,
    CPACR, CNTKCTL, SP_EL0/1, TPIDR_EL0/TPIDRRO_EL0/TPIDR_EL1)."""
    from unicorn import UC_ARCH_ARM64, UC_MODE_ARM, Uc
    from unicorn import arm64_const as A
    from hvsim.arch.arm64 import sysregs as sr
    from hvsim.arch.arm64.debug import CPACR_EL1
    from hvsim.hv.arm import vtimer
    src = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    sr.make_el1_aarch64(src, 3)
    sysregs = {sr.SCTLR_EL1: 0x30D01805, sr.TTBR0_EL1: 0x40087000, sr.TTBR1_EL1: 0x4009A000,
               sr.TCR_EL1: 0x200803519, sr.MAIR_EL1: 0xFF44, sr.VBAR_EL1: 0x40083000,
               sr.ELR_EL1: 0x40080504, sr.SPSR_EL1: 0x600003C5, sr.ESR_EL1: 0x56000011,
               sr.FAR_EL1: 0xC0000008, CPACR_EL1: 0x300000, vtimer.CNTKCTL_EL1: 0x303}
    for key, value in sysregs.items():
        sr.write(src, key, value)
    plain = {A.UC_ARM64_REG_X0: 1, A.UC_ARM64_REG_X17: 0x1717, A.UC_ARM64_REG_X30: 0x3030,
             A.UC_ARM64_REG_SP: 0x4009F000, A.UC_ARM64_REG_PC: 0x40080123 & ~3,
             A.UC_ARM64_REG_SP_EL0: 0x4009B000, A.UC_ARM64_REG_TPIDR_EL0: 0xE0,
             A.UC_ARM64_REG_TPIDRRO_EL0: 0xE1, A.UC_ARM64_REG_TPIDR_EL1: 0xE2,
             A.UC_ARM64_REG_FPSR: 0x8000010, A.UC_ARM64_REG_FPCR: 0x3000000,
             A.UC_ARM64_REG_V7: (0x0123456789ABCDEF << 64) | 7,
             A.UC_ARM64_REG_V31: (0xFEDCBA9876543210 << 64) | 31}
    for reg, value in plain.items():
        src.reg_write(reg, value)
    src.reg_write(A.UC_ARM64_REG_PSTATE, 0x600003C5)
    sr.rebuild_hflags(src)
    dst = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    sr.make_el1_aarch64(dst, 0)
    sr.load_cpu(dst, sr.save_cpu(src))
    for key, value in sysregs.items():
        assert sr.read(dst, key) == value, key
    for reg, value in plain.items():
        assert dst.reg_read(reg) == value, reg
    assert dst.reg_read(A.UC_ARM64_REG_PSTATE) == 0x600003C5
    assert sr.read(dst, sr.VMPIDR_EL2) & 0xFF == 3            # the saved vCPU's MPIDR


# ---- traces ---------------------------------------------------------------------------------
@built.needs(TRAPS)
def test_trace_decodes_the_arm64_hypercall_abi(tmp_path):
    """Hypercalls in the trace as the guest made them: the number from x16,
    the arguments from x0..x4 (only those the hypercall takes), the result
    from x0; the JSON records keep the five registers."""
    import json
    trace = tmp_path / "t.jsonl"
    rc, out, err = hvsim("run", "--deterministic", TRAPS, "--trace", trace)
    assert rc == 0, out + err
    calls = [json.loads(l) for l in trace.read_text().splitlines()]
    calls = [c for c in calls if c["ev"] == "hypercall"]
    texts = [c["text"] for c in calls]
    first_line = out.splitlines()[0] + "\n"                  # console_io(write, len, buffer)
    assert texts[1].startswith("console_io(CONSOLEIO_write, %#x, 0x4" % len(first_line)), texts
    assert "xen_version(XENVER_version, 0x0) = 0x40017" in texts     # x0 = cmd, x1 = arg
    assert "hypercall 63(0x0, 0x0, 0x0, 0x0, 0x0) = -ENOSYS" in texts   # x16 = 63: unknown
    caps = _symbol(TRAPS, "caps.0")
    assert "xen_version(XENVER_capabilities, %#x) = 0" % caps in texts
    rec = calls[texts.index("xen_version(XENVER_capabilities, %#x) = 0" % caps)]
    from hvsim.abi import version, xen
    assert rec["nr"] == xen.__HYPERVISOR_xen_version and len(rec["args"]) == 5
    assert rec["args"][:2] == [version.XENVER_capabilities, caps]


@built.needs(A64 / "arm64-irq.elf", built.FIRMWARE / "dom0less-arm64" / "lcm.dtb",
             how=built.MAKE_FIRMWARE)
def test_traces_are_byte_identical_across_runs(tmp_path):
    """--deterministic: the same trace, byte for byte, for two vCPUs with
    IRQs from the vGIC and both timers, and for the dom0less boot's two
    domains playing ping-pong over event channels."""
    for name, cmd in (("irq", ["run", A64 / "arm64-irq.elf", "--vcpus", "2"]),
                      ("dom0less", ["boot", DOM0LESS])):
        runs = []
        for i in range(2):
            trace = tmp_path / ("%s%d.trace" % (name, i))
            rc, out, err = hvsim(*cmd, "--deterministic", "--trace", trace)
            assert rc == 0, out + err
            runs.append((out, trace.read_bytes()))
        assert runs[0] == runs[1], name
        assert b"hypercall" in runs[0][1] and b"exception" in runs[0][1] or name == "dom0less"
        if name == "dom0less":
            assert b"evtchn_op" in runs[0][1] or b"event_channel_op" in runs[0][1], runs[0][1][:400]


# ---- hvsim test ---------------------------------------------------------------------------------
@built.needs(A64 / "example.elf", A64 / "ping-pong.elf", TRAPS)
def test_runner_lists_and_runs_the_arm64_build(tmp_path):
    """`hvsim test` on the arm64 build: every guest once (the ELF; its Image
    beside it is the same test), named arm64-<name> whether selected by
    environment, by name or by path, and run with its manifest's settings
    (ping-pong as two domains) to xtf-runner's verdicts and a JUnit file."""
    rc, out, _ = hvsim("test", "--list", "arm64")
    names = [l.split()[0] for l in out.splitlines()]
    expected = sorted("arm64-" + p.stem for p in A64.glob("*.elf"))
    assert rc == 0 and sorted(names) == expected, out
    rc, out2, _ = hvsim("test", "--list", A64)
    assert [l.split()[0] for l in out2.splitlines()] == names
    junit = tmp_path / "junit.xml"
    rc, out, err = hvsim("test", "-j", "2", "arm64-example", "arm64-arm64-traps", "ping-pong",
                         "arm64", "--junit", junit, timeout=600)
    assert rc == 0, out + err
    report = out + err
    for name in ("arm64-example", "arm64-arm64-traps", "arm64-ping-pong"):
        assert re.search(r"^%s\s+SUCCESS\b" % name, report, re.M), report
    assert "hvm64-ping-pong" not in report                    # arm64 selects the environment
    xml = junit.read_text()
    assert xml.count("<testcase ") == 3 and 'name="arm64-ping-pong"' in xml, xml
