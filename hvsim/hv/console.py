"""Guest consoles: the console_io hypercall (Xen's drivers/char/console.c) and
the HVM debug port 0xE9, and where their output goes.

Each domain's output is line-buffered and written to the host console as
Xen does, one line at a time with a "(dN) " prefix; a single-domain run can
drop the prefix (`hvsim run` streams the guest console as is).  Bytes Xen's
guest_console_write() would not print (anything but 0x20-0x7e, 0xa0-0xff and
tab) are dropped, and lines longer than Xen's per-domain buffer are broken.
Every line is also kept in the domain's transcript.  Xen's own lines
("(XEN) ...": boot messages, crash reports, timeouts) go to a stream of
their own, stderr on the command line, so that stdout holds only the
guests' consoles.  hvsim behaves as a
debug build of Xen, where any domain may write with console_io
(CONFIG_VERBOSE_DEBUG).

The host console (ConsoleSink) also shows each domain's PV console, the
ring xenconsoled serves (hvsim/toolstack/xenconsoled.py, what `xl console`
shows), with the same line rules, except that its terminal escape sequences
(a shell's cursor queries and redraws) are left out of its lines and a
backspace takes back the character before it, as a terminal shows them.  A domain's output is shown once: XTF, like many PV
kernels, writes every line to both consoles, so a line that repeats, in
order, one the other console of the same domain already showed is not
shown again (it stays in that console's transcript).

A PV console in raw mode (the terminal is attached to it and the guest
reads what is typed: an interactive shell) goes to the terminal byte for
byte as it comes, as `xl console` passes it, so that line editing, echo and
escape sequences work; its lines are still kept in the transcript.
"""

import sys
from collections import deque

from ..snapshot import state as snapstate
from ..abi import console as cio
from ..abi import errno
from ..abi.errno import HypercallError
from .guest_access import copy_from_guest

MAX_LINE = 256          # DOMAIN_CONSOLE_BUF_SIZE: longer lines are broken
WRITE_CHUNK = 127
CONSOLE_IO = "console_io"   # Xen's console: console_io and port 0xE9
PV_CONSOLE = "pv"           # the domain's PV console ring (xenconsoled)
SHOWN_WINDOW = 64           # lines a domain's other console may still repeat
ESC_NONE, ESC_START, ESC_CSI = 0, 1, 2      # DomainConsole._esc: ESC seen, ESC [ seen


