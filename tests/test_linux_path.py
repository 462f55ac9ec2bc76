"""The user's path to booting Linux (issue 14): a ramdisk as module 0 of the
PVH start info (`hvsim run --ramdisk/--cmdline`, boot configs and LCMs),
bzImages as kernels (hvsim/boot/bzimage.py, decompress.py), and the newc
cpio writer (hvsim/boot/cpio.py) checked against `cpio -t` and a parser
of the test's own.

The guest guests/tests/boot-modules prints each module's size, command
line and FNV-1a hash as it finds them in its start info."""

import bz2
import gzip
import lzma
import os
import re
import shutil
import stat
import struct
import subprocess
import sys

import lz4.block
import pytest

import built
from hvsim.boot import bzimage, cpio, decompress, elf
from hvsim.errors import HostInputError

ROOT = built.ROOT
LINUX = ROOT / "build" / "linux"
PAGE = 4096


def hvsim(*args, timeout=60):
    r = subprocess.run([sys.executable, "-m", "hvsim", *args], capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr
    return r


def fnv1a(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def modules(stdout):
    """[(size, cmdline, fnv1a)] as boot-modules printed them."""
    return [(int(m[1], 16), m[2], int(m[3], 16)) for m in
            re.finditer(r"module \d+: size (0x[0-9a-f]+) cmdline '([^']*)' fnv1a (0x[0-9a-f]+)",
                        stdout)]


# --- the ramdisk as module 0 ------------------------------------------------

@pytest.mark.parametrize("env", ["hvm64", "hvm32pae"])
def test_run_ramdisk_is_module_0_page_rounded_without_cmdline(tmp_path, env):
    """`hvsim run --ramdisk`: module 0 as libxl gives it (a whole-page segment,
    no module command line), the kernel command line from --cmdline."""
    guest = built.guest(env, "boot-modules")
    rd = tmp_path / "initrd.img"
    data = os.urandom(5000)
    rd.write_bytes(data)
    r = hvsim("run", "--ramdisk", str(rd), "--cmdline", "console=hvc0 rdinit=/init", str(guest))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "cmdline 'console=hvc0 rdinit=/init'" in r.stdout
    assert "modules: 1" in r.stdout
    padded = data + bytes(-len(data) % PAGE)
    assert modules(r.stdout) == [(len(padded), "", fnv1a(padded))]


def test_run_without_ramdisk_has_no_modules():
    r = hvsim("run", str(built.guest("hvm64", "boot-modules")))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "modules: 0" in r.stdout and "cmdline ''" in r.stdout


def test_run_missing_ramdisk_is_one_line(tmp_path):
    missing = tmp_path / "nope.cpio"
    r = hvsim("run", "--ramdisk", str(missing), str(built.guest("hvm64", "boot-modules")))
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0] and "--ramdisk" in err[0], err


def _ramdisk_and_guest(tmp_path, data):
    (tmp_path / "rd.bin").write_bytes(data)
    guest = built.guest("hvm64", "boot-modules")
    return guest


def test_classic_boot_config_ramdisk_is_module_0(tmp_path):
    """Classic path: MB2 module 1 is dom0's ramdisk; Xen's pvh_load_kernel()
    gives its exact length and its MB2 string as the module's command line."""
    data = b"classic ramdisk\n" * 3
    guest = _ramdisk_and_guest(tmp_path, data)
    (tmp_path / "boot.cfg").write_text(
        'menuentry "classic" {\n    multiboot2 /boot/xen.gz dom0_mem=64M\n'
        '    module2 %s console=hvc0 root=/dev/ram0\n    module2 rd.bin initrd args\n}\n' % guest)
    r = hvsim("boot", "-q", str(tmp_path), "--no-prefix")
    assert r.returncode == 0, r.stdout + r.stderr
    r = hvsim("boot", str(tmp_path), "--no-prefix")
    assert "cmdline 'console=hvc0 root=/dev/ram0'" in r.stdout
    assert modules(r.stdout) == [(len(data), "initrd args", fnv1a(data))]


@pytest.mark.skipif(shutil.which("dtc") is None, reason="dtc not installed (make deps)")
def test_hyperlaunch_lcm_ramdisk_is_module_0(tmp_path):
    data = bytes(range(256)) * 9
    guest = _ramdisk_and_guest(tmp_path, data)
    (tmp_path / "lcm.dts").write_text("""/dts-v1/;
/ { chosen { hypervisor { compatible = "hypervisor,xen";
    guest { compatible = "xen,domain"; domid = <1>; capabilities = <0>; mode = <0>;
        cpus = <1>; memory = <0x0 0x10000>;
        kernel { compatible = "multiboot,kernel", "multiboot,module"; module-index = <1>;
                 bootargs = "console=hvc0 quiet"; };
        ramdisk { compatible = "multiboot,ramdisk", "multiboot,module"; module-index = <2>; };
    }; }; }; };
""")
    subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(tmp_path / "lcm.dtb"),
                    str(tmp_path / "lcm.dts")], check=True)
    (tmp_path / "boot.cfg").write_text(
        'menuentry "hl" {\n    multiboot2 /boot/xen.gz\n    module2 lcm.dtb\n'
        '    module2 %s\n    module2 rd.bin the-initramfs\n}\n' % guest)
    r = hvsim("boot", str(tmp_path), "--no-prefix")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "cmdline 'console=hvc0 quiet'" in r.stdout
    assert modules(r.stdout) == [(len(data), "the-initramfs", fnv1a(data))]


