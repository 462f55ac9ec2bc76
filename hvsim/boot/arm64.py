"""Building an arm64 domain the way Xen's toolstack and dom0less builder do
(tools/libs/guest/xg_dom_arm.c, xen/arch/arm/kernel.c, domain_build.c):
the guest memory layout of xen/include/public/arch-arm.h, the kernel (an
arm64 `Image` or an ELF), the initrd and the device tree after it, and
vCPU0 at the kernel entry with x0 = the device tree's address.

Layout of a domain with M bytes of memory (M <= GUEST_RAM0_SIZE):
  [0x38000000, +16 MiB)   grant table region (the guest maps its frames here)
  [0x39000000, +4 pages)  magic pages: console (+0), xenstore (+1), ...
  [0x40000000, +M)        RAM: the kernel at RAM + text_offset (Image) or its
                          ELF p_paddr, then the initrd, then the DTB
"""

import io
import struct
import zlib

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ..abi import arch_arm as a, hvm as h
from ..abi.cstruct import ARM64
from ..arch.arm64.vcpu import Arm64Vcpu
from ..errors import HostInputError, read_input
from ..hv.arm.vcpu import ArmVCpu
from ..hv.arm.vgic import Vgic
from ..hv.physmap import PAGE_SIZE
from ..toolstack import libxl
from . import arm64_dtb
from .elf import KernelImage, Segment, _segments, _symbols
from .decompress import GZIP_MAGICS, decompress
from .util import round_up

IMAGE_MAGIC = 0x644D5241            # "ARM\x64" at offset 0x38 (Documentation/arch/arm64/booting.rst)
IMAGE_HEADER = struct.Struct("<IIQQQQQQII")
IMAGE_FLAG_BE = 1 << 0
DEFAULT_TEXT_OFFSET = 0x80000       # an Image with image_size 0 predates text_offset
MIN_ALIGN = 2 << 20
LIBXL_MAXMEM_CONSTANT = 1 << 20
MAGIC_PFN = a.GUEST_MAGIC_BASE >> 12


def _is_image(data):
    return len(data) >= IMAGE_HEADER.size and struct.unpack_from("<I", data, 0x38)[0] == IMAGE_MAGIC


def is_arm64_kernel(data):
    """True for an arm64 Image (also gzipped, as Image.gz) or an AArch64 ELF
    (what `hvsim run` boots as arm64); `data` may be the file's first bytes."""
    if data[:2] in GZIP_MAGICS:
        try:
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, IMAGE_HEADER.size)
        except zlib.error:
            return False
    if _is_image(data):
        return True
    return data[:4] == b"\x7fELF" and len(data) > 20 and struct.unpack_from("<H", data, 18)[0] == 183


def load_image(path, data, mem):
    """An arm64 Image: header checked as Xen's kernel_zimage64_probe does;
    loaded at the start of RAM + text_offset, entered at its first byte."""
    (code0, code1, text_offset, image_size, flags, _r2, _r3, _r4, magic,
     _r5) = IMAGE_HEADER.unpack_from(data)
    if flags & IMAGE_FLAG_BE:
        raise HostInputError(path, "Image header flags", "a big-endian kernel (flags bit 0 set)",
                             "build a little-endian arm64 kernel")
    if image_size == 0:
        text_offset, image_size = DEFAULT_TEXT_OFFSET, len(data)
    if image_size < len(data):
        raise HostInputError(path, "Image header image_size",
                             "%#x is smaller than the file (%#x bytes)" % (image_size, len(data)),
                             "the Image is corrupt or truncated: rebuild it")
    load = a.GUEST_RAM0_BASE + text_offset
    if text_offset + image_size > mem:
        raise HostInputError(path, "Image header text_offset/image_size",
                             "the kernel needs %d MiB but the domain has %d MiB"
                             % ((text_offset + image_size) >> 20, mem >> 20),
                             "give the domain more memory (--mem)")
    seg = Segment(load, load, data, image_size, True)
    return KernelImage(path, "EM_AARCH64", 64, load, [seg], {}, {})


