"""The local APIC of one vCPU (Xen's xen/arch/x86/hvm/vlapic.c).

What a PVH domU's vCPU has on Xen: the xAPIC MMIO page at 0xFEE00000 (which
may not move) or, once IA32_APIC_BASE.EXTD is set, the x2APIC MSRs
0x800-0x8ff; ID (2 x vcpu_id), version 0x50014, TPR/PPR, EOI, LDR/DFR, SVR
(software enable), ISR/TMR/IRR with priority classes, ESR, ICR (fixed,
lowest priority, NMI, INIT/SIPI; self, all, all-but-self and physical or
logical destinations within the domain), the six LVT entries, and the timer
in one-shot, periodic and TSC-deadline modes on hvsim's virtual clock (one
bus cycle per ns, as Xen's APIC_BUS_CYCLE_NS).

Interrupts are taken in Xen's order (hvm_vcpu_has_pending_irq): an NMI, the
domain's callback vector while evtchn_upcall_pending is set, then the
highest IRR vector if its priority class is above the highest ISR class and
the TPR (hvm_interrupt_blocked).  The per-vCPU event-channel upcall vector
is an edge interrupt set in the IRR (hvm_assert_evtchn_irq), so it needs
the APIC software-enabled and an EOI, as on Xen.  The hypervisor's VCpu
(hv/vcpu.py) asks `pending_vector()` and `ack()`s what it delivered.

Register offsets and bits are the hardware's (Intel SDM vol. 3 ch. 11),
not Xen's ABI, so they live here.
"""

from ...abi.cstruct import MASK32
from ...arch.x86.msr import (APIC_BASE_BSP, APIC_BASE_ENABLE, APIC_BASE_EXTD,
                             APIC_DEFAULT_BASE, MSR_IA32_APIC_BASE, MSR_IA32_TSC_DEADLINE,
                             MSR_X2APIC_FIRST, GPFault)
from .. import time as vtime
from ..timer import Timer

APIC_ID = 0x20
APIC_LVR = 0x30
APIC_TASKPRI = 0x80
APIC_PROCPRI = 0xA0
APIC_EOI = 0xB0
APIC_LDR = 0xD0
APIC_DFR = 0xE0
APIC_SPIV = 0xF0
APIC_ISR = 0x100
APIC_TMR = 0x180
APIC_IRR = 0x200
APIC_ESR = 0x280
APIC_CMCI = 0x2F0
APIC_ICR = 0x300
APIC_ICR2 = 0x310
APIC_LVTT = 0x320
APIC_LVTTHMR = 0x330
APIC_LVTPC = 0x340
APIC_LVT0 = 0x350
APIC_LVT1 = 0x360
APIC_LVTERR = 0x370
APIC_TMICT = 0x380
APIC_TMCCT = 0x390
APIC_TDCR = 0x3E0
APIC_SELF_IPI = 0x3F0

APIC_BASE_ADDR_MASK = 0x000FFFFFFFFFF000
VLAPIC_VERSION = 0x00050014          # version 0x14, 6 LVT entries (max LVT 5)
APIC_BUS_CYCLE_NS = 1
APIC_PAGE_SIZE = 0x1000