# --- bzImage ----------------------------------------------------------------

def make_bzimage(body, setup_sects=4, version=0x020F, offset=0x3A0):
    """A bzImage around `body` (the payload as built, size appended or not):
    the real-mode sectors with the setup header, then the protected-mode
    part with the payload at payload_offset."""
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1F1] = setup_sects
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    struct.pack_into("<II", setup, 0x248, offset, len(body))
    return bytes(setup) + bytes(offset) + body + bytes(64)


def sized(compressed, raw):
    """What Linux's build makes of a compressed vmlinux: its size appended."""
    return compressed + struct.pack("<I", len(raw))


def lz4_legacy(raw, chunk=decompress.LZ4_LEGACY_CHUNK):
    """LZ4's legacy frame, written with the lz4 package's block compressor."""
    out = bytearray(decompress.LZ4_LEGACY_MAGIC)
    for i in range(0, len(raw), chunk):
        block = lz4.block.compress(raw[i:i + chunk], store_size=False)
        out += struct.pack("<I", len(block)) + block
    return bytes(out)


COMPRESSORS = {
    "gzip": lambda raw: gzip.compress(raw, mtime=0),
    "bzip2": bz2.compress,
    "xz": lambda raw: lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32),
    "lzma": lambda raw: lzma.compress(raw, format=lzma.FORMAT_ALONE),
    "lz4": lz4_legacy,
}


@pytest.fixture(scope="module")
def guest_elf():
    return built.guest("hvm64", "boot-modules").read_bytes()


@pytest.mark.parametrize("fmt", sorted(COMPRESSORS))
def test_bzimage_payload_decompressed_to_the_same_kernel(tmp_path, guest_elf, fmt):
    image = make_bzimage(sized(COMPRESSORS[fmt](guest_elf), guest_elf))
    assert bzimage.is_bzimage(image)
    assert bzimage.extract_elf(image, "k") == guest_elf
    want = elf.load_kernel("k.elf", guest_elf)
    got = elf.load_kernel("k.bz", image)
    assert (got.entry, [(s.paddr, s.data) for s in got.segments]) == \
        (want.entry, [(s.paddr, s.data) for s in want.segments])


def test_bzimage_uncompressed_payload_and_setup_sects_0(guest_elf):
    """An ELF payload as is; setup_sects 0 means 4 (the boot protocol)."""
    image = bytearray(make_bzimage(guest_elf, setup_sects=4))
    image[0x1F1] = 0
    assert bzimage.extract_elf(image, "k") == guest_elf


def test_lz4_legacy_several_chunks_and_repeated_magic():
    """Chunks of 8 MiB (the last one shorter), a frame concatenated after the
    first (the magic again), and the 4 size bytes at the end."""
    raw = os.urandom(1 << 16) * 200                       # 12.5 MiB: two chunks
    frame = lz4_legacy(raw) + lz4_legacy(b"tail" * 1000)[:]
    data = sized(frame, raw + b"tail" * 1000)
    assert decompress.decompress(data, "k", "payload") == raw + b"tail" * 1000


def test_lz4_payload_without_the_lz4_package_is_one_line(monkeypatch):
    """Only an LZ4 kernel needs the lz4 package: without it (an old
    virtualenv) that kernel stops in one line saying how to get it, and
    nothing else is affected."""
    monkeypatch.setitem(sys.modules, "lz4.block", None)      # `import lz4.block` fails
    with pytest.raises(HostInputError) as e:
        decompress.decompress(lz4_legacy(b"kernel" * 100), "vmlinuz", "bzImage payload (lz4)")
    assert str(e.value) == ("vmlinuz: bzImage payload (lz4): an LZ4 payload, and the lz4 "
                            "Python package is not installed (run `make venv` to install "
                            "hvsim's packages, or give the extracted vmlinux)")
    assert decompress.decompress(gzip.compress(b"k" * 100), "vmlinuz", "payload") == b"k" * 100


