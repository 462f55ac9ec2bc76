"""The Multiboot2 information structure (MBI): writing one as GRUB 2 does,
and reading one as Xen's boot code does.

build_mbi() is the one MBI writer (the firmware stage uses it): tags in the
order of GRUB's grub-core/loader/multiboot_mbi2.c (grub_multiboot2_make_mbi),
every tag 8-byte aligned, a tag's size excluding its padding (hvsim pads with
zeros, GRUB leaves whatever was in memory), total_size counting the fixed
part and the end tag.

parse_mbi() reads MBI *bytes*: it checks total_size, every tag's size and
the terminating tag, that strings are NUL-terminated UTF-8, that each module
range [mod_start, mod_end) (mod_end exclusive, as GRUB writes it and Xen
reads it) lies in RAM the memory map describes, and returns a BootInfo.
Anything malformed is one HostInputError naming the MBI, the tag and its
offset; nothing else escapes for bad input.

loader_is_grub2() and cmdline_cook() are Xen's (xen/arch/x86/setup.c) rules
for command lines: boot loaders other than GRUB 2 put the image name first.
"""

import struct

from ..abi import multiboot2 as mb2
from ..abi.cstruct import X86_32
from ..errors import HostInputError
from .util import round_up

_TAG = mb2.multiboot2_tag.layout(X86_32)
_FIXED = mb2.multiboot2_fixed.layout(X86_32)
_MODULE = mb2.multiboot2_tag_module.layout(X86_32)
_MEMINFO = mb2.multiboot2_tag_basic_meminfo.layout(X86_32)
_MMAP = mb2.multiboot2_tag_mmap.layout(X86_32)
_MMAP_ENTRY = mb2.multiboot2_memory_map.layout(X86_32)
_LOAD_BASE = mb2.multiboot2_tag_load_base_addr.layout(X86_32)
_END_TAG_SIZE = _TAG.size

# tags a well-formed MBI carries at most once
_SINGLE_TAGS = (mb2.MULTIBOOT2_TAG_TYPE_CMDLINE, mb2.MULTIBOOT2_TAG_TYPE_BOOT_LOADER_NAME,
                mb2.MULTIBOOT2_TAG_TYPE_BASIC_MEMINFO, mb2.MULTIBOOT2_TAG_TYPE_MMAP,
                mb2.MULTIBOOT2_TAG_TYPE_LOAD_BASE_ADDR)


class MemoryMapEntry:
    """One memory-map entry: [addr, addr + len) of a MULTIBOOT2_MEMORY_* type."""

    __slots__ = ("addr", "len", "type")

    def __init__(self, addr, length, type_):
        self.addr = addr
        self.len = length
        self.type = type_

    @property
    def end(self):
        return self.addr + self.len

    def __eq__(self, other):
        return isinstance(other, MemoryMapEntry) and \
            (self.addr, self.len, self.type) == (other.addr, other.len, other.type)

    def __repr__(self):
        return "MemoryMapEntry(%#x, %#x, %d)" % (self.addr, self.len, self.type)


class MB2Module:
    """A module tag: [start, end) in host memory (end exclusive), its string
    (GRUB: the module2 arguments after the file name) and, when the host
    memory was given to the parser, its bytes."""

    __slots__ = ("index", "start", "end", "string", "data", "offset")

    def __init__(self, index, start, end, string, data=None, offset=None):
        self.index = index
        self.start = start
        self.end = end
        self.string = string
        self.data = data
        self.offset = offset        # of its tag in the MBI

    @property
    def size(self):
        return self.end - self.start

    def __repr__(self):
        return "MB2Module(%d, %#x, %#x, %r)" % (self.index, self.start, self.end, self.string)


class BootInfo:
    """What a Multiboot2 kernel learns from the MBI."""

    def __init__(self):
        self.cmdline = ""
        self.loader_name = ""
        self.modules = []
        self.mem_lower = None       # KiB from 0
        self.mem_upper = None       # KiB from 1 MiB
        self.mmap = []
        self.load_base_addr = None
        self.tags = []              # (offset, type, size) in MBI order, end tag included

    @property
    def tag_types(self):
        return [t for _, t, _ in self.tags]

    def ram_ranges(self):
        """Available RAM as sorted, merged [start, end) ranges: from the memory
        map, else from the basic meminfo, else empty (unknown)."""
        if self.mmap:
            spans = [(e.addr, e.end) for e in self.mmap
                     if e.type == mb2.MULTIBOOT2_MEMORY_AVAILABLE]
        elif self.mem_upper is not None:
            spans = [(0, self.mem_lower * 1024),
                     (1 << 20, (1 << 20) + self.mem_upper * 1024)]
        else:
            return []
        merged = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            elif end > start:
                merged.append((start, end))
        return merged

    def ram_bytes(self):
        """Bytes of available RAM the firmware described (0: not described)."""
        return sum(end - start for start, end in self.ram_ranges())


