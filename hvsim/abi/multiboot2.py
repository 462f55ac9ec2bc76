"""Multiboot2 (the GNU "Multiboot2 Specification version 2.0"), as data.

Names follow Xen's copy of the header, xen/include/xen/multiboot2.h, which
uses GRUB's values (grub's include/multiboot2.h calls them MULTIBOOT_*).
The information structure (MBI) a boot loader hands over in EBX is an i386
structure: little-endian, every tag 8-byte aligned, a tag's size counting
its 8-byte header and its payload but not the padding after it.

Only the fixed parts are declared as structs; the variable parts (strings,
memory-map entries) follow them and are handled by hvsim.boot.multiboot2.
"""

from .cstruct import Struct, u16, u32, u64

MULTIBOOT2_HEADER_MAGIC = 0xE85250D6        # in the OS image
MULTIBOOT2_BOOTLOADER_MAGIC = 0x36D76289    # in EAX at entry
MULTIBOOT2_SEARCH = 32768                   # header within the image's first 32 KiB
MULTIBOOT2_HEADER_ALIGN = 8
MULTIBOOT2_MOD_ALIGN = 0x1000               # modules are page aligned
MULTIBOOT2_INFO_ALIGN = 8                   # the MBI starts 8-byte aligned
MULTIBOOT2_TAG_ALIGN = 8                    # every tag starts 8-byte aligned

MULTIBOOT2_ARCHITECTURE_I386 = 0
MULTIBOOT2_ARCHITECTURE_MIPS32 = 4

# header tags (in the OS image)
MULTIBOOT2_HEADER_TAG_END = 0
MULTIBOOT2_HEADER_TAG_INFORMATION_REQUEST = 1
MULTIBOOT2_HEADER_TAG_ADDRESS = 2
MULTIBOOT2_HEADER_TAG_ENTRY_ADDRESS = 3
MULTIBOOT2_HEADER_TAG_CONSOLE_FLAGS = 4
MULTIBOOT2_HEADER_TAG_FRAMEBUFFER = 5
MULTIBOOT2_HEADER_TAG_MODULE_ALIGN = 6
MULTIBOOT2_HEADER_TAG_EFI_BS = 7
MULTIBOOT2_HEADER_TAG_ENTRY_ADDRESS_EFI32 = 8
MULTIBOOT2_HEADER_TAG_ENTRY_ADDRESS_EFI64 = 9
MULTIBOOT2_HEADER_TAG_RELOCATABLE = 10
MULTIBOOT2_HEADER_TAG_OPTIONAL = 1          # header tag flags bit 0

# information (MBI) tags
MULTIBOOT2_TAG_TYPE_END = 0
MULTIBOOT2_TAG_TYPE_CMDLINE = 1
MULTIBOOT2_TAG_TYPE_BOOT_LOADER_NAME = 2
MULTIBOOT2_TAG_TYPE_MODULE = 3
MULTIBOOT2_TAG_TYPE_BASIC_MEMINFO = 4
MULTIBOOT2_TAG_TYPE_BOOTDEV = 5
MULTIBOOT2_TAG_TYPE_MMAP = 6
MULTIBOOT2_TAG_TYPE_VBE = 7
MULTIBOOT2_TAG_TYPE_FRAMEBUFFER = 8
MULTIBOOT2_TAG_TYPE_ELF_SECTIONS = 9
MULTIBOOT2_TAG_TYPE_APM = 10
MULTIBOOT2_TAG_TYPE_EFI32 = 11
MULTIBOOT2_TAG_TYPE_EFI64 = 12
MULTIBOOT2_TAG_TYPE_SMBIOS = 13
MULTIBOOT2_TAG_TYPE_ACPI_OLD = 14
MULTIBOOT2_TAG_TYPE_ACPI_NEW = 15
MULTIBOOT2_TAG_TYPE_NETWORK = 16
MULTIBOOT2_TAG_TYPE_EFI_MMAP = 17
MULTIBOOT2_TAG_TYPE_EFI_BS = 18
MULTIBOOT2_TAG_TYPE_EFI32_IH = 19
MULTIBOOT2_TAG_TYPE_EFI64_IH = 20
MULTIBOOT2_TAG_TYPE_LOAD_BASE_ADDR = 21

