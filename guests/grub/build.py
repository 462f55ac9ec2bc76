"""`make grub`: GRUB as a Xen PVH guest, built from Debian's packages as a
user would (shared/reference/real-guests.md): `apt-get download`
grub-xen-bin and grub-common into a cache, then their own grub-mkimage
makes the i386-xen_pvh images (ELF32 with the PHYS32_ENTRY note; the console
is the PV console ring, disks are looked for through xenstore).

    python guests/grub/build.py [--out DIR]

Leaves in OUT (default build/grub):
  grub-halt.elf   runs guests/grub/halt.cfg (what tests/test_grub.py checks;
                  an early configuration takes no comments) first:
                  prints its platform, sleeps 1 s (GRUB's clock: the TSC at
                  the rate vcpu_time_info gives), prints again and halts
                  (SCHEDOP_shutdown poweroff)
  grub-shell.elf  no configuration: GRUB's normal mode finds no grub.cfg
                  and stops at its `grub>` prompt on the console
  version         the packages' version
When something cannot be fetched or run, OUT/unavailable says why in one
line (the GRUB tests skip with it) and the exit code is 1.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from debs import (Unavailable, clear_unavailable, fetch, foreign,  # noqa: E402
                  report_unavailable, run, unpack, write)

PACKAGES = ("grub-xen-bin", "grub-common")
PLATFORM = "i386-xen_pvh"
MODULES = ("normal", "echo", "sleep", "halt", "ls", "test")
IMAGES = {"grub-halt.elf": os.path.join(HERE, "halt.cfg"), "grub-shell.elf": None}


def host_arch():
    rc, out = run(["dpkg", "--print-architecture"])
    if rc:
        raise Unavailable("dpkg --print-architecture failed: %s" % out.strip())
    return out.strip()


def mkimage(root, out, config):
    """grub-mkimage from the unpacked grub-common, on the unpacked modules."""
    tool = os.path.join(root["grub-common"], "usr", "bin", "grub-mkimage")
    moddir = os.path.join(root["grub-xen-bin"], "usr", "lib", "grub", PLATFORM)
    cmd = [tool, "-O", PLATFORM, "-d", moddir, "-p", "/boot/grub", "-o", out + ".tmp"]
    if config:
        cmd += ["-c", config]
    rc, text = run(cmd + list(MODULES))
    if rc:
        raise Unavailable("grub-mkimage failed: %s" % (text.strip().splitlines() or ["?"])[-1])
    os.replace(out + ".tmp", out)


def build(out):
    os.makedirs(out, exist_ok=True)
    state = {}
    arch = host_arch()
    qualify = foreign(arch)
    root, debs = {}, []
    for pkg in PACKAGES:
        deb = fetch(pkg, out, state, arch, qualify)
        debs.append(os.path.basename(deb))
        root[pkg] = unpack(deb, os.path.join(out, os.path.basename(deb)[:-4]))
    for name, config in IMAGES.items():
        mkimage(root, os.path.join(out, name), config)
    write(os.path.join(out, "version"), ("\n".join(debs) + "\n").encode())
    return debs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="build/grub", help="cache and output directory")
    args = p.parse_args(argv)
    try:
        debs = build(args.out)
    except (Unavailable, OSError) as e:
        return report_unavailable(args.out, "make grub", e)
    clear_unavailable(args.out)
    print("make grub: %s from %s" % (", ".join(os.path.join(args.out, n) for n in IMAGES),
                                     ", ".join(debs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
