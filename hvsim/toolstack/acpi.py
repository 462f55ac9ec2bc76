"""The ACPI tables libxl builds for a PVH domain (tools/libs/light/libxl_x86_acpi.c
calling tools/libacpi/build.c's acpi_build_tables()).

libxl's configuration for PVH: no IOAPIC, PM timer, buttons, VGA, 8042 or
CMOS RTC (table_flags 0), FADT revision 5 (acpi_revision), one LAPIC per
vCPU with APIC ID 2 x vcpu_id, the PVH DSDT (hvsim/toolstack/dsdt.py).
So the FADT says NO_VGA | NO_CMOS_RTC (Linux takes both as "this is PVH",
xen_hvm_guest_late_init()) and has no PM timer; the MADT has no IOAPIC.

Three ACPI modules, placed as libxl places them and marked E820_ACPI:
  [0] the RSDP (64 bytes): after the tables, or in the last 64 bytes below
      1 MiB for a Linux kernel that does not declare
      XENFEAT_linux_rsdp_unrestricted;
  [1] the acpi_info page at ACPI_INFO_PHYSICAL_ADDRESS (0xFC000000);
  [2] the tables (FACS, DSDT, FADT 1.0, FADT, MADT, XSDT, RSDT) from the
      next page on, each 16-byte aligned in allocation order.
hvm_start_info.rsdp_paddr points at the RSDP.
"""

from ..abi import acpi as a
from ..hv.physmap import PAGE_SIZE
from . import dsdt

ABI = a.ACPI_TABLES_ABI
NUM_ACPI_PAGES = 16
RSDP_SIZE = 64
LOW_RSDP_ADDR = 0x100000 - RSDP_SIZE
XENFEAT_linux_rsdp_unrestricted = 15


class AcpiModule:
    """One piece of guest memory the toolstack fills (libxl's acpi_modules[])."""

    def __init__(self, addr, data):
        self.addr = addr
        self.data = bytes(data)


class AcpiTables:
    """The modules and the RSDP's address."""

    def __init__(self, rsdp_addr, modules):
        self.rsdp_addr = rsdp_addr
        self.modules = modules


def checksum(data):
    """The byte that makes `data` sum to 0 mod 256 (set_checksum())."""
    return (-sum(data)) & 0xFF


def _set_checksum(buf, offset, length):
    buf[offset] = 0
    buf[offset] = checksum(buf[:length])


