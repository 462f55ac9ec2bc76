"""public/event_channel.h: EVTCHNOP_* sub-ops, channel states and argument
structs, plus the 2-level and FIFO ABI constants."""

from .cstruct import Struct, array, domid, evtchn_port, u8, u32, u64, union

EVTCHNOP_bind_interdomain = 0
EVTCHNOP_bind_virq = 1
EVTCHNOP_bind_pirq = 2
EVTCHNOP_close = 3
EVTCHNOP_send = 4
EVTCHNOP_status = 5
EVTCHNOP_alloc_unbound = 6
EVTCHNOP_bind_ipi = 7
EVTCHNOP_bind_vcpu = 8
EVTCHNOP_unmask = 9
EVTCHNOP_reset = 10
EVTCHNOP_init_control = 11
EVTCHNOP_expand_array = 12
EVTCHNOP_set_priority = 13
EVTCHNOP_reset_cont = 14

EVTCHNSTAT_closed = 0
EVTCHNSTAT_unbound = 1
EVTCHNSTAT_interdomain = 2
EVTCHNSTAT_pirq = 3
EVTCHNSTAT_virq = 4
EVTCHNSTAT_ipi = 5

BIND_PIRQ__WILL_SHARE = 1

evtchn_alloc_unbound = Struct("evtchn_alloc_unbound", [
    ("dom", domid), ("remote_dom", domid), ("port", evtchn_port)])
evtchn_bind_interdomain = Struct("evtchn_bind_interdomain", [
    ("remote_dom", domid), ("remote_port", evtchn_port), ("local_port", evtchn_port)])
evtchn_bind_virq = Struct("evtchn_bind_virq", [
    ("virq", u32), ("vcpu", u32), ("port", evtchn_port)])
evtchn_bind_pirq = Struct("evtchn_bind_pirq", [
    ("pirq", u32), ("flags", u32), ("port", evtchn_port)])
evtchn_bind_ipi = Struct("evtchn_bind_ipi", [("vcpu", u32), ("port", evtchn_port)])
evtchn_close = Struct("evtchn_close", [("port", evtchn_port)])
evtchn_send = Struct("evtchn_send", [("port", evtchn_port)])

_status_unbound = Struct("evtchn_status_unbound", [("dom", domid)])
_status_interdomain = Struct("evtchn_status_interdomain", [("dom", domid), ("port", evtchn_port)])
_status_u = union("evtchn_status_u", [
    ("unbound", _status_unbound),
    ("interdomain", _status_interdomain),
    ("pirq", u32),
    ("virq", u32),
])
evtchn_status = Struct("evtchn_status", [
    ("dom", domid), ("port", evtchn_port), ("status", u32), ("vcpu", u32),
    ("u", _status_u)])
evtchn_bind_vcpu = Struct("evtchn_bind_vcpu", [("port", evtchn_port), ("vcpu", u32)])
evtchn_unmask = Struct("evtchn_unmask", [("port", evtchn_port)])
evtchn_reset = Struct("evtchn_reset", [("dom", domid)])
evtchn_init_control = Struct("evtchn_init_control", [
    ("control_gfn", u64), ("offset", u32), ("vcpu", u32), ("link_bits", u8),
    ("_pad", array(u8, 7))])
evtchn_expand_array = Struct("evtchn_expand_array", [("array_gfn", u64)])
evtchn_set_priority = Struct("evtchn_set_priority", [("port", evtchn_port), ("priority", u32)])

# ---- FIFO ABI ---------------------------------------------------------------
EVTCHN_FIFO_PRIORITY_MAX = 0
EVTCHN_FIFO_PRIORITY_DEFAULT = 7
EVTCHN_FIFO_PRIORITY_MIN = 15
EVTCHN_FIFO_MAX_QUEUES = EVTCHN_FIFO_PRIORITY_MIN + 1
EVTCHN_FIFO_PENDING = 31
EVTCHN_FIFO_MASKED = 30
EVTCHN_FIFO_LINKED = 29
EVTCHN_FIFO_BUSY = 28
EVTCHN_FIFO_LINK_BITS = 17
EVTCHN_FIFO_LINK_MASK = (1 << EVTCHN_FIFO_LINK_BITS) - 1
EVTCHN_FIFO_NR_CHANNELS = 1 << EVTCHN_FIFO_LINK_BITS

evtchn_fifo_control_block = Struct("evtchn_fifo_control_block", [
    ("ready", u32), ("_rsvd", u32), ("head", array(u32, EVTCHN_FIFO_MAX_QUEUES))])


def evtchn_2l_nr_channels(abi):
    """bits(xen_ulong_t) squared: 4096 for 64-bit guests, 1024 for 32-bit."""
    return (abi.ulong * 8) ** 2
