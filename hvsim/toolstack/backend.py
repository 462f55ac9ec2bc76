"""Backend event channels: the built-in backends' end of a guest's channel.

On Xen, xenconsoled and xenstored run in the backend domain (dom0, or the
domain with the XENSTORE capability) and reach each guest through
libxenevtchn (tools/libs/evtchn): bind_interdomain to the port the
toolstack offered them, notify, and read which port fired.  hvsim's
backends run inside hvsim, not inside a guest, so, as QEMU does for its
in-process Xen backends (hw/i386/kvm/xen_evtchn.c, "backend ports"), their
ports live in an event-channel table of their own per backend domid:
`BackendDomain`.  A real domain with that domid (a hyperlaunch d0 with the
XENSTORE capability) keeps its own table untouched.

What the guest sees is Xen's: after a backend connects, the guest's port is
ECS_INTERDOMAIN to (backend domid, backend port) in EVTCHNOP_status, a send
on it succeeds and reaches the backend's callback, and the backend's notify
makes the guest's port pending exactly as an interdomain send from the
remote end does (it is one: hvsim/hv/evtchn.py send()).  Callbacks run
synchronously, inside the guest's EVTCHNOP_send, on hvsim's virtual clock:
deterministic runs stay deterministic.

The API (hvsim.toolstack.Toolstack.connect_backend builds on it):

    chan = toolstack.connect_backend(domain, port, on_notify)
    chan.notify()        # the guest's `port` becomes pending
    chan.close()         # the backend lets go (the guest's port goes unbound)

`port` must be an unbound port of `domain` offered to the backend domid
(what libxl allocates); `on_notify()` is called with no argument each time
the guest sends on it (and once on connecting: the notifications sent
before are not lost, as with Xen's bind_interdomain).  It is saved in
snapshots: give a bound method, not a lambda.
"""

from ..hv import evtchn
from ..hv.evtchn import ECS_INTERDOMAIN, ECS_UNBOUND, DomainEvtchn

BACKEND_MAX_PORT = 4095                 # dom0's ports for its backends


class BackendError(Exception):
    """A backend could not connect: `errno` is what bind_interdomain returned."""

    def __init__(self, domain, port, err):
        super().__init__("d%d port %d: cannot connect the backend (error %d)"
                         % (domain.domid, port, err))
        self.errno = err


class _CallbackAbi:
    """The backends' "event ABI": no shared_info bitmaps, a pending port calls
    its backend's callback (BackendEvtchn.set_pending)."""

    name = "backend"

    def max_channels(self):
        return BACKEND_MAX_PORT + 1

    def clear_pending(self, chn):
        pass

    def is_busy(self, chn):
        return False

    def port_init(self, chn):
        pass


class BackendEvtchn(DomainEvtchn):
    """The event-channel table of the built-in backends of one domid."""

    def __init__(self, backend):
        super().__init__(backend, max_port=BACKEND_MAX_PORT)
        self.abi = _CallbackAbi()
        self.handlers = {}              # port -> on_notify()

    def set_pending(self, chn, vcpu_id=None):
        """The guest sent on its end: run the backend's callback."""
        fn = self.handlers.get(chn.port)
        if fn is not None:
            fn()


class BackendDomain:
    """The built-in backends of domid `domid`, as event channels see them:
    the remote end (chn.remote_dom) of the guests' channels to them."""

    def __init__(self, domid):
        self.domid = domid
        self.evtchn = BackendEvtchn(self)

    def vcpu_by_id(self, vcpu_id):
        return None

    def connect(self, domain, port, on_notify):
        """bind_interdomain to `domain`'s unbound `port`: a BackendChannel."""
        ev = self.evtchn
        local = ev.get_free_port()
        if local < 0:
            raise BackendError(domain, port, local)
        ev.handlers[local] = on_notify
        rc = evtchn.bind_interdomain_at(self, local, domain, port)
        if rc:
            del ev.handlers[local]
            raise BackendError(domain, port, rc)
        return BackendChannel(self, domain, port, local)


class BackendChannel:
    """One backend's connection to one guest port."""

    def __init__(self, backend, domain, port, local_port):
        self.backend = backend
        self.domain = domain            # the guest
        self.port = port                # the guest's port
        self.local_port = local_port    # the backend's port

    @property
    def connected(self):
        chn = self.backend.evtchn.channel(self.local_port)
        return chn.state == ECS_INTERDOMAIN and chn.remote_dom is self.domain

    def notify(self):
        """xenevtchn_notify(): an interdomain send from the backend's end.
        Once the guest has closed its port, nothing happens (an unbound
        port drops what is sent on it)."""
        evtchn.send(self.backend, self.local_port)

    def close(self):
        """xenevtchn_unbind(): the guest's port goes back to unbound."""
        ev = self.backend.evtchn
        if ev.channel(self.local_port).state in (ECS_INTERDOMAIN, ECS_UNBOUND):
            evtchn.close(self.backend, self.local_port, guest=False)
        ev.handlers.pop(self.local_port, None)