@pytest.mark.skipif(shutil.which("lz4") is None, reason="the lz4 command is not installed")
def test_lz4_legacy_from_the_lz4_command(tmp_path, guest_elf):
    """The frame Linux's build writes (`lz4 -l`), from the reference tool."""
    src = tmp_path / "vmlinux"
    src.write_bytes(guest_elf)
    out = subprocess.run(["lz4", "-l", "-c", "-9", str(src)], capture_output=True,
                         check=True).stdout
    assert out[:4] == decompress.LZ4_LEGACY_MAGIC
    image = make_bzimage(sized(out, guest_elf))
    assert bzimage.extract_elf(image, "k") == guest_elf


def test_run_boots_a_bzimage(tmp_path, guest_elf):
    """`hvsim run` takes the bzImage itself, with a ramdisk."""
    k = tmp_path / "vmlinuz"
    k.write_bytes(make_bzimage(sized(COMPRESSORS["lz4"](guest_elf), guest_elf)))
    rd = tmp_path / "rd"
    rd.write_bytes(b"x" * PAGE)
    r = hvsim("run", "--ramdisk", str(rd), str(k))
    assert r.returncode == 0, r.stdout + r.stderr
    assert modules(r.stdout) == [(PAGE, "", fnv1a(b"x" * PAGE))]


def _broken(guest_elf):
    good = sized(gzip.compress(guest_elf, mtime=0), guest_elf)
    image = make_bzimage(good)
    start = 5 * 512 + 0x3A0
    old = bytearray(image)
    struct.pack_into("<H", old, 0x206, 0x0206)
    wrong_size = make_bzimage(gzip.compress(guest_elf, mtime=0) + struct.pack("<I", 1234))
    return {
        "truncated header": (image[:0x220], "bzImage setup header", "inside the setup header"),
        "old protocol": (bytes(old), "bzImage setup header: version", "2.06"),
        "payload past the end": (image[:start + 100],
                                 "bzImage setup header: payload_offset/payload_length",
                                 "extends beyond the file"),
        "corrupt gzip": (make_bzimage(good[:40] + bytes(200) + good[240:]),
                         "bzImage payload (gzip)", "corrupt gzip data"),
        "truncated xz": (make_bzimage(COMPRESSORS["xz"](guest_elf)[:500]),
                         "bzImage payload (xz)", "truncated"),
        "zstd": (make_bzimage(decompress.ZSTD_MAGIC + bytes(100)),
                 "bzImage payload (zstd)", "zstd, which hvsim cannot decompress"),
        "unknown payload": (make_bzimage(b"\x01\x02\x03\x04" * 50),
                            "bzImage payload (unknown format)", "magic 01020304"),
        "lz4 chunk overrun": (make_bzimage(decompress.LZ4_LEGACY_MAGIC +
                                           struct.pack("<I", 1 << 20) + bytes(64)),
                              "bzImage payload (lz4)", "runs past the payload"),
        "size mismatch": (wrong_size, "bzImage payload (gzip)", "last 4 bytes say 1234"),
        "not an ELF inside": (make_bzimage(sized(gzip.compress(b"hello" * 10), b"hello" * 10)),
                              "bzImage payload (gzip)", "not an ELF image"),
    }


def test_malformed_bzimages_stop_with_file_and_field(guest_elf):
    for name, (image, field, text) in _broken(guest_elf).items():
        with pytest.raises(HostInputError) as e:
            elf.load_kernel("vmlinuz", image)
        assert e.value.file == "vmlinuz" and e.value.field == field, name
        assert text in str(e.value) and "\n" not in str(e.value), (name, str(e.value))


def test_malformed_bzimage_on_the_command_line_is_one_line(tmp_path, guest_elf):
    image, _, text = _broken(guest_elf)["payload past the end"]
    k = tmp_path / "vmlinuz"
    k.write_bytes(image)
    r = hvsim("run", str(k))
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and str(k) in err[0] and "payload_offset/payload_length" in err[0]


@pytest.mark.skipif(not (LINUX / "vmlinuz").exists(),
                    reason="build/linux/vmlinuz not fetched (make linux)")
