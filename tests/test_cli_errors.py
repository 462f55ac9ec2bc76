"""Bad input never gives a traceback: one clear line and the right exit code."""

import os
import re
import subprocess
import sys

import pytest

from x86util import build_pvh_elf, debugcon

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hvsim(*args, timeout=60):
    r = subprocess.run([sys.executable, "-m", "hvsim", *args], capture_output=True, text=True,
                       timeout=timeout)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr
    return r


def test_not_an_elf(tmp_path):
    f = tmp_path / "kernel.bin"
    f.write_bytes(b"MZ\x00\x01" + bytes(100))
    r = hvsim("run", str(f))
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1
    assert str(f) in err[0] and "not an ELF file" in err[0]


def test_truncated_elf(tmp_path):
    f = tmp_path / "trunc.elf"
    f.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(20))
    r = hvsim("run", str(f))
    assert r.returncode == 2
    assert "malformed ELF" in r.stderr and str(f) in r.stderr


def test_missing_file(tmp_path):
    r = hvsim("run", str(tmp_path / "nope.elf"))
    assert r.returncode == 2 and "no such file" in r.stderr


def test_elf_without_pvh_note(tmp_path):
    elf = build_pvh_elf(tmp_path, "hlt\n", note=False)
    r = hvsim("run", elf)
    assert r.returncode == 2
    assert "XEN_ELFNOTE_PHYS32_ENTRY" in r.stderr and "CONFIG_PVH" in r.stderr


def test_segment_outside_ram(tmp_path):
    elf = build_pvh_elf(tmp_path, "hlt\n", base=0x10000000)      # 256 MiB
    r = hvsim("run", "--mem", "64M", elf)
    assert r.returncode == 2
    line = r.stderr.strip()
    assert "PT_LOAD" in line and "outside the domain's 64 MiB" in line


def test_bad_mem_option(tmp_path):
    elf = build_pvh_elf(tmp_path, "hlt\n")
    r = hvsim("run", "--mem", "lots", elf)
    assert r.returncode == 2 and "--mem 'lots'" in r.stderr


def test_memory_too_small_for_the_kernel_says_how_much(tmp_path):
    elf = build_pvh_elf(tmp_path, "hlt\n")
    r = hvsim("run", "--mem", "100K", elf)
    assert r.returncode == 2 and "outside the domain's 100 KiB of low RAM" in r.stderr, r.stderr


def test_triple_fault_crashes_the_domain(tmp_path):
    # no IDT at all: #UD -> #GP (IDT limit) -> #DF -> triple fault
    elf = build_pvh_elf(tmp_path, debugcon("about to fault\n") + "ud2\n")
    r = hvsim("run", elf)
    assert r.returncode == 6
    assert r.stdout == "about to fault\n"                     # the console alone
    assert "triple fault" in r.stderr                          # the crash report: hvsim's
    assert "rip=" in r.stderr and "ud2" in r.stderr          # registers and disassembly


def test_crash_report_decodes_the_last_hypercalls(tmp_path):
    """The crash report's last hypercalls read as --trace shows them: sub-op
    by name, only the arguments the call takes, errno names."""
    elf = build_pvh_elf(tmp_path, "mov $17, %eax\nxor %ebx, %ebx\nmov $0x1234, %ecx\nvmcall\n"
                                  "mov $24, %eax\nxor %ebx, %ebx\nmov $1, %ecx\n"
                                  "mov $0xdead0000, %edx\nvmcall\nud2\n")
    r = hvsim("run", elf)
    assert r.returncode == 6 and "triple fault" in r.stderr, r.stderr
    after = r.stderr.split("last hypercalls (oldest first):")[1].splitlines()[1:3]
    calls = [line[len("(XEN) "):].strip() for line in after]
    assert re.fullmatch(r"xen_version\(XENVER_version, 0x1234\) = 0x[0-9a-f]+", calls[0]), calls
    assert calls[1] == "vcpu_op(VCPUOP_initialise, 0x1, 0xdead0000) = -ENOENT", calls  # no vCPU 1


