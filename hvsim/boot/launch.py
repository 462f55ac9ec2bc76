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
ends never stops the others.  When the hardware domain shuts down, Xen takes
the host down with it (hwdom_shutdown): so does hvsim, unless asked not to.
"""

from ..abi import bootfdt, xen
from ..errors import HostInputError
from ..hv import evtchn
from .plan import unlimited_evtchns
from .pvh import build_domain

UNLIMITED_PORTS = 0x7FFFFFFF


def _backend_domid(plan):
    for dp in plan.domains:
        if dp.caps & bootfdt.DOMAIN_CAPS_XENSTORE:
            return dp.domid
    return 0


def build_plan(hv, plan):
    """Build every domain of `plan` (left paused); returns them in LCM order."""
    backend = _backend_domid(plan)
    domains = []
    for dp, spec in zip(plan.domains, plan.to_domain_specs()):
        spec.backend_domid = backend if dp.domid != backend else 0
        d = build_domain(hv, spec)
        if unlimited_evtchns(dp.caps):
            d.evtchn.max_port = UNLIMITED_PORTS
        if dp.caps & bootfdt.DOMAIN_CAPS_XENSTORE:
            hv.global_virq_handlers[xen.VIRQ_DOM_EXC] = d
        domains.append(d)
    for (a, port_a), (b, port_b) in plan.static_evtchn_pairs():
        _bind_static(hv, plan, a, port_a, b, port_b)
    return domains


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


def start(domains, order="lcm"):
    """Unpause the domains, in LCM order or ascending domid order."""
    if order == "domid":
        domains = sorted(domains, key=lambda d: d.domid)
    for d in domains:
        d.unpause()
