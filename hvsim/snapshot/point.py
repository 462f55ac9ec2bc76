"""--snapshot-at POINT and the snapshot a run arms (see
hvsim/snapshot/__init__.py)."""

import os
import re
import sys

from ..errors import ConfigError
from .fileformat import describe_point
from .machine import instructions_retired, save

_UNITS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9}
POINT_HELP = ("virtual time with a unit (ns, us, ms, s; e.g. 120us, 5ms) or instructions "
              "retired by all vCPUs together (e.g. 2000000insn, deterministic runs only)")


class SnapshotPoint:
    """--snapshot-at: a virtual time or an instruction count."""

    def __init__(self, text):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|insn)\s*", text)
        if m is None:
            raise ConfigError("--snapshot-at %r: give %s" % (text, POINT_HELP))
        num, unit = m.groups()
        self.text = text.strip()
        self.insns = unit == "insn"
        if self.insns and "." in num:
            raise ConfigError("--snapshot-at %r: an instruction count is a whole number" % text)
        self.value = int(num) if self.insns else int(float(num) * _UNITS[unit])

    def reached(self, hv):
        if self.insns:
            return instructions_retired(hv) >= self.value
        return hv.clock.now() >= self.value


class Request:
    """What the command line asked for: where, when, and stop or go on."""

    def __init__(self, at, path, keep_running=False):
        self.point = SnapshotPoint(at)
        self.path = path
        self.keep_running = keep_running
        self.saved = None           # the header of the snapshot, once written

    @classmethod
    def from_args(cls, args, deterministic):
        at, path = getattr(args, "snapshot_at", None), getattr(args, "snapshot_file", None)
        if at is None and path is None:
            return None
        if at is not None:
            SnapshotPoint(at)                    # its syntax first
        if at is None or path is None:
            raise ConfigError("--snapshot-at and --snapshot-file go together: give both "
                              "(e.g. --snapshot-at 5ms --snapshot-file boot.hvsnap)")
        req = cls(at, path, getattr(args, "snapshot_continue", False))
        if req.point.insns and not deterministic:
            raise ConfigError("--snapshot-at %s: instruction counts need --deterministic "
                              "(or give a virtual time, e.g. 5ms)" % at)
        if path == "-":                 # stdout: for `... | hvsim resume -`
            if not getattr(args, "quiet", False):
                raise ConfigError("--snapshot-file -: the snapshot goes to stdout, where the "
                                  "consoles go too: add -q")
            return req
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise ConfigError("--snapshot-file %s: cannot write in %s" % (path, folder))
        return req

    def arm(self, hv, run_info):
        """Take the snapshot at the first slice boundary at or after the point."""
        def at_boundary():
            if not self.point.reached(hv):
                return False
            hv.scheduler.stop_when = None
            self.saved = save(self.path, hv, run_info, self.point.text)
            self.report()
            return not self.keep_running
        hv.scheduler.stop_when = at_boundary

    def report(self, out=None):
        out = out or sys.stderr
        h = self.saved
        if h is None:
            out.write("hvsim: warning: the run ended before the snapshot point %s; no "
                      "snapshot was written\n" % self.point.text)
            return
        out.write("hvsim: snapshot at %s written to %s (%d KiB, %.2f s); continue with: "
                  "hvsim resume %s\n" % (describe_point(h),
                                          "stdout" if self.path == "-" else self.path,
                                          (h["file_bytes"] + 1023) // 1024,
                                          h["save_seconds"],
                                          "- < FILE" if self.path == "-" else self.path))
        out.flush()