APIC_SPIV_APIC_ENABLED = 1 << 8
APIC_SPIV_FOCUS_DISABLED = 1 << 9
APIC_VECTOR_MASK = 0xFF
APIC_DM_MASK = 0x700
APIC_DM_FIXED = 0x000
APIC_DM_LOWEST = 0x100
APIC_DM_SMI = 0x200
APIC_DM_REMRD = 0x300
APIC_DM_NMI = 0x400
APIC_DM_INIT = 0x500
APIC_DM_STARTUP = 0x600
APIC_DM_EXTINT = 0x700
APIC_DEST_LOGICAL = 1 << 11
APIC_SEND_PENDING = 1 << 12
APIC_INPUT_POLARITY = 1 << 13
APIC_LVT_REMOTE_IRR = 1 << 14
APIC_INT_ASSERT = 1 << 14
APIC_INT_LEVELTRIG = 1 << 15
APIC_LVT_LEVEL_TRIGGER = 1 << 15
APIC_LVT_MASKED = 1 << 16
APIC_SHORT_MASK = 0xC0000
APIC_DEST_NOSHORT = 0x00000
APIC_DEST_SELF = 0x40000
APIC_DEST_ALLINC = 0x80000
APIC_DEST_ALLBUT = 0xC0000
APIC_TIMER_MODE_MASK = 3 << 17
APIC_TIMER_MODE_ONESHOT = 0 << 17
APIC_TIMER_MODE_PERIODIC = 1 << 17
APIC_TIMER_MODE_TSC_DEADLINE = 2 << 17
APIC_TDR_DIV_MASK = 0xB
APIC_LDR_MASK = 0xFF << 24
APIC_DFR_CLUSTER = 0x0
APIC_DFR_FLAT = 0xF
APIC_TPRI_MASK = 0xFF
APIC_ESR_SENDILL = 1 << 5
APIC_ESR_RECVILL = 1 << 6

LVT_MASK = APIC_LVT_MASKED | APIC_SEND_PENDING | APIC_VECTOR_MASK
LINT_MASK = (LVT_MASK | APIC_DM_MASK | APIC_INPUT_POLARITY | APIC_LVT_REMOTE_IRR |
             APIC_LVT_LEVEL_TRIGGER)
_LVT_WRITABLE = {APIC_LVTT: LVT_MASK | APIC_TIMER_MODE_MASK,
                 APIC_LVTTHMR: LVT_MASK | APIC_DM_MASK,
                 APIC_LVTPC: LVT_MASK | APIC_DM_MASK,
                 APIC_LVT0: LINT_MASK,
                 APIC_LVT1: LINT_MASK,
                 APIC_LVTERR: LVT_MASK}

# guest_rdmsr_x2apic(): the registers an x2APIC MSR may read
_X2APIC_READABLE = frozenset(
    [APIC_ID, APIC_LVR, APIC_TASKPRI, APIC_PROCPRI, APIC_LDR, APIC_SPIV, APIC_ESR, APIC_ICR,
     APIC_CMCI, APIC_LVTT, APIC_LVTTHMR, APIC_LVTPC, APIC_LVT0, APIC_LVT1, APIC_LVTERR,
     APIC_TMICT, APIC_TMCCT, APIC_TDCR] +
    [base + 0x10 * i for base in (APIC_ISR, APIC_TMR, APIC_IRR) for i in range(8)])
# guest_wrmsr_x2apic(): the bits an x2APIC MSR write may set (None: any value)
_X2APIC_WRITABLE = {
    APIC_TASKPRI: APIC_TPRI_MASK,
    APIC_SPIV: APIC_VECTOR_MASK | APIC_SPIV_APIC_ENABLED | APIC_SPIV_FOCUS_DISABLED,
    APIC_LVTT: LVT_MASK | APIC_TIMER_MODE_MASK,
    APIC_LVTTHMR: LVT_MASK | APIC_DM_MASK, APIC_LVTPC: LVT_MASK | APIC_DM_MASK,
    APIC_CMCI: LVT_MASK | APIC_DM_MASK,
    APIC_LVT0: LINT_MASK, APIC_LVT1: LINT_MASK, APIC_LVTERR: LVT_MASK,
    APIC_TMICT: None, APIC_TDCR: APIC_TDR_DIV_MASK,
    APIC_SELF_IPI: APIC_VECTOR_MASK, APIC_EOI: 0, APIC_ESR: 0,
}
_ICR_X2APIC_BITS = (APIC_VECTOR_MASK | APIC_DM_MASK | APIC_DEST_LOGICAL | APIC_INT_ASSERT |
                    APIC_INT_LEVELTRIG | APIC_SHORT_MASK)


