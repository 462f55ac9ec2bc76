"""Hypercall dispatch for HVM/PVH guests and Arm guests (Xen's
hvm_hypercall() and do_trap_hypercall(), with the hvm32/hvm64 and arm
tables generated from xen/include/hypercall-defs.c).

A number outside the table is -ENOSYS, like an unknown hypercall on Xen.
Handlers take (vcpu, *args) and return an int (>= 0, or -errno); they may
raise HypercallError(errno), and a bad guest buffer becomes -EFAULT; any
other exception is an hvsim bug, raised on as an InternalError naming the
call (the domain crashes: Hypervisor.internal_error).  As on a
debug build of Xen, the argument registers a handler consumed are clobbered
afterwards unless it returned -ENOSYS.  Every call is remembered per vCPU
(for crash reports) and can be traced; decode_hypercall() shows one as
strace would, with its sub-op by name and only the arguments it takes.
"""

from ..snapshot import state as snapstate
from ..abi import console as a_console, domctl as a_domctl, event_channel as a_evtchn
from ..abi import grant_table as a_gnttab, hvm as a_hvm, memory as a_memory, sched as a_sched
from ..abi import sysctl as a_sysctl, vcpu as a_vcpu, version as a_version
from ..abi import errno, xen
from ..abi.errno import HypercallError
from ..abi.cstruct import ARM64
from ..errors import InternalError
from . import (console, domain, domctl, evtchn, gnttab, memory, multicall, sched, sysctl,
               vcpu_op, version)
from .arm import hvm as arm_hvm
from .x86 import hvm as x86_hvm, vpmu

CLOBBER64 = 0xDEADBEEFDEADF00D         # what a debug build of Xen leaves in consumed
CLOBBER32 = 0xDEADF00D                 # argument registers (64-bit, 32-bit ABI)

# number -> handler, as in both the x86 HVM and the Arm columns of
# xen/include/hypercall-defs.c; how many arguments each takes is
# xen.HYPERCALL_NR_ARGS
_HANDLERS = {
    xen.__HYPERVISOR_memory_op: memory.do_memory_op,
    xen.__HYPERVISOR_xen_version: version.do_xen_version,
    xen.__HYPERVISOR_console_io: console.do_console_io,
    xen.__HYPERVISOR_sched_op: sched.do_sched_op,
    xen.__HYPERVISOR_event_channel_op: evtchn.do_event_channel_op,
    xen.__HYPERVISOR_vcpu_op: vcpu_op.do_vcpu_op,
    xen.__HYPERVISOR_domctl: domctl.do_domctl,
    xen.__HYPERVISOR_sysctl: sysctl.do_sysctl,
    xen.__HYPERVISOR_grant_table_op: gnttab.do_grant_table_op,
    xen.__HYPERVISOR_vm_assist: domain.do_vm_assist,
    xen.__HYPERVISOR_multicall: multicall.do_multicall,
}
# x86 HVM only: Arm has no set_timer_op (its guests use the generic timer)
# nor xenpmu_op, and its hvm_op is another (xen/arch/arm/hvm.c)
_X86_HANDLERS = {**_HANDLERS, xen.__HYPERVISOR_hvm_op: x86_hvm.do_hvm_op,
                 xen.__HYPERVISOR_set_timer_op: sched.do_set_timer_op,
                 xen.__HYPERVISOR_xenpmu_op: vpmu.do_xenpmu_op}
_ARM_HANDLERS = {**_HANDLERS, xen.__HYPERVISOR_hvm_op: arm_hvm.do_hvm_op}

NAMES = {v: k[len("__HYPERVISOR_"):] for k, v in vars(xen).items()
         if k.startswith("__HYPERVISOR_")}


def hypercall_name(nr):
    return NAMES.get(nr, "hypercall %d" % nr)


def _names(module, prefix):
    return {v: k for k, v in vars(module).items() if k.startswith(prefix) and isinstance(v, int)}


# ---- decoding, as strace does (--trace, the stepper, crash reports) ----------------------------
# hypercall -> the names of its sub-ops (its first argument)
_SUBOPS = {
    xen.__HYPERVISOR_sched_op: _names(a_sched, "SCHEDOP_"),
    xen.__HYPERVISOR_xen_version: _names(a_version, "XENVER_"),
    xen.__HYPERVISOR_event_channel_op: _names(a_evtchn, "EVTCHNOP_"),
    xen.__HYPERVISOR_hvm_op: _names(a_hvm, "HVMOP_"),
    xen.__HYPERVISOR_memory_op: _names(a_memory, "XENMEM_"),
    xen.__HYPERVISOR_vcpu_op: _names(a_vcpu, "VCPUOP_"),
    xen.__HYPERVISOR_console_io: _names(a_console, "CONSOLEIO_"),
    xen.__HYPERVISOR_grant_table_op: _names(a_gnttab, "GNTTABOP_"),
    xen.__HYPERVISOR_vm_assist: _names(xen, "VMASST_CMD_"),
}
# hypercalls whose second argument is named too
_SECOND_ARG = {
    xen.__HYPERVISOR_vm_assist: _names(xen, "VMASST_TYPE_"),
}
# hypercalls whose only argument is a struct starting with its u32 command
_STRUCT_CMDS = {
    xen.__HYPERVISOR_domctl: _names(a_domctl, "XEN_DOMCTL_"),
    xen.__HYPERVISOR_sysctl: _names(a_sysctl, "XEN_SYSCTL_"),
}
for _table in _STRUCT_CMDS.values():        # not commands
    for _k in [k for k, n in _table.items() if n.endswith("INTERFACE_VERSION")]:
        del _table[_k]


