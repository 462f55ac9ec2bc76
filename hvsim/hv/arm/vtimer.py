"""The generic timer as a domain sees it (xen/arch/arm/vtimer.c and time.c),
on hvsim's virtual clock, so `--deterministic` runs read and fire the same.

Counters: the virtual counter CNTVCT_EL0 starts at 0 when the domain is
created (Xen sets CNTVOFF_EL2 to the creation time), the physical counter
CNTPCT_EL0 is the host's; both tick at CNTFRQ_EL0 (62.5 MHz, what Unicorn
reports).

Timers, one pair per vCPU (vcpu_vtimer_init), their registers reached
through hvsim's mrs/msr hook (Unicorn drops writes to them, unicorn-notes
A3):
* the virtual timer CNTV_CTL/CVAL/TVAL_EL0 is the CPU's own on Xen: CTL's
  ISTATUS is ENABLE && CNTVCT >= CVAL, TVAL a signed 32-bit view of
  CVAL - CNTVCT, and its interrupt, PPI 27, is a level: asserted while
  ENABLE && !IMASK && ISTATUS, sampled again when the guest deactivates
  it (a hardware-mapped interrupt re-fires until the guest masks it);
* the physical timer CNTP_CTL/CVAL/TVAL_EL0 is Xen's emulation exactly
  (vtimer_cntp_ctl/_tval/_cval, phys_timer_expired): CVAL counts from
  the domain's creation, ISTATUS (CNTx_CTL_PENDING) is set when the timer
  expires and kept across CTL writes while enabled, cleared by CVAL/TVAL
  writes; expiry injects PPI 30 once unless IMASK is set.
At EL0 they need CNTKCTL_EL1.EL0VTEN/EL0PTEN: Xen injects an undefined
instruction for the physical timer; the virtual timer's registers trap as
the architecture has it (EC 0x18 to EL1).
"""

from ...abi import arch_arm as a
from ..timer import Timer

CNTFRQ_HZ = 62500000                   # what Unicorn's CNTFRQ_EL0 reports: 16 ns a tick
NS_PER_TICK = 1000000000 // CNTFRQ_HZ
MASK64 = (1 << 64) - 1

# (op0, op1, CRn, CRm, op2); every one of them has CRn 14
CRN_TIMER = 14
CNTKCTL_EL1 = (3, 0, 14, 1, 0)
CNTPCT_EL0 = (3, 3, 14, 0, 1)
CNTVCT_EL0 = (3, 3, 14, 0, 2)
CNTP_TVAL_EL0 = (3, 3, 14, 2, 0)
CNTP_CTL_EL0 = (3, 3, 14, 2, 1)
CNTP_CVAL_EL0 = (3, 3, 14, 2, 2)
CNTV_TVAL_EL0 = (3, 3, 14, 3, 0)
CNTV_CTL_EL0 = (3, 3, 14, 3, 1)
CNTV_CVAL_EL0 = (3, 3, 14, 3, 2)
COUNTERS = (CNTPCT_EL0, CNTVCT_EL0)
VIRT_REGS = (CNTV_TVAL_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0)
PHYS_REGS = (CNTP_TVAL_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0)
TIMER_REGS = VIRT_REGS + PHYS_REGS

CTL_ENABLE, CTL_IMASK, CTL_ISTATUS = 1, 2, 4          # Xen: CNTx_CTL_ENABLE/MASK/PENDING
CNTKCTL_EL0PCTEN, CNTKCTL_EL0VCTEN = 1 << 0, 1 << 1
CNTKCTL_EL0VTEN, CNTKCTL_EL0PTEN = 1 << 8, 1 << 9


def ticks_to_ns(ticks):
    return ticks * NS_PER_TICK


def ns_to_ticks(ns):
    return ns // NS_PER_TICK


def counter(v, key):
    """The value an mrs of counter register `key` reads on vCPU v, or None
    for a register this module does not keep."""
    now = v.hv.clock.now()
    if key == CNTVCT_EL0:
        return (now - v.domain.created_ns) // NS_PER_TICK
    if key == CNTPCT_EL0:
        return now // NS_PER_TICK
    return None


def el0_allowed(key, cntkctl):
    """May EL0 access timer or counter register `key` (CNTKCTL_EL1)?"""
    if key in COUNTERS:
        bit = CNTKCTL_EL0VCTEN if key == CNTVCT_EL0 else CNTKCTL_EL0PCTEN
    else:
        bit = CNTKCTL_EL0VTEN if key in VIRT_REGS else CNTKCTL_EL0PTEN
    return bool(cntkctl & bit)


