"""The virtual GICv2 an Arm domain sees (xen/arch/arm/vgic.c, vgic-v2.c, and
the GICv2 virtual CPU interface Xen maps at GICC's address): a distributor
at GUEST_GICD_BASE and a CPU interface at GUEST_GICC_BASE (arch-arm.h), as
the guest's device tree describes them.

Distributor (vgic-v2.c's register by register behaviour): CTLR (only the
enable bit), TYPER ((max_vcpus - 1) << 5 | DIV_ROUND_UP(nr_spis, 32)), IIDR
0x43b, IGROUPR/NSACR RAZ/WI, I[SC]ENABLER, ISPENDR writes (set pending),
ISPENDR/ICPENDR reads RAZ, I[SC]ACTIVER reads (the active bits), IPRIORITYR
(bytes or words), ITARGETSR (SGIs/PPIs read-only: this vCPU; an SPI goes to
the first vCPU of a mask, a zero mask is ignored), ICFGR (SGIs/PPIs
write-ignored), SGIR (target list, all but self, self).  What Xen leaves
unhandled (ICPENDR, ISACTIVER and C/SPENDSGIR writes, an SGIR with filter 3,
ICPIDR2, offsets it does not know) is a data abort for the guest; a bad
access width crashes the domain (domain_crash_synchronous).  An SGI's IAR
reports source CPU 0, as Xen's list registers leave it.

CPU interface (the GICv2 architecture, 5 priority bits as GICV has): CTLR,
PMR, BPR/ABPR, IAR (acknowledge: active, no longer pending; 1023 when
nothing can be signalled), EOIR (priority drop, and deactivation unless
CTLR.EOImode), DIR, RPR, HPPIR, APR0, IIDR.

An interrupt is signalled to a vCPU when the distributor and the CPU
interface are enabled, it is enabled, pending and not active, its priority
is below PMR and its group priority below the running priority.  The
output is the vCPU's IRQ line (`VCpu.arch.set_irq_line`), which QEMU
samples itself (arch/arm64/irqline.py); raising an interrupt kicks a vCPU
blocked in wfi or SCHEDOP_block (vgic_inject_irq -> vcpu_kick).  A level
source (the virtual timer, vtimer.py) is sampled again when its interrupt
is deactivated, as a hardware-mapped PPI would be.
"""

from ...abi import arch_arm as a

NR_SGIS = 16
NR_PRIVATE = 32
SPURIOUS = 1023
PRIO_BITS_SHIFT = 3                 # GICV: 5 priority bits, [7:3]
IDLE_PRIORITY = 0x100
MIN_BPR, MIN_ABPR = 2, 3            # with 5 priority bits

GICD_CTLR, GICD_TYPER, GICD_IIDR = 0x000, 0x004, 0x008
GICD_IGROUPR, GICD_ISENABLER, GICD_ICENABLER = 0x080, 0x100, 0x180
GICD_ISPENDR, GICD_ICPENDR, GICD_ISACTIVER, GICD_ICACTIVER = 0x200, 0x280, 0x300, 0x380
GICD_IPRIORITYR, GICD_ITARGETSR, GICD_ICFGR, GICD_NSACR = 0x400, 0x800, 0xC00, 0xE00
GICD_SGIR, GICD_CPENDSGIR, GICD_SPENDSGIR, GICD_ICPIDR2 = 0xF00, 0xF10, 0xF20, 0xFE8
GICD_IIDR_VAL = 0x0000043B          # vgic-v2.c: "the physical h/w value"

GICC_CTLR, GICC_PMR, GICC_BPR, GICC_IAR, GICC_EOIR = 0x00, 0x04, 0x08, 0x0C, 0x10
GICC_RPR, GICC_HPPIR, GICC_ABPR, GICC_AIAR, GICC_AEOIR = 0x14, 0x18, 0x1C, 0x20, 0x24
GICC_AHPPIR, GICC_APR0, GICC_NSAPR0, GICC_IIDR, GICC_DIR = 0x28, 0xD0, 0xE0, 0xFC, 0x1000
GICC_IIDR_VAL = 0x0202143B          # a GIC-400's virtual CPU interface
GICC_CTLR_MASK = 0x21F              # EnableGrp0/1, AckCtl, FIQEn, CBPR, EOImode
GICC_CTLR_ENABLE, GICC_CTLR_EOIMODE = 0x1, 0x200

