"""Faults the guest never sees: Unicorn's own page walks and QEMU's triple
fault (hvsim/arch/x86/cpustate.py: INTERCEPT_PF, end_of_run,
triple_faulted).  The guests/tests/fault-state guest checks the same from
inside a guest."""

import struct

from x86util import make_cpu

from hvsim.arch.x86.cpustate import R_CS, R_SS
from hvsim.arch.x86.segments import flat_flags, load_seg_cache
from unicorn import x86_const as X

CODE = 0x1000


def _long_mode_cpu(exit_sites=()):
    """A 64-bit vCPU with the first 2 MiB identity-mapped, running `nop; hlt`
    at CODE, with `exit_sites` registered."""
    cpu, pm, _ = make_cpu(exit_sites=exit_sites)
    cpu.reset_pvh(CODE, 0)
    pml4, pdpt, pd, pt = 0x10000, 0x11000, 0x12000, 0x13000
    pm.write(pml4, struct.pack("<Q", pdpt | 3))
    pm.write(pdpt, struct.pack("<Q", pd | 3))
    pm.write(pd, struct.pack("<Q", pt | 3))
    pm.write(pt, struct.pack("<512Q", *[(i << 12) | 3 for i in range(512)]))
    cpu.uc.reg_write(X.UC_X86_REG_CR3, pml4)
    cpu.uc.reg_write(X.UC_X86_REG_CR4, 0x20)
    cpu.uc.msr_write(0xC0000080, 0x500)
    cpu.uc.reg_write(X.UC_X86_REG_CR0, 0x80010011)
    load_seg_cache(cpu.st, R_SS, 0, 0, 0xFFFFFFFF, flat_flags(False, 0))
    load_seg_cache(cpu.st, R_CS, 0, 0, 0xFFFFFFFF, flat_flags(True, 0, long=True))
    pm.write(CODE, b"\x90\xf4")
    return cpu


def test_unmapped_exit_sites_leave_no_trace():
    """Unicorn looks up every exit address as each run ends; with five of them
    unmapped those walks fault five times (#PF, #DF, then QEMU's triple-fault
    path) and used to leave CR2, old_exception and the reset request behind."""
    cpu = _long_mode_cpu(exit_sites=[0x40000000 + 0x1000 * i for i in range(5)])
    st = cpu.st
    st.cr[2] = 0x1234
    for _ in range(3):
        st.rip = CODE
        exit_ = cpu.run()
        assert exit_.kind == "halted", exit_
        assert st.cr[2] == 0x1234
        assert st.exception_state()[0] == -1          # old_exception: nothing in flight


def test_page_fault_after_faulting_walks_is_delivered():
    """After runs whose end-of-run walks faulted five times (QEMU's #PF, #DF
    and triple-fault path), the guest's own #PF must reach hvsim as a #PF
    with its error code and CR2, not vanish in a silent triple fault."""
    cpu = _long_mode_cpu(exit_sites=[0x40000000 + 0x1000 * i for i in range(5)])
    st = cpu.st
    for _ in range(2):
        st.rip = CODE
        assert cpu.run().kind == "halted"
    seen = []
    cpu.on_exception = lambda vector, kind, error, rip: seen.append((vector, error, rip,
                                                                     st.cr[2]))
    cpu.physmap.write(CODE + 0x1000, bytes.fromhex("488b042500003000"))  # mov 0x300000, %rax
    st.rip = CODE + 0x1000
    exit_ = cpu.run(timeout_us=1000000)
    assert seen[:1] == [(14, 0, CODE + 0x1000, 0x300000)], (seen, exit_)
    assert exit_.kind == "crashed"            # this vCPU has no IDT: #PF -> ... -> triple fault


def test_exit_invalidation_is_taken_over():
    """hvsim finds the uc_struct slot of Unicorn's end-of-run invalidation
    (arch/uc.py): without it every run pays 0.1-0.3 us per exit address."""
    from hvsim.arch import uc as ucx
    _long_mode_cpu()
    assert ucx.exit_invalidation_taken_over()


def test_removed_exit_no_longer_stops_the_guest():
    """Blocks translated to stop at an exit are dropped when it is removed
    (Unicorn's end-of-run invalidation, which did it, is taken over)."""
    cpu = _long_mode_cpu()
    cpu.physmap.write(CODE, b"\x90" * 4 + b"\x0f\x32" + b"\x90\xf4")   # nop x 4; rdmsr; nop; hlt
    st = cpu.st
    emulated = []
    msr = cpu.emulate_msr
    cpu.emulate_msr = lambda write: (emulated.append(st.rip), msr(write))
    for sites, expected in (([CODE + 4], [CODE + 4]), ([], [])):
        cpu.exits.set_sites(sites)
        del emulated[:]
        st.rip = CODE
        st.regs[1] = 0xC0000080                              # %ecx: EFER
        exit_ = cpu.run()
        assert emulated == expected
        assert exit_.kind == "halted" and st.rip == CODE + 8, (exit_, hex(st.rip))


def test_qemu_triple_fault_crashes_the_domain():
    """A fault QEMU raises while a #DF is in flight never reaches a hook: its
    check_exception() asks for a reset instead.  The vCPU crashes with a
    report instead of ending its slice as if nothing happened (a silent
    spin, as Linux's first page fault once was)."""
    cpu = _long_mode_cpu()
    cpu.physmap.write(CODE + 0x1000, b"\x0f\x0b")             # ud2
    cpu.st.restore_exception_state((8, 0, 0, 0))              # a #DF in flight
    cpu.st.rip = CODE + 0x1000
    exit_ = cpu.run(timeout_us=1000000)
    assert exit_.kind == "crashed", exit_
    assert "triple fault" in exit_.reason
    assert "ud2" in exit_.report
