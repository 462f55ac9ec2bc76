"""A Linux bzImage as a PVH kernel: its ELF payload, as Xen's bzimage loader
finds it (xen/arch/x86/bzimage.c, bzimage_parse()).

The x86 boot protocol's setup header (Linux's Documentation/arch/x86/
boot.rst) sits at 0x1f1: `setup_sects` (0 means 4), `boot_flag` 0xAA55 at
0x1fe, "HdrS" at 0x202 and the protocol `version` at 0x206 (2.08 at least,
as Xen requires, for the payload fields); `payload_offset` and
`payload_length` at 0x248/0x24c, counted from the start of the
protected-mode code at (setup_sects + 1) * 512.  The payload is an ELF
vmlinux, compressed (hvsim.boot.decompress) or not; Linux's build appends
its decompressed size in the payload's last 4 bytes, which must match.

extract_elf(data, path) -> the ELF bytes; every problem is a HostInputError
naming the file and the field.
"""

import struct

from ..errors import HostInputError
from .decompress import decompress, format_of

ELF_MAGIC = b"\x7fELF"
BOOT_FLAG = 0xAA55
HDR_MAGIC = b"HdrS"
MIN_VERSION = 0x0208                # payload_offset/payload_length appear in 2.08
SETUP_SECTS, BOOT_FLAG_OFF, HEADER_OFF, VERSION_OFF = 0x1F1, 0x1FE, 0x202, 0x206
PAYLOAD_OFFSET_OFF, PAYLOAD_LENGTH_OFF = 0x248, 0x24C
HEADER_END = 0x250                  # the setup header up to payload_length
SECTOR = 512
FIX = "the file is not a complete bzImage: re-download the kernel or give hvsim its vmlinux"


def is_bzimage(data):
    """Whether `data` starts with a boot-protocol setup header ("HdrS")."""
    return (len(data) >= HEADER_OFF + 4 and data[HEADER_OFF:HEADER_OFF + 4] == HDR_MAGIC and
            struct.unpack_from("<H", data, BOOT_FLAG_OFF)[0] == BOOT_FLAG)


def payload(data, path):
    """The payload bytes the setup header points at (compressed or not)."""
    if len(data) < HEADER_END:
        raise HostInputError(path, "bzImage setup header", "the file ends at %d bytes, inside "
                             "the setup header (%d bytes)" % (len(data), HEADER_END), FIX)
    (version,) = struct.unpack_from("<H", data, VERSION_OFF)
    if version < MIN_VERSION:
        raise HostInputError(path, "bzImage setup header: version",
                             "boot protocol %d.%02d; at least 2.08 is needed for the payload "
                             "fields" % (version >> 8, version & 0xFF),
                             "give hvsim the kernel's vmlinux")
    setup_sects = data[SETUP_SECTS] or 4
    offset, length = struct.unpack_from("<II", data, PAYLOAD_OFFSET_OFF)
    start = (setup_sects + 1) * SECTOR + offset
    if length == 0:
        raise HostInputError(path, "bzImage setup header: payload_length", "is 0", FIX)
    if start + length > len(data):
        raise HostInputError(path, "bzImage setup header: payload_offset/payload_length",
                             "the payload [%#x, %#x) (setup_sects %d, payload_offset %#x, "
                             "payload_length %#x) extends beyond the file's %d bytes"
                             % (start, start + length, setup_sects, offset, length, len(data)),
                             FIX)
    return data[start:start + length]


def extract_elf(data, path):
    """The ELF vmlinux inside a bzImage, decompressed."""
    body = payload(data, path)
    if body[:4] == ELF_MAGIC:
        return bytes(body)
    field = "bzImage payload (%s)" % (format_of(body) or "unknown format")
    elf = decompress(body, path, field)
    if len(body) >= 4:
        (expected,) = struct.unpack_from("<I", body, len(body) - 4)
        if expected != len(elf) & 0xFFFFFFFF:
            raise HostInputError(path, field, "decompressed to %d bytes, but the payload's "
                                 "last 4 bytes say %d" % (len(elf), expected), FIX)
    if elf[:4] != ELF_MAGIC:
        raise HostInputError(path, field, "decompressed data is not an ELF image (magic %s)"
                             % elf[:4].hex(), "give hvsim the kernel's vmlinux")
    return elf
