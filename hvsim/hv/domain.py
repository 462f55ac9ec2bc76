"""Domains (Xen's struct domain, xen/common/domain.c).

A Domain owns its guest-physical memory (physmap) and memory map (e820),
its vCPUs, shared_info, HVM parameters and callback vector, console, its
capabilities (DOMAIN_CAPS_*: control, hardware, xenstore, device model) and
its life cycle: created paused by the controller, paused and unpaused
(domain_{,un}pause_by_systemcontroller), shut down with a SHUTDOWN_* reason
or crashed with a report, and killed (domain_kill: DOMDYING_dying, then
DOMDYING_dead, when it leaves the domain list).  Subsystem state hangs off
the domain as attributes named as in Xen's struct domain: `evtchn`,
`grant_table`.
"""

import struct
import time

from ..snapshot import state as snapstate
from ..abi import errno, hvm, sched, xen
from ..abi.bootfdt import (DOMAIN_CAPS_CONTROL, DOMAIN_CAPS_DEVICE_MODEL, DOMAIN_CAPS_HARDWARE,
                           DOMAIN_CAPS_XENSTORE)
from .console import DomainConsole
from .evtchn import DomainEvtchn
from .gnttab import GrantTable
from .physmap import PAGE_SHIFT, Physmap
from .shared_info import SharedInfo

DOMDYING_alive, DOMDYING_dying, DOMDYING_dead = 0, 1, 2


class E820Entry:
    """One entry of the domain's memory map (XENMEM_memory_map, start info)."""

    __slots__ = ("addr", "size", "type")

    def __init__(self, addr, size, type_):
        self.addr = addr
        self.size = size
        self.type = type_

    def pack(self):
        return struct.pack("<QQI", self.addr, self.size, self.type)

    @classmethod
    def unpack(cls, data, offset=0):
        return cls(*struct.unpack_from("<QQI", data, offset))