def load_elf(path, data, mem):
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf["e_machine"] != "EM_AARCH64" or elf.elfclass != 64:
            raise HostInputError(path, "e_machine", "not a 64-bit AArch64 ELF",
                                 "build the guest with aarch64-linux-gnu-gcc")
        segments = _segments(path, elf)
        symbols = _symbols(elf)
        entry = elf["e_entry"]
    except ELFError as e:
        raise HostInputError(path, "ELF", "malformed ELF: %s" % e, "rebuild the image") from None
    for s in segments:
        if s.paddr < a.GUEST_RAM0_BASE or s.paddr + s.memsz > a.GUEST_RAM0_BASE + mem:
            raise HostInputError(path, "PT_LOAD [%#x, %#x)" % (s.paddr, s.paddr + s.memsz),
                                 "segment lies outside the domain's RAM [%#x, %#x)"
                                 % (a.GUEST_RAM0_BASE, a.GUEST_RAM0_BASE + mem),
                                 "link the kernel at 0x40080000 (arch-arm.h's GUEST_RAM0_BASE)")
    return KernelImage(path, "EM_AARCH64", 64, entry, segments, {}, symbols)


def load_kernel(path, data, mem):
    """An Image, a gzipped Image (inflated first, as Xen's kernel_decompress()
    does) or an ELF."""
    if data[:2] in GZIP_MAGICS:
        data = decompress(data, path, "Image.gz")
    if _is_image(data):
        return load_image(path, data, mem)
    return load_elf(path, data, mem)


def _place(d, spec, kernel, mem):
    """Write the kernel, then the initrd and the DTB on the pages after it;
    returns the DTB's address."""
    end = a.GUEST_RAM0_BASE + mem
    for seg in kernel.segments:
        d.physmap.write(seg.paddr, seg.data)
    addr = round_up(max(s.paddr + s.memsz for s in kernel.segments), MIN_ALIGN)
    initrd = None
    if spec.modules:
        m = spec.modules[0]
        initrd = (addr, len(m.data))
        addr = round_up(addr + len(m.data))
    blob = arm64_dtb.build(d, spec, mem, initrd)
    if addr + len(blob) > end or (initrd and initrd[0] + initrd[1] > end):
        raise HostInputError(spec.source, "device tree", "no room for the initrd and the "
                             "device tree after the kernel", "give the domain more memory")
    if initrd:
        d.physmap.write(initrd[0], spec.modules[0].data)
    d.physmap.write(addr, blob)
    return addr


def build_domain(hv, spec):
    """Create, load and prepare one arm64 domain (left paused)."""
    data = spec.kernel_data if spec.kernel_data is not None else read_input(
        spec.kernel, "cannot open: %s", "check the path")
    mem = spec.mem
    if mem > a.GUEST_RAM0_SIZE or mem % PAGE_SIZE:
        raise HostInputError(spec.source, "memory", "%d MiB: an arm64 domain has at most "
                             "%d MiB in RAM bank 0" % (mem >> 20, a.GUEST_RAM0_SIZE >> 20),
                             "give less memory")
    kernel = load_kernel(spec.source, data, mem)
    d = hv.create_domain(spec.domid, name=spec.name, caps=spec.caps, max_vcpus=spec.vcpus,
                         max_pages=(mem + LIBXL_MAXMEM_CONSTANT) >> 12,
                         is_console=spec.is_console)
    d.kernel = kernel
    d.shared_info.abi = ARM64
    d.physmap.add_region(a.GUEST_RAM0_BASE, mem, "ram0")
    d.physmap.add_region(a.GUEST_MAGIC_BASE, a.NR_MAGIC_PAGES * PAGE_SIZE, "magic pages")
    dtb = _place(d, spec, kernel, mem)
    d.vgic = Vgic(d)
    for i in range(spec.vcpus):
        v = ArmVCpu(d, i)
        v.arch = Arm64Vcpu(v, d.physmap, i)
        v.arch.on_exception = v.traced_exception
        d.vcpus.append(v)
        v.refresh_vcpu_info()
    v0 = d.vcpus[0]
    v0.arch.reset(kernel.entry, dtb)
    v0.boot_online()
    # libxl__arch_domain_init_hw_description(): the event channel PPI, active-low level
    d.hvm_params[h.HVM_PARAM_CALLBACK_IRQ] = (
        h.HVM_PARAM_CALLBACK_TYPE_PPI << h.HVM_PARAM_CALLBACK_IRQ_TYPE_SHIFT |
        h.HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_LOW_LEVEL << h.HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_SHIFT |
        a.GUEST_EVTCHN_PPI)
    libxl.setup_domain(hv, d, spec.backend_domid,
                       magic_pfns=(MAGIC_PFN + a.XENSTORE_PFN_OFFSET,
                                   MAGIC_PFN + a.CONSOLE_PFN_OFFSET))
    return d
