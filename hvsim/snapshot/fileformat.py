"""The snapshot file format, and SnapshotError for a file that cannot be
resumed.

File format (FORMAT_VERSION 1):
  b"HVSIMSNP"                      magic
  u16 format version, u32 n        (little endian)
  n bytes of JSON header           hvsim/unicorn versions, point, body size/CRC
  body                             zlib: pickle(memory table) + pickle(graph)
The loader checks magic, format, versions, size and CRC before unpickling.
"""

import json
import os
import struct
import sys
import zlib

from .. import __version__
from ..errors import ConfigError, HostInputError

MAGIC = b"HVSIMSNP"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sHI")
REMAKE = "re-create it with --snapshot-at/--snapshot-file"


class SnapshotError(HostInputError):
    """A snapshot file that cannot be resumed (one line: file, what, fix)."""

    def __init__(self, path, problem, fix):
        super().__init__(path, None, problem, fix)


def versions():
    """What must match between the writer and the reader of a snapshot."""
    import unicorn
    return {"hvsim": __version__, "unicorn": unicorn.__version__,
            "python": "%d.%d" % sys.version_info[:2]}


def write(path, header, body):
    """Write header (a JSON-able dict) and body (compressed bytes) to path
    atomically, with the body's size and CRC in the header; the file's size."""
    header.update(body_bytes=len(body), body_crc32=zlib.crc32(body))
    hjson = json.dumps(header, sort_keys=True).encode()
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, len(hjson)))
            f.write(hjson)
            f.write(body)
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError("--snapshot-file %s: %s" % (path, e.strerror)) from None
    return _PREFIX.size + len(hjson) + len(body)


def read_header(path):
    """(header, body) of a snapshot file, checked; SnapshotError otherwise."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise SnapshotError(path, "cannot read: %s" % e.strerror, "check the path") from None
    if len(data) < _PREFIX.size or not data.startswith(MAGIC):
        if MAGIC.startswith(data[:len(MAGIC)]) and len(data) < _PREFIX.size:
            raise SnapshotError(path, "truncated snapshot (%d bytes)" % len(data), REMAKE)
        raise SnapshotError(path, "not an hvsim snapshot (no %r magic)" % MAGIC.decode(),
                            "give a file written by --snapshot-file")
    _, fmt, hlen = _PREFIX.unpack_from(data)
    if fmt != FORMAT_VERSION:
        raise SnapshotError(path, "snapshot format %d, this hvsim %s reads format %d"
                            % (fmt, __version__, FORMAT_VERSION),
                            "resume it with the hvsim that wrote it, or " + REMAKE)
    hend = _PREFIX.size + hlen
    if len(data) < hend:
        raise SnapshotError(path, "truncated snapshot (the header is cut short)", REMAKE)
    try:
        header = json.loads(data[_PREFIX.size:hend].decode())
        body_bytes, crc = header["body_bytes"], header["body_crc32"]
    except (ValueError, KeyError, TypeError):
        raise SnapshotError(path, "corrupt snapshot header", REMAKE) from None
    mine = versions()
    for what in ("hvsim", "unicorn"):
        if header.get(what) != mine[what]:
            raise SnapshotError(path, "written by %s %s, this is %s %s" % (
                what, header.get(what), what, mine[what]),
                "resume it with %s %s, or %s" % (what, header.get(what), REMAKE))
    body = data[hend:]
    if len(body) < body_bytes:
        raise SnapshotError(path, "truncated snapshot (%d of %d bytes)"
                            % (len(data), hend + body_bytes), REMAKE)
    if len(body) > body_bytes or zlib.crc32(body) != crc:
        raise SnapshotError(path, "corrupt snapshot (checksum mismatch)", REMAKE)
    return header, body


def describe_point(header):
    """'0.222193 ms of virtual time, 222193 instructions' (from a header)."""
    text = "%.6f ms of virtual time" % (header["virtual_ns"] / 1e6)
    if header["instructions"] is None:
        return text + " (fast mode)"
    return text + ", %d instructions" % header["instructions"]


def info_lines(path, header):
    """`hvsim resume --info`: what a snapshot holds, from its header."""
    h = header
    lines = ["%s: hvsim snapshot (format %d), written by hvsim %s (unicorn %s) at %s"
             % (path, h["format"], h["hvsim"], h["unicorn"], h["created"]),
             "  %s run at %s (--snapshot-at %s)"
             % ("deterministic" if h["deterministic"] else "fast", describe_point(h),
                h["point"] or "-"),
             "  memory: %d MiB of guest RAM, %d pages stored; %d KiB compressed"
             % (h["memory_bytes"] >> 20, h["stored_pages"], h["body_bytes"] // 1024)]
    for d in h["domains"]:
        lines.append("  d%-4d %-20s %s" % (d["domid"], d["name"], d["state"]))
    return lines
