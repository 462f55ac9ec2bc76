"""Event channels (Xen's xen/common/event_channel.c, event_2l.c, event_fifo.c).

Each domain has a table of channels indexed by port (port 0 is reserved);
a channel is unbound (offered to one remote domain), interdomain, bound to a
VIRQ, or an IPI, and notifies one vCPU.  Sending sets the port pending in the
domain's event ABI:
* 2-level: pending/mask bitmaps in shared_info plus a per-vCPU selector word
  (evtchn_2l_set_pending / unmask, for 64-bit, 32-bit and arm64 layouts);
* FIFO: an event word array in guest pages and per-vCPU queues
  (evtchn_fifo.py),
  which a domain switches to with EVTCHNOP_init_control.
Marking events pending on a vCPU raises its upcall (vcpu.assert_evtchn_irq).
"""

from ..abi import errno, xen
from ..abi import event_channel as ec
from ..abi.errno import HypercallError
from .guest_access import get_struct, put_struct
from .xsm import TARGET

ECS_FREE, ECS_RESERVED, ECS_UNBOUND, ECS_INTERDOMAIN, ECS_PIRQ, ECS_VIRQ, ECS_IPI = range(7)

DEFAULT_MAX_EVTCHN_PORT = 1023          # libxl's default event_channels for a domU
EVTCHNS_PER_BUCKET = 64                 # PAGE_SIZE / next_pow2(sizeof(struct evtchn))

VIRQ_VCPU, VIRQ_DOMAIN, VIRQ_GLOBAL = "vcpu", "domain", "global"
_PER_VCPU_VIRQS = (xen.VIRQ_TIMER, xen.VIRQ_DEBUG, xen.VIRQ_XENOPROF, xen.VIRQ_XENPMU)
NR_DOMU_PIRQS = 24 + 32              # nr_static_irqs (host GSIs) + extra_domU_irqs


def get_virq_type(virq):
    """get_virq_type(): per-vCPU, per-domain (ARGO) or global (the rest, incl. ARCH)."""
    if virq in _PER_VCPU_VIRQS:
        return VIRQ_VCPU
    if virq == xen.VIRQ_ARGO:
        return VIRQ_DOMAIN
    return VIRQ_GLOBAL


def virq_is_global(virq):
    return get_virq_type(virq) != VIRQ_VCPU


class Channel:
    __slots__ = ("port", "state", "notify_vcpu_id", "remote_domid", "remote_dom",
                 "remote_port", "virq", "pirq", "priority", "xen_consumer", "pending",
                 "lastq")

    def __init__(self, port, state=ECS_FREE):
        self.port = port
        self.state = state
        self.notify_vcpu_id = 0
        self.remote_domid = 0           # unbound: who may bind
        self.remote_dom = None          # interdomain: the peer Domain (or the
                                        # built-in backends' side, hvsim/toolstack)
        self.remote_port = 0
        self.virq = 0
        self.pirq = 0
        self.priority = ec.EVTCHN_FIFO_PRIORITY_DEFAULT
        self.xen_consumer = None        # a Xen-side handler instead of the guest
        self.pending = False            # FIFO: pending with no event word yet
        self.lastq = None               # FIFO: (vcpu_id, priority) it was last linked on

    @property
    def usable(self):
        """evtchn_usable(): bound to the guest (not free, reserved or Xen's)."""
        return self.xen_consumer is None and self.state > ECS_RESERVED