SGIR_FILTER_LIST, SGIR_FILTER_OTHERS, SGIR_FILTER_SELF = 0, 1, 2


class VgicAbort(Exception):
    """An access Xen's vGIC does not handle: a data abort for the guest."""


class VgicBadWidth(Exception):
    """An access of a width the register does not allow: Xen crashes the domain."""


def _bits(mask):
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


class Vgic:
    """A domain's distributor: its enable bit and the SPIs' state."""

    def __init__(self, domain, nr_spis=0):
        self.domain = domain
        self.nr_spis = nr_spis
        self.nr_lines = NR_PRIVATE + nr_spis
        self.ctlr = 0
        self.spi_enabled = self.spi_pending = self.spi_active = 0   # bit n: SPI 32 + n
        self.spi_priority = bytearray(nr_spis)
        self.spi_target = [0] * nr_spis                              # vCPU ids
        self.spi_icfg = [0] * ((nr_spis + 15) // 16)

    def cpu(self, vcpu_id):
        return self.domain.vcpus[vcpu_id].vgic

    def update_all(self):
        for v in self.domain.vcpus:
            if v.vgic is not None:
                v.vgic.update()

    # -- the distributor's registers ------------------------------------------------------
    def read(self, vc, off, size):
        if off < GICD_IGROUPR:
            _word(size)
            if off == GICD_CTLR:
                return self.ctlr
            if off == GICD_TYPER:
                return ((len(self.domain.vcpus) - 1) << 5) | ((self.nr_spis + 31) // 32)
            if off == GICD_IIDR:
                return GICD_IIDR_VAL
            return 0                                    # reserved, implementation defined
        if off < GICD_ISENABLER or GICD_NSACR <= off < GICD_SGIR:
            _word(size)
            return 0                                    # IGROUPR, NSACR: no security extensions
        if off < GICD_ISPENDR:
            _word(size)
            return self._bitmap(vc, (off & 0x7F) // 4, "enabled")
        if off < GICD_ISACTIVER:
            _word(size)
            return 0                                    # pending state: RAZ via GICD
        if off < GICD_IPRIORITYR:
            _word(size)
            return self._bitmap(vc, (off & 0x7F) // 4, "active")
        if off < GICD_ITARGETSR:
            _byte_or_word(size)
            return self._bytes(vc, off - GICD_IPRIORITYR, size, self._priority_of)
        if off < GICD_ICFGR:
            _byte_or_word(size)
            return self._bytes(vc, off - GICD_ITARGETSR, size, self._target_mask)
        if off < 0xD00:
            _word(size)
            return self._icfgr(vc, (off - GICD_ICFGR) // 4)
        if off < GICD_NSACR:
            return 0                                    # implementation defined
        if off == GICD_SGIR:
            _word(size)
            return 0xDEADBEEF                           # write only: read unknown
        if GICD_CPENDSGIR <= off < 0xF30:
            return 0
        if off == GICD_ICPIDR2:
            _word(size)
            raise VgicAbort("unhandled read from ICPIDR2")
        if off < 0xFD0:
            return 0                                    # reserved
        return 0                                        # identification: implementation defined

    def write(self, vc, off, size, value):
        if off < GICD_IGROUPR:
            _word(size)
            if off == GICD_CTLR:
                self.ctlr = value & 1
                self.update_all()
            return
        if off < GICD_ISENABLER or GICD_NSACR <= off < GICD_SGIR:
            _word(size)
            return
        if off < GICD_ICENABLER:
            _word(size)
            self._set_bits(vc, (off & 0x7F) // 4, "enabled", value, True)
        elif off < GICD_ISPENDR:
            _word(size)
            self._set_bits(vc, (off & 0x7F) // 4, "enabled", value, False)
        elif off < GICD_ICPENDR:
            _word(size)
            index = (off & 0x7F) // 4
            if index == 0:
                value &= ~0xFFFF                        # SGIs: set through SGIR only
            self._set_bits(vc, index, "pending", value, True)
        elif off < GICD_ISACTIVER:
            _word(size)
            raise VgicAbort("unhandled word write %#x to ICPENDR%d" % (value, (off & 0x7F) // 4))
        elif off < GICD_ICACTIVER:
            _word(size)
            raise VgicAbort("unhandled word write %#x to ISACTIVER%d" % (value, (off & 0x7F) // 4))
        elif off < GICD_IPRIORITYR:
            _word(size)                                 # ICACTIVER: ignored (Xen prints it)
        elif off < GICD_ITARGETSR:
            _byte_or_word(size)
            for i in range(size):
                self._set_priority(vc, off - GICD_IPRIORITYR + i, (value >> (8 * i)) & 0xFF)
            self.update_all()
        elif off < GICD_ICFGR:
            _byte_or_word(size)
            if off >= GICD_ITARGETSR + NR_PRIVATE:      # SGI/PPI targets are read only
                for i in range(size):
                    self._set_target(off - GICD_ITARGETSR + i, (value >> (8 * i)) & 0xFF)
                self.update_all()
        elif off < 0xD00:
            _word(size)
            n = (off - GICD_ICFGR) // 4
            if n >= 2 and n - 2 < len(self.spi_icfg):  # SGIs/PPIs: write ignored
                self.spi_icfg[n - 2] = value & 0xFFFFFFFF
        elif off < GICD_NSACR:
            return
        elif off == GICD_SGIR:
            _word(size)
            self.send_sgi(vc, value)
        elif off < GICD_CPENDSGIR:
            return
        elif off < 0xF30:
            _byte_or_word(size)
            raise VgicAbort("unhandled write %#x to %sPENDSGIR"
                            % (value, "IC" if off < GICD_SPENDSGIR else "IS"))
        elif off == GICD_ICPIDR2 or 0xF30 <= off < 0xFE8:
            return
        else:
            raise VgicAbort("unhandled write %#x at offset %#x" % (value, off))

    # -- helpers: register n of a bit-per-interrupt bank ----------------------------------
    def _bitmap(self, vc, n, field):
        if n == 0:
            return getattr(vc, field)
        lo = (n - 1) * 32
        if lo >= self.nr_spis:
            return 0
        return (getattr(self, "spi_" + field) >> lo) & 0xFFFFFFFF

    def _set_bits(self, vc, n, field, value, on):
        value &= 0xFFFFFFFF
        if n == 0:
            old = getattr(vc, field)
            setattr(vc, field, old | value if on else old & ~value)
            vc.update()
            return
        lo = (n - 1) * 32
        if lo >= self.nr_spis:
            return
        value &= (1 << (self.nr_spis - lo)) - 1
        old = getattr(self, "spi_" + field)
        setattr(self, "spi_" + field, old | (value << lo) if on else old & ~(value << lo))
        self.update_all()

    def _bytes(self, vc, first, size, fn):
        out = 0
        for i in range(size):
            irq = first + i
            if irq < self.nr_lines:
                out |= fn(vc, irq) << (8 * i)
        return out

    def _priority_of(self, vc, irq):
        return vc.priority[irq] if irq < NR_PRIVATE else self.spi_priority[irq - NR_PRIVATE]

    def _set_priority(self, vc, irq, prio):
        if irq < NR_PRIVATE:
            vc.priority[irq] = prio
        elif irq < self.nr_lines:
            self.spi_priority[irq - NR_PRIVATE] = prio

    def _target_mask(self, vc, irq):
        return 1 << (vc.vcpu_id if irq < NR_PRIVATE else self.spi_target[irq - NR_PRIVATE])

    def _set_target(self, irq, mask):
        """vgic_store_itargetsr(): the first vCPU of the mask; 0 is ignored."""
        mask &= (1 << len(self.domain.vcpus)) - 1
        if irq < self.nr_lines and mask:
            self.spi_target[irq - NR_PRIVATE] = (mask & -mask).bit_length() - 1

    def _icfgr(self, vc, n):
        if n < 2:
            return 0
        return self.spi_icfg[n - 2] if n - 2 < len(self.spi_icfg) else 0

    # -- SGIs, SPIs --------------------------------------------------------------------------
    def send_sgi(self, vc, sgir):
        """vgic_v2_to_sgi() / vgic_to_sgi()."""
        sgi = sgir & 0xF
        mode = (sgir >> 24) & 3
        vcpus = self.domain.vcpus
        if mode == SGIR_FILTER_LIST:
            targets = [vcpus[i] for i in _bits((sgir >> 16) & 0xFF) if i < len(vcpus)]
        elif mode == SGIR_FILTER_OTHERS:
            targets = [v for v in vcpus if v.vcpu_id != vc.vcpu_id]
        elif mode == SGIR_FILTER_SELF:
            targets = [vcpus[vc.vcpu_id]]
        else:
            raise VgicAbort("unhandled GICD_SGIR write %#x with wrong mode" % sgir)
        for v in targets:
            v.vgic.inject(sgi)

    def spi_highest(self, vcpu_id):
        """(priority, irq) of the best enabled, pending, inactive SPI for a vCPU."""
        ready = self.spi_enabled & self.spi_pending & ~self.spi_active
        best = None
        for n in _bits(ready):
            if self.spi_target[n] == vcpu_id:
                cand = (self.spi_priority[n] >> PRIO_BITS_SHIFT, NR_PRIVATE + n)
                if best is None or cand < best:
                    best = cand
        return best


class VgicCpu:
    """One vCPU's banked SGIs/PPIs and its CPU interface."""

    def __init__(self, vgic, vcpu):
        self.vgic = vgic
        self.vcpu = vcpu
        self.vcpu_id = vcpu.vcpu_id
        self.enabled = self.pending = self.active = 0      # bit n: interrupt n < 32
        self.priority = bytearray(NR_PRIVATE)
        self.level_sources = {}                            # irq -> callable() -> bool
        self.ctlr = 0
        self.pmr = 0
        self.bpr = MIN_BPR
        self.abpr = MIN_ABPR
        self.active_stack = []                             # [(group priority, irq)]
        self.line = False

    # -- injection ---------------------------------------------------------------------------
    def inject(self, irq):
        """vgic_inject_irq(): mark pending and kick the vCPU."""
        if irq < NR_PRIVATE:
            self.pending |= 1 << irq
            self.update()
            self.vcpu.kick()
            return
        d = self.vgic
        n = irq - NR_PRIVATE
        if n < d.nr_spis:
            d.spi_pending |= 1 << n
            target = d.cpu(d.spi_target[n])
            target.update()
            target.vcpu.kick()

    def lower(self, irq):
        """A level source went low before its interrupt was taken."""
        if irq < NR_PRIVATE and self.pending & (1 << irq):
            self.pending &= ~(1 << irq)
            self.update()

    # -- what is signalled -------------------------------------------------------------------
    def highest_pending(self):
        """(5-bit priority, irq) of the best enabled, pending, inactive interrupt."""
        if not self.vgic.ctlr & 1:
            return None
        ready = self.enabled & self.pending & ~self.active
        best = None
        for irq in _bits(ready):
            cand = (self.priority[irq] >> PRIO_BITS_SHIFT, irq)
            if best is None or cand < best:
                best = cand
        if self.vgic.nr_spis:
            spi = self.vgic.spi_highest(self.vcpu_id)
            if spi is not None and (best is None or spi < best):
                best = spi
        return best

    def _group_priority(self, prio5):
        return (prio5 << PRIO_BITS_SHIFT) & (0xFF << (self.bpr + 1)) & 0xFF

    def running_priority(self):
        return self.active_stack[-1][0] if self.active_stack else IDLE_PRIORITY

    def signalled(self):
        """The interrupt the CPU interface would signal now (irq), or None."""
        best = self.highest_pending()
        if best is None or not self.ctlr & GICC_CTLR_ENABLE:
            return None
        prio5, irq = best
        if prio5 >= self.pmr >> PRIO_BITS_SHIFT:
            return None
        if self._group_priority(prio5) >= self.running_priority():
            return None
        return irq

    def pending_irq(self):
        """vgic_vcpu_pending_irq(): something the guest should take (for wfi,
        SCHEDOP_block and the scheduler)."""
        return self.signalled() is not None

    def update(self):
        level = self.signalled() is not None
        if level != self.line:
            self.line = level
            self.vcpu.irq_line_changed(level)

    # -- the CPU interface's registers ------------------------------------------------------
    def read(self, off, size):
        _word(size)
        if off == GICC_CTLR:
            return self.ctlr
        if off == GICC_PMR:
            return self.pmr
        if off == GICC_BPR:
            return self.bpr
        if off == GICC_IAR:
            return self.acknowledge()
        if off == GICC_RPR:
            rp = self.running_priority()
            return 0xFF if rp == IDLE_PRIORITY else rp
        if off == GICC_HPPIR:
            best = self.highest_pending()
            return SPURIOUS if best is None else best[1]
        if off == GICC_ABPR:
            return self.abpr
        if off == GICC_APR0:
            out = 0
            for gprio, _irq in self.active_stack:
                out |= 1 << (gprio >> PRIO_BITS_SHIFT)
            return out
        if off == GICC_IIDR:
            return GICC_IIDR_VAL
        return 0                        # AIAR, AHPPIR (group 1: none), NSAPR, reserved

    def write(self, off, size, value):
        _word(size)
        value &= 0xFFFFFFFF
        if off == GICC_CTLR:
            self.ctlr = value & GICC_CTLR_MASK
        elif off == GICC_PMR:
            self.pmr = value & 0xF8
        elif off == GICC_BPR:
            self.bpr = max(MIN_BPR, value & 7)
        elif off == GICC_ABPR:
            self.abpr = max(MIN_ABPR, value & 7)
        elif off == GICC_EOIR:
            self.end_of_interrupt(value & 0x3FF)
        elif off == GICC_DIR:
            if self.ctlr & GICC_CTLR_EOIMODE:
                self.deactivate(value & 0x3FF)
        else:
            return
        self.update()

    def acknowledge(self):
        """GICC_IAR: the signalled interrupt becomes active (and no longer pending)."""
        irq = self.signalled()
        if irq is None:
            return SPURIOUS
        if irq < NR_PRIVATE:
            prio = self.priority[irq]
            self.pending &= ~(1 << irq)
            self.active |= 1 << irq
        else:
            d, n = self.vgic, irq - NR_PRIVATE
            prio = d.spi_priority[n]
            d.spi_pending &= ~(1 << n)
            d.spi_active |= 1 << n
        self.active_stack.append((self._group_priority(prio >> PRIO_BITS_SHIFT), irq))
        self.update()
        return irq                      # an SGI's source CPU field is 0, as on Xen

    def end_of_interrupt(self, irq):
        """GICC_EOIR: priority drop; with EOImode 0 also deactivation."""
        if irq >= 1020:
            return
        for i in range(len(self.active_stack) - 1, -1, -1):
            if self.active_stack[i][1] == irq:
                del self.active_stack[i]
                break
        if not self.ctlr & GICC_CTLR_EOIMODE:
            self.deactivate(irq)

    def deactivate(self, irq):
        if irq < NR_PRIVATE:
            self.active &= ~(1 << irq)
            source = self.level_sources.get(irq)
            if source is not None and source():
                self.pending |= 1 << irq
        elif irq < self.vgic.nr_lines:
            self.vgic.spi_active &= ~(1 << (irq - NR_PRIVATE))
            self.vgic.update_all()


def _word(size):
    if size != 4:
        raise VgicBadWidth(size)


def _byte_or_word(size):
    if size not in (1, 4):
        raise VgicBadWidth(size)


def in_dist(gpa):
    return a.GUEST_GICD_BASE <= gpa < a.GUEST_GICD_BASE + a.GUEST_GICD_SIZE


def in_cpu(gpa):
    return a.GUEST_GICC_BASE <= gpa < a.GUEST_GICC_BASE + a.GUEST_GICC_SIZE
