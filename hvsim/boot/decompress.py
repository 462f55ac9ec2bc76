"""Decompressing a kernel payload by its magic, as Xen's decompress()
(xen/common/decompress.c) does for a bzImage's payload: gzip, bzip2, XZ,
legacy LZMA and LZ4's legacy frame (xen/common/unlz4.c, which Debian's
cloud kernels use), each with Python's own modules or the `lz4` package's
block decoder.  LZO and zstd, which Xen also reads, are refused by name.

decompress(data, path, field) -> bytes; every problem is a HostInputError
naming the file, the field and the format.
"""

import bz2
import lzma
import struct
import zlib

from ..errors import HostInputError

GZIP_MAGICS = (b"\x1f\x8b", b"\x1f\x9e")
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
LZMA_MAGIC = b"\x5d\x00\x00"
LZO_MAGIC = b"\x89LZO\x00\r\n\x1a\n"
LZ4_LEGACY_MAGIC = b"\x02\x21\x4c\x18"       # 0x184C2102, little-endian
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LZ4_LEGACY_CHUNK = 8 << 20                   # each chunk decompresses to at most 8 MiB
UNSUPPORTED = {"lzo": "LZO", "zstd": "zstd"}


def format_of(data):
    """'gzip', 'bzip2', 'xz', 'lzma', 'lz4', 'lzo', 'zstd', or None."""
    for magic, name in ((GZIP_MAGICS[0], "gzip"), (GZIP_MAGICS[1], "gzip"),
                        (BZIP2_MAGIC, "bzip2"), (XZ_MAGIC, "xz"), (LZMA_MAGIC, "lzma"),
                        (LZ4_LEGACY_MAGIC, "lz4"), (LZO_MAGIC, "lzo"), (ZSTD_MAGIC, "zstd")):
        if data.startswith(magic):
            return name
    return None


def decompress(data, path, field):
    """The decompressed bytes of `data` (its format told by its magic)."""
    fmt = format_of(data)
    if fmt is None:
        raise HostInputError(path, field, "neither an ELF image nor a compressed one this "
                             "loader knows (magic %s)" % bytes(data[:4]).hex(),
                             "give hvsim the kernel's vmlinux or a bzImage compressed with "
                             "gzip, bzip2, XZ, LZMA or LZ4")
    if fmt in UNSUPPORTED:
        raise HostInputError(path, field, "compressed with %s, which hvsim cannot decompress"
                             % UNSUPPORTED[fmt], "extract the vmlinux (Linux's "
                             "scripts/extract-vmlinux) and give hvsim that")
    try:
        if fmt == "lz4":
            return unlz4(data, path, field)
        return _stream(_DECOMPRESSORS[fmt](), data)
    except (EOFError, OSError, lzma.LZMAError, zlib.error, ValueError) as e:
        raise HostInputError(path, field, "corrupt %s data (%s)" % (fmt, e),
                             "rebuild or re-download the kernel") from None


_DECOMPRESSORS = {
    "gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    "bzip2": bz2.BZ2Decompressor,
    "xz": lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ),
    "lzma": lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE),
}


def _stream(dec, data):
    """One compressed stream; what follows it (Linux appends the
    decompressed size, 4 bytes) is left alone, as Xen's decompressors do."""
    out = dec.decompress(data)
    if not dec.eof:
        raise EOFError("the stream is truncated")
    return out


def unlz4(data, path, field):
    """LZ4's legacy frame as Linux's `lz4 -l` writes it (lib/decompress_unlz4.c):
    the magic, then chunks, each a u32 compressed size and an LZ4 block of at
    most 8 MiB decompressed; the magic may recur (concatenated frames).  The
    4 bytes left at the end are the size Linux's build appends."""
    try:
        import lz4.block            # only an LZ4 kernel needs it
    except ImportError:
        raise HostInputError(path, field, "an LZ4 payload, and the lz4 Python package is not "
                             "installed", "run `make venv` to install hvsim's packages, or "
                             "give the extracted vmlinux") from None
    out = bytearray()
    pos = len(LZ4_LEGACY_MAGIC)
    end = len(data)
    while end - pos > 4:
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if size == struct.unpack("<I", LZ4_LEGACY_MAGIC)[0]:
            continue
        if size == 0 or size > end - pos:
            raise HostInputError(path, field, "LZ4 chunk at offset %#x: its size %d runs "
                                 "past the payload's %d bytes" % (pos - 4, size, end),
                                 "rebuild or re-download the kernel")
        try:
            out += lz4.block.decompress(data[pos:pos + size],
                                        uncompressed_size=LZ4_LEGACY_CHUNK)
        except lz4.block.LZ4BlockError as e:
            raise HostInputError(path, field, "LZ4 chunk at offset %#x: corrupt (%s)"
                                 % (pos - 4, e), "rebuild or re-download the kernel") from None
        pos += size
    if not out:
        raise HostInputError(path, field, "LZ4 frame with no data",
                             "rebuild or re-download the kernel")
    return bytes(out)
