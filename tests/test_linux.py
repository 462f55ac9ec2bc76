"""Debian's cloud kernel booted as a PVH domU with 2 vCPUs and the busybox
initramfs `make linux` builds (guests/linux/), as a user runs it, in a
terminal (tmux):

    hvsim run --vcpus 2 --mem 256M --ramdisk build/linux/initramfs.cpio \\
        --cmdline "console=hvc0 hvsim.init=shell" build/linux/vmlinuz

One bounded boot (HVSIM_LINUX_TIMEOUT seconds of host time, default 600)
is shared by every check below (one boot per pytest session, whichever
xdist worker gets there first).  /init prints what the checks look for,
each line prefixed "hvsim-" (guests/linux/init), then starts a shell on the
console; the test types `echo` into it and then `poweroff -f`, and reads
the whole terminal.  Without tmux the same kernel boots without a terminal
(`hvsim.init=poweroff`) and only the interactive check skips.  Without the
kernel (no network for `make linux`) every test skips with the reason
build/linux/unavailable gives.

The terminal boot runs in fast mode, as a user runs it; the hyperlaunch
boot (firmware/linux-xtf) in deterministic mode, so that both modes take
Linux to /init in every `make test`.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

import built
import xtfutil
from once import once_per_session
from test_interrupt_tmux import Pane

ROOT = built.ROOT
LINUX = ROOT / "build" / "linux"
VMLINUZ = LINUX / "vmlinuz"
INITRAMFS = LINUX / "initramfs.cpio"
BOOT_TIMEOUT = float(os.environ.get("HVSIM_LINUX_TIMEOUT", "600"))
VCPUS = 2
MEM = "256M"
HYPERLAUNCH_MODE = ("--deterministic",)
CMDLINE = "console=hvc0 hvsim.init=%s"
TMUX = shutil.which("tmux")
PROMPT = "hvsim# "
POWEROFF_EXIT = 6               # no verdict line: exit code 6 (README), the domain powered off
POWEROFF_LINE = "(XEN) d1v0 All CPUs offline -- powering off."
SCENARIO = ROOT / "firmware" / "linux-xtf"


def linux_files():
    """(vmlinuz, initramfs), or skip with the reason `make linux` left."""
    if not (VMLINUZ.exists() and INITRAMFS.exists()):
        why = LINUX / "unavailable"
        reason = why.read_text().strip() if why.exists() else "not fetched"
        pytest.skip("Debian's kernel is not in build/linux (%s): run `make linux`" % reason)
    return VMLINUZ, INITRAMFS


def hvsim_run_args(init, *options):
    """`hvsim run`'s arguments for the kernel with /init doing `init`."""
    vmlinuz, initramfs = linux_files()
    return ["run", *options, "--vcpus", str(VCPUS), "--mem", MEM, "--ramdisk",
            str(initramfs), "--cmdline", CMDLINE % init, "--timeout", str(BOOT_TIMEOUT),
            str(vmlinuz)]


def plain_boot(tmp_path):
    """The boot without a terminal: /init prints its lines and powers off."""
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "hvsim", *hvsim_run_args("poweroff")],
                       capture_output=True, text=True, cwd=ROOT, timeout=BOOT_TIMEOUT + 60,
                       stdin=subprocess.DEVNULL)
    return {"out": r.stdout + r.stderr, "rc": r.returncode, "seconds": time.monotonic() - start,
            "typed": None}


def terminal_boot(tmp_path):
    """The boot in a terminal: wait for the shell's prompt, type a command,
    wait for its answer, power off.  What the terminal showed, the exit code,
    and what typing got (None where a step never came)."""
    start = time.monotonic()
    pane = Pane(tmp_path, *hvsim_run_args("shell", "-i"))
    typed = {}
    try:
        first = _wait(pane, r"%s|EXIT=\d+" % re.escape(PROMPT), BOOT_TIMEOUT)
        if first is not None and first.group(0) == PROMPT:     # not: the run ended
            typed["prompt_s"] = time.monotonic() - start
            pane.type("echo hello-$((6*7))", "Enter")
            if _wait(pane, "hello-42", 60):
                t = time.monotonic()
                pane.type("poweroff -f", "Enter")
                if _wait(pane, "EXIT=", 60):
                    typed["poweroff_s"] = time.monotonic() - t
        m = _wait(pane, r"EXIT=(\d+)", BOOT_TIMEOUT + 30 - (time.monotonic() - start))
        rc = int(m.group(1)) if m else None
        if m is None:                          # stuck: stop it as a user would
            rc = pane.ctrl_c()[0]
        return {"out": pane.text(), "rc": rc, "seconds": time.monotonic() - start,
                "typed": typed}
    finally:
        pane.close()