def test_timeout(tmp_path):
    elf = build_pvh_elf(tmp_path, debugcon("spinning\n") + "1: jmp 1b\n")
    r = hvsim("run", "--timeout", "1", elf)
    assert r.returncode == 6
    assert r.stdout == "spinning\n" and "timeout after 1s" in r.stderr


def test_no_result_line_is_crash(tmp_path):
    elf = build_pvh_elf(tmp_path, debugcon("no verdict here\n") + "cli\nhlt\n")
    r = hvsim("run", elf)
    assert r.returncode == 6
    assert r.stdout == "no verdict here\n"
    assert "All CPUs offline -- powering off" in r.stderr


@pytest.mark.parametrize("verdict,code", [("SUCCESS", 0), ("SKIP", 3), ("ERROR", 4),
                                          ("FAILURE", 5)])
def test_verdict_exit_codes(tmp_path, verdict, code):
    elf = build_pvh_elf(tmp_path, debugcon("Test result: %s\n" % verdict) + "cli\nhlt\n")
    r = hvsim("run", elf)
    assert r.returncode == code
    assert r.stdout.splitlines()[0] == "Test result: %s" % verdict


def test_deterministic_runs_are_byte_identical(tmp_path):
    body = debugcon("tick\n") + """
    mov $0x40000000, %eax
    cpuid
    rdtsc
    mov %eax, %ebx
    rdtsc
    sub %ebx, %eax
""" + debugcon("Test result: SUCCESS\n") + "cli\nhlt\n"
    elf = build_pvh_elf(tmp_path, body)
    runs = []
    for i in range(2):
        trace = tmp_path / ("trace%d.jsonl" % i)
        r = hvsim("run", "--deterministic", "--trace", str(trace), elf)
        assert r.returncode == 0
        runs.append((r.stdout, trace.read_bytes()))
    assert runs[0] == runs[1]
    assert b'"ev": "exception"' not in runs[0][1]


@pytest.mark.parametrize("text,size", [
    ("512M", 512 << 20), ("512MiB", 512 << 20), ("512mb", 512 << 20), ("2G", 2 << 30),
    ("65536K", 64 << 20), ("64", 64 << 20), ("1GiB", 1 << 30), ("1.5G", 1536 << 20),
    ("0.5M", 512 << 10),
])
def test_sizes_as_qemu_and_xl_write_them(text, size):
    from hvsim.options import parse_size
    assert parse_size(text) == size


@pytest.mark.parametrize("text,message", [
    ("1T", "more memory than this host has"), ("0", "positive multiple of 4 KiB"),
    ("1001K", "positive multiple of 4 KiB"), ("12Q", "not a size"), ("-5M", "positive multiple of 4 KiB"),
])
def test_impossible_sizes_refused_before_boot(tmp_path, text, message):
    elf = build_pvh_elf(tmp_path, "hlt\n")
    r = hvsim("run", "--mem=" + text, elf)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and message in r.stderr and "internal error" not in r.stderr


# every command that runs guests, as "{elf}" (a kernel), "{cfg}" (an xl config of it)
# and "{tmp}" (a directory) fill them in
EVERY_COMMAND = [["run", "{elf}"], ["step", "{elf}"], ["resume", "{tmp}/s"], ["boot", "{tmp}"],
                 ["test", "{tmp}"], ["create", "{cfg}"]]


def _command(tmp_path, command):
    elf = build_pvh_elf(tmp_path, "hlt\n")
    cfg = tmp_path / "guest.cfg"
    cfg.write_text('name = "g"\nkernel = "%s"\n' % elf)
    return [a.format(elf=elf, tmp=tmp_path, cfg=cfg) for a in command]


@pytest.mark.parametrize("command", [["run", "--mem", "1T", "{elf}"],
                                     ["step", "--mem", "1T", "{elf}"],
                                     ["test", "--mem", "1T", "{tmp}"],
                                     ["boot", "--host-mem", "1T", "{tmp}"],
                                     ["lcm", "check", "--host-mem", "1T", "{tmp}"]])
def test_impossible_sizes_refused_by_every_command(tmp_path, command):
    r = hvsim(*_command(tmp_path, command))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "1T: more memory than this host has" in r.stderr


