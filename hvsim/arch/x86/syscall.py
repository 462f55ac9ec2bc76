"""SYSCALL, SYSENTER and SYSRET as an Intel CPU executes them.

Unicorn does not execute SYSCALL/SYSENTER architecturally: it calls our hook
and then adds the instruction length (2) to RIP, so the target is written
as `target - 2`.  SYSRET runs natively in QEMU with AMD semantics (no
canonical check on RCX), so hvsim stops at every SYSRET in the image (an
exit, like rdmsr/wrmsr, see exits.py) and executes it here: Intel
raises #GP(0) at CPL 0 for a non-canonical RCX instead of faulting in user
mode.  All three load flat segments through segments.load_seg_cache, which
keeps QEMU's hidden state and CPL consistent.
"""

from . import traps
from .cpustate import R_CS, R_ECX, R_ESP, R_SS
from .defns import EFER_SCE, EFLAGS_IF, EFLAGS_MBS, EFLAGS_RF, EFLAGS_VM, MASK32, canonical
from .msr import (MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_EIP, MSR_IA32_SYSENTER_ESP, MSR_LSTAR,
                  MSR_STAR, MSR_SYSCALL_MASK)
from .segments import flat_flags, load_seg_cache

HOOK_ADVANCE = 2            # what Unicorn adds to RIP after the SYSCALL/SYSENTER hook


def do_syscall(cpu):
    """SYSCALL in 64-bit mode (Intel: #UD elsewhere, or with EFER.SCE clear)."""
    st, uc = cpu.st, cpu.uc
    rip = st.rip
    if not st.efer & EFER_SCE or not st.code64:
        cpu._raise(traps.UD, traps.FAULT, insn_rip=rip)
        st.rip -= HOOK_ADVANCE
        return
    star = uc.msr_read(MSR_STAR)
    rflags = cpu.rflags
    st.regs[R_ECX] = rip + 2
    st.regs[11] = rflags
    sel = (star >> 32) & 0xFFFC
    load_seg_cache(st, R_CS, sel, 0, MASK32, flat_flags(True, long=True))
    load_seg_cache(st, R_SS, sel + 8, 0, MASK32, flat_flags(False))
    cpu.rflags = rflags & ~uc.msr_read(MSR_SYSCALL_MASK) & ~EFLAGS_RF
    st.rip = uc.msr_read(MSR_LSTAR) - HOOK_ADVANCE


def do_sysenter(cpu):
    st, uc = cpu.st, cpu.uc
    cs = uc.msr_read(MSR_IA32_SYSENTER_CS) & 0xFFFF
    if not cs & 0xFFFC:
        cpu._raise(traps.GP, traps.FAULT, 0, insn_rip=st.rip)
        st.rip -= HOOK_ADVANCE
        return
    long = st.long_mode
    load_seg_cache(st, R_CS, cs & 0xFFFC, 0, MASK32, flat_flags(True, long=long))
    load_seg_cache(st, R_SS, (cs & 0xFFFC) + 8, 0, MASK32, flat_flags(False))
    cpu.rflags = cpu.rflags & ~(EFLAGS_VM | EFLAGS_IF | EFLAGS_RF)
    esp = uc.msr_read(MSR_IA32_SYSENTER_ESP)
    eip = uc.msr_read(MSR_IA32_SYSENTER_EIP)
    st.regs[R_ESP] = esp if long else esp & MASK32
    st.rip = (eip if long else eip & MASK32) - HOOK_ADVANCE


def do_sysret(cpu, rex_w):
    """SYSRET (REX.W: back to 64-bit code, else to compatibility mode), Intel
    semantics.  Called at an exit, with RIP at the instruction."""
    st, uc = cpu.st, cpu.uc
    if not st.code64 or not st.long_mode or not st.efer & EFER_SCE:
        cpu._raise(traps.UD, traps.FAULT)
        return
    if st.cpl:
        cpu._raise(traps.GP, traps.FAULT, 0)
        return
    rcx = st.regs[R_ECX]
    if rex_w and not canonical(rcx):
        cpu._raise(traps.GP, traps.FAULT, 0)
        return
    star_sel = (uc.msr_read(MSR_STAR) >> 48) & 0xFFFF
    cs_sel = ((star_sel + 16) if rex_w else star_sel) | 3
    load_seg_cache(st, R_SS, (star_sel + 8) | 3, 0, MASK32, flat_flags(False, dpl=3))
    load_seg_cache(st, R_CS, cs_sel, 0, MASK32, flat_flags(True, dpl=3, long=rex_w))
    cpu.rflags = (st.regs[11] & 0x3C7FD7) | EFLAGS_MBS
    st.rip = rcx if rex_w else rcx & MASK32
