"""public/sched.h: sched_op sub-ops, shutdown reasons and argument structs."""

from .cstruct import Struct, domid, handle, s32, u32, u64

SCHEDOP_yield = 0
SCHEDOP_block = 1
SCHEDOP_shutdown = 2
SCHEDOP_poll = 3
SCHEDOP_remote_shutdown = 4
SCHEDOP_shutdown_code = 5
SCHEDOP_watchdog = 6
SCHEDOP_pin_override = 7

SHUTDOWN_poweroff = 0
SHUTDOWN_reboot = 1
SHUTDOWN_suspend = 2
SHUTDOWN_crash = 3
SHUTDOWN_watchdog = 4
SHUTDOWN_soft_reset = 5
SHUTDOWN_MAX = 5

sched_shutdown = Struct("sched_shutdown", [("reason", u32)])
sched_poll = Struct("sched_poll", [
    ("ports", handle("evtchn_port_t")),
    ("nr_ports", u32),
    ("timeout", u64),
])
sched_remote_shutdown = Struct("sched_remote_shutdown", [
    ("domain_id", domid),
    ("reason", u32),
])
sched_watchdog = Struct("sched_watchdog", [("id", u32), ("timeout", u32)])
sched_pin_override = Struct("sched_pin_override", [("pcpu", s32)])


def shutdown_reason_name(reason):
    for k, v in globals().items():
        if k.startswith("SHUTDOWN_") and k != "SHUTDOWN_MAX" and v == reason:
            return k[len("SHUTDOWN_"):]
    return "reason %d" % reason
