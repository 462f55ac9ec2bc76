"""The vCPU's IRQ input, as a GIC drives a real core's nIRQ: a level that
QEMU itself samples.

Unicorn never vectors exceptions to VBAR_EL1 from its exception hook
(unicorn-notes.md A2), but QEMU's interrupt path is intact: with
CPU_INTERRUPT_HARD set in CPUState.interrupt_request, QEMU's
arm_cpu_exec_interrupt takes an IRQ exception (EXCP_IRQ, to EL1 since
SCR_EL3.IRQ = HCR_EL2.IMO = 0) at the first instruction boundary where
PSTATE.I is clear, through arm_cpu_do_interrupt_aarch64: SPSR_EL1, ELR_EL1,
PSTATE and PC = VBAR_EL1 + the IRQ vector of the EL taken from, all in C.
It stays set until the interrupt controller lowers it (level semantics).

QEMU looks at interrupt_request between translation blocks that return to
its main loop; chained blocks only look at icount_decr.  Raising the line
from inside a hook (an MMIO write to the GIC, a timer register write, a
hypercall) therefore also sets icount_decr.u16.high = -1, as QEMU's own
cpu_interrupt() does, so the running block chain ends at the next block.

CPUState offsets (the same QEMU 5 CPUState as the x86 target's, from
Unicorn's uc_struct cpu pointer) are verified once per process by
delivering an IRQ to a scratch CPU (`calibrate`)."""

import ctypes
import struct

from unicorn import UC_ARCH_ARM64, UC_HOOK_INTR, UC_MODE_ARM, Uc
from unicorn import arm64_const as A

from ...errors import HvsimError
from .. import uc as ucx
from ..x86.cpustate import _KNOWN_CPU_PTR_OFF, _KNOWN_INTERRUPT_REQUEST_IN_CPU

CPU_INTERRUPT_HARD = 0x2
_KNOWN_ICOUNT_DECR_PTR_IN_CPU = 0x130      # CPUState.icount_decr_ptr
_OFF = {}


class IrqLineError(HvsimError):
    pass


def _cpu(uc):
    return ctypes.c_uint64.from_address(ucx.uc_handle(uc) + _KNOWN_CPU_PTR_OFF).value


class IrqLine:
    """The IRQ input of one Unicorn AArch64 CPU."""

    __slots__ = ("_ireq", "_decr")

    def __init__(self, uc):
        calibrate()
        cpu = _cpu(uc)
        self._ireq = ctypes.c_uint32.from_address(cpu + _OFF["ireq"])
        decr = ctypes.c_uint64.from_address(cpu + _OFF["decr_ptr"]).value
        self._decr = ctypes.c_int16.from_address(decr + 2)      # icount_decr.u16.high

    @property
    def level(self):
        return bool(self._ireq.value & CPU_INTERRUPT_HARD)

    def set(self, level, kick=True):
        """Raise or lower the line; a raised line ends the running block
        chain (unless kick is False).  Unicorn also stops at the next guest
        memory access when kicked, and runs that access again: never kick
        from inside an MMIO callback."""
        if level:
            if not self._ireq.value & CPU_INTERRUPT_HARD:
                self._ireq.value |= CPU_INTERRUPT_HARD
                if kick:
                    self._decr.value = -1
        else:
            self._ireq.value &= ~CPU_INTERRUPT_HARD


def _probe_code():
    """ldr x1, =0x40001000; msr vbar_el1, x1; isb; msr daifclr, #2;
    1: str w2, [x3] (MMIO); add x4, x4, #1; b 1b ... VBAR+0x280: hvc #1"""
    words = [0x58000101, 0xD518C001, 0xD5033FDF, 0xD50342FF,
             0xB9000062, 0x91000484, 0x17FFFFFE, 0xD503201F, 0x40001000, 0]
    code = struct.pack("<%dI" % len(words), *words)
    vec = struct.pack("<I", 0xD4000022)                        # hvc #1
    return code, vec


def calibrate():
    """Check that raising the line from an MMIO callback inside a chained
    loop makes QEMU take an IRQ to VBAR_EL1 + 0x280 with ELR/SPSR set."""
    if _OFF:
        return
    from . import sysregs as sr
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    sr.make_el1_aarch64(uc, 0)
    uc.mem_map(0x40000000, 0x2000)
    code, vec = _probe_code()
    uc.mem_write(0x40000000, code)
    uc.mem_write(0x40001280, vec)
    uc.reg_write(A.UC_ARM64_REG_X3, 0x03000000)
    cpu = _cpu(uc)
    ireq = ctypes.c_uint32.from_address(cpu + _KNOWN_INTERRUPT_REQUEST_IN_CPU)
    decr_ptr = ctypes.c_uint64.from_address(cpu + _KNOWN_ICOUNT_DECR_PTR_IN_CPU).value
    if ireq.value != 0 or not cpu < decr_ptr < cpu + (1 << 20):
        raise IrqLineError("unicorn calibration failed: no CPUState.interrupt_request/"
                           "icount_decr_ptr where Unicorn 2.1.4 keeps them")
    writes = []

    def mmio_write(u, off, size, value, ud):
        writes.append(value)
        if len(writes) == 50:               # the loop is chained by now
            ireq.value |= CPU_INTERRUPT_HARD
            ctypes.c_int16.from_address(decr_ptr + 2).value = -1

    seen = []
    uc.mmio_map(0x03000000, 0x1000, lambda u, o, s, d: 0, None, mmio_write, None)
    uc.hook_add(UC_HOOK_INTR, lambda u, n, d: (seen.append(
        (n, u.reg_read(A.UC_ARM64_REG_PC), sr.read(u, sr.ELR_EL1), u.reg_read(A.UC_ARM64_REG_X4))),
        u.emu_stop()))
    uc.emu_start(0x40000000, 0, timeout=2000000)
    if not (seen and seen[0][0] == sr.EXCP_HVC and seen[0][1] == 0x40001284
            and 0x40000010 <= seen[0][2] <= 0x40000018 and seen[0][3] in (49, 50)):
        raise IrqLineError("unicorn calibration failed: a raised IRQ line was not taken "
                           "(%r)" % (seen,))
    _OFF.update(ireq=_KNOWN_INTERRUPT_REQUEST_IN_CPU, decr_ptr=_KNOWN_ICOUNT_DECR_PTR_IN_CPU)