class Domain:
    def __init__(self, hv, domid, name=None, caps=0, max_vcpus=1, max_pages=0,
                 is_console=True):
        self.hv = hv
        self.domid = domid
        self.name = name or "d%d" % domid
        self.caps = caps
        self.max_vcpus = max_vcpus
        self.max_pages = max_pages
        self.is_console = is_console
        self.target = None                     # XEN_DOMCTL_set_target
        self.handle = bytes(16)                # xen_domain_handle_t (UUID)
        self.physmap = Physmap()
        self.vcpus = []
        self.console = DomainConsole(self, hv.console)
        self.shared_info = SharedInfo(self)
        self.hvm_params = [0] * hvm.HVM_NR_PARAMS
        self.callback_vector = 0               # HVM_PARAM_CALLBACK_IRQ, vector type
        self.e820 = []
        self.kernel = None                     # the loaded kernel, set by the domain builder
        self.vm_assist = 0                     # VMASST_TYPE_* bits (do_vm_assist)
        self.evtchn = DomainEvtchn(self)
        self.grant_table = GrantTable(self)
        self.unmapped_pages = 0                # owned, in no gfn (memory.py)
        self.controller_pause_count = 1        # created paused by the toolstack/boot
        self.is_dying = DOMDYING_alive
        self.unique_id = hv.next_unique_id()
        self.is_shutting_down = False
        self.shutdown_code = None
        self.crash_report = None
        self.end_reason = None                 # human-readable, for the summary
        self.created_ns = hv.clock.now()
        self.ended_ns = None
        self.host_start = time.monotonic()
        self.host_end = None

    def __repr__(self):
        return "d%d" % self.domid

    # snapshots: host seconds (the summary) count only time spent running
    def __getstate__(self):
        return snapstate.rebase_host_stamps(dict(self.__dict__), ("host_start", "host_end"))

    def __setstate__(self, state):
        self.__dict__.update(snapstate.rebase_host_stamps(state, ("host_start", "host_end")))

    # -- capabilities ----------------------------------------------------------------------
    @property
    def is_privileged(self):
        return bool(self.caps & DOMAIN_CAPS_CONTROL)

    @property
    def is_hardware_domain(self):
        return bool(self.caps & DOMAIN_CAPS_HARDWARE)

    @property
    def is_xenstore_domain(self):
        return bool(self.caps & DOMAIN_CAPS_XENSTORE)

    @property
    def is_dm_domain(self):
        return bool(self.caps & DOMAIN_CAPS_DEVICE_MODEL)

    @property
    def tot_pages(self):
        return self.physmap.ram_pages() + self.unmapped_pages

    # -- life cycle --------------------------------------------------------------------------
    @property
    def paused(self):
        return self.controller_pause_count > 0

    @property
    def finished(self):
        return self.is_shutting_down or self.is_dying != DOMDYING_alive

    def unpause(self):
        """domain_unpause_by_systemcontroller(); -EINVAL if not paused."""
        if self.controller_pause_count == 0:
            return -errno.EINVAL
        self.controller_pause_count -= 1
        self._trace("unpaused")
        return 0

    def pause(self):
        """domain_pause_by_systemcontroller(); the count is capped at 255."""
        if self.controller_pause_count + 1 > 255:
            return -errno.EOVERFLOW
        self.controller_pause_count += 1
        for v in self.vcpus:
            v.stop_running("paused")
        self._trace("paused")
        return 0

    def kill(self):
        """domain_kill() to DEAD: close its event channels, stop it for good,
        tell the VIRQ_DOM_EXC handler, and leave the domain list."""
        if self.is_dying == DOMDYING_dead:
            return 0
        self.is_dying = DOMDYING_dead
        for v in self.vcpus:
            v.stop_timers()
            v.stop_running("destroyed")
        self.evtchn.destroy()
        self.grant_table.release_mappings()
        if self.end_reason is None:
            self.end_reason = "destroyed"
            self._ended()
        self.hv.domain_destroyed(self)
        return 0
    def shutdown(self, reason):
        """domain_shutdown(): stop every vCPU; the first reason wins."""
        if self.is_shutting_down:
            return
        self.is_shutting_down = True
        for v in self.vcpus:
            v.stop_timers()
        if self.shutdown_code is None:
            self.shutdown_code = reason
        self.end_reason = sched.shutdown_reason_name(self.shutdown_code).lower()
        self._ended()
        for v in self.vcpus:
            v.stop_running("shutdown")
        if self.is_hardware_domain:
            self.hv.hwdom_shutdown(self, self.shutdown_code)
        self.hv.domain_state_changed(self, notify=True)

    def crash(self, report):
        """domain_crash(): shutdown(crash) with a report on the console."""
        if self.is_shutting_down:
            return
        self.crash_report = report
        self.console.flush()
        self.hv.report_crash(self, report)
        self.shutdown(sched.SHUTDOWN_crash)
        self.end_reason = "crashed"

    def _ended(self):
        self.console.flush()
        self.ended_ns = self.hv.clock.now()
        self.host_end = time.monotonic()
        self._trace(self.end_reason)

    def _trace(self, what):
        if self.hv.tracer is not None:
            self.hv.tracer.domain_event(self, what)

    # -- vCPUs ------------------------------------------------------------------------------
    def vcpu_by_id(self, vcpu_id):
        return self.vcpus[vcpu_id] if 0 <= vcpu_id < len(self.vcpus) else None

    def set_callback_via(self, value):
        """hvm_set_callback_via(): a PVH domain has no virtual PIC/IOAPIC, so only
        the vector type takes effect (others are silently ignored); the vector
        is not range-checked.  Online vCPUs with an event pending get it now."""
        if value >> hvm.HVM_PARAM_CALLBACK_IRQ_TYPE_SHIFT != hvm.HVM_PARAM_CALLBACK_TYPE_VECTOR:
            return
        self.callback_vector = value & 0xFF
        for v in self.vcpus:
            if v.online:
                v.assert_evtchn_irq()

    # -- memory ----------------------------------------------------------------------------
    def gfn_is_ram(self, gfn):
        return self.physmap.is_ram(gfn << PAGE_SHIFT)

    def maximum_gpfn(self):
        return self.physmap.max_gfn()

    def map_shared_info(self, gfn):
        """XENMAPSPACE_shared_info: (re)place the shared_info page at gfn."""
        old = self.physmap.overlay_gfn("shared_info")
        if old == gfn:
            return
        if old is not None:
            self.physmap.remove_overlay(old)
        si = self.shared_info
        self.physmap.overlay(gfn, si.buf, si.addr, "shared_info")


# ---- vm_assist (xen/common/domain.c) ----------------------------------------------------------
HVM_VM_ASSIST_MASK = 1 << xen.VMASST_TYPE_runstate_update_flag


def do_vm_assist(v, cmd, type_, *_):
    """vm_assist(): an HVM domain may only set runstate_update_flag."""
    cmd &= 0xFFFFFFFF
    type_ &= 0xFFFFFFFF
    if type_ >= 64 or not HVM_VM_ASSIST_MASK >> type_ & 1:
        return -errno.EINVAL
    d = v.domain
    if cmd == xen.VMASST_CMD_enable:
        d.vm_assist |= 1 << type_
        return 0
    if cmd == xen.VMASST_CMD_disable:
        d.vm_assist &= ~(1 << type_)
        return 0
    return -errno.ENOSYS
