"""Host-input fuzzing of the gdb stub (hvsim/debug/gdbstub.py): packets from
a hostile client.  Every packet gets a protocol answer (a reply, an error
Enn, or the empty reply for an unknown packet) or resumes/ends the run as
the protocol says; nothing raises out of the stub.  In process (the packet
layer and the packet handler against a real domain, many inputs) and over
a real socket (`hvsim run --gdb`, the same kind of packets, the stub still
answering and the run ending cleanly afterwards)."""

import pathlib
import socket

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import built
from hostfuzz import clean, corpus, fuzz_settings, time_limit
from test_gdbstub import Client, Hvsim, start  # noqa: F401  (start: a fixture)
from test_hostfuzz_boot import ELF_SEEDS

from hvsim.boot import pvh
from hvsim.arch.x86.debug import TARGET_64
from hvsim.debug import gdbstub as g
from hvsim.debug.control import StopEvent, StopRun
from hvsim.hv.console import ConsoleSink
from hvsim.hv.hypervisor import Hypervisor

ROOT = pathlib.Path(__file__).resolve().parents[1]

# numbers as a hostile client writes them
HEX = st.one_of(st.sampled_from(["", "0", "-1", "1_0", " 1", "+1", "0x10", "ffffffffffffffff",
                                 "10000000000000000", "f" * 40, "3e9", "100000", "zz", "1.5"]),
                st.integers(0, (1 << 64) + 5).map("%x".__mod__))
SEP = st.sampled_from([",", ":", ";", "=", "", ",,", "::"])
COMMANDS = ["?", "g", "G", "p", "P", "m", "M", "X", "Z0", "Z1", "Z2", "Z3", "Z4", "Z9", "z0",
            "z2", "z5", "H", "Hg", "Hc", "T", "qC", "qfThreadInfo", "qsThreadInfo",
            "qThreadExtraInfo,", "qXfer:features:read:target.xml:",
            "qXfer:features:read:other.xml:", "qXfer:features:read:", "qSupported:",
            "qAttached", "qSymbol::", "QStartNoAckMode", "vCont?", "vCont;", "vCont;s:",
            "vCont;c:", "vCont;x", "vKill;", "qRcmd,", "vMustReplyEmpty", "D", "k", "c", "s",
            "C", "S", "!", "A", "R", "i", "b", "B", "bc", "t", "F"]


# the commands that neither resume nor end the run (c, s, D, k, vCont, vKill do)
STAYING = [c for c in COMMANDS if c[:1] not in "cCsSDk" and not c.startswith(("vCont;",
                                                                               "vKill"))]


@st.composite
def packet(draw, commands=COMMANDS):
    """A command letter or name, then numbers and separators as gdb writes
    them (or almost), sometimes binary bytes."""
    out = draw(st.sampled_from(commands))
    for _ in range(draw(st.integers(0, 4))):
        out += draw(HEX) + draw(SEP)
    if draw(st.booleans()):
        out += draw(st.binary(max_size=12)).decode("latin-1")
    return out


class Stub:
    """A GdbServer stopped at a real PVH domain's first instruction, as
    `hvsim run --gdb` leaves it before gdb's first packet (no socket: the
    replies go nowhere; _handle's return value is the reply)."""

    def __init__(self, data):
        hv = Hypervisor(console=ConsoleSink(stream=None))
        d = pvh.build_domain(hv, pvh.DomainSpec(1, "fuzz.elf", 16 << 20, kernel_data=data))
        self.server = g.GdbServer(hv, ("127.0.0.1", 0))
        self.server.set_arch(TARGET_64)
        self.server.attach()
        ev = StopEvent("start", d.vcpus[0])
        self.server._last_event = ev
        self.server._g_vcpu = self.server._c_vcpu = ev.vcpu

    def handle(self, pkt):
        """The reply to one packet: a str, or 'resumed' / 'killed'."""
        try:
            reply = self.server._handle(pkt)
        except g._Resume:
            return "resumed"
        except StopRun:
            return "killed"
        assert reply is None or isinstance(reply, str), reply
        if reply is not None:
            g.frame(reply.encode("latin-1"))         # a reply the stub can send
        return reply


@pytest.fixture(scope="module")
def stub():
    return Stub(ELF_SEEDS[0])


def handle_all(stub):
    def run(packets):
        return [stub.handle(p) for p in packets]
    return run


def corpus_packets(path):
    """A corpus file: one packet per line (latin-1, \\n-separated)."""
    return path.read_bytes().decode("latin-1").split("\n")