def _struct_cmd(v, nr, ptr):
    """'XEN_DOMCTL_getdomaininfo' for a domctl/sysctl struct at ptr, read from
    the caller's memory after the call (None if it cannot be read)."""
    from .guest_access import copy_from_guest
    try:
        cmd = int.from_bytes(copy_from_guest(v, ptr, 4), "little")
    except HypercallError:
        return None
    return _STRUCT_CMDS[nr].get(cmd, "cmd %d" % cmd)


def decode_hypercall(nr, args, result, v=None):
    """'sched_op(SCHEDOP_shutdown, 0x12f00) = 0' (errno names for errors):
    only the arguments the hypercall takes, its sub-op by name; with the
    calling vCPU `v`, domctl and sysctl show the command in their struct."""
    name = hypercall_name(nr)
    shown = list(args[:xen.hypercall_nargs(nr, v.hcall_abi.ulong if v is not None else 8)])
    parts = []
    if nr in _STRUCT_CMDS and v is not None and shown:
        cmd = _struct_cmd(v, nr, shown[0])
        if cmd:
            parts.append("{%s}" % cmd)
    subops = _SUBOPS.get(nr)
    if subops is not None:
        sub = shown.pop(0)
        if nr == xen.__HYPERVISOR_memory_op:
            sub &= a_memory.MEMOP_CMD_MASK
        parts.append(subops.get(sub, str(sub)))
    second = _SECOND_ARG.get(nr)
    if second is not None and shown:
        parts.append(second.get(shown[0], "%#x" % shown[0]))
        shown.pop(0)
    parts.extend("%#x" % a for a in shown)
    if result < 0:
        res = "-%s" % errno.name(-result)
    else:
        res = "%d" % result if result < 0x10000 else "%#x" % result
    return "%s(%s) = %s" % (name, ", ".join(parts), res)


class HypercallTable:
    def __init__(self, hv):
        self.hv = hv
        self.table = {nr: self._entry(nr, h) for nr, h in _X86_HANDLERS.items()}
        self.arm_table = {nr: self._entry(nr, h) for nr, h in _ARM_HANDLERS.items()}
        self.tracer = None           # callable(vcpu, nr, args, result, start_ns) or None

    def __getstate__(self):          # snapshots: tracers are re-attached on resume
        return snapstate.transient(self, tracer=None)

    @staticmethod
    def _entry(nr, handler):
        """(handler, arguments for 64-bit guests, for 32-bit guests): the
        counts looked up once here, not per call."""
        return handler, xen.hypercall_nargs(nr, 8), xen.hypercall_nargs(nr, 4)

    def register(self, nr, handler):
        self.table[nr] = self.arm_table[nr] = self._entry(nr, handler)

    def _handle(self, v, entry, args, abi, nr):
        v.hcall_abi = abi
        try:
            return entry[0](v, *args)
        except HypercallError as e:
            return -e.errno
        except InternalError:               # a multicall entry's, named already
            raise
        except Exception as e:              # noqa: BLE001 - an hvsim bug, not the guest's
            raise InternalError("hypercall %s(%s)" % (
                hypercall_name(nr), ", ".join("%#x" % a for a in args)), e) from e

    def call(self, v, nr, args, abi):
        """Hypercall `nr` as a multicall entry makes it: the handler alone."""
        entry = (self.arm_table if abi is ARM64 else self.table).get(nr)
        return -errno.ENOSYS if entry is None else self._handle(v, entry, args, abi, nr)

    def dispatch(self, v, nr, args, abi):
        tracer = self.tracer
        if tracer is not None:
            start_ns = self.hv.clock.now()
        entry = (self.arm_table if abi is ARM64 else self.table).get(nr)
        if entry is None:
            result = -errno.ENOSYS
        else:
            result = self._handle(v, entry, args, abi, nr)
            if result != -errno.ENOSYS:
                v.arch.clobber_hypercall_args(entry[1] if abi.ulong == 8 else entry[2], abi,
                                              CLOBBER64 if abi.ulong == 8 else CLOBBER32)
        if tracer is not None:
            tracer(v, nr, args, result, start_ns)
        v.recent_hypercalls.append((nr, args, result))
        return result
