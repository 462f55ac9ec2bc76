"""The FIFO event channel ABI (Xen's xen/common/event_fifo.c).

The guest gives Xen an event array (pages of 32-bit event words: PENDING,
MASKED, LINKED, BUSY bits and a 17-bit link) and, per vCPU, a control block
(`ready` bitmap and the head of 16 priority queues).  Setting a port
pending links its word at the tail of its vCPU's queue for its priority;
only an event that starts an empty queue, whose priority was not ready,
raises the upcall.  The guest dequeues; Xen only appends.
"""

from ..abi import errno
from ..abi import event_channel as ec
from ..abi.cstruct import X86_64
from .physmap import PAGE_SHIFT, PAGE_SIZE

PENDING = 1 << ec.EVTCHN_FIFO_PENDING
MASKED = 1 << ec.EVTCHN_FIFO_MASKED
LINKED = 1 << ec.EVTCHN_FIFO_LINKED
BUSY = 1 << ec.EVTCHN_FIFO_BUSY
LINK_MASK = ec.EVTCHN_FIFO_LINK_MASK
WORDS_PER_PAGE = PAGE_SIZE // 4
MAX_PAGES = ec.EVTCHN_FIFO_NR_CHANNELS // WORDS_PER_PAGE
_CONTROL_BLOCK = ec.evtchn_fifo_control_block.layout(X86_64)    # the same in every ABI
READY_OFFSET = _CONTROL_BLOCK.offset("ready")
HEAD_OFFSET = _CONTROL_BLOCK.offset("head")


class Queue:
    __slots__ = ("priority", "tail")

    def __init__(self, priority):
        self.priority = priority
        self.tail = 0


class Fifo:
    name = "FIFO"

    def __init__(self, d):
        self.d = d
        self.mem = d.physmap
        self.pages = []                      # gpa of each event array page
        self.control = {}                    # vcpu_id -> gpa of its control block
        self.queues = {}                     # vcpu_id -> [Queue] * 16

    def max_channels(self):
        return ec.EVTCHN_FIFO_NR_CHANNELS

    # -- event words -----------------------------------------------------------------
    def _word_gpa(self, port):
        page = port // WORDS_PER_PAGE
        if page >= len(self.pages):
            return None
        return self.pages[page] + 4 * (port % WORDS_PER_PAGE)

    def _word(self, port):
        gpa = self._word_gpa(port)
        return None if gpa is None else self.mem.read_u32(gpa)

    def _update(self, port, set_bits=0, clear_bits=0):
        """Atomically (we are single-threaded) change bits; returns the old word."""
        gpa = self._word_gpa(port)
        old = self.mem.read_u32(gpa)
        self.mem.write_u32(gpa, (old | set_bits) & ~clear_bits)
        return old

    def _queue(self, vcpu_id, priority):
        return self.queues[vcpu_id][priority]

    def _set_link(self, tail, port):
        """Link `port` after `tail` if the tail is still on the queue."""
        gpa = self._word_gpa(tail)
        if gpa is None:
            return False
        w = self.mem.read_u32(gpa)
        if not w & LINKED:
            return False
        self.mem.write_u32(gpa, (w & ~LINK_MASK) | port)
        return True

    # -- the port operations -------------------------------------------------------------
    def set_pending(self, v, chn):
        """Mark the port pending and, unless masked or already linked, link
        it on its queue.  Returns True when it became pending."""
        gpa = self._word_gpa(chn.port)
        if gpa is None:
            chn.pending = True               # no event word yet: raised on expand_array
            return False
        chn.pending = False
        control = self.control.get(v.vcpu_id)
        if control is None:
            return False                     # no control block: the event is dropped
        old = self.mem.read_u32(gpa)
        link = not old & (MASKED | LINKED)
        self.mem.write_u32(gpa, old | PENDING | (LINKED if link else 0))
        if link and not self._link(v, chn, control):
            self._set_ready(v, control, chn.priority)
        return not old & PENDING

    def _link(self, v, chn, control):
        """Append the port to its vCPU's queue for its priority; False if it
        starts the queue (it becomes the head)."""
        port = chn.port
        q = self._queue(v.vcpu_id, chn.priority)
        old_q = self._queue(*chn.lastq) if chn.lastq and chn.lastq[0] in self.queues else q
        if old_q.tail == port:
            old_q.tail = 0
        linked = bool(q.tail) and self._set_link(q.tail, port)
        if not linked:
            self.mem.write_u32(control + HEAD_OFFSET + 4 * q.priority, port)
        q.tail = port
        chn.lastq = (v.vcpu_id, chn.priority)
        return linked

    def _set_ready(self, v, control, priority):
        """Set the queue's ready bit; raise the upcall if it was clear."""
        ready = control + READY_OFFSET
        r = self.mem.read_u32(ready)
        if not r & (1 << priority):
            self.mem.write_u32(ready, r | (1 << priority))
            v.mark_events_pending()

    def clear_pending(self, chn):
        if self._word_gpa(chn.port) is not None:
            self._update(chn.port, clear_bits=PENDING)
        chn.pending = False

    def unmask(self, v, chn):
        if self._word_gpa(chn.port) is None:
            return
        old = self._update(chn.port, clear_bits=MASKED)
        if old & PENDING and v is not None:
            self.set_pending(v, chn)

    def is_pending(self, chn):
        w = self._word(chn.port)
        return bool(w is not None and w & PENDING)

    def is_busy(self, chn):
        w = self._word(chn.port)
        return bool(w is not None and w & LINKED)

    def port_init(self, chn):
        chn.priority = ec.EVTCHN_FIFO_PRIORITY_DEFAULT

    def set_priority(self, chn, priority):
        if priority > ec.EVTCHN_FIFO_PRIORITY_MIN:
            return -errno.EINVAL
        chn.priority = priority
        return 0

    def teardown(self):
        self.pages.clear()
        self.control.clear()

    # -- set-up ---------------------------------------------------------------------------
    def map_control_block(self, v, gfn, offset):
        if v.vcpu_id in self.control:
            return -errno.EINVAL
        if not self.d.gfn_is_ram(gfn):
            return -errno.EINVAL
        self.control[v.vcpu_id] = (gfn << PAGE_SHIFT) + offset
        return 0

    def setup_ports(self, two_level, prev):
        """Carry 2-level pending state over; every port gets the default priority."""
        ev = self.d.evtchn
        for port in range(1, min(prev, ev.valid)):
            chn = ev.channels.get(port)
            if chn is None:
                continue
            if chn.usable and two_level.is_pending(chn):
                chn.pending = True
            chn.priority = ec.EVTCHN_FIFO_PRIORITY_DEFAULT


