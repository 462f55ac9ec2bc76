"""An Arm domain's vCPU, hypervisor side (Xen's struct vcpu with its
arch.vgic and arch.virt_timer/phys_timer): the arch-neutral VCpu with the
Arm platform behind it.

What differs from x86 is where interrupts come from and go: the event
channel upcall is PPI 31 on the vCPU's vGIC (vcpu_mark_events_pending ->
vgic_inject_irq(evtchn_irq)), the vGIC drives the vCPU's IRQ line, which
QEMU samples itself (so nothing is injected at slice start), wfi and
SCHEDOP_block wait for anything the vGIC would signal
(vgic_vcpu_pending_irq), and SCHEDOP_block unmasks IRQs in the guest's
PSTATE (local_event_delivery_enable).  The GIC's MMIO and the timer's
system registers reach vgic.py and vtimer.py from here.
"""

from ...abi import arch_arm as a
from ..vcpu import VCpu
from . import vgic as vg
from . import vtimer


class ArmVCpu(VCpu):
    def __init__(self, domain, vcpu_id):
        super().__init__(domain, vcpu_id)
        self.vgic = vg.VgicCpu(domain.vgic, self)
        self.timers = vtimer.VcpuTimers(self)

    # -- arch host interface: the GIC's MMIO, the timer's registers ---------------------------
    def mmio_read(self, gpa, size):
        """A GIC register read (VgicAbort / VgicBadWidth for the arch vCPU);
        a preemption point, as a trap to Xen is."""
        if gpa >= a.GUEST_GICC_BASE:
            value = self.vgic.read(gpa - a.GUEST_GICC_BASE, size)
        else:
            value = self.domain.vgic.read(self.vgic, gpa - a.GUEST_GICD_BASE, size)
        self.preempt_point()
        return value

    def mmio_write(self, gpa, size, value):
        if gpa >= a.GUEST_GICC_BASE:
            self.vgic.write(gpa - a.GUEST_GICC_BASE, size, value)
        else:
            self.domain.vgic.write(self.vgic, gpa - a.GUEST_GICD_BASE, size, value)
        self.preempt_point()

    def counter_read(self, key):
        """CNTVCT/CNTPCT: hvsim's clock.  A guest polling the counter for a
        timer that is due gets its slice ended so the timer fires (as the
        x86 TSC read does)."""
        sched = self.hv.scheduler
        due = sched.first_deadline
        if due is not None and self.hv.clock.now() >= due and not self.hv.clock.deterministic:
            self.end_slice()
        else:
            self.preempt_point()
        return vtimer.counter(self, key)

    def timer_read(self, key):
        return self.timers.of(key).read(key)

    def timer_write(self, key, value):
        self.timers.of(key).write(key, value)

    def irq_line_changed(self, level):
        if self.arch is not None:
            self.arch.set_irq_line(level)

    # -- events --------------------------------------------------------------------------------
    def assert_evtchn_irq(self):
        """vgic_inject_irq(d, v, evtchn_irq): PPI 31."""
        self.vgic.inject(a.GUEST_EVTCHN_PPI)

    def interrupt_vector(self):
        """The interrupt the vGIC signals now (an INTID), or None."""
        return self.vgic.signalled()

    def inject_pending(self):
        """Nothing to inject at VM entry: the vGIC drives the IRQ line.  Only
        before a debugger's step that lets interrupts in (`hvsim step`) is
        the interrupt the line signals taken here, so that the step runs
        the handler's first instruction (a step holds the line low)."""
        debugger = self.hv.scheduler.debugger
        if debugger is None or not debugger.stepping(self) or debugger.holds_interrupts(self):
            return
        if self.vgic.line and self.arch.interruptible():
            self.arch.take_irq()

    def block_enable_events(self):
        """SCHEDOP_block on Arm: local_event_delivery_enable() clears
        PSTATE.I, then block unless the vGIC has something to signal."""
        self.arch.unmask_irq()
        if self.vgic.pending_irq():
            return
        self.blocked = True
        self.stop_running("block")

    def wfi(self):
        """vcpu_block_unless_event_pending(), whatever PSTATE's masks."""
        if self.vgic.pending_irq():
            return
        self.blocked = True
        self.stop_running("wfi")

    def stop_timers(self):
        super().stop_timers()
        self.timers.stop()
