"""The firmware stage: what GRUB 2 does between "menuentry chosen" and
"jump to the hypervisor" on a PC, for an emulated host.

* The host's physical memory (HostMemory) has a PC memory map like QEMU's
  BIOS reports: 639 KiB of conventional memory, the EBDA and BIOS areas
  reserved, RAM from 1 MiB to min(size, 3 GiB), the BIOS flash below 4 GiB
  reserved, and the rest of RAM from 4 GiB.
* The hypervisor image of the `multiboot2` line is notional (hvsim plays the
  hypervisor; the file is never read): it is taken to be loaded at
  HYPERVISOR_LOAD_BASE (Xen's 2 MiB) and [2 MiB, 16 MiB) is kept for it.
* Modules are read (gzip and xz decompressed unless --nounzip, as GRUB's
  file filters do) and placed in order from MODULES_BASE, each at the next
  page boundary (GRUB always page aligns modules: MULTIBOOT2_MOD_ALIGN),
  below 4 GiB since mod_start/mod_end are 32-bit.
* The MBI is written by hvsim.boot.multiboot2.build_mbi, GRUB's tags in
  GRUB's order, and placed on the page after the last module.

The boot loader name is LOADER_NAME, "hvsim firmware (GRUB 2.06
compatible)": it says who wrote the MBI, and Xen's loader_is_grub2() test
(a "GRUB " followed by a non-zero version) holds for it, so a real Xen would
read the command lines as GRUB's, without an image name first.
"""

import gzip
import lzma
import os
import zlib

from ..abi import multiboot2 as mb2
from ..errors import ConfigError, HostInputError, read_input
from ..hv.physmap import PAGE_SIZE
from .bootcfg import display_path, parse_bootcfg
from .multiboot2 import MemoryMapEntry, build_mbi
from .util import round_up

MiB = 1 << 20
GiB = 1 << 30
DEFAULT_HOST_MEM = 4 * GiB
MIN_HOST_MEM = 32 * MiB
LOADER_NAME = "hvsim firmware (GRUB 2.06 compatible)"

CONVENTIONAL_END = 0x9FC00          # 639 KiB, then the EBDA
EBDA_END = 0xA0000
BIOS_AREA = 0xF0000                 # system BIOS, up to 1 MiB
LOWMEM_LIMIT = 3 * GiB              # RAM above this is remapped above 4 GiB
BIOS_FLASH = 0xFFFC0000             # up to 4 GiB
FOUR_GIB = 1 << 32
HYPERVISOR_LOAD_BASE = 2 * MiB
MODULES_BASE = 16 * MiB

_GZIP_MAGIC = b"\x1f\x8b"
_XZ_MAGIC = b"\xfd7zXZ\x00"


def pc_memory_map(size):
    """The memory map a PC BIOS reports for `size` bytes of RAM."""
    ram, reserved = mb2.MULTIBOOT2_MEMORY_AVAILABLE, mb2.MULTIBOOT2_MEMORY_RESERVED
    low_end = min(size, LOWMEM_LIMIT)
    entries = [MemoryMapEntry(0, CONVENTIONAL_END, ram),
               MemoryMapEntry(CONVENTIONAL_END, EBDA_END - CONVENTIONAL_END, reserved),
               MemoryMapEntry(BIOS_AREA, MiB - BIOS_AREA, reserved),
               MemoryMapEntry(MiB, low_end - MiB, ram),
               MemoryMapEntry(BIOS_FLASH, FOUR_GIB - BIOS_FLASH, reserved)]
    if size > low_end:
        entries.append(MemoryMapEntry(FOUR_GIB, size - low_end, ram))
    return entries


