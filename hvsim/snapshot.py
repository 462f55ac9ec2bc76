"""Snapshots: the whole system in a file, and a run resumed from it.

`hvsim run/boot --snapshot-at POINT --snapshot-file FILE` saves, at the first
slice boundary at or after POINT, everything a run is made of:
* every domain (all of them, including those that ended): its guest memory,
  vCPUs, event channels (2-level and FIFO), timers, runstates, console line
  buffer and transcript, HVM parameters, shared_info, life-cycle state;
* every vCPU's CPU: QEMU's whole CPUX86State as Unicorn's own context holds
  it (general, segment (with hidden caches), control and debug registers,
  descriptor tables, hflags/hflags2 incl. CPL, EFER, STAR/LSTAR/CSTAR/FMASK,
  FS/GS/kernel GS base, SYSENTER_*, TSC_AUX, PAT, the x87/MMX/SSE state and
  MXCSR, QEMU's lazy flags and exception-in-flight state) plus hvsim's own
  models (MSRs, CPUID, hypercall page, exit sites);
* the hypervisor: virtual clock, scheduler position (round-robin cursor,
  last vCPU run, armed timers in order), XSM policy, global VIRQ handlers,
  launch state, and what the run reports at its end.
`hvsim resume FILE` loads it into a new process and carries on.  In
deterministic mode the consoles and traces of [run to the snapshot] followed
by [resume] are byte-identical to one uninterrupted run: the snapshot is
taken where the uninterrupted run is between slices, so it never changes
how the run is sliced.

How.  The hypervisor's object graph is pickled.  Host-side things are not
state: output streams, tracers, debuggers and debug hooks are dropped by the
classes' __getstate__ and re-attached by whoever resumes.  Unicorn instances
are recreated (X86Vcpu.__setstate__: a new engine with its hooks); once the
graph is complete, `load` maps guest memory into each and only then loads
the saved CPU context and exit sites (Unicorn's mem_unmap clobbers QEMU's
exception state, so the order matters).  Guest memory (mmap buffers, and
memoryviews into them) and ABI/struct-layout singletons are pickled by
reference through persistent ids: each buffer's pages that are not all zero
are stored once, beside the graph.

File format (FORMAT_VERSION 1):
  b"HVSIMSNP"                      magic
  u16 format version, u32 n        (little endian)
  n bytes of JSON header           hvsim/unicorn versions, point, body size/CRC
  body                             zlib: pickle(memory table) + pickle(graph)
The loader checks magic, format, versions, size and CRC before unpickling.
Snapshots are trusted input, like any pickle: loading one can run code, so
only resume files you (or someone you trust) wrote.
"""

import ctypes
import importlib
import io
import json
import mmap
import os
import pickle
import pkgutil
import re
import struct
import sys
import time
import zlib

from . import __version__
from .errors import ConfigError, HostInputError

MAGIC = b"HVSIMSNP"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sHI")
PAGE = 4096
ZLIB_LEVEL = 6


class SnapshotError(HostInputError):
    """A snapshot file that cannot be resumed (one line: file, what, fix)."""

    def __init__(self, path, problem, fix):
        super().__init__(path, None, problem, fix)


# ---- helpers for the classes' __getstate__ / __setstate__ ------------------------------
def transient(obj, **replacements):
    """obj's state with host-side attributes (streams, tracers, debug hooks,
    engine handles) replaced by what a resumed object starts with."""
    state = dict(obj.__dict__)
    for name, value in replacements.items():
        if name in state:
            state[name] = value
    return state


def rebase_host_stamps(state, names, clock=time.monotonic):
    """Host monotonic time stamps <-> their age: the same map (now - x) on
    save and on load, so host durations survive a move to a new process."""
    now = clock()
    for name in names:
        if state.get(name) is not None:
            state[name] = now - state[name]
    return state


