"""The ACPI tables the toolstack gives a PVH guest: Xen's tools/libacpi/acpi2_0.h
(#pragma pack(1), so the layouts are PACKED), the acpi_info page of
tools/libacpi/build.c that the DSDT reads, and the addresses of
xen/include/public/hvm/ioreq.h and libxl (ACPI_INFO_PHYSICAL_ADDRESS)."""

from .cstruct import PACKED, Struct, array, char, u8, u16, u32, u64


def ascii32(s):
    """ASCII32(a,b,c,d): four characters as a little-endian uint32_t."""
    return int.from_bytes(s.encode("ascii"), "little")


acpi_header = Struct("acpi_header", [
    ("signature", u32), ("length", u32), ("revision", u8), ("checksum", u8),
    ("oem_id", array(char, 6)), ("oem_table_id", array(char, 8)),
    ("oem_revision", u32), ("creator_id", u32), ("creator_revision", u32),
])
acpi_20_generic_address = Struct("acpi_20_generic_address", [
    ("address_space_id", u8), ("register_bit_width", u8), ("register_bit_offset", u8),
    ("reserved", u8), ("address", u64),
])
acpi_10_rsdp = Struct("acpi_10_rsdp", [
    ("signature", u64), ("checksum", u8), ("oem_id", array(char, 6)), ("reserved", u8),
    ("rsdt_address", u32),
])
acpi_20_rsdp = Struct("acpi_20_rsdp", [
    ("signature", u64), ("checksum", u8), ("oem_id", array(char, 6)), ("revision", u8),
    ("rsdt_address", u32), ("length", u32), ("xsdt_address", u64),
    ("extended_checksum", u8), ("reserved", array(u8, 3)),
])
_FADT_10 = [
    ("header", acpi_header), ("firmware_ctrl", u32), ("dsdt", u32), ("reserved0", u8),
    ("preferred_pm_profile", u8), ("sci_int", u16), ("smi_cmd", u32), ("acpi_enable", u8),
    ("acpi_disable", u8), ("s4bios_req", u8), ("pstate_cnt", u8), ("pm1a_evt_blk", u32),
    ("pm1b_evt_blk", u32), ("pm1a_cnt_blk", u32), ("pm1b_cnt_blk", u32), ("pm2_cnt_blk", u32),
    ("pm_tmr_blk", u32), ("gpe0_blk", u32), ("gpe1_blk", u32), ("pm1_evt_len", u8),
    ("pm1_cnt_len", u8), ("pm2_cnt_len", u8), ("pm_tmr_len", u8), ("gpe0_blk_len", u8),
    ("gpe1_blk_len", u8), ("gpe1_base", u8), ("cst_cnt", u8), ("p_lvl2_lat", u16),
    ("p_lvl3_lat", u16), ("flush_size", u16), ("flush_stride", u16), ("duty_offset", u8),
    ("duty_width", u8), ("day_alrm", u8), ("mon_alrm", u8), ("century", u8),
    ("iapc_boot_arch", u16), ("reserved1", u8), ("flags", u32),
]
acpi_10_fadt = Struct("acpi_10_fadt", _FADT_10)
acpi_fadt = Struct("acpi_fadt", _FADT_10 + [
    ("reset_reg", acpi_20_generic_address), ("reset_value", u8), ("reserved2", array(u8, 3)),
    ("x_firmware_ctrl", u64), ("x_dsdt", u64),
    ("x_pm1a_evt_blk", acpi_20_generic_address), ("x_pm1b_evt_blk", acpi_20_generic_address),
    ("x_pm1a_cnt_blk", acpi_20_generic_address), ("x_pm1b_cnt_blk", acpi_20_generic_address),
    ("x_pm2_cnt_blk", acpi_20_generic_address), ("x_pm_tmr_blk", acpi_20_generic_address),
    ("x_gpe0_blk", acpi_20_generic_address), ("x_gpe1_blk", acpi_20_generic_address),
    ("sleep_control", acpi_20_generic_address), ("sleep_status", acpi_20_generic_address),
])
acpi_20_facs = Struct("acpi_20_facs", [
    ("signature", u32), ("length", u32), ("hardware_signature", u32),
    ("firmware_waking_vector", u32), ("global_lock", u32), ("flags", u32),
    ("x_firmware_waking_vector", u64), ("version", u8), ("reserved", array(u8, 31)),
])
acpi_20_madt = Struct("acpi_20_madt", [
    ("header", acpi_header), ("lapic_addr", u32), ("flags", u32),
])
acpi_20_madt_lapic = Struct("acpi_20_madt_lapic", [
    ("type", u8), ("length", u8), ("acpi_processor_id", u8), ("apic_id", u8), ("flags", u32),
])
# struct acpi_info (tools/libacpi/build.c), at ACPI_INFO_PHYSICAL_ADDRESS; the
# DSDT's BIOS region (dsdt_acpi_info.asl) reads it.  Byte 0 holds the
# com1/com2/lpt1/hpet_present bits.
acpi_info = Struct("acpi_info", [
    ("present", u8), ("pad", u8), ("nr_cpus", u16), ("pci_min", u32), ("pci_len", u32),
    ("madt_csum_addr", u32), ("madt_lapic0_addr", u32), ("vm_gid_addr", u32),
    ("pci_hi_min", u64), ("pci_hi_len", u64),
])