def x2apic_id(vcpu_id):
    """guest_vcpu_x2apic_id(): what CPUID leaf 1 reports too."""
    return vcpu_id * 2


def _vector_valid(vector):
    return vector >= 16


class Vlapic:
    """The local APIC of `vcpu` (an hv VCpu)."""

    def __init__(self, vcpu):
        self.vcpu = vcpu
        self.regs = {}                 # offset -> 32-bit value (not IRR/ISR/TMR)
        self.irr = self.isr = self.tmr = 0      # 256-bit vector bitmaps
        self.sw_disabled = True
        self.pending_esr = 0
        self.timer_divisor = 2
        self.tdt_msr = 0
        self.timer_last_update = None  # guest time the count started from (None: stopped)
        self.timer_period = 0          # ns: periodic mode, else 0
        self.timer = Timer(vcpu.hv.scheduler, self._timer_fired, vcpu.domain)
        self.reset()

    # ---- state -------------------------------------------------------------------------
    def reset(self):
        """vlapic_reset(): the power-on state (enabled in xAPIC mode)."""
        self.apic_base_msr = APIC_DEFAULT_BASE | APIC_BASE_ENABLE | (
            APIC_BASE_BSP if self.vcpu.vcpu_id == 0 else 0)
        self.regs[APIC_ID] = x2apic_id(self.vcpu.vcpu_id) << 24
        self.do_init()

    def do_init(self):
        """vlapic_do_init(): the INIT state (LDR kept in x2APIC mode)."""
        r = self.regs
        r[APIC_LVR] = VLAPIC_VERSION
        self.irr = self.isr = self.tmr = 0
        r[APIC_ICR] = r[APIC_ICR2] = 0
        if not self.x2apic_mode:
            r[APIC_LDR] = 0
        r[APIC_TASKPRI] = r[APIC_TMICT] = 0
        self._set_tdcr(0)
        r[APIC_DFR] = MASK32
        for lvt in _LVT_WRITABLE:
            r[lvt] = APIC_LVT_MASKED
        r[APIC_SPIV] = 0xFF
        self.sw_disabled = True
        self._stop_timer()

    @property
    def hw_disabled(self):
        return not self.apic_base_msr & APIC_BASE_ENABLE

    @property
    def enabled(self):
        return not self.sw_disabled and not self.hw_disabled

    @property
    def x2apic_mode(self):
        return bool(self.apic_base_msr & APIC_BASE_EXTD) and not self.hw_disabled

    @property
    def apic_id(self):
        """VLAPIC_ID(): the ID field in the current mode."""
        value = self.regs[APIC_ID]
        return value if self.x2apic_mode else value >> 24

    def _get(self, offset):
        if APIC_ISR <= offset < APIC_IRR + 0x80 and not offset & 0xF:
            bitmap = (self.isr, self.tmr, self.irr)[(offset - APIC_ISR) >> 7]
            return (bitmap >> (32 * ((offset >> 4) & 7))) & MASK32
        return self.regs.get(offset, 0)

    # ---- priorities --------------------------------------------------------------------
    def ppr(self):
        """vlapic_get_ppr()."""
        tpr = self.regs[APIC_TASKPRI]
        isrv = max(self.isr.bit_length() - 1, 0)
        if (tpr & 0xF0) >= (isrv & 0xF0):
            return tpr & 0xFF
        return isrv & 0xF0

    def pending_vector(self):
        """The vector to deliver now, or None: vlapic_has_pending_irq() (the
        highest IRR vector, if its class is above the highest ISR one) and
        the TPR check of hvm_interrupt_blocked()."""
        if not self.irr or not self.enabled:
            return None
        irr = self.irr.bit_length() - 1
        isr = self.isr.bit_length() - 1
        if isr >= 0 and (irr & 0xF0) <= (isr & 0xF0):
            return None
        if (self.regs[APIC_TASKPRI] >> 4) >= (irr >> 4):
            return None
        return irr

    def ack(self, vector):
        """vlapic_ack_pending_irq(): the vector goes in service."""
        bit = 1 << vector
        self.isr |= bit
        self.irr &= ~bit

    def set_irq(self, vector, level=False):
        """vlapic_set_irq(): make `vector` pending (an illegal vector is an
        error); a newly pending vector kicks the vCPU.  Returns True if it
        was newly set."""
        if not _vector_valid(vector):
            self._error(APIC_ESR_RECVILL)
            return False
        bit = 1 << vector
        self.tmr = (self.tmr | bit) if level else (self.tmr & ~bit)
        if self.irr & bit:
            return False
        self.irr |= bit
        self.vcpu.lapic_irq_raised()
        return True

    def test_irq(self, vector):
        return bool(self.irr >> vector & 1)

    def _error(self, esr_bit):
        """vlapic_error(): latch an ESR bit and raise LVTERR (per bit)."""
        if self.pending_esr & esr_bit:
            return
        self.pending_esr |= esr_bit
        lvterr = self.regs[APIC_LVTERR]
        if not lvterr & APIC_LVT_MASKED:
            if _vector_valid(lvterr & APIC_VECTOR_MASK):
                self.set_irq(lvterr & APIC_VECTOR_MASK)
            else:
                self.pending_esr |= APIC_ESR_RECVILL

    def _eoi(self):
        """vlapic_EOI_set(): the highest in-service vector is done."""
        if self.isr:
            vector = self.isr.bit_length() - 1
            self.isr &= ~(1 << vector)
            self.vcpu.lapic_priority_lowered()

    # ---- register reads and writes -------------------------------------------------------
    def _read_aligned(self, offset):
        """vlapic_read_aligned()."""
        if offset == APIC_PROCPRI:
            return self.ppr()
        if offset in (APIC_TMCCT, APIC_TMICT):
            if self._timer_mode() not in (APIC_TIMER_MODE_ONESHOT, APIC_TIMER_MODE_PERIODIC):
                return 0
            if offset == APIC_TMCCT:
                return self._tmcct()
        return self._get(offset)

    def reg_write(self, offset, val):
        """vlapic_reg_write()."""
        r = self.regs
        if offset == APIC_ID:
            r[APIC_ID] = val
        elif offset == APIC_ESR:
            r[APIC_ESR], self.pending_esr = self.pending_esr, 0
        elif offset == APIC_TASKPRI:
            r[APIC_TASKPRI] = val & 0xFF
            self.vcpu.lapic_priority_lowered()
        elif offset == APIC_EOI:
            self._eoi()
        elif offset == APIC_LDR:
            r[APIC_LDR] = val & APIC_LDR_MASK
        elif offset == APIC_DFR:
            r[APIC_DFR] = val | 0x0FFFFFFF
        elif offset == APIC_SPIV:
            self._write_spiv(val)
        elif offset == APIC_ICR:
            val &= ~APIC_SEND_PENDING
            self._ipi(val, r[APIC_ICR2])
            r[APIC_ICR] = val
        elif offset == APIC_ICR2:
            r[APIC_ICR2] = val & 0xFF000000
        elif offset in _LVT_WRITABLE:
            if offset == APIC_LVTT:
                self._write_lvtt(val)
            if self.sw_disabled:
                val |= APIC_LVT_MASKED
            r[offset] = val & _LVT_WRITABLE[offset]
        elif offset == APIC_TMICT:
            if self._timer_mode() in (APIC_TIMER_MODE_ONESHOT, APIC_TIMER_MODE_PERIODIC):
                r[APIC_TMICT] = val
                self._update_timer(r[APIC_LVTT], True, self.timer_divisor)
        elif offset == APIC_TDCR:
            old = self.timer_divisor
            self._set_tdcr(val)
            self._update_timer(r[APIC_LVTT], False, old)
        # anything else (LVR, PPR, ISR/TMR/IRR, TMCCT, reserved) is read-only

    def _write_spiv(self, val):
        self.regs[APIC_SPIV] = val & 0x3FF
        if not val & APIC_SPIV_APIC_ENABLED:
            self.sw_disabled = True
            for lvt in _LVT_WRITABLE:
                self.regs[lvt] |= APIC_LVT_MASKED
            return
        self.sw_disabled = False
        v = self.vcpu
        if v.upcall_vector and v.upcall_pending():
            self.set_irq(v.upcall_vector)
        v.lapic_priority_lowered()

    # ---- xAPIC MMIO (vlapic_range / vlapic_mmio_read / vlapic_mmio_write) -----------------
    def in_range(self, gpa):
        return (not self.hw_disabled and not self.x2apic_mode and
                0 <= gpa - (self.apic_base_msr & ~0xFFF) < APIC_PAGE_SIZE)

    def mmio_read(self, gpa, size):
        """Any access that fits in one 32-bit register reads it; others read 0."""
        offset = (gpa - (self.apic_base_msr & ~0xFFF)) & 0xFFF
        align = offset & 0xF
        if align + size > 4 or offset > APIC_TDCR + 3:
            return 0
        reg = self._read_aligned(offset & ~0xF)
        return (reg >> (8 * align)) & ((1 << (8 * size)) - 1)

    def mmio_write(self, gpa, size, val):
        offset = (gpa - (self.apic_base_msr & ~0xFFF)) & 0xFFF
        align = offset & 0xF
        offset &= ~0xF
        if align + size > 4 or offset > APIC_TDCR:
            return
        if size < 4:
            mask = ((1 << (8 * size)) - 1) << (8 * align)
            val = (self._read_aligned(offset) & ~mask) | ((val << (8 * align)) & mask)
        self.reg_write(offset, val & MASK32)

    # ---- MSRs: APIC_BASE, TSC_DEADLINE, x2APIC ----------------------------------------------
    def rdmsr(self, index):
        if index == MSR_IA32_APIC_BASE:
            return self.apic_base_msr
        if index == MSR_IA32_TSC_DEADLINE:
            return self.tdt_msr if self._timer_mode() == APIC_TIMER_MODE_TSC_DEADLINE else 0
        offset = (index - MSR_X2APIC_FIRST) << 4
        if not self.x2apic_mode or offset not in _X2APIC_READABLE:
            raise GPFault()
        value = self._read_aligned(offset)
        if offset == APIC_ICR:
            value |= self.regs[APIC_ICR2] << 32
        return value

    def wrmsr(self, index, value):
        if index == MSR_IA32_APIC_BASE:
            self._write_apic_base(value)
            return
        if index == MSR_IA32_TSC_DEADLINE:
            self._write_tdt(value)
            return
        offset = (index - MSR_X2APIC_FIRST) << 4
        if not self.x2apic_mode:
            raise GPFault()
        if offset == APIC_ICR:
            if value & MASK32 & ~_ICR_X2APIC_BITS:
                raise GPFault()
            self.regs[APIC_ICR2] = value >> 32
            value &= MASK32
        else:
            if offset not in _X2APIC_WRITABLE:
                raise GPFault()
            allowed = _X2APIC_WRITABLE[offset]
            if allowed is not None and value & ~allowed:
                raise GPFault()
            if offset == APIC_SELF_IPI:
                offset, value = APIC_ICR, APIC_DEST_SELF | value
        self.reg_write(offset, value & MASK32)

    def _write_apic_base(self, val):
        """guest_wrmsr_apic_base()."""
        if val & ~(APIC_BASE_ADDR_MASK | APIC_BASE_ENABLE | APIC_BASE_BSP | APIC_BASE_EXTD):
            raise GPFault()
        if (val & (APIC_BASE_EXTD | APIC_BASE_ENABLE)) == APIC_BASE_ENABLE and \
                val & APIC_BASE_ADDR_MASK != APIC_DEFAULT_BASE:
            raise GPFault()                 # the xAPIC window may not move
        changed = self.apic_base_msr ^ val
        if changed & APIC_BASE_ENABLE:
            if val & APIC_BASE_EXTD:
                raise GPFault()
            if val & APIC_BASE_ENABLE:
                self.reset()
        elif changed & APIC_BASE_EXTD and not (not self.hw_disabled and not self.x2apic_mode):
            raise GPFault()                 # EXTD only from xAPIC mode
        self.apic_base_msr = val
        if self.x2apic_mode:
            apic_id = x2apic_id(self.vcpu.vcpu_id)
            self.regs[APIC_ID] = apic_id
            self.regs[APIC_LDR] = ((apic_id & ~0xF) << 12) | (1 << (apic_id & 0xF))

    # ---- IPIs --------------------------------------------------------------------------------
    def _dest_id(self, icr_high):
        return icr_high if self.x2apic_mode else icr_high >> 24

    def _match_logical(self, mda):
        ldr = self.regs[APIC_LDR]
        if self.x2apic_mode:
            return (ldr >> 16) == (mda >> 16) and bool(ldr & mda & 0xFFFF)
        logical_id = ldr >> 24
        mda &= 0xFF
        dfr = self.regs[APIC_DFR] >> 28
        if dfr == APIC_DFR_FLAT:
            return bool(logical_id & mda)
        if dfr == APIC_DFR_CLUSTER:
            return (logical_id >> 4) == (mda >> 4) and bool(logical_id & mda & 0xF)
        return False

    def match_dest(self, source, short_hand, dest, logical):
        """vlapic_match_dest()."""
        if short_hand == APIC_DEST_NOSHORT:
            if logical:
                return self._match_logical(dest)
            broadcast = MASK32 if self.x2apic_mode else 0xFF
            return dest == broadcast or dest == self.apic_id
        if short_hand == APIC_DEST_SELF:
            return self is source
        if short_hand == APIC_DEST_ALLINC:
            return True
        return self is not source               # APIC_DEST_ALLBUT

    def _ipi(self, icr, icr_high):
        """vlapic_ipi(): send the interrupt the ICR describes to every
        matching vCPU of the domain."""
        short_hand = icr & APIC_SHORT_MASK
        logical = bool(icr & APIC_DEST_LOGICAL)
        dest = self._dest_id(icr_high)
        mode = icr & APIC_DM_MASK
        targets = [v.vlapic for v in self.vcpu.domain.vcpus
                   if v.vlapic.match_dest(self, short_hand, dest, logical)]
        if mode in (APIC_DM_INIT, APIC_DM_STARTUP):
            for target in targets:
                target.vcpu.lapic_init_sipi(icr)
            return
        if mode in (APIC_DM_FIXED, APIC_DM_LOWEST) and not _vector_valid(icr & 0xFF):
            self._error(APIC_ESR_SENDILL)
            return
        if mode == APIC_DM_LOWEST:
            enabled = [t for t in targets if t.enabled]
            targets = [min(enabled, key=lambda t: t.ppr())] if enabled else []
        for target in targets:
            target._accept_irq(icr)

    def _accept_irq(self, icr):
        """vlapic_accept_irq()."""
        mode = icr & APIC_DM_MASK
        if mode in (APIC_DM_FIXED, APIC_DM_LOWEST):
            if self.enabled:
                self.set_irq(icr & APIC_VECTOR_MASK)
        elif mode == APIC_DM_NMI:
            if not self.vcpu.nmi_pending:
                self.vcpu.send_nmi()
        elif mode in (APIC_DM_SMI, APIC_DM_REMRD):
            pass                                # ignored, as Xen does
        else:
            self.vcpu.domain.crash("%r: unsupported delivery mode in ICR %#x"
                                   % (self.vcpu, icr))

    # ---- the timer -----------------------------------------------------------------------
    def _timer_mode(self):
        return self.regs[APIC_LVTT] & APIC_TIMER_MODE_MASK

    def _now(self):
        return self.vcpu.hv.clock.now()

    def _set_tdcr(self, val):
        val &= APIC_TDR_DIV_MASK
        self.regs[APIC_TDCR] = val
        self.timer_divisor = 1 << ((((val & 3) | ((val & 8) >> 1)) + 1) & 7)

    def _tmcct(self):
        """vlapic_get_tmcct()."""
        tmict = self.regs[APIC_TMICT]
        if not tmict or self.timer_last_update is None:
            return 0
        passed = (self._now() - self.timer_last_update) // (APIC_BUS_CYCLE_NS *
                                                            self.timer_divisor)
        if self._timer_mode() == APIC_TIMER_MODE_PERIODIC:
            passed %= tmict
        return tmict - passed if passed < tmict else 0

    def _write_lvtt(self, val):
        """LVTT: switching in or out of TSC-deadline mode clears the count."""
        tdt = APIC_TIMER_MODE_TSC_DEADLINE
        if (self._timer_mode() == tdt) != ((val & APIC_TIMER_MODE_MASK) == tdt):
            self.regs[APIC_TMICT] = 0
            self.tdt_msr = 0
        self._update_timer(val, False, self.timer_divisor)

    def _update_timer(self, lvtt, tmict_updated, old_divisor):
        """vlapic_update_timer(): (re)start or stop the one-shot/periodic
        timer after TMICT, TDCR or LVTT changed."""
        mode = lvtt & APIC_TIMER_MODE_MASK
        periodic = mode == APIC_TIMER_MODE_PERIODIC
        tmict = self.regs[APIC_TMICT]
        period = tmict * APIC_BUS_CYCLE_NS * old_divisor
        delta = 0
        if tmict_updated:
            delta = period
        elif period and self.timer_last_update is not None:
            passed = self._now() - self.timer_last_update
            if self._timer_mode() == APIC_TIMER_MODE_PERIODIC:
                passed %= period
            if passed < period:
                delta = period - passed
        if not delta or mode not in (APIC_TIMER_MODE_ONESHOT, APIC_TIMER_MODE_PERIODIC):
            self._stop_timer()
            return
        if self.timer_divisor != old_divisor:
            period = tmict * APIC_BUS_CYCLE_NS * self.timer_divisor
            delta = delta * self.timer_divisor // old_divisor
        now = self._now()
        self.timer_period = period if periodic else 0
        self.timer.set(now + delta)
        self.timer_last_update = now if tmict_updated else now - (period - delta)

    def _write_tdt(self, value):
        """vlapic_tdt_msr_set()."""
        if self.hw_disabled or self._timer_mode() != APIC_TIMER_MODE_TSC_DEADLINE:
            return
        v = self.vcpu
        now = self._now()
        guest_tsc = vtime.ns_to_tsc(now) + v.tsc_offset
        self.timer_period = 0
        if value > guest_tsc:
            self.tdt_msr = value
            self.timer.set(now + vtime.tsc_to_ns(value - guest_tsc))
        else:
            self.tdt_msr = 0
            if value:
                self.timer.set(now)             # in the past: fires at once
            else:
                self.timer.stop()
        self.timer_last_update = now

    def _stop_timer(self):
        self.timer.stop()
        self.timer_period = 0
        self.timer_last_update = None

    def _timer_fired(self):
        """The timer expired: raise LVTT's vector unless masked; a periodic
        timer goes on from its deadline (missed periods collapse into one)."""
        lvtt = self.regs[APIC_LVTT]
        if self._timer_mode() == APIC_TIMER_MODE_TSC_DEADLINE:
            self.tdt_msr = 0
        elif self.timer_period:
            deadline = self.timer.deadline
            now = self._now()
            nxt = deadline + self.timer_period
            if nxt <= now:
                nxt = now + self.timer_period
            self.timer_last_update = nxt - self.timer_period
            self.timer.set(nxt)
        if self.enabled and not lvtt & APIC_LVT_MASKED:
            self.set_irq(lvtt & APIC_VECTOR_MASK)
