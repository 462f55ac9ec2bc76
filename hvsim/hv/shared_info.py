"""The shared_info page and per-vCPU vcpu_info (Xen's public/xen.h structures).

hvsim owns one host page per domain, mapped into the guest where it asks
(XENMEM_add_to_physmap, XENMAPSPACE_shared_info).  Its format (64-bit or
32-bit layout) is latched from the guest's mode when it installs the
hypercall page or sets HVM_PARAM_CALLBACK_IRQ, exactly as Xen's
hvm_latch_shinfo_size() does.  A vCPU's vcpu_info is the legacy slot in
shared_info until the guest moves it with VCPUOP_register_vcpu_info.

Also here: the wallclock (wc_*) and the per-vCPU time (vcpu_time_info)
updates with their version seqlocks.
"""

from ..snapshot import state as snapstate
from ..abi import xen
from ..abi.cstruct import MASK32, X86_32, X86_64
from . import time as vtime
from .physmap import PAGE_SIZE, host_pages


class VcpuInfoRef:
    """Where one vCPU's vcpu_info lives: (buffer, offset) + layout, and the
    indices in `buf` of the fields event delivery touches on every event
    (evtchn_upcall_pending and _mask are bytes in every layout; mask_at is
    None where the layout has no mask)."""

    __slots__ = ("buf", "base", "layout", "pending_at", "mask_at", "sel_at")

    def __init__(self, buf, base, layout):
        self.buf = buf
        self.base = base
        self.layout = layout
        fields = layout.fields
        self.pending_at = base + fields["evtchn_upcall_pending"].offset
        mask = fields.get("evtchn_upcall_mask")
        self.mask_at = None if mask is None else base + mask.offset
        self.sel_at = base + fields["evtchn_pending_sel"].offset

    def get(self, *names):
        return self.layout.get(self.buf, *names, base=self.base)

    def put(self, **values):
        self.layout.put(self.buf, base=self.base, **values)


class SharedInfo:
    def __init__(self, domain, abi=X86_64):
        self.domain = domain
        self.buf, self.addr = host_pages(PAGE_SIZE)
        self.abi = abi
        self.wc_version = 0

    def __setstate__(self, state):           # snapshots: the page's host address
        self.__dict__.update(state)
        self.addr = snapstate.buffer_address(self.buf)

    # -- format ---------------------------------------------------------------------------
    @property
    def layout(self):
        return xen.shared_info.layout(self.abi)

    @property
    def vcpu_info_layout(self):
        return xen.vcpu_info.layout(self.abi)

    def latch(self, is64):
        """hvm_latch_shinfo_size(): pick the 64/32-bit format, refresh wallclock."""
        if self.abi.name.startswith("x86"):
            new = X86_64 if is64 else X86_32
            if new is not self.abi:
                self.abi = new
                for v in self.domain.vcpus:
                    v.refresh_vcpu_info()
        self.update_wallclock()

    def legacy_vcpu_info(self, vcpu_id):
        if vcpu_id >= xen.legacy_max_vcpus(self.abi):
            return None
        lay = self.vcpu_info_layout
        return VcpuInfoRef(self.buf, vcpu_id * lay.size, lay)

    # -- wallclock and time -----------------------------------------------------------------
    def update_wallclock(self):
        """update_domain_wallclock_time(): seqlock-versioned wc_sec/wc_nsec."""
        lay = self.layout
        sec, nsec = self.domain.hv.clock.boot_wallclock()
        self.wc_version += 1
        lay.put(self.buf, wc_version=self.wc_version)
        lay.put(self.buf, wc_sec=sec & MASK32, wc_nsec=nsec)
        lay.put(self.buf, **{xen.wc_sec_hi_field(self.abi): sec >> 32})
        self.wc_version += 1
        lay.put(self.buf, wc_version=self.wc_version)

    def update_vcpu_time(self, ref):
        """update_vcpu_system_time(): pvclock parameters for one vCPU.

        The guest TSC is an exact linear function of system time (hv/time.py),
        so one sample (domain creation: system time T0, guest TSC 0) stays
        right forever; only the version seqlock moves.  flags is 0, as on a
        host not booted with clocksource=tsc."""
        version = (ref.get("time.version") + 1) | 1
        ref.put(**{"time.version": version})
        ref.put(**{"time.tsc_timestamp": 0, "time.system_time": self.domain.created_ns,
                   "time.tsc_to_system_mul": vtime.TSC_TO_SYSTEM_MUL,
                   "time.tsc_shift": vtime.TSC_SHIFT, "time.flags": 0})
        ref.put(**{"time.version": version + 1})
