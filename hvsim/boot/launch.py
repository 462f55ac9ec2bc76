"""Launching a boot plan: build every domain paused, give each what its
capabilities imply, bind the static event channels, then unpause them.

As dom0less/hyperlaunch does:
* every boot domain is a console domain (d->is_console);
* hardware and xenstore domains get an unlimited event-channel space, the
  others 1023 ports;
* the xenstore domain becomes the VIRQ_DOM_EXC handler, and the backend of
  every other domain's xenstore/console event channels;
* static event channels (`xen,evtchn`) are bound before anything runs:
  alloc_unbound at port A in one domain, bind_interdomain at port B in the
  other (which leaves B pending, as in Xen).
Domains are unpaused in LCM order (or domid order); a domain that crashes or
ends never stops the others, nor does an hvsim bug met while building one
(build_or_crash: that domain is crashed, the error counted).

Each domain is built by its kernel's architecture's builder: PVH for an x86
ELF, the Arm builder (boot/arm64.py) for an arm64 Image or AArch64 ELF, so
a dom0less LCM boots Arm domains as Xen on Arm's dom0less builder does.  A
host runs one architecture: a plan mixing both is refused before boot.  When the hardware domain shuts down, Xen takes
the host down with it (hwdom_shutdown): so does hvsim, unless asked not to.
"""

from ..abi import bootfdt, xen
from ..errors import HostInputError, HvsimError
from ..hv import evtchn
from . import arm64
from .plan import unlimited_evtchns
from .pvh import build_domain

UNLIMITED_PORTS = 0x7FFFFFFF


def _backend_domid(plan):
    for dp in plan.domains:
        if dp.caps & bootfdt.DOMAIN_CAPS_XENSTORE:
            return dp.domid
    return 0


def _builders(plan, specs):
    """The domain builder of each spec, by its kernel's architecture."""
    is_arm = [arm64.is_arm64_kernel(s.kernel_data or b"") for s in specs]
    if any(is_arm) and not all(is_arm):
        arm = [s.name or "d%d" % s.domid for s, a in zip(specs, is_arm) if a]
        other = [s.name or "d%d" % s.domid for s, a in zip(specs, is_arm) if not a]
        raise HostInputError(plan.source, "domain kernels",
                             "arm64 kernels (%s) and x86 kernels (%s) in one boot"
                             % (", ".join(arm), ", ".join(other)),
                             "boot domains of one architecture, as one Xen host runs")
    return [arm64.build_domain if a else build_domain for a in is_arm]


def build_plan(hv, plan):
    """Build every domain of `plan` (left paused); returns them in LCM order."""
    backend = _backend_domid(plan)
    domains = []
    specs = plan.to_domain_specs()
    for dp, spec, builder in zip(plan.domains, specs, _builders(plan, specs)):
        spec.backend_domid = backend if dp.domid != backend else 0
        d = build_or_crash(hv, builder, spec)
        if unlimited_evtchns(dp.caps):
            d.evtchn.max_port = UNLIMITED_PORTS
        if dp.caps & bootfdt.DOMAIN_CAPS_XENSTORE:
            hv.global_virq_handlers[xen.VIRQ_DOM_EXC] = d
        domains.append(d)
    for (a, port_a), (b, port_b) in plan.static_evtchn_pairs():
        _bind_static(hv, plan, a, port_a, b, port_b)
    return domains


def build_or_crash(hv, builder, spec):
    """builder(hv, spec): the domain, built paused.  Bad host input stops
    the boot (HvsimError, one line); any other exception is an hvsim bug in
    the loader, which crashes this domain only (counted as an internal
    error: Hypervisor.internal_error) while the others boot."""
    try:
        return builder(hv, spec)
    except HvsimError:
        raise
    except Exception as e:                  # noqa: BLE001 - an hvsim bug: this domain crashes
        d = hv.domains.get(spec.domid)
        if d is None:
            d = hv.create_domain(spec.domid, name=spec.name, caps=spec.caps)
        hv.internal_error(d, e, "the loader (building d%d from %s)" % (spec.domid, spec.source))
        return d


def _bind_static(hv, plan, a, port_a, b, port_b):
    da, db = hv.domains[a], hv.domains[b]
    rc = evtchn.alloc_unbound_at(da, port_a, b)
    if rc == 0:
        rc = evtchn.bind_interdomain_at(db, port_b, da, port_a)
    if rc:
        raise HostInputError(plan.source, "static event channel d%d:%d <-> d%d:%d"
                             % (a, port_a, b, port_b),
                             "cannot be bound (error %d)" % rc,
                             "pick ports that are free and within the domains' limits")


def start_order(domains, order="lcm"):
    """The domains in the order start() unpauses them: LCM or domid order."""
    if order == "domid":
        return sorted(domains, key=lambda d: d.domid)
    return list(domains)


def start(domains, order="lcm"):
    """Unpause the domains, in LCM order or ascending domid order."""
    for d in start_order(domains, order):
        d.unpause()
