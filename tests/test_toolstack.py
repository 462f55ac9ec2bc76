"""The toolstack layer (hvsim/toolstack): libxl's set-up of a new domain,
backend event channels, the console backend (xenconsoled) and `xl console`.

* Unit tests on domains built from a real guest image but not run: the
  channels libxl sets up, what a backend's connect/notify/close does to the
  guest's port, the ring protocol's corner cases driven exactly as a guest
  drives them (bytes in the page, then EVTCHNOP_send).
* The pv-console guest (guests/tests/pv-console) checks the same from
  inside, in every environment, and reads lines typed at a pty.
* Real guests: XTF's example in every HVM environment, as domUs and in a
  hyperlaunch boot (the xtf_dir fixture: build/xtf, made by `make test`).
"""

import os
import pty
import re
import select
import subprocess
import time
import types

import pytest

import built

from test_guests import BUILD, ENVS, PYTHON, ROOT

from hvsim.abi import console as cio
from hvsim.abi import event_channel as ec
from hvsim.abi import hvm as h
from hvsim.abi.cstruct import X86_64
from hvsim.hv import evtchn
from hvsim.hv.console import CONSOLE_IO, PV_CONSOLE, ConsoleSink, DomainConsole

HVSIM_TIMEOUT = 60
RING = cio.xencons_interface.layout(X86_64)
PREFIX_RE = re.compile(r"\(d(\d+)\) (.*)")


def guest_elf(env="hvm64", name="example"):
    return BUILD / env / ("%s.elf" % name)


needs_guests = built.needs(guest_elf())


