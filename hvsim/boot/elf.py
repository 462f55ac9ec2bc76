"""Loading a guest kernel ELF the way Xen's PVH domain builder does.

Reads the ELF headers and Xen ELF notes (public/elfnote.h), requires the
XEN_ELFNOTE_PHYS32_ENTRY note (the PVH entry point), and describes the
PT_LOAD segments at their *physical* addresses (p_paddr), which is where a
PVH kernel is loaded, and its symbols (for `hvsim step`).  A bzImage is
accepted too: its ELF payload is extracted first (bzimage.py).  Every problem is
a HostInputError naming the file, the field and the fix; nothing here
raises anything else for bad input.
"""

import io
import os
import struct

from elftools.common.exceptions import ELFError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from ..abi import elfnote
from ..errors import HostInputError, read_input
from . import bzimage

PT_LOAD = 1
PT_NOTE = 4
PF_X = 1
PF_W = 2
SHF_ALLOC = 2
SHF_EXECINSTR = 4

_NUMERIC_NOTES = {elfnote.XEN_ELFNOTE_PHYS32_ENTRY, elfnote.XEN_ELFNOTE_HYPERCALL_PAGE,
                  elfnote.XEN_ELFNOTE_ENTRY, elfnote.XEN_ELFNOTE_VIRT_BASE,
                  elfnote.XEN_ELFNOTE_PADDR_OFFSET}


class Segment:
    __slots__ = ("paddr", "vaddr", "data", "memsz", "executable")

    def __init__(self, paddr, vaddr, data, memsz, executable):
        self.paddr = paddr
        self.vaddr = vaddr
        self.data = data
        self.memsz = memsz
        self.executable = executable

    @property
    def end(self):
        return self.paddr + self.memsz


class KernelImage:
    """A parsed PVH kernel: entry point, segments, Xen notes, symbols
    ((address, size, name) of the defined functions, objects and untyped
    symbols, in symbol-table order; what `hvsim step` shows), and `code`:
    where its permanent code is, (begin, end, delta) with [begin, end)
    guest-physical and begin + delta virtual (_code_ranges)."""

    def __init__(self, path, machine, elfclass, entry, segments, notes, symbols, code=()):
        self.path = path
        self.code = code
        self.machine = machine
        self.elfclass = elfclass
        self.entry = entry
        self.segments = segments
        self.notes = notes
        self.symbols = symbols

    @property
    def lowest(self):
        return min(s.paddr for s in self.segments)

    @property
    def highest(self):
        return max(s.end for s in self.segments)


_NUMERIC_SIZES = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}     # libelf's elf_note_numeric()


def _notes(path, elf):
    """Xen notes from PT_NOTE segments (numeric ones decoded as integers,
    from 1, 2, 4 or 8 bytes as Xen's elf_note_numeric(); other sizes refused)."""
    notes = {}
    for seg in elf.iter_segments():
        if seg["p_type"] != "PT_NOTE":
            continue
        for note in seg.iter_notes():
            if note["n_name"] != "Xen":
                continue
            ntype = note["n_type"]
            if not isinstance(ntype, int):
                continue
            desc = note["n_desc"]
            raw = desc if isinstance(desc, bytes) else desc.encode("latin-1")
            if ntype in _NUMERIC_NOTES:
                if len(raw) not in _NUMERIC_SIZES:
                    raise HostInputError(path, "Xen ELF note %d" % ntype, "a %d-byte "
                                         "descriptor; a numeric note has 1, 2, 4 or 8"
                                         % len(raw), "rebuild the image")
                notes[ntype] = struct.unpack(_NUMERIC_SIZES[len(raw)], raw)[0]
            else:
                notes[ntype] = raw
    return notes


def _symbols(elf):
    """(address, size, name) of .symtab's named functions, objects and
    untyped symbols, leaving out undefined and absolute ones."""
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):       # none, or not SHT_SYMTAB
        return []
    return [(sym["st_value"], sym["st_size"], sym.name) for sym in symtab.iter_symbols()
            if _shown(sym)]


def _shown(sym):
    return (sym.name and sym["st_info"]["type"] in ("STT_FUNC", "STT_NOTYPE", "STT_OBJECT")
            and sym["st_shndx"] not in ("SHN_UNDEF", "SHN_ABS"))


def load_kernel(path, data=None):
    """Parse a PVH kernel ELF (from `path`, or from `data` named `path` in
    messages, e.g. a Multiboot2 module); HostInputError for anything unusable."""
    if data is None:
        data = read_input(path, "cannot open: %s", "check the path")
    return _parse(os.fspath(path), data)


