"""Debian's cloud-arm64 kernel booted as a dom0less domU with the busybox
initramfs `make linux-arm64` builds (issue 12): firmware/linux-arm64, an LCM
with one "xen,domain" whose kernel and ramdisk are MB2 modules,

    hvsim boot firmware/linux-arm64 --deterministic

(`hvsim run --ramdisk ... build/linux-arm64/Image` builds the same domain
with the same Arm domain builder).  One bounded boot
(HVSIM_LINUX_ARM64_TIMEOUT seconds of host time, default 300), shared by
the checks below: Linux finds Xen in the device tree, brings up its second
vCPU (PSCI CPU_ON), its console is hvc0 on hvsim's PV console backend, its
interrupts are event channels on PPI 31, and /init (guests/linux/init)
prints its "hvsim-" lines and powers the domain off.  Without the kernel (no network for `make
linux-arm64`) the tests skip with the reason build/linux-arm64/unavailable
gives.
"""

import gzip
import json
import os
import subprocess
import sys
import time

import pytest

import built
from once import once_per_session

from hvsim.boot import arm64
from hvsim.errors import HostInputError

ROOT = built.ROOT
LINUX = ROOT / "build" / "linux-arm64"
IMAGE = LINUX / "Image"
INITRAMFS = LINUX / "initramfs.cpio"
BOOT_TIMEOUT = float(os.environ.get("HVSIM_LINUX_ARM64_TIMEOUT", "300"))
CMDLINE = "console=hvc0"


def linux_files():
    if not (IMAGE.exists() and INITRAMFS.exists()):
        why = LINUX / "unavailable"
        reason = why.read_text().strip() if why.exists() else "not fetched"
        pytest.skip("Debian's arm64 kernel is not in build/linux-arm64 (%s): run "
                    "`make linux-arm64`" % reason)
    return IMAGE, INITRAMFS


def boot():
    """The LCM boot, with the run's summary as JSON on the last line."""
    linux_files()
    built.need(built.FIRMWARE / "linux-arm64" / "lcm.dtb", how=built.MAKE_FIRMWARE)
    args = [sys.executable, "-m", "hvsim", "boot", "firmware/linux-arm64", "--deterministic",
            "--no-prefix", "--json", "--timeout", str(BOOT_TIMEOUT)]
    start = time.monotonic()
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT,
                       timeout=BOOT_TIMEOUT + 60, stdin=subprocess.DEVNULL)
    out = r.stdout.rstrip("\n").rsplit("\n", 1)
    try:
        summary = json.loads(out[-1])
    except ValueError:
        summary = None
    return {"stdout": r.stdout, "stderr": r.stderr, "rc": r.returncode, "summary": summary,
            "seconds": time.monotonic() - start}


@pytest.fixture(scope="session")
def linux_boot(tmp_path_factory, worker_id):
    """The shared boot's result (under xdist the first worker boots)."""
    linux_files()
    return once_per_session(tmp_path_factory, worker_id, "linux-arm64-boot", boot)


def lines(result, prefix):
    return [l[len(prefix):].strip() for l in result["stdout"].splitlines() if l.startswith(prefix)]


def test_linux_arm64_finds_xen(linux_boot):
    """The Image loads at RAM + text_offset, Linux takes the device tree Xen's
    builder gives (/hypervisor, PSCI, the GIC and the generic timer) and its
    boot console is Xen's (earlycon's xenboot is console_io)."""
    out = linux_boot["stdout"]
    assert "Traceback" not in out + linux_boot["stderr"], linux_boot["stderr"]
    assert linux_boot["rc"] != 70, linux_boot["stderr"]            # no hvsim internal error
    for line in ("Booting Linux on physical CPU 0x0000000000", "Linux version 6.1.",
                 "Machine model: XENVM-4.", "Xen 4.23 support found",
                 "psci: PSCIv1.1 detected in firmware.",
                 "arch_timer: cp15 timer(s) running at 62.50MHz (virt).",
                 "Kernel command line: %s" % CMDLINE, "xen:events: Using FIFO-based ABI",
                 "printk: console [hvc0] enabled", "smp: Brought up 1 node, 2 CPUs"):
        assert line in out, (line, out[-3000:])


def test_linux_arm64_runs_init_and_powers_off(linux_boot):
    out = linux_boot["stdout"]
    assert "hvsim-init: /init running" in out, out[-3000:]
    assert "hvsim-init: powering off" in out, out[-3000:]
    assert "timeout after" not in out + linux_boot["stderr"]
    # PSCI SYSTEM_OFF: the domain ends by poweroff, /init's verdict last
    [dom] = linux_boot["summary"]["domains"]
    assert dom["ended"] == "poweroff", linux_boot["summary"]
    assert "Test result: SUCCESS" in out and dom["verdict"] == "SUCCESS", out[-1500:]


def test_linux_arm64_event_channels_and_grants(linux_boot):
    """xenbus and hvc0 are event channels (Linux's xen-dyn chip, upcalls on
    PPI 31); the grant table is mapped at the device tree's region."""
    irqs = lines(linux_boot, "hvsim-interrupts:")
    assert any("xen-dyn" in l and "xenbus" in l for l in irqs), irqs
    assert any("xen-dyn" in l and "hvc_console" in l for l in irqs), irqs
    dmesg = lines(linux_boot, "hvsim-dmesg:")
    assert any("Grant tables using version 1 layout" in l for l in dmesg), dmesg
    assert lines(linux_boot, "hvsim-cpuinfo:") == ["processor\t: 0", "processor\t: 1"]


def test_gzipped_image_boots_as_arm64(tmp_path):
    """An Image.gz is an arm64 kernel too, inflated before loading as Xen's
    kernel_decompress() does; a corrupt one stops in one line."""
    built.need(built.ROOT / "guests" / "build" / "arm64" / "example.Image")
    data = (built.ROOT / "guests" / "build" / "arm64" / "example.Image").read_bytes()
    gz = gzip.compress(data)
    assert arm64.is_arm64_kernel(gz[:64]) or arm64.is_arm64_kernel(gz)
    k = arm64.load_kernel("example.Image.gz", gz, 16 << 20)
    assert k.segments[0].data == data
    with pytest.raises(HostInputError, match="Image.gz"):
        arm64.load_kernel("bad.Image.gz", gz[:len(gz) // 2], 16 << 20)
    img = tmp_path / "example.Image.gz"
    img.write_bytes(gz)
    r = subprocess.run([sys.executable, "-m", "hvsim", "run", "--timeout", "60", str(img)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and "Test result: SUCCESS" in r.stdout, r.stdout + r.stderr
