"""AArch64 system registers, PSTATE and exception syndromes as hvsim needs
them, and the two Unicorn facts behind them (unicorn-notes.md A1, A2):

* Unicorn starts the CPU at EL1h with SCR_EL3.RW = 0, so QEMU treats EL1 as
  AArch32 (the MMU walks the LPAE format): `make_el1_aarch64` sets
  SCR_EL3 = NS|HCE|RW and HCR_EL2 = RW, giving a non-secure AArch64 EL1 under
  an EL2 that traps hvc (and, with TWI, wfi) to hvsim.
* Unicorn never writes ESR_ELx/FAR_ELx: the syndrome and fault address of
  the exception being taken live in QEMU's CPUARMState.exception, read here
  from the context blob at offsets calibrated once per process.
"""

import ctypes
import struct

from unicorn import UC_ARCH_ARM64, UC_HOOK_INTR, UC_MODE_ARM, Uc
from unicorn import arm64_const as A

from .. import uc as ucx

# (op0, op1, CRn, CRm, op2)
SCTLR_EL1 = (3, 0, 1, 0, 0)
TTBR0_EL1 = (3, 0, 2, 0, 0)
TTBR1_EL1 = (3, 0, 2, 0, 1)
TCR_EL1 = (3, 0, 2, 0, 2)
SPSR_EL1 = (3, 0, 4, 0, 0)
ELR_EL1 = (3, 0, 4, 0, 1)
ESR_EL1 = (3, 0, 5, 2, 0)
FAR_EL1 = (3, 0, 6, 0, 0)
MAIR_EL1 = (3, 0, 10, 2, 0)
VBAR_EL1 = (3, 0, 12, 0, 0)
VMPIDR_EL2 = (3, 4, 0, 0, 5)
HCR_EL2 = (3, 4, 1, 1, 0)
SCR_EL3 = (3, 6, 1, 1, 0)

SCR_NS, SCR_HCE, SCR_RW = 1, 1 << 8, 1 << 10
HCR_TWI, HCR_RW = 1 << 13, 1 << 31
SCTLR_EL1_RESET = 0x30D00800       # RES1 bits; MMU and caches off (Xen's SCTLR_GUEST_INIT)
MPIDR_U = 1 << 31                   # RES1 in MPIDR_EL1

# PSTATE
PSR_MODE_EL0T = 0x0
PSR_MODE_EL1H = 0x5
PSR_DAIF = 0x3C0
PSR_I = 0x80
PSR_NZCV = 0xF0000000
PSR_GUEST64_INIT = PSR_DAIF | PSR_MODE_EL1H     # Xen's PSR_GUEST64_INIT: EL1h, DAIF masked

# exception syndrome classes (ESR_ELx.EC)
EC_UNKNOWN = 0x00
EC_WFX = 0x01
EC_SVC64 = 0x15
EC_HVC64 = 0x16
EC_SMC64 = 0x17
EC_SYSREG = 0x18                    # a trapped msr/mrs
EC_IABT_LOWER, EC_IABT_CUR = 0x20, 0x21
EC_DABT_LOWER, EC_DABT_CUR = 0x24, 0x25
ESR_IL = 1 << 25
ESR_UNDEF = EC_UNKNOWN << 26 | ESR_IL           # Xen's inject_undef64_exception

# names of the exception classes, for traces
EC_NAMES = {0x00: "undefined", 0x01: "wfi/wfe", 0x15: "svc", 0x16: "hvc", 0x17: "smc",
            0x18: "msr/mrs trap", 0x20: "instruction abort from EL0", 0x21: "instruction abort",
            0x22: "pc alignment", 0x24: "data abort from EL0", 0x25: "data abort",
            0x26: "sp alignment", 0x3C: "brk"}
TRACE_KIND = "arm64-sync"           # the `kind` of an arm64 exception in traces


def ec_name(ec):
    return "EC %#x (%s)" % (ec, EC_NAMES.get(ec, "other"))


# QEMU's EXCP_* numbers, as UC_HOOK_INTR reports them
EXCP_UDEF, EXCP_SWI, EXCP_PREFETCH_ABORT, EXCP_DATA_ABORT = 1, 2, 3, 4
EXCP_BKPT, EXCP_HVC, EXCP_SMC = 7, 11, 13

# vector offsets from VBAR_EL1 (current EL with SP_EL0, SP_ELx, lower EL AArch64)
VECTOR_CUR_SP0, VECTOR_CUR_SPX, VECTOR_LOWER64 = 0x000, 0x200, 0x400
VECTOR_SYNC, VECTOR_IRQ = 0x000, 0x080