def init_control(v, lay, buf):
    """EVTCHNOP_init_control: the first call switches the domain to FIFO."""
    d = v.domain
    lay.put(buf, link_bits=ec.EVTCHN_FIFO_LINK_BITS)
    gfn, offset, vcpu_id = lay.get(buf, "control_gfn", "offset", "vcpu")
    target = d.vcpu_by_id(vcpu_id)
    if target is None:
        return -errno.ENOENT
    if offset > PAGE_SIZE - _CONTROL_BLOCK.size or offset & 7:
        return -errno.EINVAL
    ev = d.evtchn
    if isinstance(ev.abi, Fifo):
        return ev.abi.map_control_block(target, gfn, offset)
    fifo = Fifo(d)
    fifo.queues = {u.vcpu_id: [Queue(p) for p in range(ec.EVTCHN_FIFO_MAX_QUEUES)]
                   for u in d.vcpus}
    rc = fifo.map_control_block(target, gfn, offset)
    if rc:
        return rc
    prev = ev.max_evtchns()
    fifo.setup_ports(ev.abi, prev)
    ev.abi = fifo
    return 0


def expand_array(v, gfn):
    d = v.domain
    fifo = d.evtchn.abi
    if not isinstance(fifo, Fifo):
        return -errno.EOPNOTSUPP
    slot = len(fifo.pages)
    if slot >= MAX_PAGES:
        return -errno.ENOSPC
    if not d.gfn_is_ram(gfn):
        return -errno.EINVAL
    fifo.pages.append(gfn << PAGE_SHIFT)
    ev = d.evtchn
    for port in range(slot * WORDS_PER_PAGE, min((slot + 1) * WORDS_PER_PAGE, ev.valid)):
        chn = ev.channels.get(port)
        if chn is not None and chn.pending:
            v_ = d.vcpu_by_id(chn.notify_vcpu_id)
            if v_ is not None:
                fifo.set_pending(v_, chn)
    return 0
