"""A domain's guest-physical address space (Xen's p2m, for a PVH domain).

RAM is anonymous host memory (mmap, committed lazily) mapped into every vCPU's
Unicorn instance with mem_map_ptr, so all vCPUs and the hypervisor share one
copy.  Single Xen-owned pages (shared_info, later grant frames and foreign
grant mappings) are overlaid on top of a gfn: the RAM page there is hidden
until the overlay is removed, as Xen's add_to_physmap / remove_from_physmap
do.  Listeners (the vCPUs) are told about every (un)mapping so their
Unicorn views stay identical.

Reads and writes return None/False for addresses that are not backed; the
callers turn that into -EFAULT (hypercalls).  The guest's own accesses to
such addresses are emulated I/O (hv/x86/io.py).
"""

import ctypes
import mmap
import struct

from ..abi.cstruct import MASK32
from ..snapshot import state as snapstate

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
RAM = "ram"                 # gfn_type() of a RAM page (a region's or a populated one)

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def host_pages(size):
    """Zeroed, lazily committed host memory; returns (mmap, address)."""
    size = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    return m, addr


class Region:
    """A contiguous guest-physical range backed by host memory."""

    __slots__ = ("gpa", "size", "buf", "addr", "name", "kind")

    def __init__(self, gpa, size, buf, addr, name, kind):
        self.gpa = gpa
        self.size = size
        self.buf = buf
        self.addr = addr
        self.name = name
        self.kind = kind          # "ram" or "special"

    @property
    def end(self):
        return self.gpa + self.size

    def __getstate__(self):                  # snapshots: the host address is not state
        return {k: getattr(self, k) for k in self.__slots__ if k != "addr"}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)
        self.addr = snapstate.buffer_address(self.buf)


