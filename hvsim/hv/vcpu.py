"""vCPUs, arch-neutral side (Xen's struct vcpu).

A VCpu is what the scheduler runs and what hypercalls act on: its run state
(online, blocked, halted), the interrupt it should receive (the event
channel upcall), timers, and its vcpu_info.  It is also the `host` of its
arch vCPU (hvsim/arch/x86/vcpu.py): the arch side calls back here for
hypercalls, port I/O, the TSC and pending interrupts, and never decides
Xen policy itself.
"""

from collections import deque

from ..abi import sched as so
from ..abi import vcpu as vcpuop
from ..arch.x86.defns import EFLAGS_IF
from ..errors import InternalError
from . import time as vtime
from .guest_access import update_guest
from .timer import Timer
from .x86 import hvm
from .x86 import io as x86io
from .x86.vlapic import (APIC_DM_INIT, APIC_DM_MASK, APIC_INT_ASSERT, APIC_INT_LEVELTRIG,
                         Vlapic)


class VCpu:
    def __init__(self, domain, vcpu_id):
        self.domain = domain
        self.hv = domain.hv
        self.vcpu_id = vcpu_id
        self.arch = None
        self.online = False               # VCPUOP_up / is_up
        self.initialised = False
        self.blocked = False              # SCHEDOP_block / poll
        self.upcall_vector = 0            # HVMOP_set_evtchn_upcall_vector (a vLAPIC vector)
        self.irq_hint = False             # an upcall was raised: deliver it at a hook
        self.vcpu_info = None             # VcpuInfoRef
        self.hcall_abi = None             # ABI of the hypercall in progress
        self.recent_hypercalls = deque(maxlen=16)
        self.in_multicall = False         # mc_state's _MCSF_in_multicall
        self.tsc_offset = -vtime.ns_to_tsc(domain.created_ns)   # the TSC starts at 0
        self.vcpu_info_registered = False
        self.hard_affinity = self.soft_affinity = (1 << self.hv.pcpus) - 1
        self.nmi_pending = False
        self.runstate = vcpuop.RUNSTATE_offline
        self.runstate_entry = self.hv.clock.now()
        self.runstate_time = [0, 0, 0, 0]
        self.runstate_area = None         # VCPUOP_register_runstate_memory_area (linear)
        self.time_area = None             # VCPUOP_register_vcpu_time_memory_area (linear)
        self.time_area_version = 0
        self.insns = 0
        self.virq_to_evtchn = {}
        self.singleshot_timer = Timer(self.hv.scheduler, self.send_timer_event, domain)
        self.periodic_timer = Timer(self.hv.scheduler, self._periodic_fired, domain)
        self.periodic_period = 0
        self.periodic_last_event = 0
        self.poll_timer = Timer(self.hv.scheduler, self._poll_timeout, domain)
        self.polling = False
        self.poll_evtchn = 0
        self.vlapic = Vlapic(self)

    def __repr__(self):
        return "d%dv%d" % (self.domain.domid, self.vcpu_id)

    # -- arch host interface ------------------------------------------------------------------
    def hypercall(self, nr, args, abi):
        result = self.hv.hypercalls.dispatch(self, nr, args, abi)
        if self.irq_hint or self.hv.scheduler.preempt_requested:
            self.preempt_point()
        return result

    # An exception in an emulated device is an hvsim bug: raised on as an
    # InternalError naming the access (the domain crashes, the run exits 70).
    def port_read(self, port, size):
        self.preempt_point()
        try:
            return x86io.port_read(self, port, size)
        except Exception as e:              # noqa: BLE001
            raise InternalError("a %d-byte read of I/O port %#x" % (size, port), e) from e

    def port_write(self, port, size, value):
        try:
            x86io.port_write(self, port, size, value)
        except Exception as e:              # noqa: BLE001
            raise InternalError("a %d-byte write of %#x to I/O port %#x"
                                % (size, value, port), e) from e
        self.preempt_point()

    def mmio_read(self, gpa, size):
        try:
            return x86io.mmio_read(self, gpa, size)
        except Exception as e:              # noqa: BLE001
            raise InternalError("a %d-byte MMIO read at %#x" % (size, gpa), e) from e

    def mmio_write(self, gpa, size, value):
        try:
            x86io.mmio_write(self, gpa, size, value)
        except Exception as e:              # noqa: BLE001
            raise InternalError("a %d-byte MMIO write of %#x at %#x"
                                % (size, value, gpa), e) from e

    def cr4_valid_bits(self):
        """hvm_cr4_guest_valid_bits(): what a mov to CR4 may set."""
        return hvm.CR4_GUEST_VALID

    def lapic_rdmsr(self, index):
        return self.vlapic.rdmsr(index)

    def lapic_wrmsr(self, index, value):
        self.vlapic.wrmsr(index, value)

    def preempt_point(self):
        """Called from the arch's instruction hooks: end the slice here if an
        upcall raised earlier has become deliverable (the guest enabled
        interrupts since), or if the fast-mode ticker asked for it (see
        scheduler._Ticker)."""
        sched = self.hv.scheduler
        if sched.current is not self:
            return
        if self.irq_hint:
            if self.interrupt_vector() is None:
                self.irq_hint = False
            elif self.arch.interruptible():
                self.irq_hint = False
                self.end_slice()
                return
        if sched.preempt_requested:
            sched.preempt_requested = False
            self.end_slice()

    def end_slice(self):
        """End the running slice early (from a hook), with no exit reason of its
        own: the scheduler gets control back to fire timers and inject upcalls,
        and a hlt the guest reaches before the slice actually stops still
        counts as one."""
        if self.arch is not None and self.hv.scheduler.current is self:
            self.arch.stop()

    def guest_tsc(self):
        clock = self.hv.clock
        clock.tsc_read()
        now = clock.now()
        sched = self.hv.scheduler
        due = sched.first_deadline
        if (due is not None and now >= due) or \
                (clock.deterministic and sched.slice_end_ns is not None and
                 now >= sched.slice_end_ns):
            # A timer is due: fire it now rather than at the next tick (or,
            # deterministic, the slice's end), as Xen's timer interrupt
            # would (a guest polling the TSC waits for it).  Deterministic:
            # the slice's time is used up (TSC reads charged it), so the
            # other vCPUs get theirs, as they would run alongside.
            self.end_slice()
        else:
            self.preempt_point()
        return vtime.ns_to_tsc(now) + self.tsc_offset

    def set_guest_tsc(self, value):
        self.tsc_offset = value - vtime.ns_to_tsc(self.hv.clock.now())

    def traced_exception(self, vector, kind, error_code, rip):
        tracer = self.hv.tracer
        if tracer is not None:
            tracer.exception(self, vector, kind, error_code, rip)

    def code_written(self):
        """This vCPU starts writing its kernel's code (arch/codewatch.py, in a
        domain with several vCPUs): every other vCPU drops its translated
        code before it next runs."""
        for watch in self._other_codewatches():
            watch.stale = True

    def code_dropped(self):
        """This vCPU dropped its translated code after another wrote code: the
        writers' code is read-only again before they next run."""
        for watch in self._other_codewatches():
            watch.expired = True

    def _other_codewatches(self):
        for v in self.domain.vcpus:
            if v is not self and v.arch is not None:
                yield v.arch.codewatch

    def hypercall_page_installed(self, gpa, is64):
        self.domain.shared_info.latch(is64)
        for v in self.domain.vcpus:
            if v.arch is not None:
                v.arch.flush_code()

    # -- run state ---------------------------------------------------------------------------
    @property
    def runnable(self):
        d = self.domain
        return self.online and not self.blocked and not d.paused and not d.is_shutting_down

    def set_runstate(self, state):
        if state == self.runstate:
            return
        now = self.hv.clock.now()
        self.runstate_time[self.runstate] += now - self.runstate_entry
        if self.hv.tracer is not None:
            self.hv.tracer.runstate(self, self.runstate, state, now)
        self.runstate = state
        self.runstate_entry = now
        if self.runstate_area is not None:
            self.update_runstate_area()

    def runstate_info(self, extrapolate, abi=None):
        """A vcpu_runstate_info in `abi`'s layout (default: the domain's
        shared_info format, Xen's has_32bit_shinfo()): v->runstate as it is,
        or vcpu_runstate_get()'s view extrapolated to now."""
        lay = vcpuop.vcpu_runstate_info.layout(abi or self.domain.shared_info.abi)
        buf = bytearray(lay.size)
        times = self.runstate_times() if extrapolate else self.runstate_time
        lay.put(buf, state=self.runstate, state_entry_time=self.runstate_entry)
        off = lay.offset("time")
        for i, t in enumerate(times):
            buf[off + 8 * i:off + 8 * i + 8] = t.to_bytes(8, "little")
        return buf

    def update_runstate_area(self):
        """update_runstate_area(): at every change of state (Xen: at each
        context switch), the registered area gets the runstate, written
        through this vCPU's own page tables; a bad address is ignored, as
        Xen ignores a failing copy.  (With VMASST_TYPE_runstate_update_flag
        Xen brackets the copy with XEN_RUNSTATE_UPDATE in state_entry_time;
        no other vCPU runs while hvsim writes it, so the flag is never seen
        set and the copy is done in one.)"""
        return update_guest(self, self.runstate_area, self.runstate_info(False))

    def update_time_area(self):
        """__update_vcpu_system_time()'s copy to the registered
        vcpu_time_info area: this vCPU's time info with its own version."""
        ref = self.vcpu_info
        if self.time_area is None or ref is None:
            return
        lay = ref.layout.fields["time"]
        data = bytearray(ref.buf[ref.base + lay.offset:ref.base + lay.offset + lay.size])
        self.time_area_version = (self.time_area_version + 2) & ~1
        data[0:4] = (self.time_area_version & 0xFFFFFFFF).to_bytes(4, "little")
        update_guest(self, self.time_area, data)

    def runstate_times(self):
        """vcpu_runstate_get(): the current state's time extrapolated to now."""
        times = list(self.runstate_time)
        times[self.runstate] += self.hv.clock.now() - self.runstate_entry
        return times

    def boot_online(self):
        """vCPU 0 of a new domain, its entry state loaded by the builder:
        initialised and up, as the domain builder leaves it."""
        self.online = self.initialised = True
        self.set_runstate(vcpuop.RUNSTATE_running)

    def bring_up(self):
        """VCPUOP_up."""
        if not self.online:
            self.online = True
            self.set_runstate(vcpuop.RUNSTATE_runnable)

    def take_down(self):
        """VCPUOP_down on a vCPU with others still up."""
        if self.online:
            self.online = False
            self.set_runstate(vcpuop.RUNSTATE_offline)
            self.stop_running("down")

    def send_nmi(self):
        """An NMI for this vCPU: taken at its next VM entry (the running vCPU
        ends its slice for it)."""
        self.nmi_pending = True
        self.kick()
        self.end_slice()

    def stop_running(self, reason):
        """End the current slice of this vCPU if it is running (from a hypercall)."""
        if self.arch is not None and self.hv.scheduler.current is self:
            self.arch.request_stop(reason)

    # -- events ---------------------------------------------------------------------------------
    def upcall_pending(self):
        ref = self.vcpu_info
        return ref is not None and ref.buf[ref.pending_at] != 0

    def events_need_delivery(self):
        """hvm_local_events_need_delivery(): an upcall is pending and the guest
        can take it now."""
        return (self.interrupt_vector() is not None and self.arch is not None
                and self.arch.interruptible())

    def interrupt_vector(self):
        """The vector to inject, or None (hvm_vcpu_has_pending_irq and
        hvm_interrupt_blocked's TPR check): the domain callback vector for
        as long as evtchn_upcall_pending stays set, else the local APIC's
        highest deliverable vector (the per-vCPU upcall vector among them)."""
        if self._callback_pending():
            return self.domain.callback_vector
        return self.vlapic.pending_vector()

    def _callback_pending(self):
        return self.domain.callback_vector and self.upcall_pending()

    def interrupt_delivered(self, vector):
        """The vector went through the IDT: a local APIC one is now in service."""
        self.irq_hint = False
        if not (vector == self.domain.callback_vector and self._callback_pending()):
            self.vlapic.ack(vector)

    def mark_events_pending(self):
        """vcpu_mark_events_pending(): set evtchn_upcall_pending; on a 0->1
        transition raise the upcall."""
        ref = self.vcpu_info
        if ref is None or ref.buf[ref.pending_at]:
            return
        ref.buf[ref.pending_at] = 1
        self.assert_evtchn_irq()

    def assert_evtchn_irq(self):
        """hvm_assert_evtchn_irq(): raise the upcall and wake the vCPU.  If it
        is the running vCPU (an event it sent itself, a timer it armed in the
        past), the slice ends after the hypercall so that the upcall is
        injected before its next instruction, as at Xen's VM entry.

        With neither a per-vCPU upcall vector nor the domain's callback
        vector there is nothing to raise and nobody is woken (Xen would only
        assert vCPU 0's GSI/INTx callback, and PVH has no PIC or IOAPIC to
        take it): SCHEDOP_poll still wakes on its ports (check_poller).
        The upcall vector goes to the local APIC's IRR (vlapic_set_irq), which
        kicks the vCPU if it was not pending yet."""
        if self.upcall_vector:
            self.vlapic.set_irq(self.upcall_vector)
            return
        if not self.domain.callback_vector:
            return
        self.irq_hint = True
        self.deliver_now()
        self.kick()

    def lapic_irq_raised(self):
        """A vector became pending in the local APIC (vcpu_kick after
        vlapic_set_irq)."""
        self.irq_hint = True
        self.deliver_now()
        self.kick()

    def lapic_priority_lowered(self):
        """EOI, a TPR write or the APIC enabled: a held vector may be
        deliverable now."""
        if self.vlapic.pending_vector() is not None:
            self.irq_hint = True
            self.deliver_now()

    def lapic_init_sipi(self, icr):
        """An INIT or STARTUP IPI for this vCPU (vlapic_init_sipi_one).  INIT
        takes an initialised vCPU down and resets its APIC; STARTUP starts
        a vCPU that is not initialised in real mode at vector:0000 and
        makes it runnable (hvm_vcpu_reset_state(): its TSC in step with
        vCPU 0's); a STARTUP for an initialised vCPU is ignored, as on Xen."""
        if icr & APIC_DM_MASK == APIC_DM_INIT:
            if icr & (APIC_INT_LEVELTRIG | APIC_INT_ASSERT) == APIC_INT_LEVELTRIG:
                return                          # INIT de-assert: nothing to do
            if self.initialised:
                self.initialised = False
                self.down()
                self.vlapic.do_init()
        elif not self.initialised:
            self.arch.reset_real_mode((icr & 0xFF) << 8, 0)
            self.tsc_offset = self.domain.vcpus[0].tsc_offset
            self.initialised = True
            self.bring_up()

    def deliver_now(self):
        """End the running slice if an interrupt is pending (the scheduler
        injects at slice start, or, if the guest has interrupts disabled,
        arms the interrupt window there)."""
        if self.hv.scheduler.current is self and self.interrupt_vector() is not None:
            self.end_slice()

    def inject_pending(self):
        """At VM entry (slice start) and at an interrupt window: a pending NMI
        first (IF does not block it), then the event-channel upcall if the
        guest can take it now; if it cannot, the arch vCPU watches for the
        instructions that enable interrupts (Xen: interrupt-window exiting).
        Nothing while a debugger holds this vCPU's interrupts (a held step)."""
        debugger = self.hv.scheduler.debugger
        if debugger is not None and debugger.holds_interrupts(self):
            return
        arch = self.arch
        if self.nmi_pending:
            self.nmi_pending = False
            arch.inject_nmi()
            return
        vector = self.interrupt_vector()
        if vector is None:
            arch.set_interrupt_window(False)
        elif arch.inject_interrupt(vector):
            arch.set_interrupt_window(False)
            self.interrupt_delivered(vector)
            if self.hv.tracer is not None:
                self.hv.tracer.upcall(self, vector)
        else:
            arch.set_interrupt_window(True)

    def interrupt_window(self):
        """The arch vCPU ran an sti/popf/iret with an upcall waiting."""
        self.inject_pending()

    def set_upcall_vector(self, vector):
        self.upcall_vector = vector
        self.assert_evtchn_irq()          # Xen injects once at registration

    def block_enable_events(self):
        """SCHEDOP_block: clear evtchn_upcall_mask, then block unless an event
        can be delivered right now."""
        ref = self.vcpu_info
        if ref is not None and ref.mask_at is not None:
            ref.buf[ref.mask_at] = 0
        if self.events_need_delivery():
            self.deliver_now()
            return
        self.blocked = True
        self.stop_running("block")

    def hlt(self):
        """The guest executed hlt (Xen's hvm_hlt): with interrupts enabled it
        blocks like SCHEDOP_block; with them disabled the vCPU goes down, and
        the last vCPU going down powers the domain off."""
        if self.arch.rflags & EFLAGS_IF:
            self.block_enable_events()
        else:
            self.down()

    def down(self):
        """hvm_vcpu_down()."""
        self.take_down()
        d = self.domain
        if not any(v.online for v in d.vcpus):
            self.hv.log("%r All CPUs offline -- powering off." % self)
            d.shutdown(so.SHUTDOWN_poweroff)

    def kick(self):
        """vcpu_kick(): a blocked or halted vCPU becomes runnable."""
        self.polling = False
        if self.blocked:
            self.blocked = False
            self.hv.scheduler.vcpu_woken(self)

    def crash_report(self, exit_):
        """The arch report (registers, code) plus the last hypercalls."""
        return self.describe_crash(exit_.report or exit_.reason)

    def describe_crash(self, report):
        """An arch crash report ("vCPU0 crashed: ...", registers, code) named
        for this vCPU, plus the last hypercalls."""
        from .hypercall import decode_hypercall
        lines = [report.replace("vCPU%d" % self.vcpu_id, "%r" % self, 1)]
        if self.recent_hypercalls:
            lines.append("  last hypercalls (oldest first):")
            for nr, args, result in self.recent_hypercalls:
                lines.append("    " + decode_hypercall(nr, args, result, self))
        return "\n".join(lines)

    # -- timers ----------------------------------------------------------------------------------
    def send_timer_event(self):
        self.domain.evtchn.send_vcpu_virq(self, 0)     # VIRQ_TIMER

    def set_periodic_timer(self, period_ns):
        """vcpu_set_periodic_timer(): 0 stops it; otherwise it usually fires at
        once (the last event was at time 0)."""
        self.periodic_timer.stop()
        self.periodic_period = period_ns
        if period_ns:
            self._periodic_work()

    def _periodic_work(self):
        """vcpu_periodic_timer_work(): one event if a period has passed (missed
        ticks collapse into one), then re-arm one period from now."""
        now = self.hv.clock.now()
        nxt = self.periodic_last_event + self.periodic_period
        if now >= nxt:
            self.send_timer_event()
            self.periodic_last_event = now
            nxt = now + self.periodic_period
        self.periodic_timer.set(nxt)

    def _periodic_fired(self):
        if self.periodic_period:
            self._periodic_work()

    def switched_in(self):
        """Scheduled after another vCPU: Xen's periodic timer only runs while
        its vCPU is scheduled, so catch up now."""
        if self.periodic_period:
            self._periodic_work()

    def switched_out(self):
        self.periodic_timer.stop()

    def poll(self, port, timeout):
        """Block in SCHEDOP_poll: woken by `port` (any port if 0) becoming
        pending, by an upcall, or at `timeout` (absolute, 0 = never)."""
        self.poll_evtchn = port
        self.polling = True
        if timeout:
            self.poll_timer.set(timeout)
        self.blocked = True
        self.stop_running("poll")

    def check_poller(self, port):
        """evtchn_check_pollers() for this vCPU."""
        if self.polling and self.poll_evtchn in (0, port):
            self._end_poll()

    def _end_poll(self):
        self.polling = False
        self.poll_evtchn = 0
        self.poll_timer.stop()
        self.kick()

    def _poll_timeout(self):
        if self.polling:
            self._end_poll()

    def stop_timers(self):
        for t in (self.singleshot_timer, self.periodic_timer, self.poll_timer):
            t.stop()

    def move_vcpu_info(self, ref):
        """VCPUOP_register_vcpu_info: carry the old contents over (or start
        masked), mark every selector bit and raise the upcall."""
        old = self.vcpu_info
        size = ref.layout.size
        if old is not None:
            ref.buf[ref.base:ref.base + size] = old.buf[old.base:old.base + size]
        else:
            ref.buf[ref.base:ref.base + size] = bytes(size)
            if ref.layout.fields.get("evtchn_upcall_mask"):
                ref.put(evtchn_upcall_mask=1)
        self.vcpu_info = ref
        self.vcpu_info_registered = True
        ref.put(evtchn_pending_sel=(1 << (8 * ref.layout.fields["evtchn_pending_sel"].size)) - 1)
        self.mark_events_pending()
        self.domain.shared_info.update_vcpu_time(ref)
        self.update_time_area()

    # -- vcpu_info -------------------------------------------------------------------------------
    def refresh_vcpu_info(self):
        """(Re)point at the legacy vcpu_info slot after the shared_info format changed."""
        if self.vcpu_info_registered:
            return
        ref = self.domain.shared_info.legacy_vcpu_info(self.vcpu_id)
        self.vcpu_info = ref
        if ref is not None:
            self.domain.shared_info.update_vcpu_time(ref)
            self.update_time_area()
