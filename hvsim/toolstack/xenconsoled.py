"""The console backend: what xenconsoled does for each domain
(tools/console/daemon/io.c), on the ring of public/io/console.h.

Each domain with a console page (HVM_PARAM_CONSOLE_PFN) and event channel
(HVM_PARAM_CONSOLE_EVTCHN, unbound, offered to the backend domain by libxl)
gets a RingConsole, connected when the domain is set up (as xenconsoled
binds the port once it sees the domain):
* out ring (guest -> backend), buffer_append(): on every notify from the
  guest, read out_cons/out_prod (free-running u32 indices, masked into the
  2048-byte ring), take prod - cons bytes (nothing when that is 0 or more
  than the ring holds: a corrupt ring is ignored, as xenconsoled does),
  publish out_cons after reading the data, and notify the guest.  The bytes
  go to the domain's PV console: a line buffer and transcript
  (hvsim/hv/console.py DomainConsole, source PV_CONSOLE) shown on the host
  console (with a terminal attached, an unfinished line, e.g. a prompt, is
  shown at once; once the guest has read typed input, its output goes to
  the terminal raw, byte for byte, as `xl console` shows it);
* in ring (backend -> guest), handle_tty_read(): bytes typed at the terminal
  attached to this domain (hvsim/toolstack/console_client.py) are written
  at in_prod while there is room (in_prod - in_cons < 1024), then in_prod
  is published and the guest notified; what does not fit waits for the
  guest to make room.
Work is done synchronously in the guest's EVTCHNOP_send, in virtual time:
a deterministic run stays deterministic (typed input is by nature not).

Test verdicts are read from the PV console when the domain wrote to it (as
xtf-runner reads `xl console`), else from console_io (verdict_transcript).
"""

from ..abi import console as cio
from ..abi import hvm as h
from ..abi.cstruct import X86_64
from ..hv.console import PV_CONSOLE, DomainConsole
from ..hv.physmap import PAGE_SHIFT
from ..snapshot import state as snapstate
from .ring import ring_read, ring_write

_LAYOUT = cio.xencons_interface.layout(X86_64)       # chars and u32s: one layout
IN_OFF, IN_SIZE = _LAYOUT.offset("in"), _LAYOUT.fields["in"].size
OUT_OFF, OUT_SIZE = _LAYOUT.offset("out"), _LAYOUT.fields["out"].size


class RingConsole:
    """xenconsoled's `struct console` for one domain."""

    def __init__(self, domain, gfn, sink):
        self.domain = domain
        self.gpa = gfn << PAGE_SHIFT
        self.output = DomainConsole(domain, sink, PV_CONSOLE)
        self.channel = None             # BackendChannel, once connected
        self.pending_input = bytearray()
        self.attached = False           # a terminal is attached: show unfinished lines
        self._io_mark = None            # console_io's byte count when input was first typed

    def __getstate__(self):             # snapshots: the terminal belongs to the session
        return snapstate.transient(self, attached=False)

    def _ring(self):
        """The mapped console page (None if the guest put something else there
        that hvsim cannot map)."""
        return self.domain.physmap.view(self.gpa, _LAYOUT.size)

    def notified(self):
        """The guest sent on its console port: drain the out ring, then
        top up the in ring with what is waiting."""
        ring = self._ring()
        if ring is None:
            return
        self._read_out(ring)
        if self.pending_input:
            self._write_in(ring)

    def _read_out(self, ring):
        """buffer_append()."""
        cons, prod = _LAYOUT.get(ring, "out_cons", "out_prod")
        size = cio.xencons_idx(prod - cons)
        if size == 0 or size > OUT_SIZE:
            return
        data = ring_read(ring, OUT_OFF, OUT_SIZE, cons, size)
        _LAYOUT.put(ring, out_cons=cio.xencons_idx(cons + size))   # after the data is read
        self.channel.notify()
        out = self.output
        out.raw = self.attached and self._interactive(ring)
        out.write(data)
        if self.attached and out.partial and not out.raw:     # a prompt: show it now
            out.sink.partial(self.domain, out.partial.decode("latin-1"), PV_CONSOLE)

    def _interactive(self, ring):
        """Raw mode for the attached terminal: the guest reads what is typed
        (its in_cons moved) and, since the first input, writes to this
        console only (a guest writing every line to console_io as well, as
        XTF does, stays in line mode, where each line is shown once)."""
        return self._io_mark is not None and _LAYOUT.get(ring, "in_cons") != 0 and \
            self.domain.console.written == self._io_mark

    def type_input(self, data):
        """Bytes from the terminal for this domain's in ring."""
        if self._io_mark is None:
            self._io_mark = self.domain.console.written
        self.pending_input += data
        ring = self._ring()
        if ring is not None:
            self._write_in(ring)

    def _write_in(self, ring):
        """handle_tty_read(): as much pending input as the in ring has room for."""
        cons, prod = _LAYOUT.get(ring, "in_cons", "in_prod")
        used = cio.xencons_idx(prod - cons)
        room = IN_SIZE - used if used < IN_SIZE else 0
        n = min(room, len(self.pending_input))
        if n == 0:
            return
        ring_write(ring, IN_OFF, IN_SIZE, prod, self.pending_input[:n])
        del self.pending_input[:n]
        _LAYOUT.put(ring, in_prod=cio.xencons_idx(prod + n))   # after the data is written
        self.channel.notify()

    def flush(self):
        self.output.flush()


class XenConsoled:
    """The built-in xenconsoled: a RingConsole per domain with a console ring."""

    def __init__(self, toolstack):
        self.toolstack = toolstack
        self.consoles = {}              # domid -> RingConsole

    def add_domain(self, d):
        """Connect to d's console ring, if libxl gave it one."""
        gfn = d.hvm_params[h.HVM_PARAM_CONSOLE_PFN]
        port = d.hvm_params[h.HVM_PARAM_CONSOLE_EVTCHN]
        if not gfn or not port:
            return None
        con = RingConsole(d, gfn, self.toolstack.hv.console)
        con.channel = self.toolstack.connect_backend(d, port, con.notified)
        self.consoles[d.domid] = con
        return con

    def release_domain(self, d):
        """shutdown_domain(): the domain is gone; its output stays readable."""
        con = self.consoles.get(d.domid)
        if con is not None and con.domain is d:
            con.flush()
            con.channel.close()

    def console(self, domid):
        return self.consoles.get(domid)

    def flush(self):
        for con in self.consoles.values():
            con.flush()


def verdict_transcript(domain):
    """The console a test verdict is read from: the PV console if the domain
    wrote a line to it (xtf-runner reads `xl console`), else console_io."""
    ts = domain.hv.toolstack
    con = ts.xenconsoled.console(domain.domid) if ts is not None else None
    if con is not None and con.output.transcript:
        return con.output.transcript
    return domain.console.transcript