# ---- the 2-level ABI -------------------------------------------------------------------
class TwoLevel:
    """evtchn_pending / evtchn_mask in shared_info, selector in vcpu_info."""

    name = "2-level"

    def __init__(self, d):
        self.d = d
        self._offsets = (None, 0, 0)    # (ABI, evtchn_pending, evtchn_mask offsets)

    def max_channels(self):
        return ec.evtchn_2l_nr_channels(self.d.shared_info.abi)

    def _bitmaps(self):
        si = self.d.shared_info
        abi, pending, mask = self._offsets
        if abi is not si.abi:
            lay = si.layout
            abi, pending, mask = self._offsets = (si.abi, lay.offset("evtchn_pending"),
                                                  lay.offset("evtchn_mask"))
        return si.buf, pending, mask

    @staticmethod
    def _test(buf, base, bit):
        return (buf[base + (bit >> 3)] >> (bit & 7)) & 1

    @staticmethod
    def _test_and_set(buf, base, bit):
        i = base + (bit >> 3)
        old = (buf[i] >> (bit & 7)) & 1
        buf[i] |= 1 << (bit & 7)
        return old

    @staticmethod
    def _test_and_clear(buf, base, bit):
        i = base + (bit >> 3)
        old = (buf[i] >> (bit & 7)) & 1
        buf[i] &= ~(1 << (bit & 7)) & 0xFF
        return old

    def _sel_bit(self, v, port):
        """test_and_set the selector bit for port's word in v's vcpu_info."""
        ref = v.vcpu_info
        if ref is None:
            return 1
        bits = self.d.shared_info.abi.ulong * 8
        return self._test_and_set(ref.buf, ref.sel_at, port // bits)

    def set_pending(self, v, chn):
        """Returns True when the port became pending (pollers are checked)."""
        buf, pend, mask = self._bitmaps()
        port = chn.port
        if self._test_and_set(buf, pend, port):
            return False
        if not self._test(buf, mask, port) and not self._sel_bit(v, port):
            v.mark_events_pending()
        return True

    def clear_pending(self, chn):
        buf, pend, _ = self._bitmaps()
        self._test_and_clear(buf, pend, chn.port)

    def unmask(self, v, chn):
        buf, pend, mask = self._bitmaps()
        port = chn.port
        if (self._test_and_clear(buf, mask, port) and self._test(buf, pend, port)
                and not self._sel_bit(v, port)):
            v.mark_events_pending()

    def is_pending(self, chn):
        if chn.port >= self.max_channels():
            return False
        buf, pend, _ = self._bitmaps()
        return bool(self._test(buf, pend, chn.port))

    def is_busy(self, chn):
        return False

    def port_init(self, chn):
        pass

    def set_priority(self, chn, priority):
        return -errno.ENOSYS

    def teardown(self):
        pass


# ---- per-domain state ------------------------------------------------------------------
class DomainEvtchn:
    def __init__(self, d, max_port=DEFAULT_MAX_EVTCHN_PORT):
        self.d = d
        self.max_port = max_port
        self.channels = {0: Channel(0, ECS_RESERVED)}
        self.valid = EVTCHNS_PER_BUCKET        # ports of the buckets allocated so far
        self.abi = TwoLevel(d)
        self.pirq_to_port = {}

    # -- ports -------------------------------------------------------------------------
    def max_evtchns(self):
        return self.abi.max_channels()

    def port_is_valid(self, port):
        return 0 <= port < self.valid

    def channel(self, port):
        """_evtchn_from_port(): the channel, or None for an invalid port."""
        if not self.port_is_valid(port):
            return None
        chn = self.channels.get(port)
        if chn is None:
            chn = self.channels[port] = Channel(port)
        return chn

    def bind(self, port, state, **fields):
        """Give an allocated port its binding: the state, the channel fields
        that go with it, and the event ABI's port set-up.  Returns the channel."""
        chn = self.channel(port)
        chn.state = state
        for name, value in fields.items():
            setattr(chn, name, value)
        self.abi.port_init(chn)
        return chn

    def allocate_port(self, port):
        if port > self.max_port or port >= self.max_evtchns():
            return -errno.ENOSPC
        if self.port_is_valid(port):
            chn = self.channel(port)
            if chn.state != ECS_FREE or self.abi.is_busy(chn):
                return -errno.EBUSY
        else:
            self.valid = (port // EVTCHNS_PER_BUCKET + 1) * EVTCHNS_PER_BUCKET
        return 0

    def get_free_port(self):
        limit = min(self.max_port, self.max_evtchns() - 1)
        for port in range(limit + 1):
            rc = self.allocate_port(port)
            if rc == 0:
                return port
            if rc != -errno.EBUSY:
                return rc
        return -errno.ENOSPC

    def free(self, chn):
        """evtchn_free()."""
        self.abi.clear_pending(chn)
        chn.state = ECS_FREE
        chn.notify_vcpu_id = 0
        chn.xen_consumer = None
        chn.remote_dom = None
        chn.priority = ec.EVTCHN_FIFO_PRIORITY_DEFAULT

    def destroy(self):
        """evtchn_destroy(): close every port (peers go back to unbound)."""
        for port in sorted(self.channels):
            if self.channels[port].state > ECS_RESERVED:
                close(self.d, port, guest=False)

    # -- delivery ------------------------------------------------------------------------
    def set_pending(self, chn, vcpu_id=None):
        """evtchn_port_set_pending() on the channel's notify vCPU (or vcpu_id);
        a port that becomes newly pending wakes the vCPUs polling it."""
        if not chn.usable:
            return
        d = self.d
        v = d.vcpu_by_id(chn.notify_vcpu_id if vcpu_id is None else vcpu_id)
        if v is None:
            return
        if d.hv.tracer is not None:
            d.hv.tracer.evtchn_pending(d, chn.port, v)
        if self.abi.set_pending(v, chn):
            for p in d.vcpus:
                if p.polling:
                    p.check_poller(chn.port)

    def send_vcpu_virq(self, v, virq):
        """send_guest_vcpu_virq(): a per-vCPU VIRQ goes to that vCPU; unbound is lost."""
        port = v.virq_to_evtchn.get(virq, 0)
        if port:
            self.set_pending(self.channel(port), v.vcpu_id)

    def send_global_virq(self, virq):
        """send_guest_global_virq(): vCPU0's binding, to its notify vCPU."""
        if self.d.vcpus:
            port = self.d.vcpus[0].virq_to_evtchn.get(virq, 0)
            if port:
                self.set_pending(self.channel(port))


# ---- the hypercall ---------------------------------------------------------------------
def _domain(v, domid):
    return v.hv.domain_by_any_id(v.domain, domid)


def alloc_unbound(v, dom, remote_dom):
    d = _domain(v, dom)
    ev = d.evtchn
    port = ev.get_free_port()
    if port < 0:
        return port, 0
    if not v.hv.xsm.allowed(TARGET, v.domain, d):
        return -errno.EPERM, 0
    ev.bind(port, ECS_UNBOUND,
            remote_domid=v.domain.domid if remote_dom == xen.DOMID_SELF else remote_dom)
    return 0, port


def alloc_unbound_port(d, remote_domid):
    """evtchn_alloc_unbound() as the toolstack calls it for a new domain
    (xc_evtchn_alloc_unbound from privileged dom0): a free port of d offered
    to remote_domid.  Returns the port, or a negative errno."""
    port = d.evtchn.get_free_port()
    if port >= 0:
        d.evtchn.bind(port, ECS_UNBOUND, remote_domid=remote_domid)
    return port


def alloc_unbound_at(d, port, remote_domid):
    """Boot-time allocation of a given port (static event channels)."""
    rc = d.evtchn.allocate_port(port)
    if rc:
        return rc
    d.evtchn.bind(port, ECS_UNBOUND, remote_domid=remote_domid)
    return 0


def bind_interdomain_at(ld, lport, rd, rport):
    """evtchn_bind_interdomain() with a given local port (static channels)."""
    rc = ld.evtchn.allocate_port(lport)
    if rc:
        return rc
    return _bind_interdomain(ld, lport, rd, rport)


def _bind_interdomain(ld, lport, rd, remote_port):
    rchn = rd.evtchn.channel(remote_port)
    if rchn is None or rchn.state != ECS_UNBOUND or rchn.remote_domid != ld.domid:
        return -errno.EINVAL
    lchn = ld.evtchn.bind(lport, ECS_INTERDOMAIN, remote_dom=rd, remote_port=remote_port)
    rchn.state = ECS_INTERDOMAIN
    rchn.remote_dom, rchn.remote_port = ld, lport
    ld.evtchn.set_pending(lchn)      # notifications lost on the unbound port
    return 0


def bind_interdomain(v, remote_domid, remote_port):
    return bind_interdomain_to(v.domain, _domain(v, remote_domid), remote_port)


def bind_interdomain_to(ld, rd, remote_port):
    """evtchn_bind_interdomain(): a free port of ld bound to rd's unbound
    remote_port (offered to ld).  Returns (rc, local port)."""
    lport = ld.evtchn.get_free_port()
    if lport < 0:
        return lport, 0
    rc = _bind_interdomain(ld, lport, rd, remote_port)   # (xsm_evtchn_interdomain: HOOK)
    return rc, (lport if rc == 0 else 0)


def global_virq_handler(hv, virq):
    """get_global_virq_handler(): the owner set at boot, else the hardware domain."""
    owner = hv.global_virq_handlers.get(virq)
    if owner is not None:
        return owner
    return hv.hardware_domain


def bind_virq(v, virq, vcpu_id):
    d = v.domain
    if virq >= xen.NR_VIRQS:
        return -errno.EINVAL, 0
    vtype = get_virq_type(virq)
    if vtype != VIRQ_VCPU and vcpu_id != 0:
        return -errno.EINVAL, 0
    target = d.vcpu_by_id(vcpu_id)
    if target is None:
        return -errno.ENOENT, 0
    if vtype == VIRQ_GLOBAL and global_virq_handler(v.hv, virq) is not d:
        return -errno.EBUSY, 0
    if target.virq_to_evtchn.get(virq):
        return -errno.EEXIST, 0
    if virq == xen.VIRQ_DOM_EXC:             # domain_init_states(): report every domain
        v.hv.dom_state_changed = set(v.hv.domains)
    port = d.evtchn.get_free_port()
    if port < 0:
        return port, 0
    d.evtchn.bind(port, ECS_VIRQ, notify_vcpu_id=vcpu_id, virq=virq)
    target.virq_to_evtchn[virq] = port
    return 0, port


def bind_ipi(v, vcpu_id):
    d = v.domain
    if d.vcpu_by_id(vcpu_id) is None:
        return -errno.ENOENT, 0
    port = d.evtchn.get_free_port()
    if port < 0:
        return port, 0
    d.evtchn.bind(port, ECS_IPI, notify_vcpu_id=vcpu_id)
    return 0, port


def bind_pirq(v, pirq):
    """A PVH domU has no physical IRQs routed to it, yet Xen (no permission
    check for HVM) binds any pirq below nr_pirqs: the port simply never fires."""
    d = v.domain
    if pirq >= NR_DOMU_PIRQS:
        return -errno.EINVAL, 0
    if pirq in d.evtchn.pirq_to_port:
        return -errno.EEXIST, 0
    port = d.evtchn.get_free_port()
    if port < 0:
        return port, 0
    d.evtchn.bind(port, ECS_PIRQ, pirq=pirq)
    d.evtchn.pirq_to_port[pirq] = port
    return 0, port


def close(d, port, guest=True):
    """evtchn_close()."""
    ev = d.evtchn
    chn = ev.channel(port)
    if chn is None:
        return -errno.EINVAL
    if chn.xen_consumer is not None and guest:
        return -errno.EINVAL
    if chn.state in (ECS_FREE, ECS_RESERVED):
        return -errno.EINVAL
    if chn.state == ECS_VIRQ:
        owner = d.vcpus[0 if virq_is_global(chn.virq) else chn.notify_vcpu_id]
        owner.virq_to_evtchn.pop(chn.virq, None)
        if chn.virq == xen.VIRQ_DOM_EXC:
            d.hv.dom_state_changed = None      # domain_deinit_states()
    elif chn.state == ECS_PIRQ:
        ev.pirq_to_port.pop(chn.pirq, None)
    elif chn.state == ECS_INTERDOMAIN:
        rd, rport = chn.remote_dom, chn.remote_port
        rchn = rd.evtchn.channel(rport)
        ev.free(chn)
        rchn.state = ECS_UNBOUND
        rchn.remote_domid = d.domid
        rchn.remote_dom = None
        return 0
    ev.free(chn)
    return 0


def send(d, port):
    ev = d.evtchn
    chn = ev.channel(port)
    if chn is None or chn.xen_consumer is not None:
        return -errno.EINVAL
    if chn.state == ECS_INTERDOMAIN:
        rd = chn.remote_dom
        rchn = rd.evtchn.channel(chn.remote_port)
        if rchn.xen_consumer is not None:
            rchn.xen_consumer(rd.vcpu_by_id(rchn.notify_vcpu_id), rchn.port)
            return 0
        rd.evtchn.set_pending(rchn)
        return 0
    if chn.state == ECS_IPI:
        ev.set_pending(chn)
        return 0
    if chn.state == ECS_UNBOUND:
        return 0                        # silently dropped
    return -errno.EINVAL


def status(v, dom, port, lay, buf):
    d = _domain(v, dom)
    chn = d.evtchn.channel(port)
    if chn is None:
        return -errno.EINVAL
    if not v.hv.xsm.allowed(TARGET, v.domain, d):
        return -errno.EPERM
    st = chn.state
    if st in (ECS_FREE, ECS_RESERVED):
        lay.put(buf, status=ec.EVTCHNSTAT_closed)
    elif st == ECS_UNBOUND:
        lay.put(buf, status=ec.EVTCHNSTAT_unbound, **{"u.unbound.dom": chn.remote_domid})
    elif st == ECS_INTERDOMAIN:
        lay.put(buf, status=ec.EVTCHNSTAT_interdomain,
                **{"u.interdomain.dom": chn.remote_dom.domid,
                   "u.interdomain.port": chn.remote_port})
    elif st == ECS_PIRQ:
        lay.put(buf, status=ec.EVTCHNSTAT_pirq, **{"u.pirq": chn.pirq})
    elif st == ECS_VIRQ:
        lay.put(buf, status=ec.EVTCHNSTAT_virq, **{"u.virq": chn.virq})
    elif st == ECS_IPI:
        lay.put(buf, status=ec.EVTCHNSTAT_ipi)
    lay.put(buf, vcpu=chn.notify_vcpu_id)
    return 0


def bind_vcpu(v, port, vcpu_id):
    d = v.domain
    ev = d.evtchn
    target = d.vcpu_by_id(vcpu_id)
    if target is None:
        return -errno.ENOENT
    chn = ev.channel(port)
    if chn is None:
        return -errno.EINVAL
    if chn.xen_consumer is not None:
        return -errno.EINVAL
    if chn.state == ECS_VIRQ:
        if not virq_is_global(chn.virq):
            return -errno.EINVAL
    elif chn.state not in (ECS_UNBOUND, ECS_INTERDOMAIN, ECS_PIRQ):
        return -errno.EINVAL
    chn.notify_vcpu_id = vcpu_id        # pending state stays where it is
    return 0


def unmask(d, port):
    ev = d.evtchn
    chn = ev.channel(port)
    if chn is None:
        return -errno.EINVAL
    if chn.usable:
        ev.abi.unmask(d.vcpu_by_id(chn.notify_vcpu_id), chn)
    return 0


def reset(v, dom):
    """evtchn_reset(): close every port; a domain left with no active port
    goes back to the 2-level ABI."""
    d = _domain(v, dom)
    if not v.hv.xsm.allowed(TARGET, v.domain, d):
        return -errno.EPERM
    if d is not v.domain and not d.paused:
        return -errno.EINVAL
    ev = d.evtchn
    for port in sorted(ev.channels):
        if port and ev.channels[port].state != ECS_FREE:
            close(d, port, guest=True)
    if any(c.state > ECS_RESERVED for c in ev.channels.values()):
        return -errno.EAGAIN
    if ev.abi.name != "2-level":
        ev.abi.teardown()
        ev.abi = TwoLevel(d)
    return 0


def reset_cont(v, dom):
    """EVTCHNOP_reset_cont: resume a preempted reset.  hvsim's reset never
    preempts, so none is ever in progress: evtchn_reset(d, resuming=true)
    finds next_evtchn == 0 and fails with -EBUSY (after the same lookup,
    XSM and pause checks as EVTCHNOP_reset)."""
    d = _domain(v, dom)
    if not v.hv.xsm.allowed(TARGET, v.domain, d):
        return -errno.EPERM
    if d is not v.domain and not d.paused:
        return -errno.EINVAL
    return -errno.EBUSY


def set_priority(v, port, priority):
    ev = v.domain.evtchn
    chn = ev.channel(port)
    if chn is None:
        return -errno.EINVAL
    if ev.abi.name == "2-level":
        return -errno.ENOSYS
    if not chn.usable:
        return -errno.EACCES
    return ev.abi.set_priority(chn, priority)


# op -> (struct, handler(v, lay, buf) -> rc, copy back on success)
def _op_alloc_unbound(v, lay, buf):
    rc, port = alloc_unbound(v, *lay.get(buf, "dom", "remote_dom"))
    lay.put(buf, port=port)
    return rc


def _op_bind_interdomain(v, lay, buf):
    rc, port = bind_interdomain(v, *lay.get(buf, "remote_dom", "remote_port"))
    lay.put(buf, local_port=port)
    return rc


def _op_bind_virq(v, lay, buf):
    rc, port = bind_virq(v, *lay.get(buf, "virq", "vcpu"))
    lay.put(buf, port=port)
    return rc


def _op_bind_ipi(v, lay, buf):
    rc, port = bind_ipi(v, lay.get(buf, "vcpu"))
    lay.put(buf, port=port)
    return rc


def _op_close(v, lay, buf):
    return close(v.domain, lay.get(buf, "port"))


def _op_send(v, lay, buf):
    return send(v.domain, lay.get(buf, "port"))


def _op_status(v, lay, buf):
    return status(v, *lay.get(buf, "dom", "port"), lay, buf)


def _op_bind_vcpu(v, lay, buf):
    return bind_vcpu(v, *lay.get(buf, "port", "vcpu"))


def _op_unmask(v, lay, buf):
    return unmask(v.domain, lay.get(buf, "port"))


def _op_reset(v, lay, buf):
    return reset(v, lay.get(buf, "dom"))


def _op_reset_cont(v, lay, buf):
    return reset_cont(v, lay.get(buf, "dom"))


def _op_bind_pirq(v, lay, buf):
    rc, port = bind_pirq(v, lay.get(buf, "pirq"))
    lay.put(buf, port=port)
    return rc


def _op_set_priority(v, lay, buf):
    return set_priority(v, *lay.get(buf, "port", "priority"))


def _op_init_control(v, lay, buf):
    from .evtchn_fifo import init_control
    return init_control(v, lay, buf)


def _op_expand_array(v, lay, buf):
    from .evtchn_fifo import expand_array
    return expand_array(v, lay.get(buf, "array_gfn"))


_OPS = {
    ec.EVTCHNOP_alloc_unbound: (ec.evtchn_alloc_unbound, _op_alloc_unbound, True),
    ec.EVTCHNOP_bind_interdomain: (ec.evtchn_bind_interdomain, _op_bind_interdomain, True),
    ec.EVTCHNOP_bind_virq: (ec.evtchn_bind_virq, _op_bind_virq, True),
    ec.EVTCHNOP_bind_pirq: (ec.evtchn_bind_pirq, _op_bind_pirq, True),
    ec.EVTCHNOP_bind_ipi: (ec.evtchn_bind_ipi, _op_bind_ipi, True),
    ec.EVTCHNOP_close: (ec.evtchn_close, _op_close, False),
    ec.EVTCHNOP_send: (ec.evtchn_send, _op_send, False),
    ec.EVTCHNOP_status: (ec.evtchn_status, _op_status, True),
    ec.EVTCHNOP_bind_vcpu: (ec.evtchn_bind_vcpu, _op_bind_vcpu, False),
    ec.EVTCHNOP_unmask: (ec.evtchn_unmask, _op_unmask, False),
    ec.EVTCHNOP_reset: (ec.evtchn_reset, _op_reset, False),
    ec.EVTCHNOP_reset_cont: (ec.evtchn_reset, _op_reset_cont, False),
    ec.EVTCHNOP_init_control: (ec.evtchn_init_control, _op_init_control, True),
    ec.EVTCHNOP_expand_array: (ec.evtchn_expand_array, _op_expand_array, False),
    ec.EVTCHNOP_set_priority: (ec.evtchn_set_priority, _op_set_priority, False),
}


def do_event_channel_op(v, cmd, arg, *_):
    entry = _OPS.get(cmd)
    if entry is None:
        raise HypercallError(errno.ENOSYS)
    struct, handler, copy_back = entry
    lay, buf = get_struct(v, struct, arg)
    rc = handler(v, lay, buf)
    if rc == 0 and copy_back:
        put_struct(v, lay, arg, buf)
    return rc