def test_impossible_xl_memory_refused_before_boot(tmp_path):
    elf = build_pvh_elf(tmp_path, "hlt\n")
    (tmp_path / "big.cfg").write_text('kernel = "%s"\nmemory = 1073741824\n' % elf)
    r = hvsim("create", tmp_path / "big.cfg")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "big.cfg:2: memory = 1073741824: more memory than this host has" in r.stderr


@pytest.mark.parametrize("command", [["run", "{elf}"], ["step", "-n", "1", "{elf}"]])
@pytest.mark.parametrize("vcpus", ["0", "129"])
def test_vcpus_refused_out_of_range(tmp_path, command, vcpus):
    r = hvsim(*_command(tmp_path, command), "--vcpus", vcpus)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "--vcpus %s: must be between 1 and 128" % vcpus in r.stderr


@pytest.mark.parametrize("command", EVERY_COMMAND)
def test_negative_timeouts_refused_everywhere(tmp_path, command):
    args = _command(tmp_path, command)
    r = hvsim(*args, "--timeout", "-1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "--timeout -1: must be 0 (never) or a positive number" in r.stderr


def test_interactive_needs_a_terminal(tmp_path):
    """-i attaches the terminal: without one (stdin a pipe or /dev/null), or
    with --console none, one line and exit 2 before anything boots."""
    elf = build_pvh_elf(tmp_path, "hlt\n")
    r = subprocess.run([sys.executable, "-m", "hvsim", "run", "-i", elf], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == \
        ["hvsim: error: -i: stdin is not a terminal (run hvsim in one, or leave -i out)"]
    r = hvsim("boot", "-i", "--console", "none", str(tmp_path))
    assert r.returncode == 2 and "-i attaches the terminal to a console" in r.stderr


@pytest.mark.parametrize("where", ["parser", "command"])
def test_missing_python_package_is_one_line(monkeypatch, capsys, where):
    """hvsim run from a Python without one of its packages (an old
    virtualenv): one line naming the package and `make venv`, exit 2, no
    traceback; a missing hvsim module is still an internal error."""
    from hvsim import cli

    def missing():
        raise ModuleNotFoundError("No module named 'fdt'", name="fdt")
    if where == "parser":
        monkeypatch.setattr(cli, "build_parser", lambda: missing())
    else:
        monkeypatch.setattr(cli, "cmd_run", lambda args: missing())
    assert cli.main(["run", "x.elf"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "hvsim: error: the Python package 'fdt' is not installed in ")
    assert "make venv" in err and "Traceback" not in err


def _python_without_unicorn():
    """Another Python on this machine that lacks hvsim's packages, or None."""
    import shutil
    for exe in (shutil.which("python3"), "/usr/bin/python3"):
        if exe and subprocess.run([exe, "-c", "import unicorn"], capture_output=True,
                                  env={"PATH": os.environ.get("PATH", "")}).returncode:
            return exe
    return None


def test_python_without_the_packages_runs_hvsim_in_the_checkouts_venv():
    """`python3 -m hvsim run ...` in the checkout, with a Python that lacks
    hvsim's packages: hvsim runs again in .venv's Python (hvsim/venv.py), and
    the unmodified XTF-style example passes; with that turned off, one line
    names the package and `make venv`."""
    from hvsim import venv
    example = os.path.join(ROOT, "guests", "build", "hvm64", "example.elf")
    other = _python_without_unicorn()
    if other is None or not os.path.exists(venv.VENV_PYTHON) or not os.path.exists(example):
        pytest.skip("needs another Python without unicorn, .venv and the example guest")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH",
                                                            venv.REEXEC_ENV)}
    r = subprocess.run([other, "-m", "hvsim", "run", example], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "Test result: SUCCESS", \
        r.stdout + r.stderr
    r = subprocess.run([other, "-m", "hvsim", "run", example], cwd=ROOT,
                       env=dict(env, **{venv.REEXEC_ENV: "1"}), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("hvsim: error: the Python package 'unicorn' is not installed")
