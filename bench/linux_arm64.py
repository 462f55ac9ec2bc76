#!/usr/bin/env python3
"""Debian's cloud-arm64 kernel to /init: hvsim against QEMU TCG, side by side.

The same Image and initramfs (`make linux-arm64`, build/linux-arm64) boot
under QEMU (`qemu-system-aarch64 -M virt -cpu cortex-a57 -m 256M`, console
on ttyAMA0, the baseline issue 12 names) and under hvsim as an Arm domU
(console hvc0), in fast and in deterministic mode.  Each boot is timed in
host seconds from the start of the process to the line /init prints first
("hvsim-init: /init running") and to the end of the process (/init powers
the machine off: PSCI SYSTEM_OFF), and in CPU seconds (user + system), which
a loaded machine distorts less.  The ratios are hvsim's over QEMU's.

Usage: bench/linux_arm64.py [--repeats N] [--timeout S]
Best of N runs each (the machine is shared); QEMU from the qemu-system-arm
package (apt-get install qemu-system-arm).
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LINUX = os.path.join(ROOT, "build", "linux-arm64")
IMAGE = os.path.join(LINUX, "Image")
INITRAMFS = os.path.join(LINUX, "initramfs.cpio")
AT_INIT = "hvsim-init: /init running"


def qemu_cmd():
    return ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "256M",
            "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
            "-kernel", IMAGE, "-initrd", INITRAMFS, "-append", "console=ttyAMA0"]


def hvsim_cmd(deterministic, timeout):
    return ([sys.executable, "-m", "hvsim", "run", "--mem", "256M", "--ramdisk", INITRAMFS,
             "--cmdline", "console=hvc0", "--timeout", str(timeout)] +
            (["--deterministic"] if deterministic else []) + [IMAGE])


def timed_boot(cmd, timeout):
    """(seconds to /init, seconds to exit, CPU seconds, exit code); None
    where not reached.  The CPU seconds (user + system of the process) say
    more than the wall clock on a loaded machine."""
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, cwd=ROOT, text=True, errors="replace")
    at_init = None
    for line in p.stdout:
        if at_init is None and AT_INIT in line:
            at_init = time.monotonic() - start
        if time.monotonic() - start > timeout:
            p.kill()
            break
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = rc = os.waitstatus_to_exitcode(status)
    total = time.monotonic() - start
    cpu = usage.ru_utime + usage.ru_stime
    # hvsim exits 6 after a poweroff without an XTF verdict: the end counts if /init ran
    return at_init, (total if at_init is not None and rc in (0, 6) else None), cpu, rc


def best(cmd, repeats, timeout):
    runs = [timed_boot(cmd, timeout) for _ in range(repeats)]
    ok = [r for r in runs if r[0] is not None]
    if not ok:
        return runs[-1]
    return min(ok, key=lambda r: r[0])


def fmt(x):
    return "-" if x is None else "%.1f s" % x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    if not (os.path.exists(IMAGE) and os.path.exists(INITRAMFS)):
        sys.exit("bench: no kernel in %s: run `make linux-arm64`" % LINUX)
    if shutil.which("qemu-system-aarch64") is None:
        sys.exit("bench: qemu-system-aarch64 not found (apt-get install qemu-system-arm)")
    rows = [("QEMU TCG (-M virt -cpu cortex-a57)", best(qemu_cmd(), max(args.repeats, 3),
                                                        args.timeout))]
    for det in (False, True):
        name = "hvsim%s" % (" --deterministic" if det else "")
        rows.append((name, best(hvsim_cmd(det, args.timeout), args.repeats, args.timeout)))
    base = rows[0][1]
    version = os.path.join(LINUX, "version")
    if os.path.exists(version):
        print("kernel: %s" % open(version).read().strip())
    print("| arm64 Linux boot | to /init | to power-off | CPU time | ratio to QEMU (wall, CPU) |")
    print("|---|---|---|---|---|")
    for name, (at_init, total, cpu, rc) in rows:
        ratio = ("%.1f, %.1f" % (at_init / base[0], cpu / base[2])
                 if at_init and base[0] else "-")
        print("| %s | %s | %s | %s | %s |" % (name, fmt(at_init), fmt(total), fmt(cpu), ratio))
    return 0


if __name__ == "__main__":
    sys.exit(main())