def buffer_address(buf):
    """The host address of a writable buffer (mmap, memoryview)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


# ---- one vCPU's QEMU state --------------------------------------------------------------
def _split_context(raw):
    """Unicorn's uc_context: a header (size_t context_size first), then the
    first context_size bytes of CPUX86State."""
    size = struct.unpack_from("<Q", raw)[0]
    if not 0 < size < len(raw):
        raise SnapshotError("<unicorn>", "unexpected uc_context layout", "report a bug")
    return len(raw) - size, size


def _without_host_pointers(blob):
    """The saved CPUX86State without what points into this process: QEMU's
    DR0-3 breakpoint objects (cpu_breakpoint[4], after dr[8]) and retaddr (a
    TCG code address, the last field the context holds).  QEMU checks both
    for NULL / sets them before use."""
    from .arch.x86.cpustate import OFF
    blob = bytearray(blob)
    bp = OFF.dr + 64
    blob[bp:bp + 32] = bytes(32)
    blob[-8:] = bytes(8)
    return bytes(blob)


def save_cpu(uc):
    raw = bytes(uc.context_save())
    hdr, _ = _split_context(raw)
    return _without_host_pointers(raw[hdr:])


def load_cpu(uc, blob):
    """Load a saved CPUX86State (from save_cpu, so without host pointers) into
    a fresh instance through uc_context_restore (the context of this instance
    supplies Unicorn's header)."""
    ctx = uc.context_save()
    hdr, size = _split_context(bytes(ctx))
    if size != len(blob):
        raise SnapshotError("<snapshot>", "CPU state of %d bytes, this Unicorn has %d"
                            % (len(blob), size), "resume with the Unicorn that wrote it")
    ctypes.memmove(ctx.context.value + hdr, blob, size)
    uc.context_restore(ctx)


# ---- the pickler ------------------------------------------------------------------------
def _abi_structs():
    """id(Struct) -> (module, name) for every struct declared in hvsim.abi."""
    from .abi import cstruct
    import hvsim.abi as pkg
    out = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module("hvsim.abi." + info.name)
        for name, value in vars(mod).items():
            if isinstance(value, cstruct.Struct):
                out.setdefault(id(value), (mod.__name__, name))
    return out


class _Pickler(pickle.Pickler):
    """Guest memory and ABI singletons by reference (persistent ids)."""

    def __init__(self, f):
        super().__init__(f, protocol=pickle.HIGHEST_PROTOCOL)
        from unicorn import Uc
        from .abi import cstruct
        self._types = (cstruct.Abi, cstruct.Layout, cstruct.Struct, Uc)
        self.buffers = []
        self._index = {}
        self._structs = None

    def _buffer(self, buf):
        i = self._index.get(id(buf))
        if i is None:
            i = self._index[id(buf)] = len(self.buffers)
            self.buffers.append(buf)
        return i

    def _struct(self, s):
        if self._structs is None:
            self._structs = _abi_structs()
        ref = self._structs.get(id(s))
        if ref is None:
            raise pickle.PicklingError("struct %s is not declared in hvsim.abi" % s.name)
        return ref

    def persistent_id(self, obj):
        t = type(obj)
        if t is mmap.mmap:
            return ("mem", self._buffer(obj))
        if t is memoryview:
            if type(obj.obj) is not mmap.mmap:
                raise pickle.PicklingError("a memoryview of %s" % type(obj.obj).__name__)
            off = buffer_address(obj) - buffer_address(obj.obj)
            return ("view", self._buffer(obj.obj), off, obj.nbytes)
        if t not in self._types:
            return None
        abi_t, layout_t, struct_t, uc_t = self._types
        if t is abi_t:
            return ("abi", obj.name)
        if t is layout_t:
            return ("layout", self._struct(obj.struct), obj.abi.name)
        if t is struct_t:
            return ("struct", self._struct(obj))
        raise pickle.PicklingError("a Unicorn instance outside X86Vcpu's engine")


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, buffers):
        super().__init__(f)
        self.buffers = buffers

    def persistent_load(self, pid):
        from .abi import cstruct
        kind = pid[0]
        if kind == "mem":
            return self.buffers[pid[1]]
        if kind == "view":
            _, i, off, n = pid
            return memoryview(self.buffers[i])[off:off + n]
        abis = {a.name: a for a in cstruct.ALL_ABIS}
        if kind == "abi":
            return abis[pid[1]]
        if kind in ("layout", "struct"):
            mod, name = pid[1]
            s = getattr(importlib.import_module(mod), name)
            return s.layout(abis[pid[2]]) if kind == "layout" else s
        raise pickle.UnpicklingError("unknown persistent id %r" % (kind,))