class _Allocator:
    """libxl's mem_alloc(): 16-byte (or more) aligned, upwards from `start`."""

    def __init__(self, start, end):
        self.start = self.curr = start
        self.end = end
        self.buf = bytearray(end - start)

    def alloc(self, data, align=16):
        align = max(align, 16)
        addr = (self.curr + align - 1) & ~(align - 1)
        if addr + len(data) > self.end:
            raise ValueError("ACPI tables do not fit in %d pages" % NUM_ACPI_PAGES)
        self.buf[addr - self.start:addr - self.start + len(data)] = data
        self.curr = addr + len(data) - 1          # libxl keeps the last byte used
        return addr

    def used_pages(self):
        end = (self.curr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        return (end - self.start) // PAGE_SIZE


def _header(lay, signature, length, revision, prefix="header."):
    """A table buffer with its acpi_header filled (checksum left to the caller);
    `prefix` names the header member ("" for a bare acpi_header)."""
    buf = bytearray(length)
    lay.put(buf, **{prefix + "signature": signature, prefix + "length": length,
                    prefix + "revision": revision, prefix + "oem_revision": a.ACPI_OEM_REVISION,
                    prefix + "creator_id": a.ACPI_CREATOR_ID,
                    prefix + "creator_revision": a.ACPI_CREATOR_REVISION})
    lay.put_bytes(buf, prefix + "oem_id", a.ACPI_OEM_ID)
    lay.put_bytes(buf, prefix + "oem_table_id", a.ACPI_OEM_TABLE_ID)
    return buf


def _facs():
    lay = a.acpi_20_facs.layout(ABI)
    buf = bytearray(lay.size)
    lay.put(buf, signature=a.ACPI_2_0_FACS_SIGNATURE, length=lay.size,
            version=a.ACPI_2_0_FACS_VERSION)
    return buf


def _dsdt(max_cpus):
    """dsdt_pvh as iasl leaves it: DefinitionBlock("DSDT", 5, "Xen", "HVM", 0);
    the compiler fields name hvsim's AML encoder."""
    aml = dsdt.dsdt_aml(max_cpus)
    lay = a.acpi_header.layout(ABI)
    buf = _header(lay, a.ACPI_DSDT_SIGNATURE, lay.size + len(aml), 5, prefix="")
    lay.put(buf, creator_id=a.ascii32("HVSM"))
    buf[lay.size:] = aml
    _set_checksum(buf, lay.offset("checksum"), len(buf))
    return buf


def _fadt_fields(lay, buf, dsdt_addr, facs_addr):
    """The static Fadt (tools/libacpi/static_tables.c) with libxl's PVH flags:
    no PM timer, fixed power and sleep buttons."""
    lay.put(buf, sci_int=9, pm1a_evt_blk=a.ACPI_PM1A_EVT_BLK_ADDRESS_V1,
            pm1a_cnt_blk=a.ACPI_PM1A_CNT_BLK_ADDRESS_V1, pm_tmr_blk=0,
            gpe0_blk=a.ACPI_GPE0_BLK_ADDRESS_V1, pm1_evt_len=4, pm1_cnt_len=2, pm_tmr_len=0,
            gpe0_blk_len=a.ACPI_GPE0_BLK_LEN_V1, p_lvl2_lat=0x0FFF, p_lvl3_lat=0x0FFF,
            flags=(a.ACPI_PROC_C1 | a.ACPI_WBINVD | a.ACPI_FIX_RTC | a.ACPI_TMR_VAL_EXT |
                   a.ACPI_USE_PLATFORM_CLOCK | a.ACPI_PWR_BUTTON | a.ACPI_SLP_BUTTON),
            dsdt=dsdt_addr, firmware_ctrl=facs_addr)


def _fadt_10(dsdt_addr, facs_addr):
    lay = a.acpi_10_fadt.layout(ABI)
    buf = _header(lay, a.ACPI_FADT_SIGNATURE, lay.size, a.ACPI_1_0_FADT_REVISION)
    _fadt_fields(lay, buf, dsdt_addr, facs_addr)
    _set_checksum(buf, lay.offset("header.checksum"), lay.size)
    return buf


def _gas(lay, buf, member, space, width, address):
    lay.put(buf, **{member + ".address_space_id": space,
                    member + ".register_bit_width": width,
                    member + ".register_bit_offset": 0, member + ".address": address})


def _fadt(dsdt_addr, facs_addr):
    lay = a.acpi_fadt.layout(ABI)
    buf = _header(lay, a.ACPI_FADT_SIGNATURE, lay.size, a.ACPI_FADT_REVISION_5)
    _fadt_fields(lay, buf, dsdt_addr, facs_addr)
    _gas(lay, buf, "reset_reg", a.ACPI_SYSTEM_IO, 8, 0xCF9)
    _gas(lay, buf, "x_pm1a_evt_blk", a.ACPI_SYSTEM_IO, 32, a.ACPI_PM1A_EVT_BLK_ADDRESS_V1)
    _gas(lay, buf, "x_pm1a_cnt_blk", a.ACPI_SYSTEM_IO, 16, a.ACPI_PM1A_CNT_BLK_ADDRESS_V1)
    lay.put(buf, reset_value=6, x_dsdt=dsdt_addr, x_firmware_ctrl=facs_addr,
            iapc_boot_arch=a.ACPI_FADT_NO_VGA | a.ACPI_FADT_NO_CMOS_RTC)
    _set_checksum(buf, lay.offset("header.checksum"), lay.size)
    return buf


def _madt(nr_vcpus, online):
    """construct_madt() without an IOAPIC: one enabled LAPIC per online vCPU."""
    lay = a.acpi_20_madt.layout(ABI)
    ent = a.acpi_20_madt_lapic.layout(ABI)
    size = lay.size + ent.size * nr_vcpus
    buf = _header(lay, a.ACPI_2_0_MADT_SIGNATURE, size, a.ACPI_2_0_MADT_REVISION)
    lay.put(buf, lapic_addr=a.LAPIC_BASE_ADDRESS, flags=a.ACPI_PCAT_COMPAT)
    for i in range(nr_vcpus):
        ent.put(buf, base=lay.size + i * ent.size, type=a.ACPI_PROCESSOR_LOCAL_APIC,
                length=ent.size, acpi_processor_id=i, apic_id=2 * i,
                flags=a.ACPI_LOCAL_APIC_ENABLED if i < online else 0)
    _set_checksum(buf, lay.offset("header.checksum"), size)
    return buf, lay.size


def _sdt(signature, revision, entries, width):
    """An RSDT (32-bit entries) or XSDT (64-bit entries)."""
    lay = a.acpi_header.layout(ABI)
    size = lay.size + width * len(entries)
    buf = _header(lay, signature, size, revision, prefix="")
    for i, e in enumerate(entries):
        buf[lay.size + i * width:lay.size + (i + 1) * width] = e.to_bytes(width, "little")
    _set_checksum(buf, lay.offset("checksum"), size)
    return buf


def _rsdp(rsdt_addr, xsdt_addr):
    lay = a.acpi_20_rsdp.layout(ABI)
    buf = bytearray(RSDP_SIZE)
    lay.put(buf, signature=a.ACPI_2_0_RSDP_SIGNATURE, revision=a.ACPI_2_0_RSDP_REVISION,
            length=lay.size, rsdt_address=rsdt_addr, xsdt_address=xsdt_addr)
    lay.put_bytes(buf, "oem_id", a.ACPI_OEM_ID)
    _set_checksum(buf, lay.offset("checksum"), a.acpi_10_rsdp.layout(ABI).size)
    _set_checksum(buf, lay.offset("extended_checksum"), lay.size)
    return buf


def _acpi_info(nr_vcpus, madt_addr, madt_lapic0):
    lay = a.acpi_info.layout(ABI)
    buf = bytearray(PAGE_SIZE)
    csum_off = a.acpi_header.layout(ABI).offset("checksum")
    lay.put(buf, nr_cpus=nr_vcpus, madt_csum_addr=madt_addr + csum_off,
            madt_lapic0_addr=madt_lapic0)
    return buf


def build_tables(nr_vcpus, rsdp_unrestricted=True, online=None):
    """libxl__dom_load_acpi() for a PVH domain with `nr_vcpus` vCPUs (the
    first `online` of them online at boot, default all)."""
    online = nr_vcpus if online is None else online
    info_addr = a.ACPI_INFO_PHYSICAL_ADDRESS
    mem = _Allocator(info_addr + PAGE_SIZE, info_addr + PAGE_SIZE * (1 + NUM_ACPI_PAGES))
    facs = mem.alloc(_facs())
    dsdt_addr = mem.alloc(_dsdt(a.HVM_MAX_VCPUS))
    fadt_10 = mem.alloc(_fadt_10(dsdt_addr, facs))
    fadt = mem.alloc(_fadt(dsdt_addr, facs))
    madt_buf, lapic0_off = _madt(nr_vcpus, online)
    madt = mem.alloc(madt_buf)
    xsdt = mem.alloc(_sdt(a.ACPI_2_0_XSDT_SIGNATURE, a.ACPI_2_0_XSDT_REVISION, [fadt, madt], 8))
    rsdt = mem.alloc(_sdt(a.ACPI_2_0_RSDT_SIGNATURE, a.ACPI_2_0_RSDT_REVISION,
                          [fadt_10, madt], 4))
    pages = mem.used_pages()
    rsdp_addr = (info_addr + (1 + pages) * PAGE_SIZE) if rsdp_unrestricted else LOW_RSDP_ADDR
    modules = [AcpiModule(rsdp_addr, _rsdp(rsdt, xsdt)),
               AcpiModule(info_addr, _acpi_info(nr_vcpus, madt, madt + lapic0_off)),
               AcpiModule(mem.start, mem.buf[:pages * PAGE_SIZE])]
    return AcpiTables(rsdp_addr, modules)


def rsdp_unrestricted(kernel_notes, guest_os_note, features_note):
    """libxl's test: the RSDP may go above 1 MiB unless the kernel says it is
    Linux (XEN_ELFNOTE_GUEST_OS) without XENFEAT_linux_rsdp_unrestricted in
    XEN_ELFNOTE_SUPPORTED_FEATURES."""
    guest_os = kernel_notes.get(guest_os_note, b"")
    if isinstance(guest_os, bytes):
        guest_os = guest_os.rstrip(b"\0").decode("ascii", "replace")
    if guest_os != "linux":
        return True
    features = kernel_notes.get(features_note, b"")
    bits = int.from_bytes(features[:4], "little") if isinstance(features, bytes) else features
    return bool(bits >> XENFEAT_linux_rsdp_unrestricted & 1)