def loader_is_grub2(loader_name):
    """Xen's test: the name contains "GRUB " followed by a version not starting with 0."""
    i = (loader_name or "").find("GRUB ")
    return i >= 0 and loader_name[i + 5:i + 6] not in ("", "0")


def cmdline_cook(cmdline, loader_name):
    """Xen's cmdline_cook(): strip leading spaces and, unless the loader is
    GRUB 2, the image name that such loaders put first."""
    p = (cmdline or "").lstrip(" ")
    if loader_is_grub2(loader_name):
        return p
    first, _, rest = p.partition(" ")
    return rest.lstrip(" ")


# ---------------------------------------------------------------------------
# writing


class _MbiWriter:
    def __init__(self):
        self.buf = bytearray(_FIXED.size)

    def tag(self, type_, payload=b""):
        hdr = bytearray(_TAG.size)
        _TAG.put(hdr, type=type_, size=_TAG.size + len(payload))
        self.buf += hdr + payload
        self.buf += bytes(round_up(len(self.buf), mb2.MULTIBOOT2_TAG_ALIGN) - len(self.buf))

    def finish(self):
        self.tag(mb2.MULTIBOOT2_TAG_TYPE_END)
        _FIXED.put(self.buf, total_size=len(self.buf), reserved=0)
        return bytes(self.buf)


def _cstring(text):
    return text.encode("utf-8") + b"\0"


def _fields(layout, **values):
    """The bytes of a tag struct after its 8-byte (type, size) header."""
    buf = bytearray(layout.size)
    layout.put(buf, **values)
    return bytes(buf[_TAG.size:])


def build_mbi(cmdline, loader_name, modules, mmap, mem_lower, mem_upper,
              load_base_addr=None):
    """The MBI bytes GRUB 2 would write for this boot.

    modules: (mod_start, mod_end, string) with mod_end exclusive;
    mmap: MemoryMapEntry list; mem_lower/mem_upper in KiB.  Tags, in GRUB's
    order: image load base address (if given), command line, boot loader
    name, one module tag per module, memory map, basic meminfo, end."""
    w = _MbiWriter()
    if load_base_addr is not None:
        w.tag(mb2.MULTIBOOT2_TAG_TYPE_LOAD_BASE_ADDR,
              _fields(_LOAD_BASE, load_base_addr=load_base_addr))
    w.tag(mb2.MULTIBOOT2_TAG_TYPE_CMDLINE, _cstring(cmdline))
    w.tag(mb2.MULTIBOOT2_TAG_TYPE_BOOT_LOADER_NAME, _cstring(loader_name))
    for start, end, string in modules:
        w.tag(mb2.MULTIBOOT2_TAG_TYPE_MODULE,
              _fields(_MODULE, mod_start=start, mod_end=end) + _cstring(string))
    entries = bytearray()
    for e in mmap:
        ent = bytearray(_MMAP_ENTRY.size)
        _MMAP_ENTRY.put(ent, addr=e.addr, len=e.len, type=e.type, zero=0)
        entries += ent
    w.tag(mb2.MULTIBOOT2_TAG_TYPE_MMAP,
          _fields(_MMAP, entry_size=_MMAP_ENTRY.size,
                  entry_version=mb2.MULTIBOOT2_MMAP_ENTRY_VERSION) + bytes(entries))
    w.tag(mb2.MULTIBOOT2_TAG_TYPE_BASIC_MEMINFO,
          _fields(_MEMINFO, mem_lower=mem_lower, mem_upper=mem_upper))
    return w.finish()


# ---------------------------------------------------------------------------
# reading


