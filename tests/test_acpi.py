"""The ACPI tables the toolstack gives a PVH domain (hvsim/toolstack/acpi.py,
libxl_x86_acpi.c + tools/libacpi), read back here with a parser of their
own (plain struct offsets from the ACPI specification, not hvsim.abi):
checksums, lengths, the pointers between tables, the FADT flags Linux
takes as PVH, one LAPIC per vCPU, the acpi_info page the DSDT reads; and
in a built domain, the E820 entries and hvm_start_info.rsdp_paddr."""

import shutil
import struct
import subprocess

import pytest

import built
from test_guests import BUILD

from hvsim.toolstack import acpi


def _image(tables):
    """{gpa: byte} lookups over the modules: a function reading n bytes."""
    mods = [(m.addr, m.data) for m in tables.modules]

    def read(addr, n):
        for base, data in mods:
            if base <= addr and addr + n <= base + len(data):
                return data[addr - base:addr - base + n]
        raise AssertionError("%#x+%d is in no ACPI module" % (addr, n))
    return read


def _table(read, addr, signature):
    head = read(addr, 36)
    assert head[:4] == signature
    length = struct.unpack_from("<I", head, 4)[0]
    data = read(addr, length)
    assert sum(data) & 0xFF == 0, "%s checksum" % signature
    assert head[10:16] == b"Xen\0\0\0" and head[16:24] == b"HVM\0\0\0\0\0"
    return data


def _sdt_entries(data, width):
    fmt = "<Q" if width == 8 else "<I"
    return [struct.unpack_from(fmt, data, off)[0] for off in range(36, len(data), width)]


def _walk(tables):
    read = _image(tables)
    rsdp = read(tables.rsdp_addr, 36)
    assert rsdp[:8] == b"RSD PTR "
    assert sum(rsdp[:20]) & 0xFF == 0 and sum(rsdp) & 0xFF == 0
    revision, rsdt_addr, length, xsdt_addr = struct.unpack_from("<BIIQ", rsdp, 15)
    assert revision == 2 and length == 36
    xsdt = _table(read, xsdt_addr, b"XSDT")
    rsdt = _table(read, rsdt_addr, b"RSDT")
    found = {}
    for addr in _sdt_entries(xsdt, 8):
        sig = read(addr, 4)
        found[sig] = _table(read, addr, sig), addr
    rsdt_sigs = [read(a, 4) for a in _sdt_entries(rsdt, 4)]
    assert rsdt_sigs == [b"FACP", b"APIC"]
    fadt10 = _table(read, _sdt_entries(rsdt, 4)[0], b"FACP")
    assert len(fadt10) == 116 and fadt10[8] == 1
    return read, found


@pytest.mark.parametrize("nr_vcpus", [1, 2, 5])
def test_tables_parse_and_point_at_each_other(nr_vcpus):
    tables = acpi.build_tables(nr_vcpus)
    read, found = _walk(tables)
    assert sorted(found) == [b"APIC", b"FACP"]
    fadt, _ = found[b"FACP"]
    assert len(fadt) == 268 and fadt[8] == 5                  # ACPI 5.0 FADT
    iapc_boot_arch, = struct.unpack_from("<H", fadt, 109)
    assert iapc_boot_arch == (1 << 2) | (1 << 5)              # NO_VGA | NO_CMOS_RTC
    pm_tmr_blk, = struct.unpack_from("<I", fadt, 76)
    assert pm_tmr_blk == 0                                    # no PM timer for PVH
    facs_addr, dsdt_addr = struct.unpack_from("<II", fadt, 36)
    x_facs, x_dsdt = struct.unpack_from("<QQ", fadt, 132)
    assert (x_facs, x_dsdt) == (facs_addr, dsdt_addr)
    facs = read(facs_addr, 64)
    assert facs[:4] == b"FACS" and struct.unpack_from("<I", facs, 4)[0] == 64
    dsdt = _table(read, dsdt_addr, b"DSDT")
    assert dsdt[8] == 5 and b"PR7F" in dsdt                   # 128 processor objects
    madt, madt_addr = found[b"APIC"]
    lapic_addr, flags = struct.unpack_from("<II", madt, 36)
    assert lapic_addr == 0xFEE00000 and flags == 1
    entries = [struct.unpack_from("<BBBBI", madt, off) for off in range(44, len(madt), 8)]
    assert entries == [(0, 8, i, 2 * i, 1) for i in range(nr_vcpus)]
    info = read(0xFC000000, 40)
    nr_cpus, = struct.unpack_from("<H", info, 2)
    madt_csum, lapic0 = struct.unpack_from("<II", info, 12)
    assert nr_cpus == nr_vcpus and madt_csum == madt_addr + 9 and lapic0 == madt_addr + 44


