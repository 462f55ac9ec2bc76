"""Debian packages for the real guests the build fetches (`make linux`,
`make grub`): `apt-get download` into a cache directory, unpacked with
dpkg-deb, without installing anything.  A fetched .deb is kept, so later
runs need no network; when something cannot be fetched, Unavailable says
why in one line, which the caller writes to OUT/unavailable for the tests
that skip with it (report_unavailable)."""

import glob
import os
import shutil
import subprocess
import sys


class Unavailable(Exception):
    """Something could not be fetched: one line for OUT/unavailable."""


def run(cmd, cwd=None):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def apt_update_once(state):
    """`apt-get update` (as root), once per run, when a look-up found nothing."""
    if state.get("updated") or os.geteuid() != 0:
        return False
    state["updated"] = True
    run(["apt-get", "update", "-qq"])
    return True


def foreign(arch):
    """True if arch is not dpkg's own: its packages are named PKG:ARCH, and
    apt must know the architecture (added as root, with an apt-get update)."""
    rc, out = run(["dpkg", "--print-architecture"])
    if rc == 0 and out.strip() == arch:
        return False
    rc, out = run(["dpkg", "--print-foreign-architectures"])
    if arch not in out.split() and os.geteuid() == 0:
        run(["dpkg", "--add-architecture", arch])
    return True


def fetch(pkg, cache, state, arch, qualify):
    """The path of pkg's .deb for arch in `cache`, downloaded with `apt-get
    download` (as PKG:ARCH when qualify) if missing."""
    pattern = os.path.join(cache, "%s_*_%s.deb" % (pkg, arch))
    found = sorted(glob.glob(pattern))
    if found:
        return found[-1]
    while True:
        rc, out = run(["apt-get", "download", pkg + (":" + arch if qualify else "")], cwd=cache)
        found = sorted(glob.glob(pattern))
        if rc == 0 and found:
            return found[-1]
        if not apt_update_once(state):
            last = out.strip().splitlines()[-1] if out.strip() else "exit %d" % rc
            raise Unavailable("apt-get download %s failed: %s" % (pkg, last))


def unpack(deb, dest):
    if not os.path.isdir(dest):
        tmp = dest + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        rc, out = run(["dpkg-deb", "-x", deb, tmp])
        if rc:
            raise Unavailable("dpkg-deb -x %s failed: %s" % (deb, out.strip()))
        os.rename(tmp, dest)
    return dest


def write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def report_unavailable(out, what, error):
    """OUT/unavailable says why `what` could not be built (one line, also on
    stderr); the exit code for it."""
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "unavailable"), ("%s\n" % error).encode())
    sys.stderr.write("%s: %s\n" % (what, error))
    return 1


def clear_unavailable(out):
    reason = os.path.join(out, "unavailable")
    if os.path.exists(reason):
        os.unlink(reason)
