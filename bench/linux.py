#!/usr/bin/env python3
"""Linux to /init: hvsim against QEMU TCG booting the same files through
their PVH paths, measured in one run and printed as a ratio (issue 14's
goal: at most 5x).

Both boot Debian's cloud kernel (the ELF vmlinux extracted from the bzImage
`make linux` fetched, so that neither pays for decompression) with the
initramfs of guests/linux/ and 2 vCPUs / 256 MiB, with the command line
tests/test_linux.py uses (the console at the kernel's default log level);
the time is wall time from starting the process to the line /init prints
first ("hvsim-init: /init running"), best of --repeats, and beside it the
CPU time (user + system) the process had used when it was stopped there,
which a loaded machine distorts less (QEMU runs each vCPU in a thread of
its own, so its CPU time can exceed its wall time).  Where hvsim does not
get there within --timeout, the milestones it reached (kernel lines,
MILESTONES) are compared instead, and the /init ratio is given as a lower
bound.  hvsim runs in fast mode unless --deterministic.

QEMU comes from Debian's qemu-system-x86 (installed with apt-get when
missing and running as root; otherwise that half is skipped with one
line).  --profile also runs hvsim once in this process under cProfile
(bounded by --timeout) and prints where the time went: the top functions
by own time, and the exits into Python by kind (the calls of each hook).

Usage: bench/linux.py [--timeout S] [--repeats N] [--vcpus N] [--deterministic]
                      [--profile] [--no-qemu]
"""

import argparse
import cProfile
import io
import os
import pstats
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from hvsim.boot import bzimage                 # noqa: E402

LINUX = os.path.join(ROOT, "build", "linux")
VMLINUZ = os.path.join(LINUX, "vmlinuz")
VMLINUX = os.path.join(LINUX, "vmlinux")
INITRAMFS = os.path.join(LINUX, "initramfs.cpio")
INIT_MARKER = "hvsim-init: /init running"
CMDLINE = "hvsim.init=poweroff"
MEM = "256M"
# kernel lines in boot order
MILESTONES = ("Booting kernel on Xen PVH", "Linux version", "Calibrating delay loop",
              "smp: Brought up", "Run /init as init process", INIT_MARKER)
# the hooks through which a vCPU exits into Python (hvsim/arch/x86/vcpu.py, exits.py)
EXIT_KINDS = (("_on_rdtsc", "rdtsc"), ("_on_rdtscp", "rdtscp"), ("_on_cpuid", "cpuid"),
              ("_on_in", "in (port reads, hypercall-page traps)"), ("_on_out", "out"),
              ("hypercall", "hypercalls (all traps)"), ("_on_intr", "exceptions/interrupts"),
              ("_on_unmapped", "unmapped accesses"), ("_on_mmio_read", "MMIO reads"),
              ("_on_mmio_write", "MMIO writes"), ("_on_invalid", "invalid opcodes (vmcall)"),
              ("at_exit", "exit sites (rdmsr/wrmsr/sysret/mov cr4)"),
              ("_on_syscall", "syscall"), ("_on_sysenter", "sysenter"),
              ("run", "slices (X86Vcpu.run)"))


def ensure_files():
    if not os.path.exists(INITRAMFS) or not os.path.exists(VMLINUZ):
        subprocess.run([sys.executable, os.path.join(ROOT, "guests", "linux", "build.py"),
                        "--out", LINUX], check=False)
    if not os.path.exists(VMLINUZ):
        why = os.path.join(LINUX, "unavailable")
        reason = open(why).read().strip() if os.path.exists(why) else "not fetched"
        print("linux bench: skipped: no kernel (%s)" % reason)
        sys.exit(0)
    if not os.path.exists(VMLINUX) or os.path.getmtime(VMLINUX) < os.path.getmtime(VMLINUZ):
        with open(VMLINUZ, "rb") as f:
            elf = bzimage.extract_elf(f.read(), VMLINUZ)
        with open(VMLINUX + ".tmp", "wb") as f:
            f.write(elf)
        os.replace(VMLINUX + ".tmp", VMLINUX)


def qemu_binary():
    q = shutil.which("qemu-system-x86_64")
    if q is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "qemu-system-x86"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        q = shutil.which("qemu-system-x86_64")
    return q


def timed(cmd, timeout):
    """Run cmd until /init's line (or timeout); (seconds to each milestone
    seen, last line, CPU seconds the process used)."""
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, text=True, errors="replace", cwd=ROOT)
    seen, last = {}, ""
    try:
        for line in p.stdout:
            now = time.monotonic() - start
            if line.strip():
                last = line.rstrip()
            for m in MILESTONES:
                if m in line and m not in seen:
                    seen[m] = now
            if INIT_MARKER in seen or now > timeout:
                break
    finally:
        p.kill()
        _, _, usage = os.wait4(p.pid, 0)
        p.returncode = -9
        p.stdout.close()
    return seen, last, usage.ru_utime + usage.ru_stime