@pytest.mark.parametrize("path", corpus("gdb"))
def test_gdb_corpus(stub, path):
    clean("gdb", handle_all(stub), corpus_packets(path), None)


@fuzz_settings(800)
@given(st.lists(packet(), min_size=1, max_size=8))
def test_fuzz_gdb_packets(stub, packets):
    clean("gdb", handle_all(stub), packets, None)


@fuzz_settings(200)
@given(packet())
def test_fuzz_gdb_framing(p):
    """A framed packet comes out of the packet layer whole, checksum accepted."""
    raw = p.encode("latin-1")
    assert g.PacketReader().feed(g.frame(raw)) == [("packet", g.escape(raw))]


@fuzz_settings(200)
@given(st.lists(st.one_of(st.binary(max_size=24), packet().map(
    lambda p: g.frame(p.encode("latin-1"))), st.sampled_from(
        [b"$", b"#", b"}", b"*", b"\x03", b"+", b"-", b"$#", b"$a*", b"$}#00", b"#zz"])),
    max_size=12))
def test_fuzz_gdb_stream(chunks):
    """The packet layer: any byte stream splits into events; a complete
    framed packet comes out whole."""
    reader = g.PacketReader()
    with time_limit():
        for c in chunks:
            for ev in reader.feed(c):
                assert ev[0] in ("packet", "bad", "interrupt", "ack", "nak")


# ---- over a real socket ---------------------------------------------------------------------------
class Raw(Client):
    def ask_raw(self, payload):
        """Send one packet; its reply (the socket times out rather than hang)."""
        self.send(payload)
        return self.reply()


@settings(fuzz_settings(1), phases=[Phase.generate])     # no shrinking: each try is a run
@given(st.lists(packet(STAYING), min_size=60, max_size=60))
def test_fuzz_gdb_over_a_socket(start, packets):   # noqa: F811  (start: the fixture)
    """60 hostile packets (the resuming and ending ones left out), 200 KB of
    noise and a packet that never ends, then the stub still answers and the
    run ends as gdb's k asks, with no traceback."""
    h = start(built.guest("hvm64"))
    c = Raw(h.port)
    c.sock.settimeout(20)                 # a loaded machine; a hang still ends the test
    for p in packets:
        try:
            reply = c.ask_raw(p.encode("latin-1"))
        except socket.timeout:
            pytest.fail("no reply to %r" % p)
        assert reply == "" or reply.isprintable() or reply.startswith(("T", "m", "l", "E")), \
            (p, reply)
    c.sock.sendall(b"x" * 200000 + b"$" + b"A" * 70000)     # noise, a packet with no end
    assert c.ask("?").startswith("T05thread:3e9;")
    c.sock.sendall(b"$k#6b")
    rc, _, err = h.finish()
    assert rc == 6 and "Traceback" not in err, err


def test_numbers_python_takes_but_gdb_does_not_write_are_errors(stub):
    """Regressions: an empty number raised out of the stub (a traceback);
    '-1', '1_0', ' 1', '+1' and numbers wider than 64 bits went to int()."""
    for p in ("qThreadExtraInfo,", "qXfer:features:read:target.xml:", "m-1,4", "m1_0,4",
              "m 10,4", "Z0,+10,1", "m10000000000000000,1", "p 10"):
        assert stub.handle(p) == "E16", p
    assert stub.handle("Hc-1") == "OK" and stub.handle("Hg0") == "OK"
    for bad in (b"$?#+0", b"$?# 3f", b"$?#3_f"):
        assert g.PacketReader().feed(bad)[0][0] == "bad"


def test_hostile_streams_are_bounded():
    """A '$' never followed by '#' is dropped past MAX_PACKET_BYTES rather than
    buffered for ever; megabytes of noise are skipped in one pass (they were
    deleted a byte at a time from the front of the buffer: quadratic)."""
    r = g.PacketReader()
    with time_limit(5):
        events = []
        for _ in range(64):
            events += r.feed(b"$" + b"A" * 65535)
        assert ("bad", b"") in events and len(r._buf) <= g.MAX_PACKET_BYTES + 65536
        assert r.feed(b"#00" + g.frame(b"?")) [-1] == ("packet", b"?")
        noise = (b"x" * 65535 + b"+") * 64
        assert r.feed(noise) == [("ack",)] * 64 and not r._buf
    assert r.feed(b"\x03-" + g.frame(b"g")) == [("interrupt",), ("nak",), ("packet", b"g")]