INSN_WFI = 0xD503207F


def read(uc, reg):
    return uc.cpr_read(*reg)


def write(uc, reg, value):
    uc.cpr_write(*reg, value)


class _CpReg(ctypes.Structure):       # Unicorn's uc_arm64_cp_reg
    _fields_ = (("crn", ctypes.c_uint32), ("crm", ctypes.c_uint32), ("op0", ctypes.c_uint32),
                ("op1", ctypes.c_uint32), ("op2", ctypes.c_uint32), ("val", ctypes.c_uint64))


class RawReader:
    """System register reads without the binding's per-call set-up (the
    stepper reads a dozen per instruction)."""

    def __init__(self, uc):
        self._uch = uc._uch
        self._reg = _CpReg()
        self._ref = ctypes.byref(self._reg)

    def read(self, key):
        r = self._reg
        r.op0, r.op1, r.crn, r.crm, r.op2 = key
        ucx.uclib_gil.uc_reg_read(self._uch, A.UC_ARM64_REG_CP_REG, self._ref)
        return r.val


# ---- snapshots: QEMU's CPUARMState ---------------------------------------------------------
_BREAKPOINT_POINTERS = 16 * 8       # CPUARMState.cpu_breakpoint[16], the context's last field


def save_cpu(uc):
    """QEMU's CPUARMState as Unicorn's context holds it (up to
    cpu_watchpoint), without the host pointers of its last field, QEMU's
    objects for the guest's own hardware breakpoints (NULL-checked by QEMU)."""
    blob = ucx.context_bytes(uc)
    return blob[:-_BREAKPOINT_POINTERS] + bytes(_BREAKPOINT_POINTERS)


def load_cpu(uc, blob):
    """Load a state from save_cpu into a fresh instance; QEMU's hflags,
    TLB and translated code follow it."""
    ucx.load_context_bytes(uc, blob)
    rebuild_hflags(uc)
    ucx.flush_tlb(uc)
    uc.ctl_flush_tb()


def make_el1_aarch64(uc, vcpu_id):
    write(uc, SCR_EL3, SCR_NS | SCR_HCE | SCR_RW)
    write(uc, HCR_EL2, HCR_RW | HCR_TWI)
    write(uc, VMPIDR_EL2, MPIDR_U | ((vcpu_id >> 4) & 0xFF) << 8 | (vcpu_id & 0xF))


def rebuild_hflags(uc):
    """A PSTATE written from Python takes effect once QEMU rebuilds its
    hflags, which any system register write does (unicorn-notes Q9)."""
    write(uc, MAIR_EL1, read(uc, MAIR_EL1))


# -- the pending exception in QEMU's CPUARMState (A2) -------------------------------------
_OFF = {}
_CALIBRATION_SYNDROME = EC_HVC64 << 26 | ESR_IL | 0xEA1


def _calibrate():
    """Take an `hvc #0xEA1` (syndrome known: EC 0x16, ISS 0xEA1, target EL2)
    on a scratch CPU and find CPUARMState.exception in the context blob:
    {u32 syndrome; u32 fsr; u64 vaddress; u32 target_el}."""
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.mem_map(0x40000000, 0x1000)
    uc.mem_write(0x40000000, struct.pack("<II", 0xD401D422, 0xD503201F))   # hvc #0xea1; nop
    make_el1_aarch64(uc, 0)
    got = []
    uc.hook_add(UC_HOOK_INTR, lambda u, n, d: (got.append(bytes(u.context_save())), u.emu_stop()))
    uc.emu_start(0x40000000, 0x40000004)
    blob = got[0]
    for o in range(0, len(blob) - 20, 4):
        if (struct.unpack_from("<I", blob, o)[0] == _CALIBRATION_SYNDROME
                and struct.unpack_from("<I", blob, o + 16)[0] == 2):
            _OFF.update(syndrome=o, vaddress=o + 8)
            return
    raise RuntimeError("cannot locate CPUARMState.exception in unicorn's context")


def pending_exception(uc):
    """(syndrome, fault address) of the exception UC_HOOK_INTR reports."""
    if not _OFF:
        _calibrate()
    blob = bytes(uc.context_save())
    return (struct.unpack_from("<I", blob, _OFF["syndrome"])[0],
            struct.unpack_from("<Q", blob, _OFF["vaddress"])[0])


GPR = [getattr(A, "UC_ARM64_REG_X%d" % i) for i in range(29)] + [A.UC_ARM64_REG_X29,
                                                                   A.UC_ARM64_REG_X30]
