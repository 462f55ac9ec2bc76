"""Multiboot2: the MBI writer against the spec and a real GRUB's bytes, the
parser against malformed input, and the firmware stage's layout."""

import gzip
import os
import random
import struct

import pytest

from hvsim.abi import multiboot2 as mb2
from hvsim.boot import firmware
from hvsim.boot.multiboot2 import (MemoryMapEntry, build_mbi, cmdline_cook, loader_is_grub2,
                                   parse_mbi)
from hvsim.errors import HostInputError

DATA = os.path.join(os.path.dirname(__file__), "data")
GRUB_MBI = os.path.join(DATA, "grub-mbi.bin")
FIRMWARE_TAGS = {mb2.MULTIBOOT2_TAG_TYPE_LOAD_BASE_ADDR, mb2.MULTIBOOT2_TAG_TYPE_CMDLINE,
                 mb2.MULTIBOOT2_TAG_TYPE_BOOT_LOADER_NAME, mb2.MULTIBOOT2_TAG_TYPE_MODULE,
                 mb2.MULTIBOOT2_TAG_TYPE_MMAP, mb2.MULTIBOOT2_TAG_TYPE_BASIC_MEMINFO,
                 mb2.MULTIBOOT2_TAG_TYPE_END}
MMAP = [MemoryMapEntry(0, 0x9FC00, 1), MemoryMapEntry(0x100000, 0x7F00000, 1)]


def sample_mbi(**kw):
    args = dict(cmdline="console=com1 loglvl=all", loader_name="test loader",
                modules=[(0x200000, 0x20001A, "first module"), (0x201000, 0x202400, "")],
                mmap=MMAP, mem_lower=639, mem_upper=130048)
    args.update(kw)
    return build_mbi(**args)


def tags_of(data):
    """(offset, type, size) of every tag, walking as the spec says."""
    out, off = [], 8
    while True:
        t, size = struct.unpack_from("<II", data, off)
        out.append((off, t, size))
        if t == 0:
            return out
        off = (off + size + 7) & ~7


def put_u32(data, off, value):
    buf = bytearray(data)
    struct.pack_into("<I", buf, off, value)
    return bytes(buf)


def expect_error(data, text, **kw):
    with pytest.raises(HostInputError) as e:
        parse_mbi(data, **kw)
    assert str(e.value) == text
    return e.value


# -- the writer


def test_roundtrip():
    data = sample_mbi()
    info = parse_mbi(data)
    assert info.cmdline == "console=com1 loglvl=all"
    assert info.loader_name == "test loader"
    assert [(m.start, m.end, m.string) for m in info.modules] == \
        [(0x200000, 0x20001A, "first module"), (0x201000, 0x202400, "")]
    assert info.modules[0].size == 0x1A                    # mod_end is exclusive
    assert (info.mem_lower, info.mem_upper) == (639, 130048)
    assert info.mmap == MMAP
    assert info.tag_types == [1, 2, 3, 3, 6, 4, 0]


def test_layout_follows_the_spec():
    data = sample_mbi()
    total, reserved = struct.unpack_from("<II", data)
    assert total == len(data) and reserved == 0
    tags = tags_of(data)
    assert all(off % 8 == 0 for off, _, _ in tags)
    assert tags[-1][1:] == (0, 8) and tags[-1][0] + 8 == total
    for (off, t, size), (nxt, _, _) in zip(tags, tags[1:]):
        assert data[off + size:nxt] == bytes(nxt - off - size)      # zero padding
    off, t, size = tags[0]
    assert t == 1 and size == 8 + len("console=com1 loglvl=all") + 1    # size excludes padding
    mmap = [x for x in tags if x[1] == 6][0]
    assert struct.unpack_from("<II", data, mmap[0] + 8) == (24, 0)     # entry_size, version


def test_load_base_addr_tag_comes_first():
    info = parse_mbi(sample_mbi(load_base_addr=0x200000))
    assert info.tag_types[0] == mb2.MULTIBOOT2_TAG_TYPE_LOAD_BASE_ADDR
    assert info.load_base_addr == 0x200000


def test_empty_strings_are_a_lone_nul():
    data = sample_mbi(cmdline="")
    off, t, size = tags_of(data)[0]
    assert (t, size) == (1, 9) and data[off + 8] == 0
    assert parse_mbi(data).cmdline == ""


# -- a real GRUB's MBI (tests/data/grub-mbi/README.md)


def grub_info():
    with open(GRUB_MBI, "rb") as f:
        data = f.read()
    return data, parse_mbi(data)