class _MbiReader:
    """One pass over the tags of an MBI; every problem is a HostInputError."""

    def __init__(self, data, source):
        self.data = data
        self.source = source
        self.info = BootInfo()
        self.handlers = {
            mb2.MULTIBOOT2_TAG_TYPE_CMDLINE: self._cmdline,
            mb2.MULTIBOOT2_TAG_TYPE_BOOT_LOADER_NAME: self._loader_name,
            mb2.MULTIBOOT2_TAG_TYPE_MODULE: self._module,
            mb2.MULTIBOOT2_TAG_TYPE_BASIC_MEMINFO: self._meminfo,
            mb2.MULTIBOOT2_TAG_TYPE_MMAP: self._mmap,
            mb2.MULTIBOOT2_TAG_TYPE_LOAD_BASE_ADDR: self._load_base,
        }

    def error(self, field, problem, fix=None):
        return HostInputError(self.source, field, problem, fix)

    def tag_error(self, off, type_, problem, fix=None):
        name = mb2.TAG_NAMES.get(type_, "unknown")
        return self.error("tag type %d (%s) at offset %#x" % (type_, name, off), problem, fix)

    def parse(self):
        total = self._total_size()
        off = _FIXED.size
        while True:
            if off + _TAG.size > total:
                raise self.error("offset %#x" % off,
                                 "no end tag (type 0, size 8) before total_size %#x" % total,
                                 "an MBI ends with an end tag and total_size counts it")
            type_, size = _TAG.get(self.data, "type", "size", base=off)
            self._check_size(off, type_, size, total)
            self.info.tags.append((off, type_, size))
            if type_ == mb2.MULTIBOOT2_TAG_TYPE_END:
                self._end(off, size, total)
                return self.info
            self._once(off, type_)
            handler = self.handlers.get(type_)
            if handler:                 # other tags: the spec says to ignore them
                handler(off, type_, size)
            off = round_up(off + size, mb2.MULTIBOOT2_TAG_ALIGN)

    def _total_size(self):
        n = len(self.data)
        if n < _FIXED.size + _END_TAG_SIZE:
            raise self.error("total_size", "only %d bytes; an MBI needs at least %d (the fixed "
                             "part and the end tag)" % (n, _FIXED.size + _END_TAG_SIZE))
        total = _FIXED.get(self.data, "total_size")
        if total < _FIXED.size + _END_TAG_SIZE:
            raise self.error("total_size", "%d is too small: the fixed part and the end tag "
                             "alone take %d bytes" % (total, _FIXED.size + _END_TAG_SIZE))
        if total > n:
            raise self.error("total_size", "%#x but only %#x bytes are there (truncated MBI)"
                             % (total, n))
        return total

    def _check_size(self, off, type_, size, total):
        if size < _TAG.size:
            raise self.tag_error(off, type_, "size %d is below the 8-byte tag header" % size,
                                 "a tag's size counts its type and size fields")
        if off + size > total:
            raise self.tag_error(off, type_, "size %d runs past total_size %#x" % (size, total))

    def _end(self, off, size, total):
        if size != _END_TAG_SIZE:
            raise self.tag_error(off, 0, "the end tag has size %d, not 8" % size)
        if off + size != total:
            raise self.error("total_size", "%#x, but the end tag ends at %#x" % (total, off + size),
                             "total_size counts the whole MBI up to the end of the end tag")

    def _once(self, off, type_):
        if type_ in _SINGLE_TAGS and any(t == type_ for _, t, _ in self.info.tags[:-1]):
            raise self.tag_error(off, type_, "a second tag of this type")

    def _min_size(self, off, type_, size, minimum, exact=False):
        if size < minimum or (exact and size != minimum):
            raise self.tag_error(off, type_, "size %d, %s %d" %
                                 (size, "must be" if exact else "needs at least", minimum))

    def _string(self, off, type_, start, end, what):
        raw = self.data[start:end]
        nul = raw.find(b"\0")
        if nul < 0:
            raise self.tag_error(off, type_, "%s is not NUL-terminated within the tag's size"
                                 % what)
        try:
            return raw[:nul].decode("utf-8")
        except UnicodeDecodeError as e:
            raise self.tag_error(off, type_, "%s is not UTF-8 (byte %#x at %d)"
                                 % (what, raw[e.start], e.start)) from None

    def _cmdline(self, off, type_, size):
        self._min_size(off, type_, size, _TAG.size + 1)
        self.info.cmdline = self._string(off, type_, off + _TAG.size, off + size,
                                         "the command line")

    def _loader_name(self, off, type_, size):
        self._min_size(off, type_, size, _TAG.size + 1)
        self.info.loader_name = self._string(off, type_, off + _TAG.size, off + size,
                                             "the boot loader name")

    def _module(self, off, type_, size):
        self._min_size(off, type_, size, _MODULE.size + 1)
        start, end = _MODULE.get(self.data, "mod_start", "mod_end", base=off)
        index = len(self.info.modules)
        if end < start:
            raise self.tag_error(off, type_, "module %d: mod_end %#x is below mod_start %#x"
                                 % (index, end, start),
                                 "mod_end is the first byte after the module")
        string = self._string(off, type_, off + _MODULE.size, off + size,
                              "module %d's string" % index)
        self.info.modules.append(MB2Module(index, start, end, string, offset=off))

    def _meminfo(self, off, type_, size):
        self._min_size(off, type_, size, _MEMINFO.size, exact=True)
        self.info.mem_lower, self.info.mem_upper = _MEMINFO.get(
            self.data, "mem_lower", "mem_upper", base=off)

    def _mmap(self, off, type_, size):
        self._min_size(off, type_, size, _MMAP.size)
        entry_size = _MMAP.get(self.data, "entry_size", base=off)
        if entry_size < _MMAP_ENTRY.size or entry_size % 8:
            raise self.tag_error(off, type_, "entry_size %d: must be a multiple of 8 and at "
                                 "least %d" % (entry_size, _MMAP_ENTRY.size))
        if (size - _MMAP.size) % entry_size:
            raise self.tag_error(off, type_, "size %d does not hold a whole number of "
                                 "%d-byte entries" % (size, entry_size))
        for base in range(off + _MMAP.size, off + size, entry_size):
            addr, length, t = _MMAP_ENTRY.get(self.data, "addr", "len", "type", base=base)
            self.info.mmap.append(MemoryMapEntry(addr, length, t))

    def _load_base(self, off, type_, size):
        self._min_size(off, type_, size, _LOAD_BASE.size, exact=True)
        self.info.load_base_addr = _LOAD_BASE.get(self.data, "load_base_addr", base=off)


