"""gdb on a whole host boot (`hvsim boot --gdb`), driven by stock gdb in
batch mode: every vCPU of every domain a named thread, registers and memory
of the selected thread's domain, a breakpoint limited to one domain's
thread, boot-phase stops (`monitor stop-at`), all-stop consistency; on
firmware/demo3 (three domains, four vCPUs) and on an LCM of XTF tests."""

import re
import subprocess

import pytest

import built
import xtfutil
from test_gdbstub import GDB, ROOT, TIMEOUT, needs_gdb, start  # noqa: F401 (a fixture)

DEMO3 = ROOT / "firmware" / "demo3"
LAUNCH_DEMO = built.GUESTS / "hvm64" / "launch-demo.elf"


@pytest.fixture
def boot(start):
    """`hvsim boot --gdb 127.0.0.1:0 SCENARIO` in the background; .hints: the
    banner's other lines."""
    def _boot(scenario, *extra):
        b = start(scenario, *extra, command="boot")
        b.hints = ""
        while "`monitor help`" not in b.hints:
            line = b.proc.stderr.readline().decode()
            assert line, b.hints
            b.hints += line
        return b
    return _boot


def gdb(elf, port, *commands, arch=None, program=None):
    """Stock gdb (or `program`, e.g. gdb-multiarch) in batch mode against the stub."""
    args = [program or GDB, "-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off"]
    if arch:
        args += ["-ex", "set architecture " + arch]
    args += ["-ex", "target remote 127.0.0.1:%d" % port]
    for c in commands:
        args += ["-ex", c]
    r = subprocess.run(args + [str(elf)], cwd=ROOT, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT * 2)
    out = r.stdout
    assert "internal-error" not in out and "Remote connection closed" not in out, out
    return out


def threads(out):
    """The rows of the last `info threads`: gdb number -> (name, state)."""
    block = out.rsplit("Target Id", 1)[1]
    return {int(n): (name, state) for n, name, state in
            re.findall(r"^\*?\s+(\d+)\s+Thread \d+ \"(d\d+v\d+)\" \(([^)]*)\)", block, re.M)}


@needs_gdb
@built.needs(LAUNCH_DEMO, built.FIRMWARE / "demo3" / "lcm.dtb", how=built.MAKE_FIRMWARE)
def test_demo3_threads_memory_and_a_domain_breakpoint(boot):
    b = boot(DEMO3)
    # the banner: threads and symbol files per domain
    assert "d0 (ctl): threads d0v0; symbols: add-symbol-file " \
        "guests/build/hvm64/launch-demo.elf" in b.hints, b.hints
    assert "d1 (hw): threads d1v0 d1v1;" in b.hints, b.hints
    out = gdb(LAUNCH_DEMO, b.port,
              "info threads",
              "monitor stop-at first-hypercall d2", "continue", "info threads",
              "thread 4", "x/s pvh_start_info->cmdline_paddr",
              "thread 1", "x/s pvh_start_info->cmdline_paddr", "p/x $cr3",
              "monitor stop-at none",
              # xtf_exit in d0v0 only: d2 (the guest) gets there first and
              # gdb lets it pass
              "break xtf_exit thread 1", "continue", "info threads", "p $_thread",
              "delete", "continue")
    first = threads(out.split("stopping at:")[0])
    assert first == {1: ("d0v0", "paused"), 2: ("d1v0", "paused"), 3: ("d1v1", "paused"),
                     4: ("d2v0", "paused")}, out
    # the phase stop: named, on d2's thread, every other vCPU stopped too
    assert "hvsim: stopped at d2 first-hypercall: console_io(CONSOLEIO_write" in out, out
    assert 'Thread 4 "d2v0" received signal SIGTRAP' in out, out
    # memory of the selected thread's domain: each domain's own command line
    assert re.search(r'0x[0-9a-f]+:\s+"role=guest"', out), out
    assert re.search(r'0x[0-9a-f]+:\s+"role=control guest=2 port=10"', out), out
    # the domain-limited breakpoint stopped d0, after d2 had passed it and ended
    assert 'Thread 1 "d0v0" hit Breakpoint 1, xtf_exit ()' in out, out
    assert "Thread 4" not in out.split("Breakpoint 1 at")[1].split("hit Breakpoint")[0], out
    last = threads(out)
    assert last[4] == ("d2v0", "domain ended"), out
    assert "exited normally" in out, out
    rc, console, err = b.finish()
    assert rc == 0, err
    assert re.search(r"^d2\s+guest .* SUCCESS", err, re.M), err