def test_grub_fixture_parses():
    data, info = grub_info()
    assert info.loader_name == "GRUB 2.06-13+deb12u2"
    assert loader_is_grub2(info.loader_name)
    assert info.cmdline == "some args dom0_mem=512M"        # no image name: GRUB 2
    assert [(m.string, m.size) for m in info.modules] == [("first module args", 26),
                                                          ("second", 5120)]
    assert all(m.start % mb2.MULTIBOOT2_MOD_ALIGN == 0 for m in info.modules)
    assert info.modules[1].start >= info.modules[0].end
    assert (info.mem_lower, info.mem_upper) == (639, 129920)
    assert info.mmap[0] == MemoryMapEntry(0, 0x9FC00, 1)
    assert info.load_base_addr == 0x100000
    assert info.tag_types == [21, 1, 2, 10, 3, 3, 6, 9, 4, 5, 8, 14, 0]


def test_grub_module_bytes_from_host_memory():
    data, info = grub_info()
    memory = firmware.HostMemory(128 << 20)
    memory.load(info.modules[0].start, b"module A: hello from GRUB\n")
    memory.load(info.modules[1].start, bytes(range(256)) * 20)
    info = parse_mbi(data, memory=memory)
    assert info.modules[0].data == b"module A: hello from GRUB\n"


def test_our_writer_matches_grub_byte_for_byte():
    """The tags hvsim writes, built from GRUB's values, are GRUB's bytes (padding aside)."""
    data, info = grub_info()
    ours = build_mbi(info.cmdline, info.loader_name,
                     [(m.start, m.end, m.string) for m in info.modules],
                     info.mmap, info.mem_lower, info.mem_upper, info.load_base_addr)
    grub_tags = [t for t in tags_of(data) if t[1] in FIRMWARE_TAGS]
    our_tags = tags_of(ours)
    assert [t[1:] for t in grub_tags] == [t[1:] for t in our_tags]
    for (g, _, size), (o, _, _) in zip(grub_tags, our_tags):
        assert data[g:g + size] == ours[o:o + size]


def test_firmware_writes_grubs_tag_sequence(tmp_path):
    """The same config through hvsim's firmware: GRUB's tags, in GRUB's order, for the
    tags an emulated host has (no APM, ELF sections, BIOS boot device, VGA, ACPI)."""
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "mod-a.txt").write_bytes(b"module A: hello from GRUB\n")
    (boot / "mod-b.bin").write_bytes(bytes(range(256)) * 20)
    cfg = tmp_path / "grub.cfg"
    cfg.write_text(open(os.path.join(DATA, "grub-mbi", "grub.cfg")).read()
                   .replace("/boot/mod-", "boot/mod-"))
    result = firmware.boot_config(str(cfg))
    ours = parse_mbi(result.mbi, memory=result.memory, address=result.mbi_addr)
    _, grub = grub_info()
    assert ours.tag_types == [t for t in grub.tag_types if t in FIRMWARE_TAGS]
    assert ours.cmdline == grub.cmdline
    assert [(m.string, m.size) for m in ours.modules] == \
        [(m.string, m.size) for m in grub.modules]
    assert ours.modules[1].data == bytes(range(256)) * 20


# -- the parser refuses malformed MBIs with one line


def test_truncated():
    expect_error(sample_mbi()[:12], "MBI: total_size: only 12 bytes; an MBI needs at least 16 "
                 "(the fixed part and the end tag)")
    data = sample_mbi()
    expect_error(data[:-8], "MBI: total_size: %#x but only %#x bytes are there (truncated MBI)"
                 % (len(data), len(data) - 8))


def test_total_size_too_small():
    expect_error(put_u32(sample_mbi(), 0, 8), "MBI: total_size: 8 is too small: the fixed "
                 "part and the end tag alone take 16 bytes")


def test_tag_size_below_header():
    expect_error(put_u32(sample_mbi(), 12, 4), "MBI: tag type 1 (command line) at offset 0x8: "
                 "size 4 is below the 8-byte tag header (a tag's size counts its type and "
                 "size fields)")


def test_tag_runs_past_total_size():
    data = sample_mbi()
    text = expect_error(put_u32(data, 12, 0x10000), "MBI: tag type 1 (command line) at offset "
                        "0x8: size 65536 runs past total_size %#x" % len(data))
    assert "MBI" in text.file


def test_no_end_tag():
    data = sample_mbi()
    cut = put_u32(data[:-8], 0, len(data) - 8)
    end = len(data) - 8
    expect_error(cut, "MBI: offset %#x: no end tag (type 0, size 8) before total_size %#x (an "
                 "MBI ends with an end tag and total_size counts it)" % (end, end))