def hvsim_cmd(timeout, vcpus, deterministic):
    return [sys.executable, "-u", "-m", "hvsim", "run", "--vcpus", str(vcpus), "--mem", MEM,
            "--ramdisk", INITRAMFS, "--cmdline", "console=hvc0 " + CMDLINE,
            "--timeout", str(timeout)] + (["--deterministic"] if deterministic else []) + [VMLINUX]


def qemu_cmd(qemu, vcpus):
    return [qemu, "-kernel", VMLINUX, "-initrd", INITRAMFS, "-append",
            "console=ttyS0 " + CMDLINE, "-m", MEM, "-smp", str(vcpus),
            "-nographic", "-nodefaults", "-serial", "stdio", "-display", "none", "-no-reboot"]


def best(cmd, timeout, repeats):
    """The best of `repeats` runs: (milestone -> wall s, CPU s to /init or
    None, the last line of the last run)."""
    runs = [timed(cmd, timeout) for _ in range(repeats)]
    result, cpu = {}, None
    for seen, _, used in runs:
        for m, t in seen.items():
            result[m] = min(t, result.get(m, t))
        if INIT_MARKER in seen:
            cpu = used if cpu is None else min(cpu, used)
    return result, cpu, runs[-1][1]


def report(hv, qemu, timeout):
    """Print the milestones side by side and the /init ratio."""
    (h, h_cpu, h_last), (q, q_cpu) = hv, qemu or ({}, None)
    print("%-32s %10s %10s %8s" % ("milestone (wall s)", "hvsim", "QEMU TCG", "ratio"))
    for m in MILESTONES:
        a, b = h.get(m), q.get(m)
        print("%-32s %10s %10s %8s" % (m[:32], "%.2f" % a if a is not None else "-",
                                        "%.2f" % b if b is not None else "-",
                                        "%.2f" % (a / b) if a is not None and b else "-"))
    if h_cpu is not None and q_cpu:
        print("%-32s %10.2f %10.2f %8.2f" % ("CPU s used to /init", h_cpu, q_cpu, h_cpu / q_cpu))
    if INIT_MARKER in h and INIT_MARKER in q:
        print("Linux to /init: hvsim %.2f s, QEMU TCG %.2f s: ratio %.2f (goal <= 5)"
              % (h[INIT_MARKER], q[INIT_MARKER], h[INIT_MARKER] / q[INIT_MARKER]))
    elif INIT_MARKER in q:
        print("Linux to /init: hvsim did not get there in %d s (last line: %s); QEMU TCG %.2f s: "
              "ratio > %.1f" % (timeout, h_last[:100], q[INIT_MARKER], timeout / q[INIT_MARKER]))


def profile(timeout, vcpus, deterministic):
    """hvsim in this process under cProfile: top functions, exits by kind."""
    from hvsim import cli
    prof = cProfile.Profile()
    start = time.monotonic()
    prof.enable()
    try:
        cli.main(hvsim_cmd(timeout, vcpus, deterministic)[4:-1] + ["-q", VMLINUX])
    finally:
        prof.disable()
    wall = time.monotonic() - start
    stats = pstats.Stats(prof)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
    print("\nprofile: %.1f s wall (under cProfile); top functions by own time:" % wall)
    print("\n".join(out.getvalue().splitlines()[6:]))
    print("exits into Python by kind (calls of each hook; cumulative s under cProfile):")
    for (fname, line, func), (cc, nc, tt, ct, callers) in sorted(
            stats.stats.items(), key=lambda kv: -kv[1][1]):
        for hook, kind in EXIT_KINDS:
            if func == hook and ("arch/x86" in fname or (hook == "hypercall" and
                                                          "hv/vcpu" in fname)):
                print("  %-44s %10d  %8.2f s" % (kind, nc, ct))


def main(argv=None):
    p = argparse.ArgumentParser(description="Linux to /init: hvsim vs QEMU TCG")
    p.add_argument("--timeout", type=float, default=120, help="hvsim's limit (default 120 s)")
    p.add_argument("--repeats", type=int, default=2, help="best of N (default 2)")
    p.add_argument("--vcpus", type=int, default=2, help="vCPUs of both (default 2)")
    p.add_argument("--deterministic", action="store_true", help="hvsim --deterministic")
    p.add_argument("--profile", action="store_true", help="also profile one hvsim run")
    p.add_argument("--no-qemu", action="store_true", help="skip the QEMU baseline")
    args = p.parse_args(argv)
    ensure_files()
    qemu = None if args.no_qemu else qemu_binary()
    q_times = None
    if qemu is None and not args.no_qemu:
        print("linux bench: QEMU baseline skipped: qemu-system-x86_64 not installed "
              "(apt-get install qemu-system-x86)")
    if qemu:
        q_times = best(qemu_cmd(qemu, args.vcpus), 60, args.repeats)[:2]
    h_times = best(hvsim_cmd(args.timeout, args.vcpus, args.deterministic), args.timeout,
                   args.repeats)
    print("hvsim %s mode, %d vCPUs, best of %d" % (
        "deterministic" if args.deterministic else "fast", args.vcpus, args.repeats))
    report(h_times, q_times, args.timeout)
    if args.profile:
        profile(args.timeout, args.vcpus, args.deterministic)
    return 0


if __name__ == "__main__":
    sys.exit(main())
