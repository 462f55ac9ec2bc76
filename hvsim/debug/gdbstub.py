"""`hvsim run --gdb [HOST]:PORT`: a GDB remote-serial-protocol stub over TCP.

Owns the protocol: packet framing (checksums, acks and no-ack mode, binary
escapes, run-length decoding), the target description gdb reads with
qXfer:features:read, and the packets stock gdb uses against a remote target
in all-stop mode: ?, g/G/p/P (registers), m/M/X (memory by guest virtual
address, through the vCPU's page tables; E14 where unmapped), Z0/Z1
(breakpoints) and Z2/Z3/Z4 (write/read/access watchpoints), c/s/vCont
(continue, step one instruction), Ctrl-C while running, threads
(qfThreadInfo, Hg/Hc, T, qC, qThreadExtraInfo), D (detach: the guests run
on), k/vKill (end the run), and W with the run's exit code when it ends.

Threads are vCPUs: every vCPU of every domain, thread id = domid * 1000 +
vcpu + 1 (d1v0 is 1001), named "dNvM" (qXfer:threads:read, shown by `info
threads`).  Registers and memory are the selected thread's (Hg): memory
through that vCPU's page tables in its domain's physmap.  All-stop: when
gdb sees a stop, no vCPU of any domain runs.  Breakpoints limited to a
domain: `monitor break-domain dN` (the stub arms them in that domain's
vCPUs only), or gdb's own `break X thread N` (gdb resumes silently when
another thread hits X, which works because each stop names its thread).  Boot
phases (phases.py) stop the machine after `monitor stop-at PHASE [dN]`;
`monitor help` lists the commands (qRcmd).  What stops and steps is
RunControl's (control.py); the mechanisms are the arch layer's
(hvsim/arch/x86/debug.py, hvsim/arch/arm64/debug.py).

Architecture: the target description follows the kernel's e_machine, so
that it matches what `gdb GUEST.elf` loads: i386 for a 32-bit kernel,
i386:x86-64 for a 64-bit one, aarch64 for an arm64 kernel (gdb's
aarch64.core and aarch64.fpu features, and hvsim's "org.hvsim.aarch64.sys"
with the EL1 system registers and the timers: hvsim/arch/arm64/debug.py).  A 64-bit kernel starts in 32-bit code (the
PVH entry); there, like QEMU's gdb stub, gdb still sees 64-bit registers
(the upper halves are zero) and disassembles as 64-bit code (`hvsim step`
follows the CPU's mode).  Registers: gdb's general, x87 and SSE registers,
fs_base/gs_base, and hvsim's "org.hvsim.x86.sys" feature with cr0, cr2,
cr3, cr4 and efer.

One thread reads the socket all the time (so that Ctrl-C, 0x03, reaches a
running machine); every other packet is handled on the scheduler's thread
while the machine is stopped.
"""

import queue
import re
import shlex
import socket
import sys
import threading

from unicorn import UcError

from ..arch.gdbregs import WATCH_ACCESS, WATCH_READ, WATCH_WRITE, RegisterError
from ..errors import ConfigError
from .control import RunControl, StopRun
from .phases import PHASES, parse_domid

PACKET_SIZE = 0x4000              # what qSupported offers (bytes of packet data)
MAX_MEMORY_READ = (PACKET_SIZE - 16) // 2
MAX_PACKET_BYTES = 2 * PACKET_SIZE + 4   # a longer '$...' without '#' is dropped, not buffered
EFAULT = 14                       # E14: the address is not mapped
EINVAL = 22
SIGINT, SIGTRAP = 2, 5
DEFAULT_HOST = "127.0.0.1"

_WATCH_TYPES = {2: WATCH_WRITE, 3: WATCH_READ, 4: WATCH_ACCESS}
_WATCH_REPLY = {WATCH_WRITE: "watch", WATCH_READ: "rwatch", WATCH_ACCESS: "awatch"}


# ---- packets -----------------------------------------------------------------------------------
_ESCAPED = b"#$}*"