def _wait(pane, pattern, timeout):
    end = time.monotonic() + max(timeout, 0)
    while True:
        m = re.search(pattern, pane.text())
        if m or time.monotonic() > end:
            return m
        time.sleep(0.5)


@pytest.fixture(scope="session")
def linux_boot(tmp_path_factory, worker_id):
    """The shared boot's result; under xdist the first worker boots and the
    others wait for its result file (pytest-xdist's recipe)."""
    linux_files()
    boot = terminal_boot if TMUX else plain_boot
    return once_per_session(tmp_path_factory, worker_id, "linux-boot",
                            lambda: boot(tmp_path_factory.mktemp("linux")))


def lines(result, prefix):
    return [l.split(prefix, 1)[1].strip() for l in result["out"].splitlines() if prefix in l]


def test_linux_boots_as_a_pvh_domu_with_its_initramfs(linux_boot):
    """The bzImage loads, Linux finds Xen and PVH, gets the command line,
    and reserves the initramfs it found as module 0."""
    out = linux_boot["out"]
    assert "Traceback" not in out, out[-3000:]
    assert linux_boot["rc"] != 70, out[-3000:]            # no hvsim internal error
    assert "Linux version 6." in out, out[-3000:]
    assert "Hypervisor detected: Xen HVM" in out
    assert "Booting kernel on Xen PVH" in out
    assert re.search(r"Command line: console=hvc0 hvsim\.init=\w+", out)
    assert "RAMDISK: [mem " in out, out[-3000:]


def test_linux_runs_init_and_powers_off(linux_boot):
    """/init runs and the domain powers off: after the shell (no verdict
    line: exit code 6) or, without a terminal, after /init's verdict."""
    out = linux_boot["out"]
    assert "hvsim-init: /init running" in out, out[-3000:]
    assert "hvsim-init: checks printed" in out, out[-3000:]
    assert POWEROFF_LINE in out, out[-3000:]
    assert "timeout after" not in out
    if linux_boot["typed"] is None:
        guest = [l for l in out.splitlines() if l and not l.startswith(("(XEN)", "hvsim:"))]
        assert guest[-1] == "Test result: SUCCESS", out[-3000:]
        assert linux_boot["rc"] == 0, out[-3000:]
    else:
        assert linux_boot["rc"] == POWEROFF_EXIT, out[-3000:]


def test_linux_sees_two_cpus(linux_boot):
    cpus = lines(linux_boot, "hvsim-cpuinfo:")
    assert [c.split(":")[0].strip() for c in cpus] == ["processor", "processor"], cpus
    assert [c.split(":")[1].strip() for c in cpus] == ["0", "1"], cpus


def test_linux_interrupts_are_xen_event_channels(linux_boot):
    """/proc/interrupts as on a Xen PVH domU: per-CPU VIRQ timers and IPIs
    (xen-percpu), the xenbus (store) and hvc_console channels (xen-dyn), each
    counting interrupts delivered on the CPU that bound it."""
    irqs = {}
    for l in lines(linux_boot, "hvsim-interrupts:"):
        f = l.split()
        irqs[f[-1]] = ([int(n) for n in f[1:1 + VCPUS]], " ".join(f[1 + VCPUS:-1]))
    for cpu in range(VCPUS):
        for name, kind in (("timer%d" % cpu, "xen-percpu -virq"),
                           ("resched%d" % cpu, "xen-percpu -ipi"),
                           ("callfuncsingle%d" % cpu, "xen-percpu -ipi")):
            counts, chip = irqs[name]
            assert chip == kind, (name, irqs)
            assert counts[cpu] > 0, (name, irqs)
    for name, chip in (("xenbus", "xen-dyn -event"), ("hvc_console", "xen-dyn-lateeoi -event")):
        assert name in irqs and irqs[name][1] == chip, irqs
        assert sum(irqs[name][0]) > 0, irqs


