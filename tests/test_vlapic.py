"""The local APIC model (hvsim/hv/x86/vlapic.py) on a real domain, for what
the lapic guest cannot reach from one vCPU: IPIs between vCPUs (physical,
logical flat and cluster, all-but-self, lowest priority, NMI, INIT and
STARTUP), ESR and LVTERR, and the timer's count against the virtual clock.
Xen's vlapic.c is the reference for every expected value."""

import pathlib

import pytest

from hvsim.arch.x86.cpustate import R_CS
from hvsim.arch.x86.msr import GPFault
from hvsim.boot.pvh import DomainSpec, build_domain
from hvsim.hv.console import ConsoleSink
from hvsim.hv.hypervisor import Hypervisor
from hvsim.hv.x86 import vlapic as L

ROOT = pathlib.Path(__file__).resolve().parents[1]
ELF = ROOT / "guests" / "build" / "hvm64" / "example.elf"


@pytest.fixture
def dom():
    if not ELF.exists():
        pytest.skip("%s is missing: build the guests with `make guests`" % ELF)
    hv = Hypervisor(deterministic=True, console=ConsoleSink(stream=None))
    d = build_domain(hv, DomainSpec(1, str(ELF), 64 << 20, vcpus=4, name="lapic"))
    for v in d.vcpus:
        v.vlapic.reg_write(L.APIC_SPIV, L.APIC_SPIV_APIC_ENABLED | 0xFF)
    return d


def lapics(d):
    return [v.vlapic for v in d.vcpus]


def test_reset_state(dom):
    a = dom.vcpus[2].vlapic
    assert a.rdmsr(0x1B) == L.APIC_DEFAULT_BASE | 0x800          # enabled, not BSP
    assert dom.vcpus[0].vlapic.rdmsr(0x1B) & 0x100               # vCPU 0 is the BSP
    assert a.mmio_read(L.APIC_DEFAULT_BASE + L.APIC_ID, 4) == 4 << 24
    assert a.mmio_read(L.APIC_DEFAULT_BASE + L.APIC_LVR, 4) == 0x50014
    assert a.mmio_read(L.APIC_DEFAULT_BASE + L.APIC_DFR, 4) == 0xFFFFFFFF
    assert a.mmio_read(L.APIC_DEFAULT_BASE + L.APIC_LVTT, 4) == L.APIC_LVT_MASKED
    assert a.mmio_read(L.APIC_DEFAULT_BASE + 0x400, 4) == 0      # beyond TDCR
    assert a.mmio_read(L.APIC_DEFAULT_BASE + L.APIC_LVR + 2, 1) == 0x05   # byte access


def test_priority_classes_and_tpr(dom):
    a = dom.vcpus[0].vlapic
    for vec in (0x41, 0x4F, 0x90):
        a.set_irq(vec)
    assert a.pending_vector() == 0x90
    a.ack(0x90)
    assert a.ppr() == 0x90
    assert a.pending_vector() is None                 # 0x4x is below 0x9x in service
    a.reg_write(L.APIC_EOI, 0)
    assert a.pending_vector() == 0x4F
    a.reg_write(L.APIC_TASKPRI, 0x40)
    assert a.pending_vector() is None                 # TPR class 4 holds back class 4
    assert a.ppr() == 0x40
    a.reg_write(L.APIC_TASKPRI, 0x3F)
    assert a.pending_vector() == 0x4F


def test_software_disabled_apic(dom):
    a = dom.vcpus[1].vlapic
    a.reg_write(L.APIC_SPIV, 0xFF)
    assert a.regs[L.APIC_LVTT] & L.APIC_LVT_MASKED
    a.set_irq(0x50)                                   # vlapic_set_irq still latches it
    assert a.pending_vector() is None                 # ...but nothing is delivered
    a.reg_write(L.APIC_LVTT, 0x60)
    assert a.regs[L.APIC_LVTT] & L.APIC_LVT_MASKED   # LVTs stay masked


def test_illegal_vectors_and_lvterr(dom):
    a = dom.vcpus[0].vlapic
    a.reg_write(L.APIC_LVTERR, 0xE0)
    a.set_irq(0x0F)
    assert a.test_irq(0xE0)                           # RECVILL raised LVTERR
    a.reg_write(L.APIC_ESR, 0)
    assert a.regs[L.APIC_ESR] == L.APIC_ESR_RECVILL
    a.reg_write(L.APIC_ICR, 0x05)                     # fixed IPI, illegal vector
    a.reg_write(L.APIC_ESR, 0)
    assert a.regs[L.APIC_ESR] == L.APIC_ESR_SENDILL


def test_physical_broadcast_and_allbut(dom):
    a0, a1, a2, a3 = lapics(dom)
    a0.reg_write(L.APIC_ICR2, 2 << 24)                # APIC ID 2 = vCPU 1
    a0.reg_write(L.APIC_ICR, 0x51)
    assert a1.test_irq(0x51) and not a2.test_irq(0x51)
    a0.reg_write(L.APIC_ICR2, 0xFF << 24)             # broadcast
    a0.reg_write(L.APIC_ICR, 0x52)
    assert all(x.test_irq(0x52) for x in lapics(dom))
    a1.reg_write(L.APIC_ICR, L.APIC_DEST_ALLBUT | 0x53)
    assert [x.test_irq(0x53) for x in lapics(dom)] == [True, False, True, True]
    assert a0.regs[L.APIC_ICR] & L.APIC_SEND_PENDING == 0


