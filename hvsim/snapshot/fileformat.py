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
# what a header holds (machine.save writes it; read_header checks it; info_lines
# and describe_point read it): each key's JSON type(s)
HEADER_FIELDS = {"hvsim": str, "unicorn": str, "python": str, "format": int,
                 "compression": str, "created": str, "point": str, "deterministic": bool,
                 "virtual_ns": int, "instructions": (int, type(None)), "memory_bytes": int,
                 "stored_pages": int, "body_bytes": int, "body_crc32": int, "domains": list}
DOMAIN_FIELDS = {"domid": int, "name": str, "state": str}
# the machine's architecture: its vCPUs' (snapshots written before the key existed are x86_64)
ARCHES = ("x86_64", "aarch64")
DEFAULT_ARCH = "x86_64"
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
    atomically (`-`: to stdout), with the body's size and CRC in the
    header; the file's size."""
    header.update(body_bytes=len(body), body_crc32=zlib.crc32(body))
    hjson = json.dumps(header, sort_keys=True).encode()
    parts = (_PREFIX.pack(MAGIC, FORMAT_VERSION, len(hjson)), hjson, body)
    if path == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(b"".join(parts))
        sys.stdout.buffer.flush()
        return sum(map(len, parts))
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            for part in parts:
                f.write(part)
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError("--snapshot-file %s: %s" % (path, e.strerror)) from None
    return sum(map(len, parts))


def read_header(path):
    """(header, body) of a snapshot file (`-`: stdin), checked; SnapshotError
    otherwise."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
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
    except ValueError:
        raise SnapshotError(path, "corrupt snapshot header (not JSON)", REMAKE) from None
    if not isinstance(header, dict):
        raise SnapshotError(path, "corrupt snapshot header (not a JSON object)", REMAKE)
    mine = versions()
    for what in ("hvsim", "unicorn"):       # first: another version may lay it out otherwise
        if header.get(what) != mine[what]:
            theirs = _shown(header.get(what))
            raise SnapshotError(path, "written by %s %s, this is %s %s" % (
                what, theirs, what, mine[what]),
                "resume it with %s %s, or %s" % (what, theirs, REMAKE))
    _check_header(path, header)
    check_arch(path, header)
    body_bytes, crc = header["body_bytes"], header["body_crc32"]
    body = data[hend:]
    if len(body) < body_bytes:
        raise SnapshotError(path, "truncated snapshot (%d of %d bytes)"
                            % (len(data), hend + body_bytes), REMAKE)
    if len(body) > body_bytes or zlib.crc32(body) != crc:
        raise SnapshotError(path, "corrupt snapshot (checksum mismatch)", REMAKE)
    return header, body


def _check_header(path, header):
    """Every key a header must hold, each of its type; SnapshotError otherwise."""
    items = [("", header, HEADER_FIELDS)]
    if isinstance(header.get("domains"), list):
        items += [("domains[%d]." % i, d, DOMAIN_FIELDS) for i, d in enumerate(header["domains"])]
    for prefix, obj, fields in items:
        if not isinstance(obj, dict):
            raise SnapshotError(path, "corrupt snapshot header (%s is not an object)"
                                % (prefix.rstrip(".") or "the header"), REMAKE)
        for key, types in fields.items():
            value = obj.get(key)
            if key not in obj or not isinstance(value, types) or \
                    (isinstance(value, bool) and types is int):
                raise SnapshotError(path, "corrupt snapshot header (%s%s: %s)"
                                    % (prefix, key, "missing" if key not in obj else
                                       "%s is not a %s" % (_shown(value), _json_type(types))),
                                    REMAKE)


def check_arch(path, header):
    """The header's architecture: one this hvsim runs; SnapshotError otherwise."""
    arch = header.get("arch", DEFAULT_ARCH)
    if arch not in ARCHES:
        raise SnapshotError(path, "a snapshot of an %s machine; this hvsim runs %s ones"
                            % (_shown(arch), " and ".join(ARCHES)),
                            "resume it with the hvsim that wrote it, or " + REMAKE)
    return arch


def _shown(value, limit=40):
    """A header value for a one-line message: control characters escaped, cut short."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode("unicode_escape").decode("ascii")[:limit]


def _json_type(types):
    names = {str: "string", int: "number", bool: "boolean", list: "list", type(None): "null"}
    return " or ".join(names[t] for t in (types if isinstance(types, tuple) else (types,)))


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
             "  %s %s run at %s (--snapshot-at %s)"
             % (h.get("arch", DEFAULT_ARCH), "deterministic" if h["deterministic"] else "fast",
                describe_point(h),
                h["point"] or "-"),
             "  memory: %d MiB of guest RAM, %d pages stored; %d KiB compressed"
             % (h["memory_bytes"] >> 20, h["stored_pages"], h["body_bytes"] // 1024)]
    for d in h["domains"]:
        lines.append("  d%-4d %-20s %s" % (d["domid"], d["name"], d["state"]))
    return lines