def checksum(data):
    """The protocol's checksum: the sum of the bytes, modulo 256."""
    return sum(data) & 0xFF


def escape(data):
    """Binary data for a packet: '#', '$', '}' and '*' become '}' + (byte ^ 0x20)."""
    out = bytearray()
    for b in data:
        if b in _ESCAPED:
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape(data):
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == 0x7D:
            b = next(it, 0x20) ^ 0x20
        out.append(b)
    return bytes(out)


def decode_rle(data):
    """Expand run-length encoding: 'X*n' repeats X (ord(n) - 29) more times."""
    if b"*" not in data:
        return data
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b == 0x2A and out and i + 1 < len(data):
            out += bytes((out[-1],)) * (data[i + 1] - 29)
            i += 2
            continue
        out.append(b)
        i += 1
    return bytes(out)


def frame(payload):
    """'$' + escaped payload + '#' + two hex digits of checksum."""
    body = escape(payload)
    return b"$" + body + b"#%02x" % checksum(body)


class PacketReader:
    """Splits the byte stream from gdb into events: ('packet', payload),
    ('interrupt',) for Ctrl-C, ('ack',), ('nak',), ('bad', payload) for a
    checksum mismatch."""

    def __init__(self):
        self._buf = bytearray()

    _CONTROL = {0x03: ("interrupt",), 0x2B: ("ack",), 0x2D: ("nak",)}   # ^C + -

    def feed(self, data):
        self._buf += data
        events = []
        while self._buf:
            start = self._buf.find(b"$")
            noise = self._buf[:start] if start >= 0 else self._buf
            events += [self._CONTROL[b] for b in noise if b in self._CONTROL]
            if start < 0:
                self._buf.clear()                           # anything else is noise
                break
            del self._buf[:start]
            end = self._buf.find(b"#")
            if end < 0 and len(self._buf) > MAX_PACKET_BYTES:
                del self._buf[:1]                           # too long: not a packet
                events.append(("bad", b""))
                continue
            if end < 0 or len(self._buf) < end + 3:
                break                                       # incomplete
            body = bytes(self._buf[1:end])
            given = bytes(self._buf[end + 1:end + 3])
            del self._buf[:end + 3]
            try:
                ok = parse_hex(given.decode("latin-1"), 8) == checksum(body)
            except ValueError:
                ok = False
            events.append(("packet" if ok else "bad", decode_rle(body)))
        return events


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def parse_hex(text, bits=64):
    """A number in a packet: hex digits only (no sign, 0x, blanks or '_',
    which int(text, 16) would take) and at most `bits` wide; ValueError
    otherwise, which the stub answers with an error reply."""
    if not text or not _HEX_DIGITS.issuperset(text):
        raise ValueError("not a hex number: %r" % text[:20])
    value = int(text, 16)
    if value >> bits:
        raise ValueError("wider than %d bits: %r" % (bits, text[:20]))
    return value


def hex_bytes(data):
    return data.hex()


def le_hex(value, size):
    return value.to_bytes(size, "little").hex()


