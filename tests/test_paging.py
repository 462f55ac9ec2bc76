"""The software page walker against QEMU's own (uc_vmem_translate) and
against the #PF error codes the CPU itself raises."""

import ctypes
import random
import struct

import pytest

from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from hvsim.arch.x86 import paging
from hvsim.arch.x86.paging import ACCESS_READ, ACCESS_WRITE, PageFault

from x86util import make_cpu

P, RW, US, PS = 1, 2, 4, 0x80
NX = 1 << 63


def qemu_translate(cpu, la):
    pa = ctypes.c_uint64()
    err = uclib.uc_vmem_translate(cpu.uc._uch, ctypes.c_uint64(la), ctypes.c_int(1),
                                  ctypes.byref(pa))
    return None if err else pa.value


def setup_long(cpu, pm, rng):
    """A random 4-level table: 2 MiB pages, 4 KiB pages, holes."""
    pml4, pdpt, pd, pt = 0x10000, 0x11000, 0x12000, 0x13000
    pm.write(pml4, struct.pack("<Q", pdpt | P | RW | US))
    pm.write(pdpt, struct.pack("<Q", pd | P | RW | US))
    for i in range(8):
        if i == 0:
            pm.write(pd, struct.pack("<Q", pt | P | RW | US))
        elif rng.random() < 0.8:
            pm.write(pd + 8 * i, struct.pack("<Q", (rng.randrange(1, 7) << 21) | P | RW | PS))
    for i in range(512):
        if rng.random() < 0.7:
            pm.write(pt + 8 * i, struct.pack("<Q", (rng.randrange(16, 4000) << 12) | P | RW))
    cpu.uc.reg_write(X.UC_X86_REG_CR3, pml4)
    cpu.uc.reg_write(X.UC_X86_REG_CR4, 0x20)
    cpu.uc.msr_write(0xC0000080, 0x500)
    cpu.uc.reg_write(X.UC_X86_REG_CR0, 0x80000011)


def setup_pae(cpu, pm, rng):
    pdpt, pd, pt = 0x10000, 0x11000, 0x12000
    cpu.uc.msr_write(0xC0000080, 0)
    pm.write(pdpt, struct.pack("<Q", pd | P))
    pm.write(pd, struct.pack("<Q", pt | P | RW))
    for i in range(1, 8):
        if rng.random() < 0.8:
            pm.write(pd + 8 * i, struct.pack("<Q", (rng.randrange(1, 7) << 21) | P | RW | PS))
    for i in range(512):
        if rng.random() < 0.7:
            pm.write(pt + 8 * i, struct.pack("<Q", (rng.randrange(16, 4000) << 12) | P | RW))
    cpu.uc.reg_write(X.UC_X86_REG_CR3, pdpt)
    cpu.uc.reg_write(X.UC_X86_REG_CR4, 0x20)
    cpu.uc.reg_write(X.UC_X86_REG_CR0, 0x80000011)


def setup_32(cpu, pm, rng):
    pd, pt = 0x10000, 0x11000
    cpu.uc.msr_write(0xC0000080, 0)
    pm.write(pd, struct.pack("<I", pt | P | RW))
    for i in range(1, 4):
        if rng.random() < 0.8:
            pm.write(pd + 4 * i, struct.pack("<I", (rng.randrange(1, 3) << 22) | P | RW | PS))
    for i in range(1024):
        if rng.random() < 0.7:
            pm.write(pt + 4 * i, struct.pack("<I", (rng.randrange(16, 4000) << 12) | P | RW))
    cpu.uc.reg_write(X.UC_X86_REG_CR3, pd)
    cpu.uc.reg_write(X.UC_X86_REG_CR4, 0x10)          # PSE
    cpu.uc.reg_write(X.UC_X86_REG_CR0, 0x80000011)


@pytest.mark.parametrize("setup,span", [(setup_long, 16 << 20), (setup_pae, 16 << 20),
                                        (setup_32, 16 << 20)],
                         ids=["long", "pae", "32bit-pse"])
def test_walker_matches_qemu(setup, span):
    rng = random.Random(1234)
    cpu, pm, _ = make_cpu(mem=32 << 20)
    cpu.reset_pvh(0x1000, 0)
    setup(cpu, pm, rng)
    checked = faults = 0
    for _ in range(3000):
        la = rng.randrange(0, span) & ~7
        want = qemu_translate(cpu, la)
        try:
            got = cpu.walker.walk(la, ACCESS_READ, False, set_ad=False)
        except PageFault:
            got = None
            faults += 1
        assert got == want, hex(la)
        checked += 1
    assert faults > 100 and checked - faults > 100     # both paths exercised


def _identity_long(cpu, pm):
    """4-level identity map of the first 2 MiB with user-accessible 4 KiB pages."""
    pml4, pdpt, pd, pt = 0x10000, 0x11000, 0x12000, 0x13000
    pm.write(pml4, struct.pack("<Q", pdpt | P | RW | US))
    pm.write(pdpt, struct.pack("<Q", pd | P | RW | US))
    pm.write(pd, struct.pack("<Q", pt | P | RW | US))
    pm.write(pt, struct.pack("<512Q", *[(i << 12) | P | RW | US for i in range(512)]))
    cpu.uc.reg_write(X.UC_X86_REG_CR3, pml4)
    cpu.uc.reg_write(X.UC_X86_REG_CR4, 0x20)
    cpu.uc.msr_write(0xC0000080, 0x500)
    cpu.uc.reg_write(X.UC_X86_REG_CR0, 0x80010011)    # PG | WP | ET | PE