def test_layout_as_libxl_places_it():
    tables = acpi.build_tables(2)
    rsdp, info, body = tables.modules
    assert info.addr == 0xFC000000 and len(info.data) == 4096
    assert body.addr == 0xFC001000 and len(body.data) % 4096 == 0
    assert rsdp.addr == body.addr + len(body.data) == tables.rsdp_addr
    low = acpi.build_tables(2, rsdp_unrestricted=False)
    assert low.rsdp_addr == 0xFFFC0
    _walk(low)


def test_rsdp_placement_follows_the_kernel_notes():
    os_note, feat_note = 6, 17
    linux = {os_note: b"linux\0"}
    assert not acpi.rsdp_unrestricted(linux, os_note, feat_note)
    declared = dict(linux)
    declared[feat_note] = (1 << 15).to_bytes(4, "little")
    assert acpi.rsdp_unrestricted(declared, os_note, feat_note)
    assert acpi.rsdp_unrestricted({}, os_note, feat_note)


@pytest.mark.skipif(shutil.which("iasl") is None,
                    reason="iasl (acpica-tools) not installed: AML not disassembled")
def test_dsdt_disassembles_with_iasl(tmp_path):
    tables = acpi.build_tables(2)
    read, found = _walk(tables)
    dsdt_addr = struct.unpack_from("<I", found[b"FACP"][0], 40)[0]
    (tmp_path / "dsdt.dat").write_bytes(_table(read, dsdt_addr, b"DSDT"))
    proc = subprocess.run(["iasl", "-d", "dsdt.dat"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dsl = (tmp_path / "dsdt.dsl").read_text()
    for needle in ("OperationRegion (BIOS, SystemMemory, 0xFC000000, 0x28)",
                   "Processor (PR7F, 0x7F, 0x0000B010, 0x06)", "Method (PRSC, 0",
                   "Method (_E02, 0", "Return (PMAT (0x02, MAT))"):
        assert needle in dsl


GUEST = BUILD / "hvm64" / "example.elf"


@built.needs(GUEST)
def test_built_domain_has_the_tables_in_its_memory_map():
    from hvsim.abi.memory import E820_ACPI
    from hvsim.boot.pvh import DomainSpec, build_domain
    from hvsim.hv.console import ConsoleSink
    from hvsim.hv.hypervisor import Hypervisor
    from unicorn import x86_const as X
    hv = Hypervisor(deterministic=True, console=ConsoleSink(stream=None))
    d = build_domain(hv, DomainSpec(1, str(GUEST), 32 << 20, vcpus=3))
    start_info = d.vcpus[0].arch.uc.reg_read(X.UC_X86_REG_EBX)
    rsdp_paddr, = struct.unpack("<Q", d.physmap.read(start_info + 32, 8))
    acpi_ranges = [(e.addr, e.addr + e.size) for e in d.e820 if e.type == E820_ACPI]
    assert any(lo <= rsdp_paddr < hi for lo, hi in acpi_ranges)
    assert d.physmap.read(rsdp_paddr, 8) == b"RSD PTR "
    xsdt, = struct.unpack("<Q", d.physmap.read(rsdp_paddr + 24, 8))
    madt, = struct.unpack("<Q", d.physmap.read(xsdt + 44, 8))
    assert d.physmap.read(madt, 4) == b"APIC"
    assert struct.unpack("<I", d.physmap.read(madt + 4, 4))[0] == 44 + 3 * 8
