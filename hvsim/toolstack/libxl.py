"""What libxl does for a new domain before it runs (tools/libs/light:
libxl__build_pre() allocates the xenstore and console event channels,
libxl__build_hvm() / xc_dom_x86.c place their pages on the special pfns,
libxl__build_post() introduces the domain to xenstored, after which
xenconsoled connects to its console).

The domain builder (hvsim/boot/pvh.py) has loaded the kernel and made the
vCPUs; setup_domain() does the rest, through the event channel API as
libxl does through libxenctrl:
* HVM_PARAM_STORE_PFN / CONSOLE_PFN: the xenstore and console special pages;
* HVM_PARAM_STORE_EVTCHN / CONSOLE_EVTCHN: a port each, allocated unbound
  and offered to the backend domain (xc_evtchn_alloc_unbound; in a fresh
  domain port 1 is xenstore, port 2 the console);
* grant entries 0 and 1 (console, xenstore) given to the backend domain
  (xc_dom_gnttab_seed), unless the domain is its own backend;
* libxl writes the domain's xenstore tree and introduces it to xenstored,
  which binds the store port and serves the ring (xenstore_tree.introduce());
* the built-in backends connect: xenconsoled binds the console port.
"""

from ..abi import grant_table as g, hvm as h
from ..hv import evtchn
from . import toolstack_of, xenstore_tree


def setup_domain(hv, d, backend_domid, magic_pfns=None):
    """The toolstack's part of creating domain d (left paused).  magic_pfns:
    (xenstore, console) pages, by default x86's special pages."""
    store, console = magic_pfns or (h.special_pfn(h.SPECIALPAGE_XENSTORE),
                                    h.special_pfn(h.SPECIALPAGE_CONSOLE))
    d.hvm_params[h.HVM_PARAM_STORE_PFN] = store
    d.hvm_params[h.HVM_PARAM_CONSOLE_PFN] = console
    for param in (h.HVM_PARAM_STORE_EVTCHN, h.HVM_PARAM_CONSOLE_EVTCHN):
        port = evtchn.alloc_unbound_port(d, backend_domid)
        if port < 0:
            raise RuntimeError("d%d: no free event channel for HVM param %d (error %d)"
                               % (d.domid, param, port))
        d.hvm_params[param] = port
    if d.domid != backend_domid:
        d.grant_table.seed(g.GNTTAB_RESERVED_CONSOLE, backend_domid,
                           d.hvm_params[h.HVM_PARAM_CONSOLE_PFN])
        d.grant_table.seed(g.GNTTAB_RESERVED_XENSTORE, backend_domid,
                           d.hvm_params[h.HVM_PARAM_STORE_PFN])
    ts = toolstack_of(hv)
    xenstore_tree.introduce(ts, d)
    ts.xenconsoled.add_domain(d)