def test_debian_vmlinuz_is_lz4_and_holds_the_pvh_kernel():
    data = (LINUX / "vmlinuz").read_bytes()
    body = bzimage.payload(data, "vmlinuz")
    assert decompress.format_of(body) == "lz4"       # Debian's cloud flavour
    k = elf.load_kernel("vmlinuz", data)
    assert k.elfclass == 64 and k.entry == 0x1000850       # pvh_start_xen


# --- cpio -------------------------------------------------------------------

def parse_newc(data):
    """The test's own newc reader: [(name, mode, rdev, data)] up to the trailer."""
    out, pos = [], 0
    while True:
        assert data[pos:pos + 6] == b"070701", pos
        f = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = f[11], f[6]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        assert data[pos + 110 + namesize - 1] == 0
        pos = (pos + 110 + namesize + 3) & ~3
        body = data[pos:pos + filesize]
        pos = (pos + filesize + 3) & ~3
        if name == "TRAILER!!!":
            assert pos == len(data)
            return out
        out.append((name, f[1], (f[9], f[10]), body))


def sample_archive():
    a = cpio.Archive()
    a.dir("bin")
    a.file("bin/hello", b"#!/bin/sh\necho hi\n", 0o755)
    a.file("empty", b"")
    a.file("odd", b"abc")
    a.symlink("bin/sh", "hello")
    a.dir("dev")
    a.chardev("dev/console", 5, 1)
    return a.bytes()


def test_cpio_newc_layout():
    entries = parse_newc(sample_archive())
    assert [(n, stat.S_IFMT(m), stat.S_IMODE(m)) for n, m, _, _ in entries] == [
        ("bin", stat.S_IFDIR, 0o755), ("bin/hello", stat.S_IFREG, 0o755),
        ("empty", stat.S_IFREG, 0o644), ("odd", stat.S_IFREG, 0o644),
        ("bin/sh", stat.S_IFLNK, 0o777), ("dev", stat.S_IFDIR, 0o755),
        ("dev/console", stat.S_IFCHR, 0o600)]
    by_name = {n: (rdev, body) for n, _, rdev, body in entries}
    assert by_name["bin/hello"][1] == b"#!/bin/sh\necho hi\n"
    assert by_name["odd"][1] == b"abc" and by_name["bin/sh"][1] == b"hello"
    assert by_name["dev/console"][0] == (5, 1)
    assert sample_archive() == sample_archive()            # the same bytes every time


def test_cpio_repeated_name_refused():
    a = cpio.Archive()
    a.dir("bin")
    with pytest.raises(ValueError):
        a.dir("/bin")


@pytest.mark.skipif(shutil.which("cpio") is None, reason="cpio not installed (make deps)")
def test_cpio_read_by_gnu_cpio(tmp_path):
    """GNU cpio lists and extracts what the writer wrote."""
    f = tmp_path / "a.cpio"
    f.write_bytes(sample_archive())
    names = subprocess.run(["cpio", "-it", "-F", str(f)], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert names == ["bin", "bin/hello", "empty", "odd", "bin/sh", "dev", "dev/console"]
    lines = subprocess.run(["cpio", "-itv", "-F", str(f)], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert lines[4].startswith("lrwxrwxrwx") and lines[4].endswith("bin/sh -> hello")
    assert lines[6].startswith("crw-------") and "5,   1" in lines[6]
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["cpio", "-id", "--no-absolute-filenames", "--quiet", "-F", str(f),
                    "bin/hello", "odd", "bin/sh"], cwd=out, check=True)
    assert (out / "bin" / "hello").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert os.access(out / "bin" / "hello", os.X_OK)
    assert os.readlink(out / "bin" / "sh") == "hello"


@pytest.mark.skipif(not (LINUX / "initramfs.cpio").exists(),
                    reason="build/linux/initramfs.cpio not built (make linux)")
def test_linux_initramfs_holds_init_busybox_and_console():
    entries = {n: (m, rdev, body) for n, m, rdev, body in
               parse_newc((LINUX / "initramfs.cpio").read_bytes())}
    assert entries["init"][2] == (ROOT / "guests" / "linux" / "init").read_bytes()
    assert stat.S_IMODE(entries["init"][0]) == 0o755
    assert entries["bin/busybox"][2][:4] == b"\x7fELF"
    assert entries["bin/sh"][2] == b"busybox" and entries["bin/poweroff"][2] == b"busybox"
    assert stat.S_ISCHR(entries["dev/console"][0]) and entries["dev/console"][1] == (5, 1)
