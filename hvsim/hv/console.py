"""Guest consoles: the console_io hypercall (Xen's drivers/char/console.c) and
the HVM debug port 0xE9, and where their output goes.

Each domain's output is line-buffered and written to the host console as
Xen does, one line at a time with a "(dN) " prefix; a single-domain run can
drop the prefix (`hvsim run` streams the guest console as is).  Bytes Xen's
guest_console_write() would not print (anything but 0x20-0x7e, 0xa0-0xff and
tab) are dropped, and lines longer than Xen's per-domain buffer are broken.
Every line is also kept in the domain's transcript, which is where test
verdicts are read from.  hvsim behaves as a debug build of Xen, where any
domain may write with console_io (CONFIG_VERBOSE_DEBUG).
"""

import sys

from ..snapshot import state as snapstate
from ..abi import console as cio
from ..abi import errno
from ..abi.errno import HypercallError
from .guest_access import copy_from_guest

MAX_LINE = 256          # DOMAIN_CONSOLE_BUF_SIZE: longer lines are broken
WRITE_CHUNK = 127


class ConsoleSink:
    """Where console lines go: a stream, plus an optional listener."""

    def __init__(self, stream="stdout", prefix_domains=True):
        """stream: a file, "stdout" (the default), or None for no output."""
        self.stream = sys.stdout if stream == "stdout" else stream
        self.prefix_domains = prefix_domains
        self.listeners = []

    def __getstate__(self):           # snapshots: output is re-attached on resume
        return snapstate.transient(self, stream=None, listeners=[])

    def line(self, domain, text):
        out = ("(d%d) %s" % (domain.domid, text)) if self.prefix_domains else text
        if self.stream is not None:
            self.stream.write(out + "\n")
            self.stream.flush()
        for fn in self.listeners:
            fn(domain, text)

    def xen_line(self, text):
        """Xen's own messages: "(XEN) ..." (to stderr-like stream of the sink)."""
        out = "(XEN) " + text
        if self.stream is not None:
            self.stream.write(out + "\n")
            self.stream.flush()
        for fn in self.listeners:
            fn(None, out)


class DomainConsole:
    """One domain's line buffer and transcript."""

    def __init__(self, domain, sink):
        self.domain = domain
        self.sink = sink
        self.partial = bytearray()
        self.transcript = []

    def write(self, data):
        for b in data:
            if b == 0x0A:
                self._flush()
            elif b == 0x0D:
                continue
            elif 0x20 <= b < 0x7F or b >= 0xA0 or b == 0x09:   # is_console_printable()
                self.partial.append(b)
                if len(self.partial) >= MAX_LINE - 1:
                    self._flush()

    def _flush(self):
        text = self.partial.decode("latin-1")
        self.partial.clear()
        self.transcript.append(text)
        self.sink.line(self.domain, text)

    def flush(self):
        if self.partial:
            self._flush()


def do_console_io(v, cmd, count, buf, *_):
    """HYPERVISOR_console_io(cmd, count, buffer), as a debug build of Xen."""
    d = v.domain
    if not v.hv.xsm.console_io(d, cmd):
        return -errno.EPERM
    if cmd == cio.CONSOLEIO_write:
        while count > 0:                       # guest_console_write(): 127-byte chunks
            n = min(count, WRITE_CHUNK)
            d.console.write(copy_from_guest(v, buf, n))
            buf += n
            count -= n
        return 0
    if cmd == cio.CONSOLEIO_read:
        if count > 0x7FFFFFFF:
            return -errno.E2BIG
        return 0                               # nothing is ever typed at hvsim's console
    raise HypercallError(errno.ENOSYS)