def test_linux_grant_table(linux_boot):
    dmesg = lines(linux_boot, "hvsim-dmesg:")
    assert any(l.endswith("xen:grant_table: Grant tables using version 1 layout")
               for l in dmesg), dmesg
    assert any(l.endswith("Grant table initialized") for l in dmesg), dmesg


def test_linux_xenbus_reads_xenstore(linux_boot):
    """xenbus is up: /init's xenstore reads through Linux's /dev/xen/xenbus
    get the domain's own nodes as libxl wrote them, and /sys/hypervisor's
    uuid (XENVER_guest_handle) is the domain's /vm/<uuid>.  (A PVH domU's
    xenbus prints nothing in dmesg unless it finds devices to probe; this
    kernel's block and net frontends are modules the initramfs lacks.)"""
    xs = lines(linux_boot, "hvsim-xenstore:")
    hyp = lines(linux_boot, "hvsim-hypervisor:")
    assert len(xs) == 1 and len(hyp) == 1, (xs, hyp)
    fields = dict(f.split("=", 1) for f in xs[0].split())
    assert fields["domid"] == "1" and fields["name"] == VMLINUZ.name, fields
    m = re.fullmatch(r"xen 4\.\d+\.\S* uuid=(\S+)", hyp[0])
    assert m, hyp
    assert fields["vm"] == "/vm/" + str(uuid.UUID(m.group(1))), (fields, hyp)


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (make deps)")
def test_linux_shell_is_interactive(linux_boot):
    """`hvsim run` with the terminal on the domain's console: the busybox
    shell answers what is typed, and `poweroff -f` ends the run with the
    domain's poweroff."""
    out, typed = linux_boot["out"], linux_boot["typed"]
    assert "prompt_s" in typed, "no %r prompt:\n%s" % (PROMPT, out[-3000:])
    # the echo of what was typed, then the answer (kernel lines may come between the
    # prompt and the echo)
    assert re.search(r"echo hello-\$\(\(6\*7\)\)\s*\n\s*hello-42\s*$", out, re.M), out[-3000:]
    assert "poweroff_s" in typed, out[-3000:]
    assert out.rstrip().endswith("EXIT=%d" % POWEROFF_EXIT), out[-3000:]


# --- hyperlaunch ----------------------------------------------------------------

def test_linux_hyperlaunch_beside_xtf():
    """firmware/linux-xtf: one Multiboot2 boot whose LCM gives Linux (2 vCPUs,
    256 MiB, a kernel and a ramdisk module, its command line in `bootargs`)
    domid 1 beside XTF's example and selftest: Linux reaches /init and gives
    its verdict, the XTF tests pass, the run exits 0."""
    linux_files()
    if xtfutil.xtf_dir() != xtfutil.XTF_BUILD:
        xtfutil.missing()
    built.need(ROOT / "firmware" / "build" / "linux-xtf" / "lcm.dtb", how=built.MAKE_FIRMWARE)
    r = subprocess.run([sys.executable, "-m", "hvsim", "boot", *HYPERLAUNCH_MODE,
                        "--timeout", str(BOOT_TIMEOUT), str(SCENARIO)],
                       capture_output=True, text=True, cwd=ROOT, timeout=BOOT_TIMEOUT + 60,
                       stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out[-3000:]
    d1 = [l[5:] for l in r.stdout.splitlines() if l.startswith("(d1) ")]
    assert "Command line: console=hvc0 hvsim.init=poweroff" in " ".join(d1), out[-3000:]
    assert any("RAMDISK: [mem " in l for l in d1), d1[:60]
    assert "hvsim-init: /init running" in d1, d1[-40:]
    assert ["processor\t: 0", "processor\t: 1"] == \
        [l.split(": ", 1)[1] for l in d1 if l.startswith("hvsim-cpuinfo: ")], d1[-40:]
    assert any(l.startswith("hvsim-xenstore: domid=1 name=linux ") for l in d1), d1[-40:]
    for domid in (1, 2, 3):
        assert "(d%d) Test result: SUCCESS" % domid in r.stdout, out[-3000:]
    for name in ("linux", "example", "selftest"):
        assert re.search(r"^d\d+\s+%s\s.*poweroff\s+SUCCESS" % name, out, re.M), out[-1500:]
    assert r.returncode == 0, out[-3000:]