def hvsim(*args, stdin=subprocess.DEVNULL):
    proc = subprocess.run([PYTHON, "-m", "hvsim"] + [str(a) for a in args], cwd=ROOT,
                          stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=HVSIM_TIMEOUT * 2,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return proc.returncode, proc.stdout


# ---- a built, never-run domain -------------------------------------------------------
class Built:
    """A hypervisor with domains built by the PVH builder (and libxl), paused."""

    def __init__(self, ndomains=1):
        from hvsim.boot.pvh import DomainSpec, build_domain
        from hvsim.hv.hypervisor import Hypervisor
        self.lines = []
        self.sink = ConsoleSink(stream=None)
        self.sink.listeners.append(lambda d, text: self.lines.append((d.domid, text)))
        self.hv = Hypervisor(deterministic=True, console=self.sink)
        self.domains = [build_domain(self.hv, DomainSpec(i + 1, str(guest_elf()), 32 << 20))
                        for i in range(ndomains)]
        self.d = self.domains[0]

    @property
    def console_port(self):
        return self.d.hvm_params[h.HVM_PARAM_CONSOLE_EVTCHN]

    @property
    def ring_gpa(self):
        return self.d.hvm_params[h.HVM_PARAM_CONSOLE_PFN] << 12

    def ring(self):
        return self.d.physmap.view(self.ring_gpa, RING.size)

    def guest_send(self, port=None):
        """EVTCHNOP_send from the guest."""
        return evtchn.send(self.d, self.console_port if port is None else port)

    def guest_write(self, data, send=True):
        """What a guest's console driver does: bytes at out_prod, then the index."""
        ring = self.ring()
        cons, prod = RING.get(ring, "out_cons", "out_prod")
        for b in data:
            ring[RING.offset("out") + (prod & 2047)] = b
            prod = (prod + 1) & 0xFFFFFFFF
        RING.put(ring, out_prod=prod)
        if send:
            assert self.guest_send() == 0

    def status(self, port):
        """EVTCHNOP_status(DOMID_SELF, port) as the guest sees it."""
        lay = ec.evtchn_status.layout(X86_64)
        buf = bytearray(lay.size)
        assert evtchn.status(self.d.vcpus[0], 0x7FF0, port, lay, buf) == 0
        return lay.get(buf, "status", "u.interdomain.dom", "u.interdomain.port")

    def pending(self, port):
        return self.d.evtchn.abi.is_pending(self.d.evtchn.channel(port))

    def clear_pending(self, port):
        self.d.evtchn.abi.clear_pending(self.d.evtchn.channel(port))

    def pv_lines(self):
        return self.hv.toolstack.xenconsoled.console(self.d.domid).output.transcript


@needs_guests
def test_libxl_channels_are_interdomain_to_the_backend():
    b = Built()
    d = b.d
    assert d.hvm_params[h.HVM_PARAM_STORE_PFN] == h.special_pfn(h.SPECIALPAGE_XENSTORE)
    assert d.hvm_params[h.HVM_PARAM_CONSOLE_PFN] == h.special_pfn(h.SPECIALPAGE_CONSOLE)
    assert (d.hvm_params[h.HVM_PARAM_STORE_EVTCHN], b.console_port) == (1, 2)
    # xenstore: offered to dom0, bound by the built-in xenstored (XS_INTRODUCE)
    status, dom, port = b.status(1)
    assert (status, dom) == (ec.EVTCHNSTAT_interdomain, 0) and port >= 1
    assert ts_xenstored(b).domains[d.domid].domid == d.domid
    # console: xenconsoled bound it; the guest sees an interdomain channel
    status, dom, port = b.status(b.console_port)
    assert (status, dom) == (ec.EVTCHNSTAT_interdomain, 0) and port >= 1
    assert not b.pending(b.console_port)        # connecting notified the backend only


def ts_xenstored(b):
    from hvsim.toolstack import toolstack_of
    return toolstack_of(b.hv).xenstored


@needs_guests
def test_backend_connect_notify_close():
    from hvsim.toolstack import toolstack_of
    from hvsim.toolstack.backend import BackendError
    b = Built(2)
    ts = toolstack_of(b.hv)
    calls = []

    class Backend:
        def on_notify(self):
            calls.append(1)
    # ports offered to dom0 that no built-in backend has bound (xenstored and
    # xenconsoled hold the store and console ports)
    store_port = evtchn.alloc_unbound_port(b.d, 0)
    other_port = evtchn.alloc_unbound_port(b.domains[1], 0)
    chan = ts.connect_backend(b.d, store_port, Backend().on_notify)
    assert calls == [1]                          # the pending replay of Xen's bind
    assert chan.connected and chan.backend.domid == 0
    status, dom, port = b.status(store_port)
    assert (status, dom, port) == (ec.EVTCHNSTAT_interdomain, 0, chan.local_port)
    assert b.guest_send(store_port) == 0 and calls == [1, 1]
    chan.notify()
    assert b.pending(store_port)
    # the two domains' backends share dom0's backend table, ports are distinct
    other = b.domains[1]
    chan2 = ts.connect_backend(other, other_port, Backend().on_notify)
    assert calls == [1, 1, 1]
    assert chan2.local_port not in (chan.local_port,
                                    ts.xenconsoled.console(1).channel.local_port)
    # a port that is not unbound (or not offered to the backend) is refused
    with pytest.raises(BackendError) as e:
        ts.connect_backend(b.d, store_port, Backend().on_notify)
    assert e.value.errno == -22
    # the backend lets go: the guest's port is unbound again, offered to dom0
    chan.close()
    assert b.d.evtchn.channel(store_port).state == evtchn.ECS_UNBOUND
    assert b.d.evtchn.channel(store_port).remote_domid == 0
    assert b.guest_send(store_port) == 0 and calls == [1, 1, 1]
    # the guest closes its end: the backend's notify is dropped, no error
    assert evtchn.close(other, other_port) == 0
    assert not chan2.connected
    chan2.notify()


@needs_guests
def test_destroyed_domain_releases_its_backend_ports():
    b = Built()
    con = b.hv.toolstack.xenconsoled.console(b.d.domid)
    b.guest_write(b"last words", send=True)      # no newline yet
    b.d.kill()
    backend = con.channel.backend.evtchn.channel(con.channel.local_port)
    assert backend.state == evtchn.ECS_FREE
    assert con.output.transcript == ["last words"]


@needs_guests
def test_hyperlaunch_backends_leave_a_real_dom0_alone():
    """demo3: d0 is a real domain with CONTROL|XENSTORE, the backend of the
    others.  The built-in backends' ports live in their own table: d0's own
    event channels are only its own (xenstore, console, the static one)."""
    from hvsim.boot import launch, lcm
    from hvsim.hv.hypervisor import Hypervisor
    plan, _ = lcm.boot_plan(str(ROOT / "firmware" / "demo3" / "boot.cfg"))
    hv = Hypervisor(console=ConsoleSink(stream=None))
    launch.build_plan(hv, plan)
    d0 = hv.domains[0]
    used = {p for p, c in d0.evtchn.channels.items() if c.state > evtchn.ECS_RESERVED}
    assert used == {1, 2, 10}
    for d in hv.domains.values():
        chn = d.evtchn.channel(d.hvm_params[h.HVM_PARAM_CONSOLE_EVTCHN])
        assert chn.state == evtchn.ECS_INTERDOMAIN and chn.remote_dom is not d0
        assert chn.remote_dom.domid == 0


# ---- the ring protocol ---------------------------------------------------------------
@needs_guests
def test_out_ring_consumed_on_notify_only_then_guest_notified():
    b = Built()
    b.guest_write(b"not yet\n", send=False)
    assert RING.get(b.ring(), "out_cons") == 0 and b.pv_lines() == []
    b.clear_pending(b.console_port)
    assert b.guest_send() == 0
    assert RING.get(b.ring(), "out_cons") == 8
    assert b.pv_lines() == ["not yet"]
    assert b.pending(b.console_port)             # notify after consuming


@needs_guests
def test_ring_wrap_and_u32_index_wrap():
    b = Built()
    ring = b.ring()
    start = 0xFFFFFFFF - 1000                    # the data wraps the ring and the index
    RING.put(ring, out_cons=start, out_prod=start)
    text = b"".join(b"line %04d %s\n" % (i, b"x" * 40) for i in range(40))   # 2160 bytes
    first, rest = text[:2000], text[2000:]
    b.guest_write(first)
    b.guest_write(rest)
    assert RING.get(b.ring(), "out_cons") == (start + len(text)) & 0xFFFFFFFF
    assert b.pv_lines() == ["line %04d %s" % (i, "x" * 40) for i in range(40)]


@needs_guests
def test_full_ring_is_taken_whole_and_a_corrupt_one_ignored():
    b = Built()
    b.guest_write(b"a" * 2047 + b"\n", send=False)  # prod - cons == sizeof(out)
    assert b.guest_send() == 0
    assert RING.get(b.ring(), "out_cons") == 2048 and b.pv_lines() == ["a" * 255, ] + \
        ["a" * 255] * 7 + ["a" * 7]               # Xen's console line length, as console_io
    ring = b.ring()
    RING.put(ring, out_prod=2048 + 2049)          # more than the ring holds: corrupt
    b.clear_pending(b.console_port)
    assert b.guest_send() == 0
    assert RING.get(ring, "out_cons") == 2048     # ignored, as xenconsoled does
    assert not b.pending(b.console_port)


@needs_guests
def test_in_ring_input_waits_for_room():
    b = Built()
    con = b.hv.toolstack.xenconsoled.console(b.d.domid)
    b.clear_pending(b.console_port)
    con.type_input(b"x" * 1000 + b"y" * 100)
    ring = b.ring()
    assert RING.get(ring, "in_cons", "in_prod") == (0, 1024)
    assert bytes(ring[:1024]) == b"x" * 1000 + b"y" * 24
    assert b.pending(b.console_port)
    RING.put(ring, in_cons=1000)                  # the guest read 1000 bytes
    b.guest_send()                                # and told the backend
    assert RING.get(ring, "in_prod") == 1100
    assert bytes(ring[1024 - 24 - 1000 + 1000:1024]) == b"y" * 24
    assert bytes(ring[:76]) == b"y" * 76          # wrapped to the ring's start


def test_each_line_shown_once():
    """The host console shows a line written to both consoles once, in
    order; lines only one console carries are all shown."""
    out = []

    class D:
        domid = 1
    sink = ConsoleSink(stream=None)
    sink.listeners.append(lambda d, text: out.append(text))
    for src, text in [(CONSOLE_IO, "A"), (PV_CONSOLE, "A"), (CONSOLE_IO, "B"),
                      (CONSOLE_IO, "early only"), (PV_CONSOLE, "B"), (PV_CONSOLE, "ring only"),
                      (CONSOLE_IO, ""), (PV_CONSOLE, ""), (PV_CONSOLE, "B"),
                      (CONSOLE_IO, "B")]:
        sink.line(D, text, src)
    assert out == ["A", "B", "early only", "ring only", "", "B"]


def test_unfinished_line_shown_at_once_and_finished_once():
    """A prompt on the attached console shows before its line completes; the
    line then completes in place, whichever console of the domain ends it."""
    import io

    class D:
        def __init__(self, domid):
            self.domid = domid
    d1, d2 = D(1), D(2)
    stream = io.StringIO()
    sink = ConsoleSink(stream=stream)
    sink.partial(d1, "login: ", PV_CONSOLE)
    assert stream.getvalue() == "(d1) login: "
    sink.partial(d1, "login: ro", PV_CONSOLE)
    sink.line(d1, "login: root", CONSOLE_IO)       # console_io's copy ends it
    sink.line(d1, "login: root", PV_CONSOLE)       # the ring's copy: shown already
    sink.partial(d1, "Password: ", PV_CONSOLE)
    sink.line(d2, "another domain", CONSOLE_IO)    # breaks the unfinished line
    sink.line(d1, "Password: ", PV_CONSOLE)        # shown whole when it completes
    sink.xen_line("done")
    assert stream.getvalue() == ("(d1) login: root\n(d1) Password: \n(d2) another domain\n"
                                 "(d1) Password: \n(XEN) done\n")


def test_pv_console_lines_leave_out_escape_sequences():
    """A shell's cursor query and redraws (ESC [ 6 n, ESC [ K, ESC 7) are not
    part of the PV console's lines, as a terminal does not print them;
    console_io keeps Xen's rule (only the ESC byte is dropped)."""
    import io
    d = types.SimpleNamespace(domid=1)
    stream = io.StringIO()
    sink = ConsoleSink(stream=stream, prefix_domains=False)
    pv, cio_ = DomainConsole(d, sink, PV_CONSOLE), DomainConsole(d, sink, CONSOLE_IO)
    pv.write(b"hvsim# \x1b[6nls\x1b[K\x1b7 -l\x1b[1;32mgreen\x1b[0m\n\x1b[12")
    pv.write(b";3Hdone\n")
    cio_.write(b"xen \x1b[6n\n")
    assert pv.transcript == ["hvsim# ls -lgreen", "done"]
    assert stream.getvalue() == "hvsim# ls -lgreen\ndone\nxen [6n\n"


def test_raw_console_bytes_go_out_as_they_come():
    """A console in raw mode (attached, interactive) is written byte for byte,
    after the prompt partial() showed, with (dN) at each line's start; its
    lines still reach the transcript and count as shown."""
    import io
    d1, d2 = types.SimpleNamespace(domid=1), types.SimpleNamespace(domid=2)
    stream = io.StringIO()
    sink = ConsoleSink(stream=stream)
    pv = DomainConsole(d1, sink, PV_CONSOLE)
    pv.write(b"# ")
    sink.partial(d1, "# ", PV_CONSOLE)
    pv.raw = True
    pv.write(b"l\x08\x1b[K")
    pv.write(b"ls\r\nbin  dev\r\n# ")
    sink.line(d2, "elsewhere", CONSOLE_IO)
    pv.write(b"\x1b[6n")
    assert stream.getvalue() == ("(d1) # l\x08\x1b[Kls\r\n(d1) bin  dev\r\n(d1) # \n"
                                 "(d2) elsewhere\n(d1) \x1b[6n")
    assert pv.transcript == ["# ls", "bin  dev"]
    sink.line(d1, "bin  dev", CONSOLE_IO)          # console_io's copy: shown already
    assert stream.getvalue().endswith("\x1b[6n")


# ---- the pv-console guest ------------------------------------------------------------
def pv_console_lines(out):
    return [l for l in out.splitlines() if l.startswith("pv-console:")]


@pytest.mark.parametrize("env", ENVS)
def test_pv_console_guest(env):
    elf = guest_elf(env, "pv-console")
    built.need(elf)
    rc, out = hvsim("run", "--deterministic", "--timeout", HVSIM_TIMEOUT, elf)
    assert rc == 0, out
    lines = out.splitlines()
    assert lines[-1] == "Test result: SUCCESS", out
    assert lines.count("Test result: SUCCESS") == 1, out
    assert re.search(r"^Checks: (\d+) run, 0 failed$", out, re.M), out
    pv = pv_console_lines(out)
    assert len(pv) == len(set(pv)), "a line shown twice:\n" + out
    for tag, n in (("full ring", 16), ("long write", 24), ("u32 wrap", 16)):
        assert sum(tag in l for l in pv) == n, out
    assert re.search(r"^pv-console: port 2, interdomain to d0 port \d+$", out, re.M), out


def test_snapshot_keeps_the_pv_console(tmp_path):
    """--deterministic: [run to a snapshot] + [resume] prints what one run
    prints: the toolstack (backend channels, xenconsoled) is saved with the
    hypervisor and serves the ring after the resume."""
    elf = guest_elf("hvm64", "pv-console")
    built.need(elf)
    snap = tmp_path / "pv.hvsnap"

    def stdout(*args):
        proc = subprocess.run([PYTHON, "-m", "hvsim"] + [str(a) for a in args], cwd=ROOT,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=HVSIM_TIMEOUT * 2,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout
    whole = stdout("run", "--deterministic", elf)
    before = stdout("run", "--deterministic", "--snapshot-at", "3000insn",
                    "--snapshot-file", snap, elf)
    after = stdout("resume", snap)
    assert "Test result: SUCCESS" not in before and before       # cut before the ring work
    assert before + after == whole


@needs_guests
def test_two_domains_each_console_once():

    elf = guest_elf("hvm64", "pv-console")
    built.need(elf)
    rc, out = hvsim("run", "--deterministic", elf, guest_elf("hvm32", "example"))
    assert rc == 0, out
    by_dom = {1: [], 2: []}
    for line in out.splitlines():
        m = PREFIX_RE.fullmatch(line)
        if m:
            by_dom[int(m.group(1))].append(m.group(2))
    for domid, lines in by_dom.items():
        assert lines.count("--- Xen Test Framework ---") == 1, out
        assert lines.count("Test result: SUCCESS") == 1, out
    assert len(pv_console_lines("\n".join(by_dom[1]))) == 2 + 16 + 24 + 16
    assert by_dom[2].count("Hello World") == 1


def read_until(fd, buf, pattern, seconds=30):
    end = time.monotonic() + seconds
    while pattern not in buf and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
    return buf


def test_typed_line_reaches_the_attached_domain_and_ctrl_bracket_detaches():
    elf = guest_elf("hvm64", "pv-console")
    built.need(elf)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [PYTHON, "-m", "hvsim", "run", "--timeout", str(HVSIM_TIMEOUT), "--cmdline",
         "echo=2 nap=400",
         "--console", "d2", str(guest_elf("hvm64", "example")), str(elf)],
        cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    os.close(slave)
    try:
        buf = read_until(master, b"", b"(d2) pv-console: type a line> ")
        assert buf.endswith(b"(d2) pv-console: type a line> "), buf.decode()  # the prompt
        os.write(master, b"hello, d2\r")
        buf = read_until(master, buf, b'read "hello, d2"\r\n')
        typed = time.monotonic()
        assert b'(d2) pv-console: type a line> hello, d2\r\n' \
               b'(d2) pv-console: read "hello, d2"\r\n' in buf, buf.decode()
        buf = read_until(master, buf, b"napped 400 ms")
        # once the user typed, an idle run keeps the wall clock's pace
        assert b"napped 400 ms" in buf and time.monotonic() - typed >= 0.3, buf.decode()
        buf = read_until(master, buf, b"napped 400 ms\r\n(d2) pv-console: type a line> ")
        os.write(master, b"\x1d")                          # Ctrl-]
        assert proc.wait(HVSIM_TIMEOUT) == 6               # d2 waits forever for its line
        buf = read_until(master, buf, b"can never run again", 5)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = buf.decode()
    assert "hvsim: detached from d2's console" in text, text
    assert "(XEN) d2 can never run again" in text, text


def test_no_input_without_a_terminal():
    elf = guest_elf("hvm64", "pv-console")
    built.need(elf)
    rc, out = hvsim("run", "--cmdline", "echo=1", elf)
    assert rc == 6 and "d1 can never run again" in out, out
    rc, out = hvsim("run", "--console", "d7", elf)
    assert rc == 2 and "--console d7: no such domain" in out, out


# ---- real guests: XTF ----------------------------------------------------------------
def xtf_image(xtf_dir, env, name="example"):
    image = xtf_dir / "tests" / name / ("test-%s-%s" % (env, name))
    built.need(image, how="make xtf")
    return image


@pytest.mark.parametrize("env", ENVS)
def test_xtf_example_as_domu(xtf_dir, env):
    rc, out = hvsim("run", "--timeout", HVSIM_TIMEOUT, xtf_image(xtf_dir, env))
    assert rc == 0, out
    assert out.splitlines() == ["--- Xen Test Framework ---",
                                "Environment: %s" % XTF_ENV_NAMES[env],
                                "Hello World", "Test result: SUCCESS"], out


XTF_ENV_NAMES = {"hvm32": "HVM 32bit (No paging)", "hvm32pse": "HVM 32bit (PSE 2 levels)",
                 "hvm32pae": "HVM 32bit (PAE 3 levels)",
                 "hvm64": "HVM 64bit (Long mode 4 levels)"}


def test_xtf_example_in_a_hyperlaunch_boot(xtf_dir, tmp_path):
    """dom0less: two domUs with the XTF example, each console shown once."""
    images = [xtf_image(xtf_dir, "hvm64"), xtf_image(xtf_dir, "hvm32pae")]
    lcm = ROOT / "firmware" / "build" / "dom0less" / "lcm.dtb"
    built.need(lcm, how=built.MAKE_FIRMWARE)
    cfg = tmp_path / "boot.cfg"
    cfg.write_text("menuentry \"xtf\" {\n    multiboot2 /boot/xen.gz\n    module2 %s\n%s}\n"
                   % (lcm, "".join("    module2 %s\n" % i for i in images)))
    rc, out = hvsim("boot", "--deterministic", cfg)
    assert rc == 0, out
    for domid, env in ((1, "hvm64"), (2, "hvm32pae")):
        lines = [m.group(2) for m in map(PREFIX_RE.fullmatch, out.splitlines())
                 if m and m.group(1) == str(domid)]
        assert lines == ["--- Xen Test Framework ---", "Environment: %s" % XTF_ENV_NAMES[env],
                         "Hello World", "Test result: SUCCESS"], out