def parse_address(text):
    """'--gdb' argument: ':1234', '1234', 'HOST:PORT' -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    try:
        port = int(port, 10)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535 or "[" in host or ":" in host:
        raise ConfigError("--gdb %r: use [HOST]:PORT, e.g. :1234 or 127.0.0.1:1234 "
                          "(port 0: any free port)" % text)
    return host or DEFAULT_HOST, port


# ---- target description ------------------------------------------------------------------------
def _type_xml(target, type_, size):
    """The XML defining a register type the target description uses (none
    for gdb's predefined types: int64, code_ptr, i387_ext, ...)."""
    if type_ in target.types:
        return target.types[type_].splitlines()
    if type_ in target.flags:
        lines = ['<flags id="%s" size="%d">' % (type_, size)]
        for bit, name in target.flags[type_]:
            if isinstance(bit, tuple):
                lines.append('<field name="%s" start="%d" end="%d" type="uint32"/>'
                             % (name, bit[0], bit[1]))
            else:
                lines.append('<field name="%s" start="%d" end="%d"/>' % (name, bit, bit))
        return lines + ["</flags>"]
    return []


def target_xml(target):
    """The target description of an arch Target (hvsim/arch/gdbregs.py)."""
    lines = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
             '<target version="1.0">', "<architecture>%s</architecture>" % target.arch]
    for feature in target.features:
        members = [(n, r) for n, r in enumerate(target.regs) if r.feature == feature]
        if not members:
            continue
        lines.append('<feature name="%s">' % feature)
        for type_, size in sorted({(r.type, r.size) for _, r in members}):
            lines += _type_xml(target, type_, size)
        for n, r in members:
            group = ' group="%s"' % r.group if r.group else ""
            lines.append('<reg name="%s" bitsize="%d" type="%s" regnum="%d"%s/>'
                         % (r.name, r.bits, r.type, n, group))
        lines.append("</feature>")
    lines.append("</target>")
    return "\n".join(lines).encode()


# ---- threads -------------------------------------------------------------------------------------
def thread_id(v):
    return v.domain.domid * 1000 + v.vcpu_id + 1


def thread_state(v):
    """What `info threads` shows after a thread's name (qThreadExtraInfo)."""
    if v.domain.finished:
        return "domain ended"
    if v.domain.paused:
        return "paused"
    if not v.online:
        return "offline"
    return "blocked" if v.blocked else "runnable"


def threads_xml(vcpus):
    """qXfer:threads:read: every vCPU with its name (dNvM) and state."""
    rows = ['<thread id="%x" name="d%dv%d">%s</thread>'
            % (thread_id(v), v.domain.domid, v.vcpu_id, thread_state(v)) for v in vcpus]
    return '<?xml version="1.0"?>\n<threads>\n%s\n</threads>\n' % "\n".join(rows)


MONITOR_HELP = """hvsim monitor commands:
  monitor stop-at PHASE [dN ...]  stop the whole machine when a domain (any, or the ones
                                  named) reaches PHASE: %s
  monitor stop-at                 list the phase stops
  monitor stop-at none            remove every phase stop
  monitor domains                 the domains and their states
  monitor break-domain dN|all     breakpoints and watchpoints in domain N only (the
                                  others run past them at full speed), or in all
Breakpoints limited to a vCPU: break LOCATION thread N (gdb's thread number from
`info threads`; thread names are dNvM).  Symbols: gdb's are global; load the kernel
of the domain you look at with `symbol-file FILE` or `add-symbol-file FILE`.
"""


def _symbol_file(path):
    """path if it is an ELF gdb can take symbols from (not an arm64 Image or
    a bzImage), else None."""
    try:
        with open(path, "rb") as f:
            return path if f.read(4) == b"\x7fELF" else None
    except (OSError, TypeError):
        return None


class _Resume(Exception):
    """A packet resumed the machine (c, s, vCont, D)."""


def _xfer_chunk(data, span):
    """The OFFSET,LENGTH part of a qXfer object: 'm' + more, or 'l' + the last."""
    off, _, length = span.partition(",")
    off, length = parse_hex(off), parse_hex(length)
    chunk = data[off:off + length]
    return ("m" if off + length < len(data) else "l") + chunk.decode("latin-1")


