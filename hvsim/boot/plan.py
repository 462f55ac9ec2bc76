"""The boot plan: what the hypervisor's boot stage decided to build, from
an LCM (hyperlaunch or dom0less layout) or from the classic module list.

Plain data, in LCM order, with everything resolved: domids, capability
bits, memory in bytes, vCPUs, the kernel and ramdisk bytes with a label for
messages, the command line to give, static event channels with both ends.
to_domain_specs() turns it into hvsim.boot.pvh.DomainSpec objects for the
domain builder.  Nothing here parses or validates; hvsim.boot.lcm does.
"""

from ..abi import bootfdt
from ..errors import HostInputError
from .pvh import DomainSpec, Module

KIND_HYPERLAUNCH = "hyperlaunch"
KIND_DOM0LESS = "dom0less"
KIND_CLASSIC = "classic"

CAPABILITY_NAMES = (
    (bootfdt.DOMAIN_CAPS_CONTROL, "CONTROL"),
    (bootfdt.DOMAIN_CAPS_HARDWARE, "HARDWARE"),
    (bootfdt.DOMAIN_CAPS_XENSTORE, "XENSTORE"),
    (bootfdt.DOMAIN_CAPS_DEVICE_MODEL, "DEVICE_MODEL"),
    (bootfdt.DOMAIN_CAPS_NOT_HYPERCALL_TARGET, "NOT_HYPERCALL_TARGET"),
)


def unlimited_evtchns(caps):
    """Whether a domain with these capabilities gets an unlimited event-channel
    space, as the hardware and xenstore domains do (the others: 1023 ports)."""
    return bool(caps & (bootfdt.DOMAIN_CAPS_HARDWARE | bootfdt.DOMAIN_CAPS_XENSTORE))


def capability_names(caps):
    """'CONTROL|XENSTORE' for 0x5, '-' for 0."""
    names = [name for bit, name in CAPABILITY_NAMES if caps & bit]
    return "|".join(names) or "-"


class ModuleRef:
    """A boot module a domain uses.

    index: its MB2 module index, or None for a `reg`-located module that no
    MB2 tag describes; start/end: its host range (None when unknown, as in
    `hvsim lcm check` without an MBI); data: its bytes (None when unknown);
    string: its MB2 string; label: how messages name it; path: the file it
    was read from (None when unknown)."""

    def __init__(self, index, label, data=None, start=None, end=None, string="", path=None):
        self.index = index
        self.label = label
        self.path = path
        self.data = data
        self.start = start
        self.end = end
        self.string = string

    def __repr__(self):
        return "ModuleRef(%s)" % self.label


class StaticEvtchn:
    """One end of a static event channel (dom0less `xen,evtchn-v1` node):
    local_port in this domain is bound to remote_port in remote_domid."""

    def __init__(self, node_path, local_port, remote_domid, remote_port, remote_node_path):
        self.node_path = node_path
        self.local_port = local_port
        self.remote_domid = remote_domid
        self.remote_port = remote_port
        self.remote_node_path = remote_node_path

    def __repr__(self):
        return "StaticEvtchn(%d -> d%d:%d)" % (self.local_port, self.remote_domid,
                                               self.remote_port)


class DomainPlan:
    """One initial domain.  node_path is None on the classic path."""

    def __init__(self, node_path, name, domid, caps, mode, mem_bytes, mem_min, mem_max,
                 vcpus, kernel, kernel_cmdline, ramdisk=None, static_evtchns=()):
        self.node_path = node_path
        self.name = name
        self.domid = domid
        self.caps = caps
        self.mode = mode
        self.mem_bytes = mem_bytes
        self.mem_min = mem_min      # bytes or None
        self.mem_max = mem_max      # bytes or None
        self.vcpus = vcpus
        self.kernel = kernel        # ModuleRef
        self.kernel_cmdline = kernel_cmdline
        self.ramdisk = ramdisk      # ModuleRef or None
        self.static_evtchns = list(static_evtchns)

    @property
    def capability_names(self):
        return capability_names(self.caps)

    def to_domain_spec(self):
        """A DomainSpec for hvsim.boot.pvh.build_domain; boot domains get the
        console, as dom0less domains do (d->is_console), and their ramdisk as
        module 0 with its MB2 string as command line and its exact length, as
        Xen's pvh_load_kernel() gives it."""
        for ref in (self.kernel, self.ramdisk):
            if ref is not None and ref.data is None:
                raise HostInputError(ref.label, None, "the plan has no bytes for this module "
                                     "(it was checked without an MBI)",
                                     "boot through the firmware stage to load it")
        modules = []
        if self.ramdisk is not None:
            modules.append(Module(self.ramdisk.data, self.ramdisk.string, self.ramdisk.label,
                                  page_rounded=False))
        return DomainSpec(self.domid, self.kernel.label, self.mem_bytes,
                          cmdline=self.kernel_cmdline, modules=modules, vcpus=self.vcpus,
                          caps=self.caps, is_console=True, name=self.name,
                          source=self.kernel.label, kernel_data=self.kernel.data)

    def __repr__(self):
        return "DomainPlan(d%d %s)" % (self.domid, self.name)


class BootPlan:
    """Every initial domain, in LCM order, and what the boot stage noticed.

    kind: "hyperlaunch" | "dom0less" | "classic"; source: what described it
    (the LCM file or "MBI"); hypervisor_cmdline: Xen's command line (cooked
    as Xen does); warnings: one line each, already in the file: field:
    problem form."""

    def __init__(self, kind, source, hypervisor_cmdline, domains, warnings=()):
        self.kind = kind
        self.source = source
        self.hypervisor_cmdline = hypervisor_cmdline
        self.domains = list(domains)
        self.warnings = list(warnings)

    def to_domain_specs(self):
        return [d.to_domain_spec() for d in self.domains]

    def static_evtchn_pairs(self):
        """Each static event channel once: ((domid_a, port_a), (domid_b, port_b)),
        in LCM order of its first end.  Bind as Xen does: alloc_unbound in a
        (remote b) at port_a, then bind_interdomain in b at port_b."""
        seen, pairs = set(), []
        for d in self.domains:
            for ec in d.static_evtchns:
                a, b = (d.domid, ec.local_port), (ec.remote_domid, ec.remote_port)
                if (b, a) not in seen:
                    seen.add((a, b))
                    pairs.append((a, b))
        return pairs

    def __repr__(self):
        return "BootPlan(%s, %d domains)" % (self.kind, len(self.domains))
