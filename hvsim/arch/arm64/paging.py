"""The guest's stage-1 translation (VMSAv8-64, the EL1&0 regime), walked by
hvsim for debuggers: the gdb stub's and `hvsim step`'s memory access by
guest virtual address (`peek`/`poke`), as QEMU's get_phys_addr_lpae walks
it for the CPU (target/arm/helper.c) and Xen's guest_walk_tables does for
an Arm guest (xen/arch/arm/guest_walk.c).

What it follows: SCTLR_EL1.M (MMU off: virtual = physical), TTBR0_EL1 or
TTBR1_EL1 by the address's top bits (bit 55, with TCR_EL1.TBI0/TBI1
ignoring the top byte), TCR_EL1's T0SZ/T1SZ, TG0/TG1 (4K, 16K and 64K
granules), EPD0/EPD1, and table, block and page descriptors.  Debugger
access ignores permissions (AP, PXN/UXN) and never sets the access flag;
output addresses are taken up to 48 bits (no 52-bit LPA).  The
descriptors are read from the domain's physmap; an address that does not
translate, or translates outside guest memory, ends the access there.
"""

from . import sysregs as sr

MASK64 = (1 << 64) - 1
OA_MASK = (1 << 48) - 1

SCTLR_M = 1 << 0
TCR_EPD0, TCR_EPD1 = 1 << 7, 1 << 23
TCR_TBI0, TCR_TBI1 = 1 << 37, 1 << 38

# TCR_EL1.TG0 and TG1 encode the granule differently (Arm ARM D19.2.139)
TG0_SHIFT = {0: 12, 1: 16, 2: 14}
TG1_SHIFT = {1: 14, 2: 12, 3: 16}

DESC_VALID, DESC_TABLE = 1, 2
TTBR_BADDR = ((1 << 48) - 1) & ~1          # TTBR_ELx.BADDR (bits 47:1); CnP is bit 0


class Regime:
    """The translation registers of one vCPU at one moment."""

    def __init__(self, read):
        """read: (op0, op1, CRn, CRm, op2) -> the system register's value."""
        self.sctlr = read(sr.SCTLR_EL1)
        self.tcr = read(sr.TCR_EL1)
        self.ttbr = (read(sr.TTBR0_EL1), read(sr.TTBR1_EL1))

    @property
    def mmu_on(self):
        return bool(self.sctlr & SCTLR_M)

    def granule(self, upper):
        """Page shift of the TTBR1 (upper) or TTBR0 half."""
        if upper:
            return TG1_SHIFT.get(self.tcr >> 30 & 3, 12)
        return TG0_SHIFT.get(self.tcr >> 14 & 3, 12)

    def describe(self):
        """'MMU off', or 'MMU on (4K granule, 48-bit VA)' for TTBR0's half."""
        if not self.mmu_on:
            return "MMU off"
        return "MMU on (%dK granule, %d-bit VA)" % (1 << (self.granule(False) - 10),
                                                   64 - (self.tcr & 0x3F))


def translate(regime, physmap, va):
    """The guest-physical address of virtual address `va`, or None where the
    stage-1 tables have no valid entry for it."""
    va &= MASK64
    if not regime.mmu_on:
        return va if va <= OA_MASK else None
    upper = bool(va >> 55 & 1)
    tcr = regime.tcr
    tbi = tcr & (TCR_TBI1 if upper else TCR_TBI0)
    if tcr & (TCR_EPD1 if upper else TCR_EPD0):
        return None
    tsz = (tcr >> 16 if upper else tcr) & 0x3F
    inputsize = 64 - max(16, min(tsz, 39))
    top = 56 if tbi else 64
    high = (va & ((1 << top) - 1)) >> inputsize       # must be all ones (TTBR1) or zeros
    if high != (((1 << (top - inputsize)) - 1) if upper else 0):
        return None
    shift = regime.granule(upper)
    stride = shift - 3
    level = 4 - -(-(inputsize - shift) // stride)     # the walk's first level
    table = regime.ttbr[upper] & TTBR_BADDR
    while True:
        lsb = shift + (3 - level) * stride             # lowest VA bit this level indexes
        bits = min(stride, inputsize - lsb)
        index = (va >> lsb) & ((1 << bits) - 1)
        desc = physmap.read_u64((table & ~7) + 8 * index)
        if desc is None or not desc & DESC_VALID:
            return None
        if level == 3:
            if not desc & DESC_TABLE:                  # 0b01 at level 3 is reserved
                return None
        elif not desc & DESC_TABLE:                    # a block
            return (desc & OA_MASK & ~((1 << lsb) - 1)) | (va & ((1 << lsb) - 1))
        else:
            table = desc & OA_MASK & ~((1 << shift) - 1)
            level += 1
            continue
        return (desc & OA_MASK & ~((1 << shift) - 1)) | (va & ((1 << shift) - 1))


class Walker:
    """Debugger access to one vCPU's guest virtual memory."""

    def __init__(self, vcpu):
        self.vcpu = vcpu
        self.sysregs = sr.RawReader(vcpu.uc)

    def regime(self):
        return Regime(self.sysregs.read)

    def _pages(self, va, n):
        """(guest-physical, length) of each translatable page of [va, va+n),
        in order, ending at the first that does not translate."""
        regime = self.regime()
        physmap = self.vcpu.physmap
        while n > 0 and va <= MASK64:
            chunk = min(n, 0x1000 - (va & 0xFFF))
            gpa = translate(regime, physmap, va)
            if gpa is None:
                return
            yield gpa, chunk
            va += chunk
            n -= chunk

    def translate(self, va):
        return translate(self.regime(), self.vcpu.physmap, va)

    def peek(self, va, n):
        """Up to n bytes at `va`: fewer where the range runs into a page that
        does not translate or is not guest memory (b'' for the first byte)."""
        out = bytearray()
        for gpa, chunk in self._pages(va, n):
            data = self.vcpu.physmap.read(gpa, chunk)
            if data is None:
                break
            out += data
        return bytes(out)

    def poke(self, va, data):
        """Write at `va` whatever the permissions; False (nothing written)
        if any byte does not translate to guest memory."""
        pages = list(self._pages(va, len(data)))
        if sum(chunk for _, chunk in pages) != len(data):
            return False
        physmap = self.vcpu.physmap
        if any(not physmap.is_ram(gpa) for gpa, _ in pages):
            return False
        pos = 0
        for gpa, chunk in pages:
            physmap.write(gpa, data[pos:pos + chunk])
            pos += chunk
        return True