class _HostMemory:
    """Finds the pages of a host buffer that are not all zero without copying
    them (libc memcmp) and without touching pages the guest never used
    (/proc/self/pagemap: an anonymous page neither present nor swapped out
    has never been written and reads as zero)."""

    def __init__(self):
        libc = ctypes.CDLL(None)
        self._memcmp = libc.memcmp
        self._memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
        self._memcmp.restype = ctypes.c_int
        self._zero = (ctypes.c_char * PAGE)()

    @staticmethod
    def used(addr, size):
        """Per page: 1 if it may hold data (every page, if pagemap is unreadable)."""
        n = size // PAGE
        try:
            with open("/proc/self/pagemap", "rb", buffering=0) as f:
                f.seek(addr // PAGE * 8)
                entries = f.read(8 * n)
        except OSError:
            entries = b""
        if len(entries) != 8 * n:
            return bytes([1]) * n
        return entries[7::8].translate(_PRESENT_OR_SWAPPED)   # bits 63, 62

    def pack(self, buf):
        """[(first page, bytes)]: the runs of pages of buf that are not all zero."""
        addr, size = buffer_address(buf), len(buf)
        runs, start, last = [], None, -1
        used = self.used(addr, size)
        page = used.find(1)
        while page >= 0:
            off = page * PAGE
            zero = self._memcmp(addr + off, self._zero, PAGE) == 0
            if start is not None and (zero or page != last + 1):
                runs.append((start, bytes(buf[start * PAGE:(last + 1) * PAGE])))
                start = None
            if not zero:
                if start is None:
                    start = page
                last = page
            page = used.find(1, page + 1)
        if start is not None:
            runs.append((start, bytes(buf[start * PAGE:(last + 1) * PAGE])))
        return runs


_PRESENT_OR_SWAPPED = bytes(int(bool(i & 0xC0)) for i in range(256))


def _unpack_pages(size, runs):
    from .hv.physmap import host_pages
    buf, _ = host_pages(size)
    for page, data in runs:
        buf[page * PAGE:page * PAGE + len(data)] = data
    return buf


def _attributes(obj):
    """What pickle saves of an object, as {name: value} (best effort)."""
    try:
        state = obj.__getstate__() if hasattr(obj, "__getstate__") else vars(obj)
    except Exception:              # noqa: BLE001
        return {}
    if isinstance(state, tuple) and len(state) == 2:           # (__dict__, slots)
        merged = dict(state[0] or {})
        merged.update(state[1] or {})
        return merged
    if state is None and hasattr(type(obj), "__slots__"):
        return {k: getattr(obj, k) for k in type(obj).__slots__ if hasattr(obj, k)}
    return state if isinstance(state, dict) else {}


def _find_unpicklable(root, name="snapshot"):
    """On a pickling failure: the attribute path of the innermost object that
    cannot be pickled (for the error message)."""
    seen = set()

    def fails(obj):
        try:
            _Pickler(io.BytesIO()).dump(obj)
            return False
        except Exception:          # noqa: BLE001 - any failure marks the path
            return True

    def walk(obj, path):
        seen.add(id(obj))
        if isinstance(obj, dict):
            children = [("[%r]" % (k,), v) for k, v in obj.items()]
        elif isinstance(obj, (list, tuple, set, frozenset)):
            children = [("[%d]" % i, v) for i, v in enumerate(obj)]
        elif isinstance(obj, type):
            children = []
        else:
            children = [("." + k, v) for k, v in _attributes(obj).items()]
        blame_elsewhere = False          # a failing child reached through a cycle
        for suffix, child in children:
            if not fails(child):
                continue
            found = None if id(child) in seen else walk(child, path + suffix)
            if found:
                return found
            blame_elsewhere = True
        return None if blame_elsewhere else path

    return walk(root, name) or name


# ---- when -----------------------------------------------------------------------------------
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


def instructions_retired(hv):
    return sum(v.insns for d in hv.all_domains for v in d.vcpus)


def describe_point(header):
    """'0.222193 ms of virtual time, 222193 instructions' (from a header)."""
    text = "%.6f ms of virtual time" % (header["virtual_ns"] / 1e6)
    if header["instructions"] is None:
        return text + " (fast mode)"
    return text + ", %d instructions" % header["instructions"]


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
                  "hvsim resume %s\n" % (describe_point(h), self.path,
                                          (h["file_bytes"] + 1023) // 1024,
                                          h["save_seconds"], self.path))
        out.flush()


# ---- save / load ----------------------------------------------------------------------------
def _versions():
    import unicorn
    return {"hvsim": __version__, "unicorn": unicorn.__version__,
            "python": "%d.%d" % sys.version_info[:2]}


