"""`xl console` (tools/console/client/main.c): the user's terminal attached
to one domain's PV console, for typing into its in ring.

`hvsim run/boot --console dN` picks the domain (default: the first one;
`none`: no input).  Only a terminal is attached: when stdin is not a tty
nothing is read.  While attached, the terminal is raw for input as with
`xl console` (no echo, no line editing; output processing is kept so
console lines print as usual), and `Ctrl-]` detaches: the terminal is
restored, the domain gets no more input, the run goes on.  Unlike `xl
console`, Ctrl-C is not passed to the guest: hvsim is the whole machine, so
Ctrl-C stops hvsim cleanly (the signal stays enabled), as QEMU's
`-serial stdio` does (its chardev default signal=on).

A reader thread only queues the bytes typed; the run loop hands them to
xenconsoled (hvsim/toolstack/xenconsoled.py RingConsole.type_input) at its
next slice boundary, through the scheduler's input hook (poll / wait /
attached / typed).  When every vCPU is idle with no timer armed, the run
waits for input instead of ending as stalled; once something was typed,
an idle fast-mode run waits in real time for the next timer instead of
jumping to it, so that a guest's clock keeps the pace of the user's.
"""

import os
import select
import sys
import termios
import threading
from collections import deque

from ..errors import ConfigError

DETACH = 0x1D                           # Ctrl-], as xl console
READ_SLICE = 0.05                       # s: the reader checks for detach this often


def parse_console(text, domains):
    """--console dN | N | none -> the domain to attach to (None: none)."""
    if text is None:
        return domains[0] if domains else None
    if text == "none":
        return None
    t = text[1:] if text.startswith("d") else text
    if t.isdigit():
        for d in domains:
            if d.domid == int(t):
                return d
    raise ConfigError("--console %s: no such domain (give dN for one of %s, or none)"
                      % (text, ", ".join("d%d" % d.domid for d in domains)))


def attach(hv, domain, fd=None, err=None, interactive=False):
    """Attach the terminal on `fd` (stdin) to `domain`'s PV console: a
    started ConsoleClient, or None (not a tty, or no PV console).
    `interactive` (-i): a session from the start, as if the user had typed
    (an idle fast-mode run keeps the wall clock's pace from the first prompt)."""
    fd = _stdin_fd() if fd is None else fd
    if domain is None or hv.toolstack is None or fd is None or not os.isatty(fd):
        return None
    con = hv.toolstack.xenconsoled.console(domain.domid)
    if con is None:
        return None
    client = ConsoleClient(con, fd, err or sys.stderr)
    client.typed = interactive
    client.start()
    hv.scheduler.input = client
    return client


def _stdin_fd():
    """stdin's file descriptor, or None (closed, or replaced by a pseudo-file)."""
    try:
        return sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return None


class ConsoleClient:
    """The terminal attached to one RingConsole."""

    def __init__(self, console, fd, err):
        self.console = console
        self.fd = fd
        self.err = err
        self.queue = deque()            # byte strings typed, not yet handed over
        self.arrived = threading.Event()
        self.attached = False
        self.typed = False              # the user has typed: an interactive session
        self._saved = None              # termios to restore
        self._thread = None

    def start(self):
        self._saved = termios.tcgetattr(self.fd)
        mode = termios.tcgetattr(self.fd)
        mode[0] &= ~(termios.IXON | termios.ICRNL | termios.INLCR | termios.IGNCR
                     | termios.BRKINT | termios.ISTRIP)
        mode[3] &= ~(termios.ICANON | termios.ECHO | termios.IEXTEN)   # ISIG kept: Ctrl-C
        mode[6][termios.VMIN], mode[6][termios.VTIME] = 1, 0
        termios.tcsetattr(self.fd, termios.TCSANOW, mode)
        self.attached = self.console.attached = True
        self._thread = threading.Thread(target=self._read, name="hvsim-console", daemon=True)
        self._thread.start()

    def _read(self):
        while self.attached:
            ready, _, _ = select.select([self.fd], [], [], READ_SLICE)
            if not ready or not self.attached:
                continue
            data = os.read(self.fd, 256)
            if not data:
                self.attached = False
                break
            cut = data.find(bytes((DETACH,)))
            if cut >= 0:
                data = data[:cut]
                self.attached = False
            if data:
                self.queue.append(data)
            self.arrived.set()
        self.arrived.set()

    # -- the scheduler's input hook ---------------------------------------------------
    def poll(self):
        """At a slice boundary: hand what was typed to xenconsoled."""
        while self.queue:
            self.typed = True
            self.console.type_input(self.queue.popleft())
        if not self.attached and self._saved is not None:
            self.detach()
            self.err.write("hvsim: detached from d%d's console\n" % self.console.domain.domid)
            self.err.flush()

    def wait(self, seconds):
        """Every vCPU is idle: wait up to `seconds` for input."""
        if self.arrived.wait(seconds):
            self.arrived.clear()

    def detach(self):
        """Give the terminal back (Ctrl-], or the end of the run)."""
        self.attached = self.console.attached = False
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None