def test_bytes_after_the_end_tag():
    data = sample_mbi() + bytes(8)
    data = put_u32(data, 0, len(data))
    expect_error(data, "MBI: total_size: %#x, but the end tag ends at %#x (total_size counts "
                 "the whole MBI up to the end of the end tag)" % (len(data), len(data) - 8))


def test_end_tag_size():
    data = sample_mbi()
    expect_error(put_u32(data, len(data) - 4, 16), "MBI: tag type 0 (end) at offset %#x: size "
                 "16 runs past total_size %#x" % (len(data) - 8, len(data)))
    data = sample_mbi() + bytes(8)
    data = put_u32(put_u32(data, 0, len(data)), len(data) - 12, 16)
    expect_error(data, "MBI: tag type 0 (end) at offset %#x: the end tag has size 16, not 8"
                 % (len(data) - 16))


def test_string_not_nul_terminated():
    data = bytearray(sample_mbi(cmdline="abcdefg"))        # 8 + 8 bytes: no padding
    data[8 + 8 + 7] = ord("h")
    expect_error(bytes(data), "MBI: tag type 1 (command line) at offset 0x8: the command "
                 "line is not NUL-terminated within the tag's size")


def test_string_not_utf8():
    data = bytearray(sample_mbi(cmdline="abc"))
    data[17] = 0xFF
    expect_error(bytes(data), "MBI: tag type 1 (command line) at offset 0x8: the command line "
                 "is not UTF-8 (byte 0xff at 1)")


def module_tag(data, n=0):
    return [off for off, t, _ in tags_of(data) if t == 3][n]


def test_mod_end_below_mod_start():
    data = sample_mbi()
    off = module_tag(data)
    expect_error(put_u32(data, off + 12, 0x100000), "MBI: tag type 3 (module) at offset %#x: "
                 "module 0: mod_end 0x100000 is below mod_start 0x200000 (mod_end is the "
                 "first byte after the module)" % off)


def test_module_outside_ram():
    data = sample_mbi(modules=[(0xA0000, 0xA1000, "")])
    expect_error(data, "MBI: module 0 (tag at offset %#x): [0xa0000, 0xa1000) is not inside "
                 "available RAM of the memory map (modules must be loaded into RAM the memory "
                 "map reports)" % module_tag(data))


def test_modules_overlap():
    data = sample_mbi(modules=[(0x200000, 0x202000, "a"), (0x201000, 0x203000, "b")])
    expect_error(data, "MBI: module 1 (tag at offset %#x): [0x201000, 0x203000) overlaps "
                 "module 0 [0x200000, 0x202000)" % module_tag(data, 1))


def test_module_tag_too_small():
    data = sample_mbi()
    off = module_tag(data)
    expect_error(put_u32(data, off + 4, 16), "MBI: tag type 3 (module) at offset %#x: size "
                 "16, needs at least 17" % off)


def test_second_cmdline_tag():
    data = sample_mbi()
    # make the boot loader name tag a second command line tag
    expect_error(put_u32(data, tags_of(data)[1][0], 1), "MBI: tag type 1 (command line) at "
                 "offset %#x: a second tag of this type" % tags_of(data)[1][0])


def test_bad_mmap_entry_size():
    data = sample_mbi()
    off = [o for o, t, _ in tags_of(data) if t == 6][0]
    expect_error(put_u32(data, off + 8, 20), "MBI: tag type 6 (memory map) at offset %#x: "
                 "entry_size 20: must be a multiple of 8 and at least 24" % off)
    expect_error(put_u32(data, off + 8, 32), "MBI: tag type 6 (memory map) at offset %#x: "
                 "size 64 does not hold a whole number of 32-byte entries" % off)


def test_bad_meminfo_size():
    data = sample_mbi()
    off = [o for o, t, _ in tags_of(data) if t == 4][0]
    expect_error(put_u32(data, off + 4, 12), "MBI: tag type 4 (basic meminfo) at offset %#x: "
                 "size 12, must be 16" % off)


def test_misaligned_address():
    expect_error(sample_mbi(), "MBI: address: 0x1004 is not 8-byte aligned", address=0x1004)


def test_module_bytes_missing_in_host_memory():
    memory = firmware.HostMemory(128 << 20)
    memory.load(0x200000, b"x" * 0x1A)
    data = sample_mbi()
    expect_error(data, "MBI: module 1 (tag at offset %#x): nothing was loaded at "
                 "[0x201000, 0x202400) in host memory" % module_tag(data, 1), memory=memory)


def test_unknown_tags_are_skipped():
    data = bytearray(sample_mbi())
    struct.pack_into("<I", data, 8, 99)                    # the cmdline tag: unknown type
    info = parse_mbi(bytes(data))
    assert info.cmdline == "" and 99 in info.tag_types