class Physmap:
    def __init__(self):
        self.regions = []           # sorted, non-overlapping
        self.overlays = {}          # gfn -> (buf, addr, name)
        self.holes = set()          # RAM gfns given back (Xen freed the page)
        self.listeners = []
        self.readonly = set()       # overlay gfns the guest may not write (r/o grant maps)
        self.max_mapped_gfn = 0     # p2m->max_mapped_pfn: never goes down
        self._hint = None

    def __setstate__(self, state):
        """Snapshots: host addresses are recomputed; the listeners (vCPUs with
        new engines) are given every mapping once the whole graph is loaded."""
        self.__dict__.update(state)
        self.overlays = {gfn: (buf, snapstate.buffer_address(buf), name)
                         for gfn, (buf, _, name) in self.overlays.items()}

    # -- building ---------------------------------------------------------------------
    def add_region(self, gpa, size, name, kind="ram"):
        assert gpa % PAGE_SIZE == 0 and size % PAGE_SIZE == 0
        for r in self.regions:
            if gpa < r.end and r.gpa < gpa + size:
                raise ValueError("region %s overlaps %s" % (name, r.name))
        buf, addr = host_pages(size)
        region = Region(gpa, size, buf, addr, name, kind)
        self.regions.append(region)
        self.regions.sort(key=lambda r: r.gpa)
        self.max_mapped_gfn = max(self.max_mapped_gfn, ((gpa + size) >> PAGE_SHIFT) - 1)
        for l in self.listeners:
            l.physmap_map(gpa, size, addr)
        return region

    def ram_pages(self):
        pages = sum(r.size for r in self.regions if r.kind == "ram") >> PAGE_SHIFT
        populated = sum(1 for (_, _, name) in self.overlays.values() if name == RAM)
        return pages - len(self.holes) + populated

    def max_gfn(self):
        """Highest gfn ever mapped (domain_get_maximum_gpfn, p2m->max_mapped_pfn)."""
        return self.max_mapped_gfn

    def add_listener(self, listener):
        """A listener (vCPU) gets every current and future mapping."""
        self.listeners.append(listener)
        for r in self.regions:
            listener.physmap_map(r.gpa, r.size, r.addr)
        for gfn in self.holes:
            listener.physmap_unmap(gfn << PAGE_SHIFT, PAGE_SIZE)
        for gfn, (_, addr, _) in self.overlays.items():
            if gfn not in self.holes and self._backing_region(gfn << PAGE_SHIFT) is not None:
                listener.physmap_unmap(gfn << PAGE_SHIFT, PAGE_SIZE)
            listener.physmap_map(gfn << PAGE_SHIFT, PAGE_SIZE, addr,
                                 writable=gfn not in self.readonly)

    # -- overlays ---------------------------------------------------------------------
    def overlay(self, gfn, buf, addr, name, writable=True):
        """Put a page at gfn (a Xen-owned page, a populated RAM page or a
        granted page of another domain).  A RAM page there is freed (it stays
        a hole after the overlay goes), as guest_remove_page() does in Xen."""
        gpa = gfn << PAGE_SHIFT
        if gfn in self.overlays:
            self.remove_overlay(gfn)
        elif self._backing_region(gpa) is not None and gfn not in self.holes:
            self._free_region_page(gfn)
        self.overlays[gfn] = (buf, addr, name)
        if not writable:
            self.readonly.add(gfn)
        self.max_mapped_gfn = max(self.max_mapped_gfn, gfn)
        for l in self.listeners:
            l.physmap_map(gpa, PAGE_SIZE, addr, writable=writable)

    def remove_overlay(self, gfn):
        """Take the overlay away, leaving nothing mapped at gfn."""
        self.overlays.pop(gfn)
        self.readonly.discard(gfn)
        for l in self.listeners:
            l.physmap_unmap(gfn << PAGE_SHIFT, PAGE_SIZE)

    # -- RAM pages (memory_op) --------------------------------------------------------
    def gfn_type(self, gfn):
        """What the p2m has at gfn: RAM, an overlay's name, or None (nothing)."""
        ov = self.overlays.get(gfn)
        if ov is not None:
            return ov[2]
        if gfn in self.holes or self._backing_region(gfn << PAGE_SHIFT) is None:
            return None
        return RAM

    def remove_ram(self, gfn):
        """Take the RAM page at gfn out (guest_physmap_remove_page); its host
        memory is given back to the host."""
        if gfn in self.overlays:
            self.remove_overlay(gfn)
        else:
            self._free_region_page(gfn)

    def populate(self, gfn):
        """A fresh zeroed RAM page at gfn (populate_physmap): a region's page
        where there is one, else a page of its own.  What was there goes."""
        if gfn in self.overlays:
            self.remove_overlay(gfn)
        r = self._backing_region(gfn << PAGE_SHIFT)
        if r is None:
            buf, addr = host_pages(PAGE_SIZE)
            self.overlay(gfn, buf, addr, RAM)
            return
        self._discard(r, gfn)
        if gfn in self.holes:
            self.holes.discard(gfn)
            for l in self.listeners:
                l.physmap_map(gfn << PAGE_SHIFT, PAGE_SIZE, r.addr + (gfn << PAGE_SHIFT) - r.gpa)
        self.max_mapped_gfn = max(self.max_mapped_gfn, gfn)

    def page(self, gfn):
        """(buffer, offset) of the page at gfn, or (None, 0)."""
        return self._locate(gfn << PAGE_SHIFT, PAGE_SIZE)

    def _free_region_page(self, gfn):
        self.holes.add(gfn)
        self._discard(self._backing_region(gfn << PAGE_SHIFT), gfn)
        for l in self.listeners:
            l.physmap_unmap(gfn << PAGE_SHIFT, PAGE_SIZE)

    @staticmethod
    def _discard(region, gfn):
        """Give the host memory of one region page back (it reads as zeros after)."""
        off = (gfn << PAGE_SHIFT) - region.gpa
        region.buf.madvise(mmap.MADV_DONTNEED, off, PAGE_SIZE)

    def overlay_gfn(self, name):
        for gfn, (_, _, n) in self.overlays.items():
            if n == name:
                return gfn
        return None

    # -- lookup -----------------------------------------------------------------------
    def _backing_region(self, gpa):
        r = self._hint
        if r is not None and r.gpa <= gpa < r.end:
            return r
        for r in self.regions:
            if r.gpa <= gpa < r.end:
                self._hint = r
                return r
        return None

    def _locate(self, gpa, n):
        """-> (buffer, offset) for [gpa, gpa+n) within one page or region."""
        if self.overlays:
            ov = self.overlays.get(gpa >> PAGE_SHIFT)
            if ov is not None:
                off = gpa & (PAGE_SIZE - 1)
                return (ov[0], off) if off + n <= PAGE_SIZE else (None, 0)
        r = self._backing_region(gpa)
        if r is None or gpa + n > r.end:
            return None, 0
        if self.overlays or self.holes:
            if (gpa >> PAGE_SHIFT) != ((gpa + n - 1) >> PAGE_SHIFT):
                return None, 0      # crosses into a possibly remapped page: slow path
            if (gpa >> PAGE_SHIFT) in self.holes:
                return None, 0
        return r.buf, gpa - r.gpa

    def is_ram(self, gpa):
        gfn = gpa >> PAGE_SHIFT
        if gfn in self.overlays:
            return True
        return self._backing_region(gpa) is not None and gfn not in self.holes

    # -- access -----------------------------------------------------------------------
    def read(self, gpa, n):
        buf, off = self._locate(gpa, n)
        if buf is not None:
            return bytes(buf[off:off + n])
        return self._slow_read(gpa, n)

    def write(self, gpa, data):
        n = len(data)
        buf, off = self._locate(gpa, n)
        if buf is not None:
            buf[off:off + n] = data
            return True
        return self._slow_write(gpa, data)

    def _slow_read(self, gpa, n):
        out = bytearray()
        while n:
            chunk = min(n, PAGE_SIZE - (gpa & (PAGE_SIZE - 1)))
            buf, off = self._locate(gpa, chunk)
            if buf is None:
                return None
            out += buf[off:off + chunk]
            gpa += chunk
            n -= chunk
        return bytes(out)

    def _slow_write(self, gpa, data):
        pos = 0
        spans = []
        while pos < len(data):
            chunk = min(len(data) - pos, PAGE_SIZE - (gpa & (PAGE_SIZE - 1)))
            buf, off = self._locate(gpa, chunk)
            if buf is None:
                return False
            spans.append((buf, off, pos, chunk))
            gpa += chunk
            pos += chunk
        for buf, off, p, chunk in spans:
            buf[off:off + chunk] = data[p:p + chunk]
        return True

    def read_u32(self, gpa):
        buf, off = self._locate(gpa, 4)
        return _U32.unpack_from(buf, off)[0] if buf is not None else None

    def read_u64(self, gpa):
        buf, off = self._locate(gpa, 8)
        return _U64.unpack_from(buf, off)[0] if buf is not None else None

    def write_u32(self, gpa, value):
        buf, off = self._locate(gpa, 4)
        if buf is None:
            return False
        _U32.pack_into(buf, off, value & MASK32)
        return True

    def write_u64(self, gpa, value):
        buf, off = self._locate(gpa, 8)
        if buf is None:
            return False
        _U64.pack_into(buf, off, value & 0xFFFFFFFFFFFFFFFF)
        return True

    def view(self, gpa, n):
        """A writable memoryview of [gpa, gpa+n) if contiguous in one backing."""
        buf, off = self._locate(gpa, n)
        return memoryview(buf)[off:off + n] if buf is not None else None
