"""hvsim's tools on real arm64 guests: `hvsim step` (capstone's AArch64
decoding, exceptions, mode changes), snapshots of arm64 domains, traces
decoding the arm64 hypercall ABI, and `hvsim test` on the arm64 build.
(The gdb stub's are in test_gdb_arm64.py.)"""

import os
import re
import subprocess
import sys

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