def _cpu_page_fault(cpu, pm, user, write):
    """Let QEMU itself perform the access; return its #PF error code."""
    from hvsim.arch.x86.cpustate import R_CS, R_SS
    from hvsim.arch.x86.segments import flat_flags, load_seg_cache
    code = bytes.fromhex("48891b" if write else "488b1b")      # mov %rbx,(%rbx) / mov (%rbx),%rbx
    pm.write(0x1000, code + b"\xf4")
    seen = []

    def hook(uc, intno, _):
        seen.append((intno, cpu.st.error_code, cpu.st.cr[2]))
        uc.emu_stop()
    cpu.uc.hook_add(__import__("unicorn").UC_HOOK_INTR, hook)
    dpl = 3 if user else 0
    load_seg_cache(cpu.st, R_SS, dpl, 0, 0xFFFFFFFF, flat_flags(False, dpl))
    load_seg_cache(cpu.st, R_CS, dpl, 0, 0xFFFFFFFF, flat_flags(True, dpl, long=True))
    cpu.st.regs[3] = 0x5000
    cpu.uc.emu_start(0x1000, 0x1000 + len(code))
    assert seen and seen[0][0] == 14
    return seen[0][1], seen[0][2]


@pytest.mark.parametrize("user,write,pte", [
    (False, False, 0),                 # not present, supervisor read
    (False, True, 0),                  # not present, supervisor write
    (True, True, 0),                   # not present, user write
    (True, False, P | RW),             # supervisor page, user read
    (False, True, P | US),             # read-only page, supervisor write with CR0.WP
    (True, True, P | US),              # read-only page, user write
    (False, False, P | (1 << 51)),     # reserved bit above MAXPHYADDR
], ids=["np-read", "np-write", "np-user-write", "user-on-supervisor", "wp-write",
        "user-ro-write", "reserved"])
def test_page_fault_error_codes_match_cpu(user, write, pte):
    """Our walker raises exactly the error code and CR2 the CPU raises."""
    cpu, pm, _ = make_cpu()
    cpu.reset_pvh(0x1000, 0)
    _identity_long(cpu, pm)
    pm.write(0x13000 + 8 * 5, struct.pack("<Q", (0x300000 | pte) if pte else 0))
    want_ec, want_cr2 = _cpu_page_fault(cpu, pm, user, write)
    with pytest.raises(PageFault) as exc:
        cpu.walker.walk(0x5000, ACCESS_WRITE if write else ACCESS_READ, user, set_ad=False)
    assert (exc.value.error_code, exc.value.linear) == (want_ec, want_cr2)


def test_accessed_and_dirty_bits_are_set():
    cpu, pm, _ = make_cpu()
    cpu.reset_pvh(0x1000, 0)
    setup_long(cpu, pm, random.Random(3))
    pm.write(0x13000 + 8 * 5, struct.pack("<Q", 0x300000 | P | RW))
    cpu.walker.walk(0x5000, ACCESS_WRITE, False)
    pte = struct.unpack("<Q", pm.read(0x13000 + 40, 8))[0]
    assert pte & 0x60 == 0x60
    pml4e = struct.unpack("<Q", pm.read(0x10000, 8))[0]
    assert pml4e & 0x20


def test_unbacked_page_table_is_bad_physical():
    cpu, pm, _ = make_cpu()
    cpu.reset_pvh(0x1000, 0)
    cpu.uc.reg_write(X.UC_X86_REG_CR4, 0x20)
    cpu.uc.msr_write(0xC0000080, 0x500)
    cpu.uc.reg_write(X.UC_X86_REG_CR3, 0x7F000000)     # beyond RAM
    cpu.uc.reg_write(X.UC_X86_REG_CR0, 0x80000011)
    with pytest.raises(paging.BadPhysical):
        cpu.walker.walk(0x1000)




def test_fast_translate_falls_back_to_exact_fault_and_keeps_cr2():
    cpu, pm, _ = make_cpu()
    cpu.reset_pvh(0x1000, 0)
    _identity_long(cpu, pm)
    cpu.st.cr[2] = 0x1234
    assert cpu.walker.translate(0x5000, ACCESS_WRITE) == 0x5000
    pm.write(0x13000 + 8 * 5, struct.pack("<Q", 0x300000 | P))       # read-only
    cpu.uc.ctl_flush_tb()
    from hvsim.arch.uc import flush_tlb
    flush_tlb(cpu.uc)
    assert cpu.walker.translate(0x5000, ACCESS_READ) == 0x300000
    with pytest.raises(PageFault) as exc:
        cpu.walker.translate(0x5000, ACCESS_WRITE)
    assert exc.value.error_code == 0x3
    assert cpu.st.cr[2] == 0x1234
