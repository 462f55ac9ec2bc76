"""public/arch-x86/hvm/start_info.h: the PVH boot structures (same on i386 and x86_64)."""

from .cstruct import Struct, u32, u64

XEN_HVM_START_MAGIC_VALUE = 0x336EC578
HVM_START_INFO_VERSION = 1

XEN_HVM_MEMMAP_TYPE_RAM = 1
XEN_HVM_MEMMAP_TYPE_RESERVED = 2
XEN_HVM_MEMMAP_TYPE_ACPI = 3
XEN_HVM_MEMMAP_TYPE_NVS = 4
XEN_HVM_MEMMAP_TYPE_UNUSABLE = 5
XEN_HVM_MEMMAP_TYPE_DISABLED = 6
XEN_HVM_MEMMAP_TYPE_PMEM = 7

hvm_start_info = Struct("hvm_start_info", [
    ("magic", u32),
    ("version", u32),
    ("flags", u32),
    ("nr_modules", u32),
    ("modlist_paddr", u64),
    ("cmdline_paddr", u64),
    ("rsdp_paddr", u64),
    ("memmap_paddr", u64),
    ("memmap_entries", u32),
    ("reserved", u32),
])
hvm_modlist_entry = Struct("hvm_modlist_entry", [
    ("paddr", u64),
    ("size", u64),
    ("cmdline_paddr", u64),
    ("reserved", u64),
])
hvm_memmap_table_entry = Struct("hvm_memmap_table_entry", [
    ("addr", u64),
    ("size", u64),
    ("type", u32),
    ("reserved", u32),
])
