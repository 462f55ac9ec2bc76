"""`hvsim step`: instructions with symbols, changed registers and mode switches."""

import io
import os
import pathlib
import re
import subprocess
import sys

import pytest

import built
from cliutil import hvsim_lines

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
TIMEOUT = 60
INSN_RE = re.compile(r"^0x[0-9a-f]+ +<")


guest = built.guest


def step(*args):
    r = subprocess.run([PYTHON, "-m", "hvsim", "step", *map(str, args)], cwd=ROOT,
                       capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    return r.returncode, r.stdout.splitlines(), r.stderr


def test_first_50_instructions_of_a_64bit_boot():
    rc, lines, _ = step(guest("hvm64"), "--count", 50)
    assert rc == 0
    insns = [l for l in lines if INSN_RE.match(l)]
    assert len(insns) == 50
    assert insns[0].startswith("0x100000 ") and "<_start>" in insns[0] and "cld" in insns[0]
    assert lines[0] == "-- starts at 0x100000 <_start> in 32-bit protected mode, paging off"
    assert ("-- mode: 32-bit protected mode, paging off -> compatibility mode (IA-32e, "
            "32-bit code)") in lines
    assert ("-- mode: compatibility mode (IA-32e, 32-bit code) -> long mode (64-bit), "
            "4-level paging") in lines
    assert any("<start64>" in l for l in insns)
    # registers that changed, with flag names for control registers
    assert any(re.search(r"wrmsr .*efer=0x900 \[LME NXE\]", l) for l in insns)
    assert any(re.search(r"%cr0 .*cr0=0x80010011 \[PE ET WP PG\]", l) for l in insns)
    assert lines[-1] == "-- stopped after 50 instructions"


def test_pae_mode_switch():
    rc, lines, _ = step(guest("hvm32pae"), "-n", 60)
    assert rc == 0
    assert "-- mode: 32-bit protected mode, paging off -> 32-bit PAE paging" in lines


def test_until_symbol_then_count():
    rc, lines, _ = step(guest("hvm64"), "--until", "test_main", "--count", 5)
    assert rc == 0
    assert re.match(r"-- running to 0x[0-9a-f]+ <test_main> at full speed", lines[1])
    assert any(re.match(r"-- reached 0x[0-9a-f]+ <test_main> in long mode", l) for l in lines)
    insns = [l for l in lines if INSN_RE.match(l)]
    assert len(insns) == 5 and "<test_main>" in insns[0]
    assert any("<printk>" in l for l in insns)                 # the call was followed


def test_steps_to_the_end_with_hypercalls_and_verdict():
    """Non-interactive without --count: every instruction after --until, to the end."""
    rc, lines, _ = step(guest("hvm32"), "--until", "xtf_exit")
    assert rc == 0
    assert any(l.startswith("-- hypercall console_io(CONSOLEIO_write") for l in lines)
    assert any(l.startswith("-- hypercall sched_op(SCHEDOP_shutdown") for l in lines)
    assert "Hello World" in lines and "Test result: SUCCESS" in lines
    assert re.match(r"-- the run ended after \d+ stepped instructions: SUCCESS", lines[-1])


def test_smp_guest_with_its_vcpus():
    """--vcpus as for `hvsim run`: the SMP guest, whose bring-up errors make
    Xen print gprintk lines (which once crashed the stepper), brings up its
    four vCPUs and succeeds; with one it would skip (xtf_skip)."""
    smp = ROOT / "guests" / "build" / "hvm64" / "smp.elf"
    built.need(smp)
    rc, lines, err = step(smp, "--vcpus", "4", "--until", "xtf_skip", "-n", "1")
    assert rc == 0, err
    assert "4 vCPUs" in lines and "Test result: SUCCESS" in lines
    assert re.match(r"-- the run ended after 0 stepped instructions: SUCCESS", lines[-1]), lines
    assert "crashed" not in err and "d1v0 Unknown vcpu_hvm_context mode" in err


@pytest.mark.parametrize("args, message", [
    (("--until", "no_such_symbol"), "--until no_such_symbol: no such symbol"),
    (("--count", "0"), "--count 0: must be at least 1"),
])
def test_bad_arguments(args, message):
    rc, lines, err = step(guest("hvm64"), *args)
    assert rc == 2
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 1 and message in err_lines[0] and not lines


def test_interactive_prompt():
    """Enter steps, a number steps that many, q quits (driven in-process)."""
    from hvsim.boot.pvh import DomainSpec, build_domain
    from hvsim.debug.step import Stepper, Symbols
    from hvsim.hv.hypervisor import Hypervisor
    elf = str(guest("hvm64"))
    hv = Hypervisor()
    d = build_domain(hv, DomainSpec(1, elf, 128 << 20, name="example"))
    answers = iter(["", "3", "help", "q"])
    prompts = []

    def ask(prompt):
        prompts.append(prompt)
        return next(answers)
    out = io.StringIO()
    stepper = Stepper(hv, Symbols(elf), out, ask=ask)
    stepper.attach()
    d.unpause()
    hv.run(timeout=TIMEOUT)
    assert stepper.quit and stepper.executed == 4
    assert prompts == ["step> "] * 4
    text = out.getvalue().splitlines()
    assert len([l for l in text if INSN_RE.match(l)]) == 4
    assert "Enter: one step, N: N steps, c: continue to the end, q: quit" in text


# ---- a host boot (firmware/demo3: d0 control, d1 hardware with 2 vCPUs, d2 guest) -------------
DEMO3 = ROOT / "firmware" / "demo3"
needs_demo3 = built.needs(built.GUESTS / "hvm64" / "launch-demo.elf",
                          built.FIRMWARE / "demo3" / "lcm.dtb", how=built.MAKE_FIRMWARE)
D_INSN_RE = re.compile(r"^(d\dv\d) 0x[0-9a-f]+ +<")


@needs_demo3
def test_boot_domain_until_first_hypercall():
    """The stepper follows d2 from its first hypercall: every stepped
    instruction is d2's, the others run (their consoles go on), and the
    symbols are d2's kernel's."""
    rc, lines, _ = step(DEMO3, "--domain", "d2", "--until", "first-hypercall", "-n", 20,
                        "--deterministic")
    assert rc == 0, lines
    assert "-- running to d2's first-hypercall at full speed" in lines
    reached = [l for l in lines if l.startswith("-- d2v0 reached first-hypercall")]
    assert len(reached) == 1 and "(console_io(CONSOLEIO_write" in reached[0], lines
    after = lines[lines.index(reached[0]):]
    insns = [D_INSN_RE.match(l).group(1) for l in after if D_INSN_RE.match(l)]
    assert insns == ["d2v0"] * 20, lines
    assert any("<hypercall_page+" in l for l in after)
    assert lines[-1] == "-- stopped after 20 instructions"


@needs_demo3
@pytest.mark.parametrize("others", ["run", "paused"])
def test_boot_domain_others_run_or_stay_paused(others):
    """d0 (the control domain) waits for the guest to end: while it is
    stepped, the others run when it blocks (--others run: the boot ends in
    SUCCESS), or stay stopped (--others paused: d0 can never go on)."""
    rc, lines, _ = step(DEMO3, "--domain", "d0", "--until", "first-hypercall",
                        "--others", others, "--deterministic")
    text = "\n".join(lines[-30:])
    stepped = {D_INSN_RE.match(l).group(1) for l in lines if D_INSN_RE.match(l)}
    assert stepped == {"d0v0"}, stepped
    after = lines[next(i for i, l in enumerate(lines) if l.startswith("-- d0v0 reached")):]
    if others == "run":
        assert rc == 0, text
        assert "(d2) Test result: SUCCESS" in after and "(d1) Test result: SUCCESS" in after
        assert re.match(r"-- the run ended after \d+ stepped instructions: SUCCESS", lines[-1])
    else:
        assert rc == 6, text
        assert not any(l.startswith(("(d1)", "(d2)")) for l in after), text
        assert "-- d0 can go no further: the other domains stay paused (--others paused)" \
            in lines, text


@needs_demo3
def test_boot_until_symbol_is_armed_in_the_followed_domain():
    """d0 and d2 run through xtf_exit before d1 gets there: the stepper
    stops in d1's."""
    rc, lines, _ = step(DEMO3, "--domain", "d1", "--until", "xtf_exit", "-n", 3,
                        "--deterministic")
    text = "\n".join(lines)
    assert rc == 0, text
    assert re.search(r"^-- d1v0 reached 0x[0-9a-f]+ <xtf_exit>", text, re.M), text
    reached = text.index("-- d1v0 reached")
    assert "(d2) Test result: SUCCESS" in text[:reached], text


@needs_demo3
def test_boot_phases_of_each_domain():
    for domain, phase, where in (("d0", "unpaused", "<_start>"),
                                 ("d1", "first-instruction", "<_start>"),
                                 ("d2", "shutdown", "<hypercall_page+")):
        rc, lines, _ = step(DEMO3, "--domain", domain, "--until", phase, "-n", 1,
                            "--deterministic")
        reached = [l for l in lines if l.startswith("-- %sv0 reached %s" % (domain, phase))]
        assert len(reached) == 1 and where in reached[0], lines
        assert rc == 0


def test_boot_bad_domain():
    built.need(built.FIRMWARE / "demo3" / "lcm.dtb", how=built.MAKE_FIRMWARE)
    rc, lines, err = step(DEMO3, "--domain", "d7")
    assert rc == 2 and hvsim_lines(err) == \
        ["hvsim: error: --domain d7: no such domain (this boot has d0, d1, d2)"]