class ConsoleSink:
    """Where console lines go: a stream, plus an optional listener."""

    def __init__(self, stream="stdout", prefix_domains=True, xen_stream="stream"):
        """stream: where the guests' consoles go: a file, "stdout" (the
        default), or None for no output; xen_stream: where Xen's own lines
        go: a file, None, or "stream" (the default: with the consoles)."""
        self.stream = sys.stdout if stream == "stdout" else stream
        self.xen_stream = self.stream if xen_stream == "stream" else xen_stream
        self.prefix_domains = prefix_domains
        self.listeners = []
        self._shown = {}              # domid -> deque of (source, line) not yet repeated
        self._open = None             # (domid, text shown) of a line partial() started
                                      # and nobody finished yet
        self._raw_open = False        # raw() output stopped mid-line

    def __getstate__(self):           # snapshots: output is re-attached on resume
        return snapstate.transient(self, stream=None, xen_stream=None, listeners=[])

    @classmethod
    def terminal(cls, quiet=False, prefix_domains=True):
        """The command line's sink: consoles on stdout, Xen's lines on
        stderr (-q: neither)."""
        sink = cls(None, prefix_domains)
        sink.show(quiet)
        return sink

    def show(self, quiet=False):
        """(Re-)attach the command line's streams (a resumed snapshot's sink
        has none): consoles on stdout, Xen's lines on stderr, or nothing
        with -q."""
        self.stream = None if quiet else sys.stdout
        self.xen_stream = None if quiet else sys.stderr

    def line(self, domain, text, source=CONSOLE_IO):
        """A complete line of `domain`'s console `source`: shown, unless it
        repeats a line the domain's other console showed."""
        if self._continues(domain, text):       # its start is on screen already
            self._write(text[len(self._open[1]):] + "\n")
            self._open = None
            self._history(domain.domid).append((source, text))
        elif self._repeated(domain.domid, source, text):
            return
        else:
            self._break_open()
            self._write(self._prefixed(domain, text) + "\n")
        self._notify(domain, text)

    def note(self, domain, text, source):
        """A complete line of a console in raw mode: raw() showed it already;
        it counts as shown, for the other console's repeats."""
        self._history(domain.domid).append((source, text))
        self._notify(domain, text)

    def _notify(self, domain, text):
        for fn in self.listeners:
            fn(domain, text)

    def raw(self, domain, data):
        """Bytes of a console in raw mode, as they come (with the (dN) prefix
        at each line's start, when prefixing)."""
        if self._open is not None:              # a prompt partial() showed: go on after it
            self._open, self._raw_open = None, True
        if self.prefix_domains:
            prefix = b"(d%d) " % domain.domid
            data = (b"" if self._raw_open else prefix) + \
                data[:-1].replace(b"\n", b"\n" + prefix) + data[-1:]
        self._raw_open = not data.endswith(b"\n")
        if self.stream is None:
            return
        buf = getattr(self.stream, "buffer", None)
        if buf is None:                         # a text-only stream (tests)
            self._write(data.decode("latin-1"))
            return
        self.stream.flush()
        buf.write(data)
        buf.flush()

    def partial(self, domain, text, source):
        """The start of a line the domain has not finished (a prompt waiting
        for input, on the attached console): shown at once, the rest when
        the line completes on either of the domain's consoles."""
        if self._continues(domain, text):
            self._write(text[len(self._open[1]):])
        else:
            self._break_open()
            self._write(self._prefixed(domain, text))
        self._open = (domain.domid, text)

    def _continues(self, domain, text):
        """Does `text` go on from the unfinished line partial() showed?"""
        return self._open is not None and self._open[0] == domain.domid and \
            text.startswith(self._open[1])

    def _break_open(self):
        """Another line is shown: end the unfinished one partial() showed (it
        is shown whole when it completes)."""
        if self._open is not None or self._raw_open:
            self._open, self._raw_open = None, False
            self._write("\n")

    def _prefixed(self, domain, text):
        return ("(d%d) %s" % (domain.domid, text)) if self.prefix_domains else text

    def _write(self, out, stream="stream"):
        stream = self.stream if stream == "stream" else stream
        if stream is not None:
            stream.write(out)
            stream.flush()

    def _history(self, domid):
        shown = self._shown.get(domid)
        if shown is None:
            shown = self._shown[domid] = deque(maxlen=SHOWN_WINDOW)
        return shown

    def _repeated(self, domid, source, text):
        """Is `text` the next line of the other console's shown lines (in
        order: the lines it passes over were that console's own)?"""
        shown = self._history(domid)
        for i, (src, line) in enumerate(shown):
            if src != source and line == text:
                for _ in range(i + 1):
                    shown.popleft()
                return True
        shown.append((source, text))
        return False

    def xen_line(self, text):
        """Xen's own messages: "(XEN) ..." (to the sink's xen_stream)."""
        out = "(XEN) " + text
        self._break_open()
        self._write(out + "\n", self.xen_stream)
        for fn in self.listeners:
            fn(None, out)


class DomainConsole:
    """One console of one domain: line buffer and transcript (`source`:
    CONSOLE_IO for Xen's console, PV_CONSOLE for the domain's ring)."""

    def __init__(self, domain, sink, source=CONSOLE_IO):
        self.domain = domain
        self.sink = sink
        self.source = source
        self.partial = bytearray()
        self.transcript = []
        self.raw = False                # shown byte for byte (ConsoleSink.raw)
        self.written = 0                # bytes the domain wrote to this console
        self._esc = ESC_NONE            # where in a terminal escape sequence (PV console)

    def write(self, data):
        self.written += len(data)
        if self.raw:
            self.sink.raw(self.domain, data)
        for b in data:
            if self._esc != ESC_NONE and self._escape(b):
                continue
            if self.source == PV_CONSOLE and b in (0x1B, 0x08):
                if b == 0x1B:
                    self._esc = ESC_START
                elif self.partial:              # backspace: as a terminal shows the line
                    self.partial.pop()
            elif b == 0x0A:
                self._flush()
            elif b == 0x0D:
                continue
            elif 0x20 <= b < 0x7F or b >= 0xA0 or b == 0x09:   # is_console_printable()
                self.partial.append(b)
                if len(self.partial) >= MAX_LINE - 1:
                    self._flush()

    def _escape(self, b):
        """Is byte b part of the escape sequence under way (ESC x, or
        ESC [ parameters intermediates final)?"""
        if self._esc == ESC_START:
            self._esc = ESC_CSI if b == 0x5B else ESC_NONE
            return True
        if 0x20 <= b <= 0x3F:                   # CSI parameter or intermediate byte
            return True
        self._esc = ESC_NONE
        return 0x40 <= b <= 0x7E                # its final byte; anything else ends it

    def _flush(self):
        text = self.partial.decode("latin-1")
        self.partial.clear()
        self.transcript.append(text)
        if self.raw:
            self.sink.note(self.domain, text, self.source)
        else:
            self.sink.line(self.domain, text, self.source)

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