def test_logical_destinations(dom):
    a0, a1, a2, a3 = lapics(dom)
    for i, a in enumerate(lapics(dom)):
        a.reg_write(L.APIC_LDR, (1 << i) << 24)       # flat model: one bit each
    a0.reg_write(L.APIC_ICR2, 0b0110 << 24)
    a0.reg_write(L.APIC_ICR, L.APIC_DEST_LOGICAL | 0x61)
    assert [x.test_irq(0x61) for x in lapics(dom)] == [False, True, True, False]
    for i, a in enumerate(lapics(dom)):               # cluster model: cluster 1, bit i
        a.reg_write(L.APIC_DFR, 0)
        a.reg_write(L.APIC_LDR, (0x10 | 1 << i) << 24)
    a0.reg_write(L.APIC_ICR2, 0x18 << 24)             # cluster 1, member bit 3
    a0.reg_write(L.APIC_ICR, L.APIC_DEST_LOGICAL | 0x62)
    assert [x.test_irq(0x62) for x in lapics(dom)] == [False, False, False, True]


def test_lowest_priority_picks_the_lowest_ppr(dom):
    a0, a1, a2, a3 = lapics(dom)
    for a, tpr in zip(lapics(dom), (0x30, 0x20, 0x10, 0x40)):
        a.reg_write(L.APIC_TASKPRI, tpr)
    a0.reg_write(L.APIC_ICR, L.APIC_DEST_ALLINC | L.APIC_DM_LOWEST | 0x71)
    assert [x.test_irq(0x71) for x in lapics(dom)] == [False, False, True, False]


def test_x2apic_ipi_nmi_and_msr_rules(dom):
    a0, a1 = dom.vcpus[0].vlapic, dom.vcpus[1].vlapic
    for a in (a0, a1):
        a.wrmsr(0x1B, a.rdmsr(0x1B) | L.APIC_BASE_EXTD)
    assert a1.rdmsr(0x802) == 2 and a1.rdmsr(0x80D) == 1 << 2   # x2APIC ID, LDR
    a0.wrmsr(0x830, (2 << 32) | 0x81)                 # ICR with the x2APIC destination
    assert a1.test_irq(0x81)
    a0.wrmsr(0x830, (2 << 32) | L.APIC_DM_NMI)
    assert dom.vcpus[1].nmi_pending
    for bad in ((0x830, 1 << 12), (0x83F, 0x100), (0x80B, 1), (0x808, 0x100)):
        with pytest.raises(GPFault):
            a0.wrmsr(*bad)
    for unreadable in (0x80B, 0x809, 0x831, 0x83F):
        with pytest.raises(GPFault):
            a0.rdmsr(unreadable)
    assert not a0.in_range(L.APIC_DEFAULT_BASE)      # the MMIO page is gone
    with pytest.raises(GPFault):                       # x2APIC -> xAPIC directly
        a0.wrmsr(0x1B, L.APIC_DEFAULT_BASE | 0x900)


def test_init_and_startup(dom):
    v1, v2 = dom.vcpus[1], dom.vcpus[2]
    v1.initialised = True
    v1.bring_up()
    a0 = dom.vcpus[0].vlapic
    a0.reg_write(L.APIC_ICR2, 2 << 24)
    a0.reg_write(L.APIC_ICR, L.APIC_DM_INIT | L.APIC_INT_ASSERT)
    assert not v1.online and not v1.initialised
    a0.reg_write(L.APIC_ICR2, 4 << 24)                # STARTUP: v2 starts in real mode
    a0.reg_write(L.APIC_ICR, L.APIC_DM_STARTUP | 0x10)
    assert v2.online and v2.initialised and not dom.is_shutting_down
    cs = v2.arch.st.segs[R_CS]
    assert (cs.selector, cs.base, v2.arch.st.rip) == (0x1000, 0x10000, 0)
    assert not v2.arch.st.cr[0] & 1                     # CR0.PE clear: real mode
    a0.reg_write(L.APIC_ICR, L.APIC_DM_STARTUP | 0x20)  # initialised: ignored
    assert v2.arch.st.segs[R_CS].selector == 0x1000


def test_timer_count_and_modes(dom):
    hv = dom.hv
    a = dom.vcpus[0].vlapic
    a.reg_write(L.APIC_TDCR, 0x3)                     # divide by 16
    a.reg_write(L.APIC_LVTT, 0x90)
    a.reg_write(L.APIC_TMICT, 1000)                   # 16 us
    assert a.timer.deadline == hv.clock.now() + 16000
    hv.clock.skip_to(hv.clock.now() + 1600)
    assert a._read_aligned(L.APIC_TMCCT) == 900
    hv.clock.skip_to(a.timer.deadline)
    hv.scheduler._fire_timers()
    assert a.test_irq(0x90) and a._read_aligned(L.APIC_TMCCT) == 0
    a.reg_write(L.APIC_LVTT, L.APIC_TIMER_MODE_PERIODIC | 0x91)
    a.reg_write(L.APIC_TMICT, 100)                    # 1.6 us periods
    start = hv.clock.now()
    hv.clock.skip_to(start + 1600)
    hv.scheduler._fire_timers()
    assert a.test_irq(0x91) and a.timer.deadline == start + 3200
    hv.clock.skip_to(start + 2400)
    assert a._read_aligned(L.APIC_TMCCT) == 50
    a.reg_write(L.APIC_LVTT, L.APIC_TIMER_MODE_TSC_DEADLINE | 0x92)
    assert a._read_aligned(L.APIC_TMICT) == 0 and not a.timer.armed
