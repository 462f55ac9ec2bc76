"""sched_op (Xen's do_sched_op in xen/common/sched/core.c): yield, block,
shutdown, shutdown_code, remote_shutdown, poll, watchdog, pin_override."""

from ..abi import errno, sched as so
from ..abi.cstruct import MASK32
from ..abi.errno import HypercallError
from .guest_access import copy_from_guest, get_struct
from .time import MILLISECS
from .xsm import DM_PRIV

MAX_POLL_PORTS = 128

SHUTDOWN_CODE_INVALID = 0xFFFFFFFF    # Xen's ~0u: no shutdown code yet (getdomaininfo)


def _shutdown(v, arg):
    lay, buf = get_struct(v, so.sched_shutdown, arg)
    v.domain.shutdown(lay.get(buf, "reason") & 0xFF)     # (u8), never range-checked
    return 0


def _shutdown_code(v, arg):
    lay, buf = get_struct(v, so.sched_shutdown, arg)
    d = v.domain
    if d.shutdown_code is None:
        d.shutdown_code = lay.get(buf, "reason") & 0xFF
    return 0


def _remote_shutdown(v, arg):
    lay, buf = get_struct(v, so.sched_remote_shutdown, arg)
    domid, reason = lay.get(buf, "domain_id", "reason")
    d = v.hv.domains.get(domid)                # DOMID_SELF is not resolved: -ESRCH
    if d is None:
        return -errno.ESRCH
    if not v.hv.xsm.allowed(DM_PRIV, v.domain, d):
        return -errno.EPERM
    d.shutdown(reason & 0xFF)
    return 0


def do_set_timer_op(v, timeout, hi=0, *_):
    """set_timer_op(absolute system time): 0 stops the timer; an absurd value
    (negative, or more than 2^50 ns ahead) fires in 100 ms (Linux work-around).
    32-bit callers pass the 64-bit time as two halves (lo, hi)."""
    t = v.singleshot_timer
    if v.hcall_abi.ulong == 4:
        timeout = (timeout & MASK32) | (hi & MASK32) << 32
    if timeout >= 1 << 63:
        timeout -= 1 << 64
    now = v.hv.clock.now()
    if timeout == 0:
        t.stop()
    elif timeout < 0 or (timeout - now > 0 and ((timeout - now) >> 50) & MASK32):
        t.set(now + 100 * MILLISECS)
    else:
        t.set(timeout)
    return 0


def _poll(v, arg):
    """do_poll(): block until one of the ports is pending, or the timeout
    (absolute system time, 0 = none) passes."""
    lay, buf = get_struct(v, so.sched_poll, arg)
    ports_ptr, nr_ports, timeout = lay.get(buf, "ports", "nr_ports", "timeout")
    if nr_ports > MAX_POLL_PORTS:
        return -errno.EINVAL
    raw = copy_from_guest(v, ports_ptr, 4 * nr_ports)
    d = v.domain
    if v.events_need_delivery():
        v.deliver_now()
        return 0
    ports = [int.from_bytes(raw[4 * i:4 * i + 4], "little") for i in range(nr_ports)]
    for port in ports:
        chn = d.evtchn.channel(port)
        if chn is None:
            return -errno.EINVAL
        if chn.usable and d.evtchn.abi.is_pending(chn):     # evtchn_port_poll()
            return 0
    v.poll(ports[0] if nr_ports == 1 else 0, timeout)
    return 0


def do_sched_op(v, cmd, arg, *_):
    if cmd == so.SCHEDOP_yield:
        v.arch.request_stop("yield")
        return 0
    if cmd == so.SCHEDOP_block:
        v.block_enable_events()
        return 0
    if cmd == so.SCHEDOP_shutdown:
        return _shutdown(v, arg)
    if cmd == so.SCHEDOP_shutdown_code:
        return _shutdown_code(v, arg)
    if cmd == so.SCHEDOP_remote_shutdown:
        return _remote_shutdown(v, arg)
    if cmd == so.SCHEDOP_poll:
        return _poll(v, arg)
    if cmd == so.SCHEDOP_pin_override:
        if not v.domain.is_hardware_domain:
            return -errno.EPERM
        return 0
    raise HypercallError(errno.ENOSYS)
