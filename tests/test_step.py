"""`hvsim step`: instructions with symbols, changed registers and mode switches."""

import io
import os
import pathlib
import re
import subprocess
import sys

import pytest

import built

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
