"""Helpers for CPU-level tests: a bare X86Vcpu on its own physmap, and an
assembler for small code snippets."""

import os
import subprocess
import tempfile

from hvsim.arch.x86.vcpu import X86Vcpu
from hvsim.hv import time as vtime
from hvsim.hv.physmap import Physmap


class FakeHost:
    """The arch host interface with recording, no Xen behind it."""

    def __init__(self):
        self.hypercalls = []
        self.out = bytearray()

    def hypercall(self, nr, args, abi):
        self.hypercalls.append((nr, args, abi.name))
        return -38

    def port_read(self, port, size):
        return 0xFFFFFFFF

    def port_write(self, port, size, value):
        if port == 0xE9:
            self.out.append(value & 0xFF)

    def guest_tsc(self):
        return 1000

    def preempt_point(self):
        pass

    def set_guest_tsc(self, v):
        pass

    def hypercall_page_installed(self, gpa, is64):
        pass


def make_cpu(mem=16 << 20, exit_sites=()):
    pm = Physmap()
    pm.add_region(0, mem, "ram")
    host = FakeHost()
    cpu = X86Vcpu(host, pm, 0, 1, (4, 23), vtime.TSC_KHZ, exit_sites)
    return cpu, pm, host


def assemble(src, base, bits=64):
    """GNU as source -> flat bytes linked at `base`."""
    with tempfile.TemporaryDirectory() as d:
        s, o, b = (os.path.join(d, n) for n in ("a.S", "a.o", "a.bin"))
        with open(s, "w") as f:
            f.write(".code%d\n" % bits + src + "\n")
        subprocess.run(["as", "--64", "-o", o, s], check=True, capture_output=True)
        subprocess.run(["ld", "-m", "elf_x86_64", "-Ttext=0x%x" % base, "--oformat=binary",
                        "-e", "0", "-o", b, o], check=True, capture_output=True)
        with open(b, "rb") as f:
            return f.read()


PVH_NOTE = """
.section .note.Xen, "a"
    .long 4, 4, 18
    .asciz "Xen"
    .long _start
"""

LINKER_SCRIPT = """
ENTRY(_start)
PHDRS { text PT_LOAD; data PT_LOAD; note PT_NOTE; }
SECTIONS {
  . = %#x;
  .text : { *(.text) } :text
  .note : { *(.note.Xen) } :text :note
  .data : { *(.data) *(.bss) } :data
}
"""


def build_pvh_elf(tmp_path, body, name="guest.elf", base=0x100000, note=True):
    """A minimal 32-bit PVH guest: `body` is GNU as source of code after _start."""
    src = tmp_path / (name + ".S")
    src.write_text((PVH_NOTE if note else "") + "\n.text\n.code32\n.globl _start\n_start:\n" + body)
    lds = tmp_path / (name + ".ld")
    lds.write_text(LINKER_SCRIPT % base)
    obj = tmp_path / (name + ".o")
    elf = tmp_path / name
    subprocess.run(["gcc", "-m32", "-c", str(src), "-o", str(obj)], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-T", str(lds), str(obj), "-o", str(elf)], check=True)
    return str(elf)


def debugcon(text):
    """GNU as code that prints `text` on port 0xE9."""
    out = []
    for ch in text.encode():
        out.append("    mov $%d, %%al\n    out %%al, $0xe9\n" % ch)
    return "".join(out)