def _module_field(m):
    return "module %d (tag at offset %#x)" % (m.index, m.offset)


def _check_module_ranges(info, source):
    """Each module lies in RAM the firmware described; modules do not overlap."""
    ram = info.ram_ranges()
    for m in info.modules:
        if ram and m.size and not any(s <= m.start and m.end <= e for s, e in ram):
            raise HostInputError(source, _module_field(m),
                                 "[%#x, %#x) is not inside available RAM of the memory map"
                                 % (m.start, m.end),
                                 "modules must be loaded into RAM the memory map reports")
    placed = sorted((m for m in info.modules if m.size), key=lambda m: m.start)
    for a, b in zip(placed, placed[1:]):
        if b.start < a.end:
            raise HostInputError(source, _module_field(b),
                                 "[%#x, %#x) overlaps module %d [%#x, %#x)"
                                 % (b.start, b.end, a.index, a.start, a.end))


def _attach_data(info, memory, source):
    for m in info.modules:
        data = memory.read(m.start, m.size)
        if data is None:
            raise HostInputError(source, _module_field(m),
                                 "nothing was loaded at [%#x, %#x) in host memory"
                                 % (m.start, m.end))
        m.data = data


def parse_mbi(data, memory=None, address=None, source="MBI"):
    """Parse MBI bytes into a BootInfo.

    memory: the host memory image (an object with read(addr, size) -> bytes
    or None); when given, every module's bytes are read from it.  address:
    where the MBI was placed, checked for MULTIBOOT2_INFO_ALIGN."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse_mbi wants bytes")
    if address is not None and address % mb2.MULTIBOOT2_INFO_ALIGN:
        raise HostInputError(source, "address", "%#x is not %d-byte aligned"
                             % (address, mb2.MULTIBOOT2_INFO_ALIGN))
    try:
        info = _MbiReader(bytes(data), source).parse()
    except struct.error:            # unreachable by construction; never a traceback
        raise HostInputError(source, "total_size", "the tags run past the end of the data") \
            from None
    _check_module_ranges(info, source)
    if memory is not None:
        _attach_data(info, memory, source)
    return info