TAG_NAMES = {
    MULTIBOOT2_TAG_TYPE_END: "end",
    MULTIBOOT2_TAG_TYPE_CMDLINE: "command line",
    MULTIBOOT2_TAG_TYPE_BOOT_LOADER_NAME: "boot loader name",
    MULTIBOOT2_TAG_TYPE_MODULE: "module",
    MULTIBOOT2_TAG_TYPE_BASIC_MEMINFO: "basic meminfo",
    MULTIBOOT2_TAG_TYPE_BOOTDEV: "BIOS boot device",
    MULTIBOOT2_TAG_TYPE_MMAP: "memory map",
    MULTIBOOT2_TAG_TYPE_VBE: "VBE info",
    MULTIBOOT2_TAG_TYPE_FRAMEBUFFER: "framebuffer info",
    MULTIBOOT2_TAG_TYPE_ELF_SECTIONS: "ELF sections",
    MULTIBOOT2_TAG_TYPE_APM: "APM table",
    MULTIBOOT2_TAG_TYPE_EFI32: "EFI 32-bit system table",
    MULTIBOOT2_TAG_TYPE_EFI64: "EFI 64-bit system table",
    MULTIBOOT2_TAG_TYPE_SMBIOS: "SMBIOS tables",
    MULTIBOOT2_TAG_TYPE_ACPI_OLD: "ACPI old RSDP",
    MULTIBOOT2_TAG_TYPE_ACPI_NEW: "ACPI new RSDP",
    MULTIBOOT2_TAG_TYPE_NETWORK: "networking info",
    MULTIBOOT2_TAG_TYPE_EFI_MMAP: "EFI memory map",
    MULTIBOOT2_TAG_TYPE_EFI_BS: "EFI boot services not terminated",
    MULTIBOOT2_TAG_TYPE_EFI32_IH: "EFI 32-bit image handle",
    MULTIBOOT2_TAG_TYPE_EFI64_IH: "EFI 64-bit image handle",
    MULTIBOOT2_TAG_TYPE_LOAD_BASE_ADDR: "image load base address",
}

# memory map entry types
MULTIBOOT2_MEMORY_AVAILABLE = 1
MULTIBOOT2_MEMORY_RESERVED = 2
MULTIBOOT2_MEMORY_ACPI_RECLAIMABLE = 3
MULTIBOOT2_MEMORY_NVS = 4
MULTIBOOT2_MEMORY_BADRAM = 5
MULTIBOOT2_MMAP_ENTRY_VERSION = 0

# the fixed part of the MBI, and the tag header every tag starts with
multiboot2_fixed = Struct("multiboot2_fixed", [("total_size", u32), ("reserved", u32)])
multiboot2_tag = Struct("multiboot2_tag", [("type", u32), ("size", u32)])
# type 1 and 2: the header, then a NUL-terminated string
multiboot2_tag_string = multiboot2_tag
multiboot2_tag_module = Struct("multiboot2_tag_module", [
    ("type", u32), ("size", u32), ("mod_start", u32), ("mod_end", u32)])  # then cmdline[]
multiboot2_tag_basic_meminfo = Struct("multiboot2_tag_basic_meminfo", [
    ("type", u32), ("size", u32), ("mem_lower", u32), ("mem_upper", u32)])
multiboot2_tag_mmap = Struct("multiboot2_tag_mmap", [
    ("type", u32), ("size", u32), ("entry_size", u32), ("entry_version", u32)])  # entries[]
multiboot2_memory_map = Struct("multiboot2_memory_map", [
    ("addr", u64), ("len", u64), ("type", u32), ("zero", u32)])
multiboot2_tag_load_base_addr = Struct("multiboot2_tag_load_base_addr", [
    ("type", u32), ("size", u32), ("load_base_addr", u32)])
multiboot2_tag_bootdev = Struct("multiboot2_tag_bootdev", [
    ("type", u32), ("size", u32), ("biosdev", u32), ("slice", u32), ("part", u32)])
multiboot2_header = Struct("multiboot2_header", [
    ("magic", u32), ("architecture", u32), ("header_length", u32), ("checksum", u32)])
multiboot2_header_tag = Struct("multiboot2_header_tag", [
    ("type", u16), ("flags", u16), ("size", u32)])