class HostMemory:
    """The emulated host's physical memory as the firmware leaves it: the
    memory map it reports and the bytes it loaded, by address."""

    def __init__(self, size=DEFAULT_HOST_MEM):
        if size < MIN_HOST_MEM or size % PAGE_SIZE:
            raise HostInputError("host memory", "size", "%d bytes: must be a multiple of "
                                 "4 KiB and at least %d MiB" % (size, MIN_HOST_MEM >> 20))
        self.size = size
        self.mmap = pc_memory_map(size)
        self.blobs = {}             # address -> bytes

    @property
    def mem_lower(self):
        """KiB of RAM from address 0 (basic meminfo)."""
        return CONVENTIONAL_END // 1024

    @property
    def mem_upper(self):
        """KiB of RAM from 1 MiB up to the first hole (basic meminfo)."""
        return (min(self.size, LOWMEM_LIMIT) - MiB) // 1024

    def load(self, addr, data):
        self.blobs[addr] = bytes(data)

    def read(self, addr, size):
        """The `size` bytes at `addr` if one loaded blob holds them all, else None."""
        if size == 0:
            return b""
        for start, blob in self.blobs.items():
            if start <= addr and addr + size <= start + len(blob):
                return blob[addr - start:addr - start + size]
        return None


class FirmwareResult:
    """What the firmware hands to the hypervisor: the MBI (bytes and address,
    as EBX would hold it) and host memory; plus, for messages, the menu entry
    and a name for every module (its file)."""

    def __init__(self, entry, memory, mbi, mbi_addr, module_names):
        self.entry = entry
        self.memory = memory
        self.mbi = mbi
        self.mbi_addr = mbi_addr
        self.module_names = module_names
        self.magic = mb2.MULTIBOOT2_BOOTLOADER_MAGIC


def _decompress(data, image, where):
    """GRUB opens module files through its decompression filters."""
    try:
        if data.startswith(_GZIP_MAGIC):
            return gzip.decompress(data)
        if data.startswith(_XZ_MAGIC):
            return lzma.decompress(data)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise HostInputError(where[0], where[1], "module2 %s: looks compressed but does not "
                             "decompress (%s)" % (image.given, e),
                             "fix the file, or load it as is with module2 --nounzip") from None
    return data


def _read_module(image, config_path):
    where = (config_path, "line %d" % image.line)
    data = read_input(image.path, "module2 %s: %%s" % image.given.replace("%", "%%"),
                      "check the file", where)
    return data if image.nounzip else _decompress(data, image, where)


def _check_fits(memory, addr, size, config_path, field, what):
    """[addr, addr + size) must lie in the host's RAM below min(size, 3 GiB):
    Multiboot2 addresses are 32-bit."""
    end = addr + size
    low_end = min(memory.size, LOWMEM_LIMIT)
    if end > low_end:
        raise HostInputError(config_path, field, "%s: %d bytes do not fit in host RAM below "
                             "%d MiB (they would end at %#x)" % (what, size, low_end >> 20, end),
                             "give the host more memory or load smaller modules")


def load_entry(entry, config_path, host_mem=DEFAULT_HOST_MEM):
    """Lay the entry's modules out in host memory and write the MBI."""
    memory = HostMemory(host_mem)
    addr = MODULES_BASE
    tags, names = [], []
    for image in entry.modules:
        data = _read_module(image, config_path)
        _check_fits(memory, addr, len(data), config_path, "line %d" % image.line,
                    "module2 %s" % image.given)
        memory.load(addr, data)
        tags.append((addr, addr + len(data), image.cmdline))
        names.append(display_path(image.path))
        addr = round_up(addr + len(data))
    mbi = build_mbi(entry.hypervisor.cmdline, LOADER_NAME, tags, memory.mmap,
                    memory.mem_lower, memory.mem_upper, load_base_addr=HYPERVISOR_LOAD_BASE)
    _check_fits(memory, addr, len(mbi), config_path, "line %d" % entry.line,
                "the Multiboot2 information")
    memory.load(addr, mbi)
    return FirmwareResult(entry, memory, mbi, addr, names)


def scenario_config(scenario):
    """SCENARIO, a boot config or a directory holding boot.cfg -> the config's path."""
    cfg = os.path.join(scenario, "boot.cfg") if os.path.isdir(scenario) else scenario
    if not os.path.exists(cfg):
        raise ConfigError("%s: no such boot config (give a boot.cfg or a scenario directory)"
                          % scenario)
    return cfg


def boot_config(path, selector=None, host_mem=DEFAULT_HOST_MEM, raw=None):
    """Parse a boot config (`raw`: its bytes, when already read), choose an
    entry (default: GRUB's default) and load it."""
    config = parse_bootcfg(path, raw)
    return load_entry(config.select(selector), path, host_mem)