# ---- the stub ------------------------------------------------------------------------------------
class GdbServer(RunControl):
    """The stub: listen(), set_arch(), attach() (RunControl), then the
    scheduler calls stopped() whenever the machine stops; finish(exit_code)
    at the end."""

    def __init__(self, hv, address, elf_path=None):
        super().__init__(hv)
        self.host, self.port = address
        self.target = self.regs = self._xml = None     # set_arch()
        self.elf_path = elf_path
        self._listener = None
        self._sock = None
        self._send_lock = threading.Lock()
        self._packets = queue.Queue()
        self._no_ack = False
        self._last_sent = b""
        self._awaiting_stop = False      # gdb resumed us and waits for a stop reply
        self._last_event = None
        self._g_vcpu = self._c_vcpu = None
        self._bp_types = {}              # address -> {0, 1} (Z0 software, Z1 hardware)
        self._ended = False

    def set_arch(self, target):
        """The architecture gdb is told (hvsim/arch/gdbregs.py Target: x86-64,
        i386 or aarch64); once, before attach()."""
        self.target = target
        self.regs = target.regs
        self._xml = target_xml(target)

    # -- setup ----------------------------------------------------------------------------
    def listen(self):
        """Bind and listen; ConfigError (one line) if that is not possible."""
        where = "--gdb %s:%d" % (self.host, self.port)
        try:
            infos = socket.getaddrinfo(self.host, self.port, socket.AF_INET, socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise ConfigError("%s: unknown host (%s)" % (where, e.strerror)) from None
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(infos[0][4])
            s.listen(1)
        except OSError as e:
            raise ConfigError("%s: cannot listen: %s" % (where, e.strerror or e)) from None
        self._listener = s
        self.host, self.port = s.getsockname()[:2]
        return self.host, self.port

    def banner(self, domains=(), paths=None):
        """What to tell the user: where to connect; for several domains,
        their threads and symbol files (paths: domid -> kernel file) too."""
        gdb = "gdb-multiarch" if self.target is not None and self.target.arch == "aarch64" \
            else "gdb"
        elf = _symbol_file(self.elf_path)
        command = "%s %s-ex 'target remote %s:%d'" % (gdb, shlex.quote(elf) + " " if elf else "",
                                                     self.host, self.port)
        if len(domains) <= 1:
            return ("hvsim: gdb stub on %s:%d, the guest waits at its first instruction; "
                    "connect with: %s" % (self.host, self.port, command))
        lines = ["hvsim: gdb stub on %s:%d, every domain built and paused; connect with: %s"
                 % (self.host, self.port, command)]
        for d in domains:
            path = _symbol_file((paths or {}).get(d.domid))
            lines.append("hvsim: gdb: d%d (%s): threads %s; symbols: %s"
                         % (d.domid, d.name, " ".join("d%dv%d" % (d.domid, v.vcpu_id)
                                                      for v in d.vcpus),
                            "add-symbol-file %s" % shlex.quote(path) if path else "none"))
        lines.append("hvsim: gdb: `monitor help` for boot-phase stops (monitor stop-at "
                     "first-hypercall d1); `break X thread N` limits a breakpoint to a vCPU")
        return "\n".join(lines)

    def _accept(self):
        conn, _ = self._listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = conn
        self._listener.close()
        self._listener = None
        threading.Thread(target=self._read_loop, args=(conn,), name="hvsim-gdb",
                         daemon=True).start()

    def close(self):
        for s in (self._sock, self._listener):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)     # wakes the reader thread
                except OSError:
                    pass
                s.close()
        self._sock = self._listener = None

    def finish(self, exit_code):
        """The run ended: tell a waiting gdb the exit code, then hang up."""
        if self._sock is not None and self._awaiting_stop and not self._ended:
            self._send("W%02x" % (exit_code & 0xFF))
        self._ended = True
        self.close()

    # -- the socket ---------------------------------------------------------------------------
    def _read_loop(self, conn):
        reader = PacketReader()
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._packets.put(None)
                self.interrupt()          # a running machine stops and notices
                return
            for ev in reader.feed(data):
                self._reader_event(ev)

    def _reader_event(self, ev):
        kind = ev[0]
        if kind == "packet":
            if not self._no_ack:
                self._send_raw(b"+")
            if ev[1] == b"QStartNoAckMode":
                self._no_ack = True
            self._packets.put(ev[1])
        elif kind == "interrupt":
            self.interrupt()
        elif kind == "bad" and not self._no_ack:
            self._send_raw(b"-")
        elif kind == "nak" and self._last_sent:
            self._send_raw(self._last_sent)

    def _send_raw(self, data):
        with self._send_lock:
            try:
                if self._sock is not None:
                    self._sock.sendall(data)
            except OSError:
                pass                      # the reader sees the connection go

    def _send(self, payload):
        if isinstance(payload, str):
            payload = payload.encode("latin-1")
        self._last_sent = frame(payload)
        self._send_raw(self._last_sent)

    # -- RunControl front end -------------------------------------------------------------------
    def stopped(self, event):
        if self._sock is None:
            if self._listener is None:
                return self.cont()
            self._accept()
        self._last_event = event
        self._g_vcpu = self._c_vcpu = event.vcpu
        if event.kind == "phase":
            sys.stderr.write("hvsim: gdb: stopped at %s\n" % event.describe())
        if self._awaiting_stop:
            self._awaiting_stop = False
            if event.kind == "phase":
                self._console("hvsim: stopped at %s\n" % event.describe())
            self._send(self._stop_reply(event))
        while True:
            pkt = self._packets.get()
            if pkt is None:
                self._gdb_gone()
                return
            try:
                reply = self._handle(pkt.decode("latin-1"))
            except _Resume:
                return
            if reply is not None:
                self._send(reply)

    def _gdb_gone(self):
        sys.stderr.write("hvsim: gdb disconnected; the guests run on\n")
        self.close()
        self.detach()

    def _stop_reply(self, ev):
        sig = SIGINT if ev.kind == "interrupt" else SIGTRAP
        out = "T%02x" % sig
        if ev.kind == "watch" and ev.watch is not None:
            kind, addr = ev.watch
            out += "%s:%x;" % (_WATCH_REPLY[kind], addr)
        elif ev.kind == "breakpoint":
            types = self._bp_types.get(ev.vcpu.arch.linear_rip(), {0})
            out += "swbreak:;" if 0 in types else "hwbreak:;"
        return out + "thread:%x;" % thread_id(ev.vcpu)

    # -- packets -----------------------------------------------------------------------------------
    def _handle(self, s):
        """Reply to one packet (None: no reply); raises _Resume when the
        machine should run again."""
        try:
            return self._dispatch(s)
        except (ValueError, IndexError, UcError, RegisterError):
            return "E%02x" % EINVAL      # a malformed packet, or a value the CPU refuses

    def _dispatch(self, s):
        c = s[:1]
        if c in "qQv":
            return self._query(s)
        handler = {
            "?": lambda _: self._stop_reply(self._last_event),
            "g": self._read_all_registers, "G": self._write_all_registers,
            "p": self._read_register, "P": self._write_register,
            "m": self._read_memory, "M": self._write_memory, "X": self._write_binary,
            "Z": self._insert, "z": self._remove,
            "c": self._resume, "C": self._resume, "s": self._resume, "S": self._resume,
            "H": self._set_thread, "T": self._thread_alive,
            "D": self._detach, "k": self._kill,
        }.get(c)
        if handler is None:
            return ""
        return handler(s[1:]) if c not in "cCsS" else handler(c, s[1:])

    def _query(self, s):
        name = re.split("[:,;]", s, 1)[0]
        arg = s[len(name) + 1:]
        if s.startswith("qXfer:features:read:"):
            return self._xfer_features(s[len("qXfer:features:read:"):])
        if s.startswith("qXfer:threads:read::"):
            return _xfer_chunk(threads_xml(self.vcpus()).encode(),
                               s[len("qXfer:threads:read::"):])
        if name == "qRcmd":
            return self._monitor(bytes.fromhex(arg).decode("utf-8", "replace"))
        if s.startswith("vCont"):
            return self._vcont(s)
        simple = {
            "qSupported": "PacketSize=%x;qXfer:features:read+;qXfer:threads:read+;"
                          "QStartNoAckMode+;swbreak+;hwbreak+;vContSupported+" % PACKET_SIZE,
            "qAttached": "1",
            "QStartNoAckMode": "OK",
            "qSymbol": "OK",
            "qfThreadInfo": "m" + ",".join("%x" % thread_id(v) for v in self.vcpus()),
            "qsThreadInfo": "l",
        }
        if name in simple:
            return simple[name]
        if name == "qC":
            return "QC%x" % thread_id(self._g_vcpu)
        if name == "qThreadExtraInfo":
            v = self._vcpu_by_tid(arg)
            return thread_state(v).encode().hex() if v is not None else "E01"
        if name == "vKill":
            self._send("OK")
            return self._kill("")
        return ""

    def _xfer_features(self, arg):
        annex, _, span = arg.partition(":")
        if annex != "target.xml":
            return "E00"
        return _xfer_chunk(self._xml, span)

    # -- monitor commands (qRcmd) ------------------------------------------------------------
    def _monitor(self, line):
        words = line.split()
        cmd, rest = (words[0], words[1:]) if words else ("help", [])
        try:
            if cmd == "stop-at":
                text = self._monitor_stop_at(rest)
            elif cmd == "break-domain" and len(rest) == 1:
                self.limit_breakpoints(None if rest[0] == "all" else parse_domid(rest[0]))
                text = "breakpoints and watchpoints in %s" % (
                    "every domain" if self.bp_domain is None else "d%d only" % self.bp_domain)
            elif cmd == "domains":
                text = "\n".join(self._domain_line(d) for d in self.hv.domains.values())
            elif cmd == "help":
                text = MONITOR_HELP % ", ".join(PHASES)
            else:
                text = "unknown monitor command %r; try: monitor help" % cmd
        except ConfigError as e:
            text = "error: %s" % e
        self._console(text.rstrip("\n") + "\n")
        return "OK"

    def _monitor_stop_at(self, words):
        if words == ["none"]:
            self.phase_stops.clear()
        elif words:
            domids = [parse_domid(w) for w in words[1:]] or [None]
            for domid in domids:
                self.phase_stops.add(words[0], domid)
        return self.phase_stops.describe()

    @staticmethod
    def _domain_line(d):
        state = "ended (%s)" % d.end_reason if d.finished else "paused" if d.paused else "running"
        return "d%d %-12s %d vCPU%s  %s" % (d.domid, d.name or "", len(d.vcpus),
                                           "" if len(d.vcpus) == 1 else "s", state)

    def _console(self, text):
        """Text for gdb's console: an 'O' packet (monitor output, or before a
        stop reply)."""
        self._send("O" + text.encode().hex())

    # -- threads ----------------------------------------------------------------------------------
    def _vcpu_by_tid(self, text):
        if text in ("0", "-1"):             # any thread, all threads
            return self._g_vcpu
        tid = parse_hex(text)
        for v in self.vcpus():
            if thread_id(v) == tid:
                return v
        return None

    def _set_thread(self, arg):
        op, tid = arg[:1], arg[1:]
        v = self._vcpu_by_tid(tid)
        if v is None:
            return "E01"
        if op == "g":
            self._g_vcpu = v
        else:
            self._c_vcpu = v
        return "OK"

    def _thread_alive(self, arg):
        return "OK" if self._vcpu_by_tid(arg) is not None else "E01"

    # -- registers ----------------------------------------------------------------------------------
    def _dbg(self):
        return self.arch_debug(self._g_vcpu)

    def _read_all_registers(self, _):
        dbg = self._dbg()
        return "".join(le_hex(dbg.read_register(r), r.size) for r in self.regs)

    def _write_all_registers(self, arg):
        data = bytes.fromhex(arg)
        dbg = self._dbg()
        pos = 0
        for r in self.regs:
            if pos + r.size > len(data):
                break
            value = int.from_bytes(data[pos:pos + r.size], "little")
            pos += r.size
            if value != dbg.read_register(r):
                dbg.write_register(r, value)
        return "OK"

    def _read_register(self, arg):
        n = parse_hex(arg)
        if n >= len(self.regs):
            return "E%02x" % EINVAL
        r = self.regs[n]
        return le_hex(self._dbg().read_register(r), r.size)

    def _write_register(self, arg):
        num, _, val = arg.partition("=")
        n = parse_hex(num)
        if n >= len(self.regs):
            return "E%02x" % EINVAL
        r = self.regs[n]
        self._dbg().write_register(r, int.from_bytes(bytes.fromhex(val)[:r.size], "little"))
        return "OK"

    # -- memory -------------------------------------------------------------------------------------
    def _read_memory(self, arg):
        addr, _, length = arg.partition(",")
        addr, length = parse_hex(addr), parse_hex(length)
        data = self._dbg().read_memory(addr, min(length, MAX_MEMORY_READ))
        if not data and length:
            return "E%02x" % EFAULT
        return hex_bytes(data)

    def _write_memory(self, arg):
        where, _, hexdata = arg.partition(":")
        return self._store(where, bytes.fromhex(hexdata))

    def _write_binary(self, arg):
        where, _, data = arg.partition(":")
        return self._store(where, unescape(data.encode("latin-1")))

    def _store(self, where, data):
        addr, _, length = where.partition(",")
        data = data[:parse_hex(length)]
        if data and not self._dbg().write_memory(parse_hex(addr), data):
            return "E%02x" % EFAULT
        for v in self._g_vcpu.domain.vcpus:          # guest code may have changed (X7)
            if v.arch is not None:
                v.arch.flush_code()
        return "OK"

    # -- breakpoints and watchpoints ----------------------------------------------------------
    def _z_args(self, arg):
        type_, addr, size = arg.split(";", 1)[0].split(",")
        return parse_hex(type_, 8), parse_hex(addr), parse_hex(size)

    def _insert(self, arg):
        type_, addr, size = self._z_args(arg)
        if type_ in (0, 1):
            self._bp_types.setdefault(addr, set()).add(type_)
            self.add_breakpoint(addr)
        elif type_ in _WATCH_TYPES:
            self.add_watchpoint(addr, max(size, 1), _WATCH_TYPES[type_])
        else:
            return ""
        return "OK"

    def _remove(self, arg):
        type_, addr, size = self._z_args(arg)
        if type_ in (0, 1):
            types = self._bp_types.get(addr, set())
            types.discard(type_)
            if not types:
                self._bp_types.pop(addr, None)
                self.remove_breakpoint(addr)
        elif type_ in _WATCH_TYPES:
            self.remove_watchpoint(addr, max(size, 1), _WATCH_TYPES[type_])
        else:
            return ""
        return "OK"

    # -- resuming ----------------------------------------------------------------------------------
    def _resume(self, op, arg):
        """c [addr], s [addr], C sig[;addr], S sig[;addr] (signals are ignored)."""
        addr = arg.partition(";")[2] if op in "CS" else arg
        if addr:
            self.arch_debug(self._c_vcpu).set_pc(parse_hex(addr))
        if op in "sS":
            self.step(self._c_vcpu)
        else:
            self.cont()
        self._resumed()

    def _vcont(self, s):
        if s == "vCont?":
            return "vCont;c;C;s;S"
        step_vcpu = None
        for action in s[len("vCont;"):].split(";"):
            op, _, tid = action.partition(":")
            if op[:1] in "sS":
                v = self._vcpu_by_tid(tid) if tid and tid != "-1" else self._c_vcpu
                step_vcpu = v if v is not None else self._c_vcpu
                break
            if op[:1] not in "cC":
                return "E%02x" % EINVAL
        if step_vcpu is not None:
            self.step(step_vcpu)
        else:
            self.cont()
        self._resumed()

    def _resumed(self):
        self._awaiting_stop = True
        raise _Resume()

    def _detach(self, _):
        self._send("OK")
        self.close()
        self.detach()
        raise _Resume()

    def _kill(self, _):
        sys.stderr.write("hvsim: gdb killed the run\n")
        self._ended = True
        self.close()
        raise StopRun()
