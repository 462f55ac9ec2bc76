"""The hypercall page hvsim writes when the guest installs it (MSR 0x40000000).

Xen fills each 32-byte slot with `mov $nr,%eax; vmcall; ret`.  A vmcall costs
an exit through Unicorn's invalid-instruction path, so hvsim's slots trap
with `in` on a private port instead (a raw IN hook is ~10x cheaper), and let
the same slot serve both ABIs: the first ten bytes decode differently in
64-bit and 32-bit code, so each mode reaches its own `in`:

  64-bit:  48 b8 <nr:4> e5 P32 c3 90   movabs $imm64,%rax   (falls through)
           e5 P64                      in $P64,%eax          <- trap, ABI x86_64
           48 89 f8                    mov %rdi,%rax         (64-bit result)
           c3                          ret
  32-bit:  48                          dec %eax
           b8 <nr:4>                   mov $nr,%eax
           e5 P32                      in $P32,%eax          <- trap, ABI x86_32
           c3                          ret

The trap handler identifies a hypercall by the port *and* the offset of
the `in` inside its 32-byte slot, and reads nr from the slot index.  Only
argument registers are clobbered, as Xen's ABI allows.  Guests that execute
vmcall/vmmcall directly (Linux) are handled too (vcpu.py).
Slot 23 (__HYPERVISOR_iret) is `ud2`, as on Xen.
"""

import struct

from ...abi import xen
from ...abi.cpuid import HYPERCALL_PAGE_SLOT_SIZE

PORT_32 = 0xD8
PORT_64 = 0xD9
IN_OFFSET_32 = 6
IN_OFFSET_64 = 10
NR_SLOTS = 4096 // HYPERCALL_PAGE_SLOT_SIZE


def slot_bytes(nr):
    if nr == xen.__HYPERVISOR_iret:
        code = b"\x0f\x0b"
    else:
        code = (b"\x48\xb8" + struct.pack("<I", nr) + bytes((0xE5, PORT_32, 0xC3, 0x90)) +
                bytes((0xE5, PORT_64)) + b"\x48\x89\xf8" + b"\xc3")
    return code + b"\xcc" * (HYPERCALL_PAGE_SLOT_SIZE - len(code))


def page_bytes():
    return b"".join(slot_bytes(nr) for nr in range(NR_SLOTS))


PAGE = page_bytes()
assert len(PAGE) == 4096


def decode_trap(port, rip):
    """-> (nr, is64) if an `in` at linear `rip` on `port` is a stub trap."""
    off = rip & 0xFFF
    if port == PORT_64 and off & 31 == IN_OFFSET_64:
        return off >> 5, True
    if port == PORT_32 and off & 31 == IN_OFFSET_32:
        return off >> 5, False
    return None