def test_fuzz_only_host_input_errors():
    rng = random.Random(2024)
    seeds = [sample_mbi(), grub_info()[0]]
    for i in range(3000):
        seed = seeds[i % 2]
        kind = i % 3
        if kind == 0:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 96)))
            if len(data) >= 4 and rng.random() < 0.5:
                data = put_u32(data, 0, len(data))
        elif kind == 1:
            data = seed[:rng.randrange(0, len(seed) + 1)]
        else:
            data = bytearray(seed)
            for _ in range(rng.randrange(1, 6)):
                data[rng.randrange(len(data))] = rng.getrandbits(8)
            data = bytes(data)
        try:
            parse_mbi(data, memory=firmware.HostMemory(128 << 20) if i % 5 == 0 else None)
        except HostInputError as e:
            assert "\n" not in str(e) and str(e).startswith("MBI: ")


# -- Xen's reading of command lines


def test_cmdline_cook():
    assert cmdline_cook("  a b", "GRUB 2.06") == "a b"
    assert cmdline_cook("/boot/xen.gz a b", "SYSLINUX 6") == "a b"
    assert cmdline_cook("xen", "") == ""
    assert loader_is_grub2(firmware.LOADER_NAME)
    assert not loader_is_grub2("GRUB 0.97")


# -- the firmware stage


def write_config(tmp_path, body, files=None):
    for name, data in (files or {}).items():
        (tmp_path / name).write_bytes(data)
    cfg = tmp_path / "boot.cfg"
    cfg.write_text("menuentry \"t\" {\n    multiboot2 /boot/xen.gz x=1\n%s}\n" % body)
    return str(cfg)


def test_firmware_layout(tmp_path):
    cfg = write_config(tmp_path, "    module2 a.bin one\n    module2 b.bin\n",
                       {"a.bin": b"A" * 5000, "b.bin": b"B" * 10})
    result = firmware.boot_config(cfg, host_mem=256 << 20)
    info = parse_mbi(result.mbi, memory=result.memory, address=result.mbi_addr)
    a, b = info.modules
    assert (a.start, a.end) == (firmware.MODULES_BASE, firmware.MODULES_BASE + 5000)
    assert b.start == firmware.MODULES_BASE + 0x2000                   # next page
    assert result.mbi_addr == b.start + 0x1000
    assert info.loader_name == firmware.LOADER_NAME
    assert info.load_base_addr == firmware.HYPERVISOR_LOAD_BASE
    assert info.mem_lower == 639 and info.mem_upper == (256 - 1) * 1024
    assert (a.data, b.data, a.string, b.string) == (b"A" * 5000, b"B" * 10, "one", "")
    assert result.module_names[0].endswith("a.bin")
    assert result.magic == mb2.MULTIBOOT2_BOOTLOADER_MAGIC


def test_firmware_memory_map_above_4g():
    mmap = firmware.pc_memory_map(6 << 30)
    ram = [(e.addr, e.len) for e in mmap if e.type == 1]
    assert ram == [(0, 0x9FC00), (1 << 20, (3 << 30) - (1 << 20)), (4 << 30, 3 << 30)]


def test_firmware_decompresses_like_grub(tmp_path):
    packed = gzip.compress(b"payload" * 100)
    cfg = write_config(tmp_path, "    module2 m.gz\n    module2 --nounzip m.gz\n",
                       {"m.gz": packed})
    result = firmware.boot_config(cfg)
    info = parse_mbi(result.mbi, memory=result.memory)
    assert info.modules[0].data == b"payload" * 100
    assert info.modules[1].data == packed


def test_firmware_bad_gzip(tmp_path):
    cfg = write_config(tmp_path, "    module2 m.gz\n", {"m.gz": b"\x1f\x8bnot gzip"})
    with pytest.raises(HostInputError) as e:
        firmware.boot_config(cfg)
    assert str(e.value).startswith("%s: line 3: module2 m.gz: looks compressed but does not "
                                   "decompress" % cfg)
    assert str(e.value).endswith("(fix the file, or load it as is with module2 --nounzip)")


def test_firmware_host_too_small(tmp_path):
    cfg = write_config(tmp_path, "    module2 big.bin\n", {"big.bin": bytes(20 << 20)})
    with pytest.raises(HostInputError) as e:
        firmware.boot_config(cfg, host_mem=32 << 20)
    assert str(e.value) == ("%s: line 3: module2 big.bin: 20971520 bytes do not fit in host "
                            "RAM below 32 MiB (they would end at 0x2400000) (give the host "
                            "more memory or load smaller modules)" % cfg)
