"""Building a PVH domain the way Xen's toolstack does (libxenguest,
tools/libs/guest/xg_dom_x86.c): guest memory layout, kernel load, the
hvm_start_info segment, the memory map, HVM parameters, and vCPU0 at the
PVH entry point; then libxl's part (hvsim/toolstack/libxl.py: the xenstore
and console pages and event channels, the backends).

Layout of a domain with M bytes of memory:
  [0, min(M, 0xFC000000))     RAM (kernel at its ELF p_paddr, modules and the
                              start-info segment on the pages after it)
  [0xFC000000, ...)           the ACPI tables libxl builds (acpi_info page,
                              tables, RSDP: hvsim/toolstack/acpi.py), E820 ACPI
  [0xFEFF8000, 0xFF000000)    the 8 special pages (xenstore 0xFEFFC, console
                              0xFEFFF), populated, E820 reserved
  [4 GiB, ...)                the rest of RAM, if M > 0xFC000000
The start-info segment holds hvm_start_info | command line | module list |
module command lines | memory map, as libxenguest lays it out.
"""

from ..abi import hvm as h
from ..abi import start_info as si
from ..abi.cstruct import X86_64
from ..abi.memory import E820_ACPI, E820_RAM, E820_RESERVED
from ..arch.x86.exits import exit_addresses
from ..arch.x86.vcpu import X86Vcpu
from ..errors import HostInputError
from ..hv import time as vtime
from ..hv.domain import E820Entry
from ..hv.physmap import PAGE_SIZE
from ..hv.vcpu import VCpu
from ..hv.version import version_tuple
from ..abi import elfnote
from ..toolstack import acpi, libxl
from ..options import format_size
from .elf import load_kernel
from .util import round_up

LOWMEM_LIMIT = 0xFC000000
HIGHMEM_BASE = 1 << 32
SPECIAL_BASE = h.special_pfn(0) << 12
SPECIAL_SIZE = h.X86_HVM_NR_SPECIAL_PAGES * PAGE_SIZE
MTRR_DEF_TYPE_WB_ENABLED = 0x806       # MTRR_TYPE_WRBACK | MTRR_DEF_TYPE_ENABLE (1 << 11)
MAX_GUEST_CMDLINE = 1024
LIBXL_MAXMEM_CONSTANT = 1 << 20          # libxl's slack above the memory target


class Module:
    """A boot module given to a domain (its ramdisk, ...).  Its size in the
    module list: page-rounded for a domain the toolstack builds (libxenguest
    gives each module a whole-page segment), exact for a boot domain (Xen's
    pvh_load_kernel() gives the module's own length)."""

    def __init__(self, data, cmdline="", name="module", page_rounded=True):
        self.data = data
        self.cmdline = cmdline
        self.name = name
        self.page_rounded = page_rounded


class DomainSpec:
    """Everything needed to build one PVH domain, whatever described it
    (the `hvsim run` command line, or a hyperlaunch boot plan)."""

    def __init__(self, domid, kernel, mem, cmdline="", modules=(), vcpus=1, caps=0,
                 is_console=False, name=None, source=None, kernel_data=None, backend_domid=0):
        self.domid = domid
        self.kernel = kernel            # path (or name) of the kernel ELF
        self.kernel_data = kernel_data  # its bytes, when not read from a file
        self.mem = mem                  # bytes
        self.cmdline = cmdline
        self.modules = list(modules)
        self.vcpus = vcpus
        self.caps = caps
        self.is_console = is_console
        self.name = name
        self.source = source or kernel  # what to name in error messages
        self.backend_domid = backend_domid  # xenstored/xenconsoled's domain


def memory_map(mem, acpi_tables=None):
    """libxl's domain_construct_memmap(): low RAM, the special pages (PVH),
    the ACPI modules (RSDP, acpi_info, tables), high RAM."""
    lowmem = min(mem, LOWMEM_LIMIT)
    e820 = [E820Entry(0, lowmem, E820_RAM), E820Entry(SPECIAL_BASE, SPECIAL_SIZE, E820_RESERVED)]
    for m in acpi_tables.modules if acpi_tables else ():
        offset = m.addr & (PAGE_SIZE - 1)
        e820.append(E820Entry(m.addr - offset, len(m.data) + offset, E820_ACPI))
    if mem > lowmem:
        e820.append(E820Entry(HIGHMEM_BASE, mem - lowmem, E820_RAM))
    return e820


def _populate(d, mem):
    lowmem = min(mem, LOWMEM_LIMIT)
    d.physmap.add_region(0, lowmem, "lowmem")
    d.physmap.add_region(SPECIAL_BASE, SPECIAL_SIZE, "special pages")
    if mem > lowmem:
        d.physmap.add_region(HIGHMEM_BASE, mem - lowmem, "highmem")
    return lowmem


def _load_acpi(d, tables):
    """Populate the ACPI pages above low RAM and copy the modules in (libxl's
    acpi_modules[], which xc_dom_x86.c copies into the guest)."""
    high = [m for m in tables.modules if m.addr >= LOWMEM_LIMIT]
    start = min(m.addr for m in high) & ~(PAGE_SIZE - 1)
    end = round_up(max(m.addr + len(m.data) for m in high))
    d.physmap.add_region(start, end - start, "acpi")
    for m in tables.modules:
        d.physmap.write(m.addr, m.data)


