"""The toolstack: what dom0's user space does for every domain, as Xen's
tools/ does it, built into hvsim.

* libxl.py: the set-up of a new domain before it runs (console and xenstore
  pages and event channels, then the backends connect);
* backend.py: backend event channels, the backends' end of a guest's
  channel (connect_backend below);
* xenconsoled.py: the console backend (the PV console ring of each domain);
* console_client.py: `xl console`, the user's terminal attached to one
  domain's console;
* xenstored.py: the xenstore daemon; xenstore_tree.py: the tree libxl
  writes for every domain.

The hypervisor (hvsim/hv) never imports this layer: a Toolstack hangs off
the Hypervisor as `hv.toolstack` (toolstack_of() makes it), which tells it
only that a domain was destroyed (@releaseDomain) and that the run ended
(flush); it reaches guests only through Xen's interfaces (event channels,
guest pages).  It is saved in snapshots with the hypervisor.

For a backend (xenstored, the next device backend):

    chan = toolstack_of(hv).connect_backend(domain, port, self.on_notify)

binds the backend's end to `domain`'s unbound `port` (allocated by libxl
for that backend's domid): from then on, every EVTCHNOP_send by the guest
on `port` calls `self.on_notify()` (synchronously, in virtual time), and
`chan.notify()` makes `port` pending in the guest as an interdomain send
does.  EVTCHNOP_status shows the guest's port interdomain to (backend
domid, chan.local_port).  See backend.py for the details.
"""

from .backend import BackendDomain
from .xenconsoled import XenConsoled
from .xenstored import Xenstored
from . import xenstore_tree


class Toolstack:
    """dom0's user space for one hypervisor: the built-in backends and the
    event-channel tables they use, one per backend domid."""

    def __init__(self, hv):
        self.hv = hv
        self.backends = {}              # backend domid -> BackendDomain
        self.xenconsoled = XenConsoled(self)
        self.xenstored = Xenstored(log=hv.log)

    def backend_domain(self, domid):
        bd = self.backends.get(domid)
        if bd is None:
            bd = self.backends[domid] = BackendDomain(domid)
        return bd

    def connect_backend(self, domain, port, on_notify):
        """Bind a built-in backend to `domain`'s unbound `port`, as the domain
        the port is offered to.  Returns a BackendChannel; raises
        BackendError (with Xen's errno) if the port is not unbound."""
        chn = domain.evtchn.channel(port)
        remote = chn.remote_domid if chn is not None else 0
        return self.backend_domain(remote).connect(domain, port, on_notify)

    def domain_destroyed(self, d):
        """d is gone (@releaseDomain): its backends let go of their ports."""
        self.xenconsoled.release_domain(d)
        xenstore_tree.release(self, d)

    def flush(self):
        """The end of a run: half-written lines of the PV consoles."""
        self.xenconsoled.flush()


def toolstack_of(hv):
    """hv's toolstack, made on first use."""
    if hv.toolstack is None:
        hv.toolstack = Toolstack(hv)
    return hv.toolstack
