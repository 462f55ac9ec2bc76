"""The generic timer's counters as a domain sees them (xen/arch/arm/vtimer.c
and time.c): the virtual counter CNTVCT_EL0 starts at 0 when the domain is
created (Xen sets CNTVOFF_EL2 to the boot time), the physical counter
CNTPCT_EL0 is the host's; both tick at CNTFRQ_EL0 and follow hvsim's clock,
so `--deterministic` runs read the same values.

Not yet here (issue 12): the timers' compare registers (CNTV/CNTP_CTL,
CVAL, TVAL) and their interrupts, PPI 27 and 30, which need the vGIC."""

CNTFRQ_HZ = 62500000                   # what Unicorn's CNTFRQ_EL0 reports: 16 ns a tick
NS_PER_TICK = 1000000000 // CNTFRQ_HZ

# (op0, op1, CRn, CRm, op2)
CNTPCT_EL0 = (3, 3, 14, 0, 1)
CNTVCT_EL0 = (3, 3, 14, 0, 2)


def counter(v, key):
    """The value an mrs of counter register `key` reads on vCPU v, or None
    for a register this module does not keep."""
    now = v.hv.clock.now()
    if key == CNTVCT_EL0:
        return (now - v.domain.created_ns) // NS_PER_TICK
    if key == CNTPCT_EL0:
        return now // NS_PER_TICK
    return None