def phys_timer_trap(esr):
    """Is `esr` a trapped msr/mrs (EC 0x18) of a physical timer register?
    Xen makes those an undefined instruction (vtimer.c ACCESS_ALLOWED)."""
    if esr >> 26 != 0x18:
        return False
    iss = esr & 0x1FFFFFF
    key = ((iss >> 20) & 3, (iss >> 14) & 7, (iss >> 10) & 0xF, (iss >> 1) & 0xF,
           (iss >> 17) & 7)
    return key in PHYS_REGS


class VirtTimer:
    """The virtual timer: the CPU's own, a level interrupt (PPI 27)."""

    def __init__(self, v):
        self.v = v
        self.ctl = 0
        self.cval = 0
        self.timer = Timer(v.hv.scheduler, self._expired, v.domain)
        v.vgic.level_sources[a.GUEST_TIMER_VIRT_PPI] = self.asserted

    def _count(self):
        return counter(self.v, CNTVCT_EL0)

    def istatus(self):
        return bool(self.ctl & CTL_ENABLE) and self._count() >= self.cval

    def asserted(self):
        return not self.ctl & CTL_IMASK and self.istatus()

    def read(self, key):
        if key == CNTV_CTL_EL0:
            return self.ctl | (CTL_ISTATUS if self.istatus() else 0)
        if key == CNTV_CVAL_EL0:
            return self.cval
        return (self.cval - self._count()) & 0xFFFFFFFF

    def write(self, key, value):
        if key == CNTV_CTL_EL0:
            self.ctl = value & (CTL_ENABLE | CTL_IMASK)
        elif key == CNTV_CVAL_EL0:
            self.cval = value & MASK64
        else:                                       # TVAL: signed 32 bits from now
            tval = value & 0xFFFFFFFF
            tval -= (tval & 0x80000000) << 1
            self.cval = (self._count() + tval) & MASK64
        self._program()

    def _program(self):
        vgic = self.v.vgic
        self.timer.stop()
        if self.asserted():
            vgic.inject(a.GUEST_TIMER_VIRT_PPI)
        else:
            vgic.lower(a.GUEST_TIMER_VIRT_PPI)
            if self.ctl & CTL_ENABLE and not self.ctl & CTL_IMASK:
                self.timer.set(self.v.domain.created_ns + ticks_to_ns(self.cval))

    def _expired(self):
        if self.asserted():
            self.v.vgic.inject(a.GUEST_TIMER_VIRT_PPI)


class PhysTimer:
    """The physical timer as Xen emulates it (PPI 30)."""

    def __init__(self, v):
        self.v = v
        self.ctl = 0
        self.cval = v.hv.clock.now()            # ns from the domain's creation (Xen: NOW())
        self.timer = Timer(v.hv.scheduler, self._expired, v.domain)

    def _base(self):
        return self.v.domain.created_ns

    def _arm(self):
        self.timer.set(self.cval + self._base())

    def read(self, key):
        if key == CNTP_CTL_EL0:
            return self.ctl
        if key == CNTP_CVAL_EL0:
            return ns_to_ticks(self.cval)
        now = self.v.hv.clock.now() - self._base()
        return ns_to_ticks(self.cval - now) & 0xFFFFFFFF

    def write(self, key, value):
        if key == CNTP_CTL_EL0:
            ctl = value & 0xFFFFFFFF & ~CTL_ISTATUS
            if ctl & CTL_ENABLE:
                ctl |= self.ctl & CTL_ISTATUS
            self.ctl = ctl
            if ctl & CTL_ENABLE:
                self._arm()
            else:
                self.timer.stop()
            return
        if key == CNTP_CVAL_EL0:
            self.cval = ticks_to_ns(value & MASK64)
        else:
            now = self.v.hv.clock.now() - self._base()
            self.cval = now + ticks_to_ns(value & 0xFFFFFFFF)
        if self.ctl & CTL_ENABLE:
            self.ctl &= ~CTL_ISTATUS
            self._arm()

    def _expired(self):
        self.ctl |= CTL_ISTATUS
        if not self.ctl & CTL_IMASK:
            self.v.vgic.inject(a.GUEST_TIMER_PHYS_NS_PPI)


class VcpuTimers:
    """A vCPU's virtual and physical timers."""

    def __init__(self, v):
        self.virt = VirtTimer(v)
        self.phys = PhysTimer(v)

    def of(self, key):
        return self.virt if key in VIRT_REGS else self.phys

    def stop(self):
        self.virt.timer.stop()
        self.phys.timer.stop()
