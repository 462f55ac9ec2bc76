"""`make linux` / `make linux-arm64`: fetch Debian's cloud kernel and
busybox-static with `apt-get download` into a cache directory and build the
initramfs hvsim boots them with.

    python guests/linux/build.py [--arch amd64|arm64] [--out DIR]

Leaves in OUT (build/linux, or build/linux-arm64 for arm64): the kernel as
the package has it (amd64: vmlinuz, a bzImage; arm64: Image, the
uncompressed arm64 Image that Debian ships as vmlinuz -- a gzip one is
inflated), initramfs.cpio (newc, uncompressed: busybox, its applet links,
/init from guests/linux/init, /dev/console) and version (the kernel
package's name).  The kernel package is the one linux-image-cloud-ARCH
depends on today (`apt-cache depends`), as shared/reference/real-guests.md
says; for a foreign architecture apt needs it added (`dpkg
--add-architecture arm64`, done here as root).  A fetched .deb is kept, so
later runs need no network.  When something cannot be fetched,
OUT/unavailable says why in one line (the Linux tests skip with it) and the
exit code is 1.
"""

import argparse
import glob
import gzip
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from hvsim.boot.cpio import Archive      # noqa: E402

sys.path.insert(0, os.path.dirname(HERE))
from debs import (Unavailable, apt_update_once, clear_unavailable, fetch, foreign,  # noqa: E402
                  report_unavailable, run, unpack, write)

KERNEL_META = "linux-image-cloud-%s"
BUSYBOX = "busybox-static"
KERNEL_OUT = {"amd64": "vmlinuz", "arm64": "Image"}
CONSOLE_DEV = (5, 1)                     # /dev/console, as Linux's default initramfs has it
FALLBACK_APPLETS = ("sh", "mount", "grep", "sed", "cat", "echo", "dmesg", "poweroff", "reboot",
                    "setsid", "cttyhack", "ls", "ps", "uname", "sleep")


def kernel_package(arch, state):
    """The package linux-image-cloud-ARCH depends on (the current kernel),
    without the :ARCH apt-cache adds for a foreign architecture."""
    meta = KERNEL_META % arch
    while True:
        rc, out = run(["apt-cache", "depends", meta])
        deps = [l.split(":", 1)[1].strip().split(":")[0] for l in out.splitlines()
                if l.strip().startswith("Depends:") and "linux-image-" in l]
        if rc == 0 and deps:
            return deps[0]
        if not apt_update_once(state):
            raise Unavailable("apt-cache cannot resolve %s (run apt-get update as root)" % meta)


def applets(busybox):
    """busybox's applet names (from the binary, which runs on an x86-64 host)."""
    try:
        rc, out = run([busybox, "--list"])
    except OSError:
        rc = 1
    names = out.split() if rc == 0 else []
    return names or list(FALLBACK_APPLETS)


def initramfs(busybox, init_script):
    """The initramfs: /bin/busybox, a link per applet in /bin, /init, the
    directories /init mounts on, and /dev/console for init's stdio."""
    a = Archive()
    for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root"):
        a.dir(d)
    a.chardev("dev/console", *CONSOLE_DEV)
    with open(busybox, "rb") as f:
        a.file("bin/busybox", f.read(), 0o755)
    for name in applets(busybox):
        if name != "busybox":
            a.symlink("bin/" + name, "busybox")
    with open(init_script, "rb") as f:
        a.file("init", f.read(), 0o755)
    return a.bytes()


def kernel_file(path, arch):
    """The kernel to boot: the bzImage as it is; an arm64 Image inflated if
    the package gzipped it (Debian's is not)."""
    with open(path, "rb") as f:
        data = f.read()
    if arch == "arm64" and data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def build(out, arch="amd64"):
    os.makedirs(out, exist_ok=True)
    state = {}
    qualify = foreign(arch)
    kpkg = kernel_package(arch, state)
    kroot = unpack(fetch(kpkg, out, state, arch, qualify), os.path.join(out, kpkg))
    broot = unpack(fetch(BUSYBOX, out, state, arch, qualify),
                   os.path.join(out, "%s-%s" % (BUSYBOX, arch)))
    vmlinuz = sorted(glob.glob(os.path.join(kroot, "boot", "vmlinuz-*")))
    if not vmlinuz:
        raise Unavailable("%s holds no boot/vmlinuz-*" % kpkg)
    write(os.path.join(out, KERNEL_OUT[arch]), kernel_file(vmlinuz[0], arch))
    write(os.path.join(out, "initramfs.cpio"),
          initramfs(os.path.join(broot, "bin", "busybox"), os.path.join(HERE, "init")))
    write(os.path.join(out, "version"), (kpkg + "\n").encode())
    return kpkg


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=sorted(KERNEL_OUT), default="amd64",
                   help="Debian architecture of the kernel and busybox (default amd64)")
    p.add_argument("--out", help="cache and output directory (default build/linux, "
                   "build/linux-arm64 for arm64)")
    args = p.parse_args(argv)
    args.out = args.out or ("build/linux" if args.arch == "amd64" else "build/linux-" + args.arch)
    try:
        kpkg = build(args.out, args.arch)
    except (Unavailable, OSError) as e:
        return report_unavailable(args.out, "make linux", e)
    clear_unavailable(args.out)
    print("make linux: %s/%s (%s) and %s/initramfs.cpio"
          % (args.out, KERNEL_OUT[args.arch], kpkg, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