def _parse(path, data):
    if bzimage.is_bzimage(data):
        data = bzimage.extract_elf(data, path)
    magic = data[:4]
    if magic != b"\x7fELF":
        raise HostInputError(path, "ELF header", "not an ELF file or a bzImage (magic %s)"
                             % magic.hex(), "give hvsim the kernel's ELF image or bzImage")
    try:
        elf = ELFFile(io.BytesIO(data))
        _check_tables(path, elf, len(data))
        machine = elf["e_machine"]
        if machine not in ("EM_X86_64", "EM_386"):
            raise HostInputError(path, "e_machine", "%s is not an x86 kernel" % machine,
                                 "build the guest for x86 (i386 or x86_64)")
        notes = _notes(path, elf)
        if elfnote.XEN_ELFNOTE_PHYS32_ENTRY not in notes:
            raise HostInputError(
                path, "Xen ELF notes", "no XEN_ELFNOTE_PHYS32_ENTRY (18) note, so there is "
                "no PVH entry point", "build the kernel with a PVH entry (Linux: CONFIG_PVH=y)")
        segments = _segments(path, elf)
        symbols = _symbols(elf)
        code = _code_ranges(elf)
        elfclass = elf.elfclass
    except (ELFError, ConstructError) as e:
        raise HostInputError(path, "ELF", "malformed ELF: %s" % e, "rebuild the image") from None
    except (struct.error, ValueError, IndexError, KeyError, OverflowError) as e:
        raise HostInputError(path, "ELF", "malformed ELF (%s)" % e, "rebuild the image") from None
    return KernelImage(path, machine, elfclass, notes[elfnote.XEN_ELFNOTE_PHYS32_ENTRY],
                       segments, notes, symbols, code)


def _check_tables(path, elf, size):
    """The program and section header tables, and each segment's file
    bytes, lie inside the image, as libelf's elf_init() checks before
    reading them."""
    for what, off, num, entsize in (("program", "e_phoff", "e_phnum", "e_phentsize"),
                                    ("section", "e_shoff", "e_shnum", "e_shentsize")):
        end = elf[off] + elf[num] * elf[entsize]
        if elf[num] and end > size:
            raise HostInputError(path, off, "the %s headers [%#x, %#x) extend beyond the "
                                 "image's %d bytes" % (what, elf[off], end, size),
                                 "rebuild the image")
    for i, seg in enumerate(elf.iter_segments()):
        end = seg["p_offset"] + seg["p_filesz"]
        if seg["p_filesz"] and end > size:
            raise HostInputError(path, "program header %d" % i, "the segment's file bytes "
                                 "[%#x, %#x) extend beyond the image's %d bytes"
                                 % (seg["p_offset"], end, size), "rebuild the image")


def _code_ranges(elf):
    """Where the image's permanent code is: (begin, end, delta) with
    [begin, end) guest-physical and begin + delta its virtual address:
    its executable sections inside read-only executable segments, or inside
    any executable segment when every one is also writable (one RWX
    segment, as XTF links).  Linux keeps .init.text in a writable executable
    segment and frees it after boot: its pages become ordinary memory."""
    loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD" and s["p_flags"] & PF_X]
    segs = [s for s in loads if not s["p_flags"] & PF_W] or loads
    ranges = []
    for sec in elf.iter_sections():
        flags, addr, size = sec["sh_flags"], sec["sh_addr"], sec["sh_size"]
        if not (flags & SHF_ALLOC and flags & SHF_EXECINSTR and size) or \
                sec["sh_type"] == "SHT_NOBITS":
            continue
        for seg in segs:
            if seg["p_vaddr"] <= addr and addr + size <= seg["p_vaddr"] + seg["p_memsz"]:
                begin = seg["p_paddr"] + addr - seg["p_vaddr"]
                ranges.append((begin, begin + size, seg["p_vaddr"] - seg["p_paddr"]))
    merged = []
    for begin, end, delta in sorted(ranges):
        if merged and begin <= merged[-1][1] and delta == merged[-1][2]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), delta)
        else:
            merged.append((begin, end, delta))
    return tuple(merged)


def _segments(path, elf):
    segments = []
    for seg in elf.iter_segments():
        if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
            continue
        data = seg.data()
        if len(data) != seg["p_filesz"]:
            raise HostInputError(path, "program header", "PT_LOAD segment at %#x is "
                                 "truncated" % seg["p_paddr"], "rebuild the image")
        if seg["p_filesz"] > seg["p_memsz"]:
            raise HostInputError(path, "program header", "p_filesz > p_memsz",
                                 "rebuild the image")
        segments.append(Segment(seg["p_paddr"], seg["p_vaddr"], data, seg["p_memsz"],
                                bool(seg["p_flags"] & PF_X)))
    if not segments:
        raise HostInputError(path, "program headers", "no loadable (PT_LOAD) segment",
                             "link the kernel with loadable segments")
    return segments
