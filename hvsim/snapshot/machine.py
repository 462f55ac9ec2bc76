"""Save and load the whole system (see hvsim/snapshot/__init__.py): the
hypervisor's object graph pickled with guest memory and ABI singletons by
reference, guest memory stored without its all-zero pages."""

import ctypes
import importlib
import io
import mmap
import pickle
import pkgutil
import time
import zlib

from ..errors import ConfigError, HostInputError
from . import fileformat
from .fileformat import SnapshotError
from .state import buffer_address

PAGE = 4096
REMAKE_HINT = fileformat.REMAKE
ZLIB_LEVEL = 6


def instructions_retired(hv):
    return sum(v.insns for d in hv.all_domains for v in d.vcpus)


def _abi_structs():
    """id(Struct) -> (module, name) for every struct declared in hvsim.abi."""
    from ..abi import cstruct
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
        from ..abi import cstruct
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
        from ..abi import cstruct
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
    from ..hv.physmap import host_pages
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


def machine_arch(hv):
    """The architecture of the machine's vCPUs ('x86_64', 'aarch64')."""
    arches = sorted({v.arch.ARCH for d in hv.all_domains for v in d.vcpus if v.arch is not None})
    return "+".join(arches) or fileformat.DEFAULT_ARCH


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
    header = dict(fileformat.versions(), format=fileformat.FORMAT_VERSION, compression="zlib",
                  arch=machine_arch(hv),
                  created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  point=point_text, deterministic=hv.clock.deterministic,
                  virtual_ns=hv.clock.now(), instructions=instructions_retired(hv)
                  if hv.clock.deterministic else None,
                  domains=[{"domid": d.domid, "name": d.name, "state": d.end_reason or
                            ("paused" if d.paused else "running")} for d in hv.all_domains],
                  memory_bytes=sum(n for n, _ in memory),
                  stored_pages=sum(len(data) // PAGE for _, runs in memory for _, data in runs))
    header["file_bytes"] = fileformat.write(path, header, body)
    header["save_seconds"] = time.perf_counter() - t0
    return header


class Loaded:
    def __init__(self, header, hv, run_info, seconds):
        self.header = header
        self.hv = hv
        self.run = run_info
        self.load_seconds = seconds


def load(path):
    """Read, check and rebuild a snapshot: a Loaded whose hypervisor can run."""
    from ..arch.uc import check_unicorn_version
    check_unicorn_version()
    t0 = time.perf_counter()
    header, body = fileformat.read_header(path)
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
        arch = fileformat.check_arch(path, header)
        if machine_arch(hv) != arch:
            raise SnapshotError(path, "the header says %s but the saved vCPUs are %s"
                                % (arch, machine_arch(hv)), REMAKE_HINT)
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