ACPI_OEM_ID = b"Xen"
ACPI_OEM_TABLE_ID = b"HVM"
ACPI_OEM_REVISION = 0
ACPI_CREATOR_ID = ascii32("HVML")
ACPI_CREATOR_REVISION = 0

ACPI_2_0_RSDP_SIGNATURE = int.from_bytes(b"RSD PTR ", "little")
ACPI_2_0_FACS_SIGNATURE = ascii32("FACS")
ACPI_FADT_SIGNATURE = ascii32("FACP")
ACPI_2_0_MADT_SIGNATURE = ascii32("APIC")
ACPI_2_0_RSDT_SIGNATURE = ascii32("RSDT")
ACPI_2_0_XSDT_SIGNATURE = ascii32("XSDT")
ACPI_DSDT_SIGNATURE = ascii32("DSDT")

ACPI_2_0_RSDP_REVISION = 0x02
ACPI_2_0_MADT_REVISION = 0x02
ACPI_2_0_RSDT_REVISION = 0x01
ACPI_2_0_XSDT_REVISION = 0x01
ACPI_1_0_FADT_REVISION = 0x01
ACPI_2_0_FACS_VERSION = 0x01
ACPI_FADT_REVISION_5 = 5          # libxl's config.acpi_revision for PVH

ACPI_SYSTEM_IO = 1

# FADT boot architecture flags
ACPI_FADT_LEGACY_DEVICES = 1 << 0
ACPI_FADT_8042 = 1 << 1
ACPI_FADT_NO_VGA = 1 << 2
ACPI_FADT_NO_CMOS_RTC = 1 << 5
# FADT fixed feature flags
ACPI_WBINVD = 1 << 0
ACPI_PROC_C1 = 1 << 2
ACPI_PWR_BUTTON = 1 << 4
ACPI_SLP_BUTTON = 1 << 5
ACPI_FIX_RTC = 1 << 6
ACPI_TMR_VAL_EXT = 1 << 8
ACPI_USE_PLATFORM_CLOCK = 1 << 15

ACPI_PCAT_COMPAT = 1 << 0
ACPI_PROCESSOR_LOCAL_APIC = 0x00
ACPI_LOCAL_APIC_ENABLED = 1 << 0

# public/hvm/ioreq.h: the fixed ACPI register blocks (version 1 layout)
ACPI_PM1A_EVT_BLK_ADDRESS_V1 = 0xB000
ACPI_PM1A_CNT_BLK_ADDRESS_V1 = ACPI_PM1A_EVT_BLK_ADDRESS_V1 + 0x04
ACPI_PM_TMR_BLK_ADDRESS_V1 = ACPI_PM1A_EVT_BLK_ADDRESS_V1 + 0x08
ACPI_GPE0_BLK_ADDRESS_V1 = 0xAFE0
ACPI_GPE0_BLK_LEN_V1 = 0x04
# public/arch-x86/xen.h (XEN_ACPI_CPU_MAP) and the CPU hotplug GPE bit
XEN_ACPI_CPU_MAP = 0xAF00
XEN_ACPI_CPU_MAP_LEN = 128 // 8
XEN_ACPI_GPE0_CPUHP_BIT = 2

ACPI_INFO_PHYSICAL_ADDRESS = 0xFC000000
LAPIC_BASE_ADDRESS = 0xFEE00000
HVM_MAX_VCPUS = 128
ACPI_TABLES_ABI = PACKED