def save(path, hv, run_info, point_text=""):
    """Write the snapshot; returns its header (with sizes and timing)."""
    t0 = time.perf_counter()
    root = {"hv": hv, "run": run_info}
    graph = io.BytesIO()
    p = _Pickler(graph)
    try:
        p.dump(root)
    except (pickle.PicklingError, TypeError, AttributeError) as e:
        raise ConfigError("cannot snapshot %s: %s (in %s); this state cannot be saved yet"
                          % (path, e, _find_unpicklable(root))) from None
    host = _HostMemory()
    memory = [(len(buf), host.pack(buf)) for buf in p.buffers]
    raw = pickle.dumps(memory, protocol=pickle.HIGHEST_PROTOCOL) + graph.getvalue()
    body = zlib.compress(raw, ZLIB_LEVEL)
    header = dict(_versions(), format=FORMAT_VERSION, compression="zlib",
                  created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  point=point_text, deterministic=hv.clock.deterministic,
                  virtual_ns=hv.clock.now(), instructions=instructions_retired(hv)
                  if hv.clock.deterministic else None,
                  domains=[{"domid": d.domid, "name": d.name, "state": d.end_reason or
                            ("paused" if d.paused else "running")} for d in hv.all_domains],
                  memory_bytes=sum(n for n, _ in memory),
                  stored_pages=sum(len(data) // PAGE for _, runs in memory for _, data in runs),
                  body_bytes=len(body), body_crc32=zlib.crc32(body))
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
    header["file_bytes"] = _PREFIX.size + len(hjson) + len(body)
    header["save_seconds"] = time.perf_counter() - t0
    return header


def read_header(path):
    """(header, body) of a snapshot file, checked; SnapshotError otherwise."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise SnapshotError(path, "cannot read: %s" % e.strerror, "check the path") from None
    remake = "re-create it with --snapshot-at/--snapshot-file"
    if len(data) < _PREFIX.size or not data.startswith(MAGIC):
        if MAGIC.startswith(data[:len(MAGIC)]) and len(data) < _PREFIX.size:
            raise SnapshotError(path, "truncated snapshot (%d bytes)" % len(data), remake)
        raise SnapshotError(path, "not an hvsim snapshot (no %r magic)" % MAGIC.decode(),
                            "give a file written by --snapshot-file")
    _, fmt, hlen = _PREFIX.unpack_from(data)
    if fmt != FORMAT_VERSION:
        raise SnapshotError(path, "snapshot format %d, this hvsim %s reads format %d"
                            % (fmt, __version__, FORMAT_VERSION),
                            "resume it with the hvsim that wrote it, or " + remake)
    hend = _PREFIX.size + hlen
    if len(data) < hend:
        raise SnapshotError(path, "truncated snapshot (the header is cut short)", remake)
    try:
        header = json.loads(data[_PREFIX.size:hend].decode())
        body_bytes, crc = header["body_bytes"], header["body_crc32"]
    except (ValueError, KeyError, TypeError):
        raise SnapshotError(path, "corrupt snapshot header", remake) from None
    mine = _versions()
    for what in ("hvsim", "unicorn"):
        if header.get(what) != mine[what]:
            raise SnapshotError(path, "written by %s %s, this is %s %s" % (
                what, header.get(what), what, mine[what]),
                "resume it with %s %s, or %s" % (what, header.get(what), remake))
    body = data[hend:]
    if len(body) < body_bytes:
        raise SnapshotError(path, "truncated snapshot (%d of %d bytes)"
                            % (len(data), hend + body_bytes), remake)
    if len(body) > body_bytes or zlib.crc32(body) != crc:
        raise SnapshotError(path, "corrupt snapshot (checksum mismatch)", remake)
    return header, body


class Loaded:
    def __init__(self, header, hv, run_info, seconds):
        self.header = header
        self.hv = hv
        self.run = run_info
        self.load_seconds = seconds


def load(path):
    """Read, check and rebuild a snapshot: a Loaded whose hypervisor can run."""
    from .arch.uc import check_unicorn_version
    check_unicorn_version()
    t0 = time.perf_counter()
    header, body = read_header(path)
    try:
        f = io.BytesIO(zlib.decompress(body))
        memory = pickle.load(f)
    except Exception as e:         # noqa: BLE001 - the checksum matched, the data did not
        raise SnapshotError(path, "corrupt snapshot (%s)" % e,
                            "re-create it with --snapshot-at/--snapshot-file") from None
    try:
        buffers = [_unpack_pages(size, runs) for size, runs in memory]
        root = _Unpickler(f, buffers).load()
        hv = root["hv"]
        for d in hv.all_domains:   # the recreated vCPUs: guest memory, then CPU state
            listeners, d.physmap.listeners = d.physmap.listeners, []
            for arch in listeners:
                d.physmap.add_listener(arch)
                arch.load_saved_cpu()
    except HostInputError:
        raise
    except Exception as e:         # noqa: BLE001 - an intact file this code cannot rebuild
        raise SnapshotError(path, "this hvsim cannot rebuild the saved state (%s: %s); its "
                            "code changed since the snapshot was written"
                            % (type(e).__name__, e),
                            "re-create the snapshot with this hvsim") from None
    return Loaded(header, hv, root["run"], time.perf_counter() - t0)


def info_lines(path, header):
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