@needs_gdb
@built.needs(LAUNCH_DEMO, built.FIRMWARE / "demo3" / "lcm.dtb", how=built.MAKE_FIRMWARE)
def test_demo3_boot_phases_in_order(boot):
    """Each phase stops the machine once per domain, in boot order: the
    domains are unpaused one at a time in LCM order; d1 stops before its
    first instruction (at the PVH entry); d2's shutdown."""
    b = boot(DEMO3)
    out = gdb(LAUNCH_DEMO, b.port,
              "monitor stop-at unpaused", "continue", "continue", "continue",
              "monitor stop-at none", "monitor stop-at first-instruction d1",
              "monitor stop-at shutdown d2", "monitor stop-at", "continue", "p $pc == _start",
              "info threads", "continue", "continue")
    stops = re.findall(r"hvsim: stopped at (d\d [a-z-]+)", out)
    assert stops == ["d0 unpaused", "d1 unpaused", "d2 unpaused", "d1 first-instruction",
                     "d2 shutdown"], out
    assert "stopping at: first-instruction of d1, shutdown of d2" in out, out
    assert "$1 = 1" in out, out
    assert "hvsim: stopped at d2 shutdown: poweroff" in out, out
    assert "exited normally" in out, out
    rc, _, err = b.finish()
    assert rc == 0, err


@needs_gdb
@built.needs(LAUNCH_DEMO, built.FIRMWARE / "demo3" / "lcm.dtb", how=built.MAKE_FIRMWARE)
def test_monitor_errors_are_one_line(boot):
    b = boot(DEMO3)
    out = gdb(LAUNCH_DEMO, b.port, "monitor stop-at lunch", "monitor stop-at unpaused x",
              "monitor frobnicate", "monitor help", "monitor domains", "kill")
    assert "error: lunch: not a boot phase (choose from built, unpaused" in out, out
    assert "error: 'x': name a domain as dN" in out, out
    assert "unknown monitor command 'frobnicate'" in out, out
    assert "break LOCATION thread N" in out, out
    assert re.search(r"^d1 hw\s+2 vCPUs\s+paused", out, re.M), out
    rc, _, _ = b.finish()
    assert rc == 130 or rc == 6


# ---- an LCM of XTF tests --------------------------------------------------------------------------
XTF_LCM = """/dts-v1/;
/ {
    chosen {
        domU1 {
            compatible = "xen,domain";
            cpus = <1>;
            memory = <0x0 0x8000>;
            kernel { compatible = "multiboot,kernel", "multiboot,module"; module-index = <1>; };
        };
        domU2 {
            compatible = "xen,domain";
            cpus = <1>;
            memory = <0x0 0x8000>;
            kernel { compatible = "multiboot,kernel", "multiboot,module"; module-index = <2>; };
        };
    };
};
"""


def lcm_scenario(tmp_path, dts, *kernels):
    """A boot config in tmp_path: the LCM compiled from `dts` (module 0),
    then the kernels as modules 1, 2, ..."""
    (tmp_path / "lcm.dts").write_text(dts)
    subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(tmp_path / "lcm.dtb"),
                    str(tmp_path / "lcm.dts")], check=True)
    modules = "".join("    module2 %s\n" % k for k in kernels)
    (tmp_path / "boot.cfg").write_text('menuentry "test" {\n    multiboot2 /boot/xen.gz\n'
                                       '    module2 lcm.dtb\n%s}\n' % modules)
    return tmp_path / "boot.cfg"


@needs_gdb
def test_xtf_lcm_per_domain_breakpoint_and_symbols(boot, tmp_path):
    """Two XTF tests as dom0less domUs: symbols of each domain's kernel,
    a breakpoint at test_main of d2's thread only, then d2's registers."""
    xtf = xtfutil.xtf_dir()
    if xtf is None:
        xtfutil.missing()
    example = xtf / "tests" / "example" / "test-hvm64-example"
    selftest = xtf / "tests" / "selftest" / "test-hvm64-selftest"
    b = boot(lcm_scenario(tmp_path, XTF_LCM, example, selftest))
    assert "set architecture i386:x86-64" in b.proc.stderr.readline().decode()
    out = gdb(selftest, b.port, "info threads", "break test_main thread 2", "continue",
              "p $_thread", "info symbol $pc", "bt 1", "delete", "continue",
              arch="i386:x86-64")             # XTF's hvm64 images are ELF32
    assert threads(out.split("Breakpoint 1")[0]) == {1: ("d1v0", "paused"),
                                                    2: ("d2v0", "paused")}, out
    assert 'Thread 2 "d2v0" hit Breakpoint 1, test_main ()' in out, out
    assert "$1 = 2" in out, out
    assert "exited normally" in out, out
    rc, console, err = b.finish()
    assert rc == 0, console + err
    assert "(d1) Test result: SUCCESS" in console and "(d2) Test result: SUCCESS" in console
