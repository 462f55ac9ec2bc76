"""`python tests/inject_bug.py KIND DOMID -- HVSIM-ARGS...`: run the hvsim
command with a bug planted in one of its handlers, raised only while it
serves domain DOMID (tests/test_internal_errors.py).  KIND:

  hypercall  the console_io handler (every guest prints)
  port       the emulated port I/O (Xen's null handler and port 0xE9)
  mmio       the emulated MMIO (the null handler, the local APIC page)
  timer      the periodic/singleshot timer's event (VIRQ_TIMER)
  loader     the PVH builder, loading the kernel's segments

Nothing here is imported by hvsim: the bug is planted by patching, as a
hypothetical bug in that code would behave."""

import sys

from hvsim import cli
from hvsim.abi import xen
from hvsim.boot import pvh
from hvsim.hv import hypercall, vcpu
from hvsim.hv.x86 import io


class PlantedBug(RuntimeError):
    pass


def plant(kind, domid):
    def guard(fn, domain_of):
        def buggy(*args, **kw):
            if domain_of(*args) == domid:
                raise PlantedBug("planted %s bug" % kind)
            return fn(*args, **kw)
        return buggy

    by_vcpu = lambda v, *_: v.domain.domid          # noqa: E731
    if kind == "hypercall":
        nr = xen.__HYPERVISOR_console_io
        for table in (hypercall._X86_HANDLERS, hypercall._ARM_HANDLERS):
            table[nr] = guard(table[nr], by_vcpu)
    elif kind == "port":
        io.port_read = guard(io.port_read, by_vcpu)
        io.port_write = guard(io.port_write, by_vcpu)
    elif kind == "mmio":
        io.mmio_read = guard(io.mmio_read, by_vcpu)
        io.mmio_write = guard(io.mmio_write, by_vcpu)
    elif kind == "timer":
        vcpu.VCpu.send_timer_event = guard(vcpu.VCpu.send_timer_event, by_vcpu)
    elif kind == "loader":
        pvh._load_segments = guard(pvh._load_segments, lambda d, *_: d.domid)
    else:
        raise SystemExit("inject_bug.py: unknown kind %r" % kind)


if __name__ == "__main__":
    kind, domid, sep, *argv = sys.argv[1:]
    assert sep == "--", "usage: inject_bug.py KIND DOMID -- HVSIM-ARGS..."
    plant(kind, int(domid))
    sys.exit(cli.main(argv))