def _load_segments(d, spec, kernel, lowmem):
    for seg in kernel.segments:
        if seg.paddr + seg.memsz > lowmem:
            raise HostInputError(
                spec.source, "PT_LOAD [%#x, %#x)" % (seg.paddr, seg.paddr + seg.memsz),
                "segment lies outside the domain's %s of low RAM" % format_size(lowmem),
                "give the domain more memory or link the kernel lower")
        d.physmap.write(seg.paddr, seg.data)


def _start_info(d, spec, base, lowmem, rsdp_paddr):
    """Write modules and the start-info segment from `base`; returns its address."""
    mods = []
    addr = base
    for m in spec.modules:
        size = len(m.data)
        if addr + size > lowmem:
            raise HostInputError(spec.source, "module %s" % m.name,
                                 "%d bytes do not fit in the domain's RAM" % size,
                                 "give the domain more memory")
        d.physmap.write(addr, m.data)
        mods.append((addr, round_up(size) if m.page_rounded else size, m))
        addr = round_up(addr + size)
    start = addr
    lay = si.hvm_start_info.layout(X86_64)
    cmdline = spec.cmdline.encode() + b"\0" if spec.cmdline else b""
    cmdline_addr = start + lay.size
    modlist_addr = cmdline_addr + round_up(len(cmdline), 8)
    mod_lay = si.hvm_modlist_entry.layout(X86_64)
    mod_cmdlines_addr = modlist_addr + mod_lay.size * len(mods)
    memmap_addr = mod_cmdlines_addr + MAX_GUEST_CMDLINE * len(mods)
    mm_lay = si.hvm_memmap_table_entry.layout(X86_64)
    end = memmap_addr + mm_lay.size * len(d.e820)
    if end > lowmem:
        raise HostInputError(spec.source, "start info", "no room for the start info in RAM",
                             "give the domain more memory")
    buf = bytearray(lay.size)
    lay.put(buf, magic=si.XEN_HVM_START_MAGIC_VALUE, version=si.HVM_START_INFO_VERSION,
            flags=0, nr_modules=len(mods), modlist_paddr=modlist_addr if mods else 0,
            cmdline_paddr=cmdline_addr if cmdline else 0, rsdp_paddr=rsdp_paddr,
            memmap_paddr=memmap_addr, memmap_entries=len(d.e820))
    d.physmap.write(start, bytes(buf))
    if cmdline:
        d.physmap.write(cmdline_addr, cmdline)
    for i, (paddr, size, m) in enumerate(mods):
        ent = bytearray(mod_lay.size)
        mcmd = 0
        if m.cmdline:
            mcmd = mod_cmdlines_addr + i * MAX_GUEST_CMDLINE
            d.physmap.write(mcmd, m.cmdline.encode()[:MAX_GUEST_CMDLINE - 1] + b"\0")
        mod_lay.put(ent, paddr=paddr, size=size, cmdline_paddr=mcmd)
        d.physmap.write(modlist_addr + i * mod_lay.size, bytes(ent))
    for i, e in enumerate(d.e820):
        ent = bytearray(mm_lay.size)
        mm_lay.put(ent, addr=e.addr, size=e.size, type=e.type)
        d.physmap.write(memmap_addr + i * mm_lay.size, bytes(ent))
    return start


def _create_vcpus(d, spec, kernel, start_info):
    segments = [(s.vaddr, s.paddr, s.data, s.executable) for s in kernel.segments]
    sites = exit_addresses(segments)
    code = kernel.code if spec.vcpus > 1 else ()       # cross-modifying code (arch/codewatch.py)
    for i in range(spec.vcpus):
        v = VCpu(d, i)
        v.arch = X86Vcpu(v, d.physmap, i, d.domid, version_tuple(), vtime.TSC_KHZ, sites,
                         (vtime.TSC_TO_SYSTEM_MUL, vtime.TSC_SHIFT), code)
        v.arch.on_exception = v.traced_exception
        v.arch.msrs.mtrr_def_type = MTRR_DEF_TYPE_WB_ENABLED
        d.vcpus.append(v)
        v.refresh_vcpu_info()
    v0 = d.vcpus[0]
    v0.arch.reset_pvh(kernel.entry, start_info)
    v0.boot_online()


def build_domain(hv, spec):
    """Create, load and prepare one PVH domain (left paused)."""
    kernel = load_kernel(spec.kernel, spec.kernel_data)
    d = hv.create_domain(spec.domid, name=spec.name, caps=spec.caps, max_vcpus=spec.vcpus,
                         max_pages=(spec.mem + LIBXL_MAXMEM_CONSTANT) >> 12,
                         is_console=spec.is_console)
    d.kernel = kernel
    lowmem = _populate(d, spec.mem)
    tables = acpi.build_tables(spec.vcpus, acpi.rsdp_unrestricted(
        kernel.notes, elfnote.XEN_ELFNOTE_GUEST_OS, elfnote.XEN_ELFNOTE_SUPPORTED_FEATURES))
    _load_acpi(d, tables)
    d.e820 = memory_map(spec.mem, tables)
    _load_segments(d, spec, kernel, lowmem)
    start_info = _start_info(d, spec, round_up(kernel.highest), lowmem, tables.rsdp_addr)
    _create_vcpus(d, spec, kernel, start_info)
    libxl.setup_domain(hv, d, spec.backend_domid)
    return d

