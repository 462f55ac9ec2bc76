"""Errnos the hypercall fuzzer's sample turned up where hvsim and Xen's
source disagreed, each checked on a built domain through the hypercall
table (what a guest's hypercall reaches):

- Arm's table (xen/include/hypercall-defs.c, "arm" column) has no
  set_timer_op and no xenpmu_op, and Arm's hvm_op (xen/arch/arm/hvm.c) is
  only the parameters and guest_request_vm_event: -ENOSYS for the rest;
  parameters follow Arm's hvm_allow_{set,get}_param();
- x86's xenpmu_op (xen/arch/x86/cpu/vpmu.c) is -EOPNOTSUPP for any domain
  with a virtual local APIC, before reading its argument;
- HVMOP_pagetable_dying (xen/arch/x86/hvm/hvm.c) reads its struct
  (-EFAULT), looks the domain up (-ESRCH), refuses another domain (-EPERM),
  and is -EINVAL for the caller's own HAP domain;
- multicall (xen/common/multicall.c) was -ENOSYS: now each entry is made
  through the caller's table, a debug Xen's 0xAA fill and the result are
  written back, reentry is -EINVAL and an unreadable entry -EFAULT.
"""
import struct

import pytest

import built
from test_guests import BUILD
from hvsim.abi import errno, hvm as h, xen
from hvsim.abi.arch_arm import GUEST_RAM0_BASE
from hvsim.abi.cstruct import ARM64, X86_32, X86_64
from hvsim.boot import arm64
from hvsim.boot.pvh import DomainSpec, build_domain
from hvsim.hv.console import ConsoleSink
from hvsim.hv.hypervisor import Hypervisor

X86_GUEST = BUILD / "hvm64" / "example.elf"
ARM_GUEST = BUILD / "arm64" / "example.elf"
X86_BUF = 0x400000                      # guest-physical (paging is off before the guest runs)
ARM_BUF = GUEST_RAM0_BASE + 0x400000    # MMU off
BAD = 0x2000_0000                       # past RAM (paging is off: 32-bit linear)


def _hv():
    return Hypervisor(console=ConsoleSink(stream=None))


@pytest.fixture
def x86():
    built.need(X86_GUEST)
    hv = _hv()
    return [build_domain(hv, DomainSpec(domid, str(X86_GUEST), 16 << 20)) for domid in (1, 2)]


@pytest.fixture
def arm():
    built.need(ARM_GUEST)
    hv = _hv()
    return [arm64.build_domain(hv, DomainSpec(domid, str(ARM_GUEST), 16 << 20))
            for domid in (1, 2)]


def call(d, nr, *args, abi=X86_64):
    v = d.vcpus[0]
    return v.hv.hypercalls.dispatch(v, nr, args + (0,) * (5 - len(args)), abi)


def param(d, gpa, domid, index, value=0):
    d.physmap.write(gpa, struct.pack("<HHIQ", domid, 0, index, value))


def test_arm_has_no_set_timer_op_xenpmu_op_or_x86_hvm_ops(arm):
    d = arm[0]
    assert call(d, xen.__HYPERVISOR_set_timer_op, 1 << 40, abi=ARM64) == -errno.ENOSYS
    assert call(d, xen.__HYPERVISOR_xenpmu_op, 0, 0, abi=ARM64) == -errno.ENOSYS
    for op in (h.HVMOP_get_time, h.HVMOP_flush_tlbs, h.HVMOP_pagetable_dying,
               h.HVMOP_set_evtchn_upcall_vector, h.HVMOP_altp2m):
        assert call(d, xen.__HYPERVISOR_hvm_op, op, ARM_BUF, abi=ARM64) == -errno.ENOSYS, op
    assert call(d, xen.__HYPERVISOR_hvm_op, h.HVMOP_guest_request_vm_event, 0, abi=ARM64) == 0
    assert call(d, xen.__HYPERVISOR_hvm_op, h.HVMOP_guest_request_vm_event, ARM_BUF,
                abi=ARM64) == -errno.EINVAL


def test_arm_hvm_params_follow_arms_rules(arm):
    d, other = arm
    hvm_op = xen.__HYPERVISOR_hvm_op
    for index, get, set_ in ((h.HVM_PARAM_STORE_PFN, 0, -errno.EPERM),
                             (h.HVM_PARAM_CALLBACK_IRQ, 0, -errno.EPERM),
                             (h.HVM_PARAM_MONITOR_RING_PFN, -errno.EPERM, -errno.EPERM),
                             (h.HVM_PARAM_TIMER_MODE, -errno.EINVAL, -errno.EINVAL),
                             (h.HVM_NR_PARAMS + 5, -errno.EINVAL, -errno.EINVAL)):
        param(d, ARM_BUF, xen.DOMID_SELF, index)
        assert call(d, hvm_op, h.HVMOP_get_param, ARM_BUF, abi=ARM64) == get, index
        assert call(d, hvm_op, h.HVMOP_set_param, ARM_BUF, abi=ARM64) == set_, index
    param(d, ARM_BUF, other.domid, h.HVM_PARAM_STORE_PFN)          # XSM_TARGET: a domU
    assert call(d, hvm_op, h.HVMOP_get_param, ARM_BUF, abi=ARM64) == -errno.EPERM
    param(d, ARM_BUF, 0x7ff0 - 100, h.HVM_NR_PARAMS + 5)           # domain looked up first
    assert call(d, hvm_op, h.HVMOP_get_param, ARM_BUF, abi=ARM64) == -errno.ESRCH
    assert call(d, hvm_op, h.HVMOP_get_param, 0x1000, abi=ARM64) == -errno.EFAULT


def test_x86_xenpmu_op_is_not_supported(x86):
    for op in (0, 1, 2, 5, 99):
        assert call(x86[0], xen.__HYPERVISOR_xenpmu_op, op, BAD) == -errno.EOPNOTSUPP


def test_x86_pagetable_dying(x86):
    d, other = x86
    nr, op = xen.__HYPERVISOR_hvm_op, h.HVMOP_pagetable_dying
    assert call(d, nr, op, BAD) == -errno.EFAULT
    d.physmap.write(X86_BUF, struct.pack("<HHHHQ", 0x7ff0 - 100, 0, 0, 0, 0x1000))
    assert call(d, nr, op, X86_BUF) == -errno.ESRCH
    d.physmap.write(X86_BUF, struct.pack("<HHHHQ", other.domid, 0, 0, 0, 0x1000))
    assert call(d, nr, op, X86_BUF) == -errno.EPERM
    d.physmap.write(X86_BUF, struct.pack("<HHHHQ", xen.DOMID_SELF, 0, 0, 0, 0x1000))
    assert call(d, nr, op, X86_BUF) == -errno.EINVAL


# -- multicall (xen/common/multicall.c): was -ENOSYS in hvsim

def entries(abi, calls):
    """A multicall list: (op, args...) per entry, in `abi`'s layout."""
    word = "Q" if abi.ulong == 8 else "I"
    out = b""
    for op, *args in calls:
        args = list(args) + [0] * (6 - len(args))
        out += struct.pack("<" + word * 8, op, 0x1234, *args)
    return out


def results(d, gpa, abi, n):
    word, size = ("q", 8) if abi.ulong == 8 else ("i", 4)
    raw = d.physmap.read(gpa, n * 8 * size)
    rows = [struct.unpack_from("<" + word * 8, raw, i * 8 * size) for i in range(n)]
    fill = struct.unpack("<" + word, b"\xaa" * size)[0]
    assert all(x == fill for r in rows for i, x in enumerate(r) if i != 1), rows  # debug Xen
    return [r[1] for r in rows]


@pytest.mark.parametrize("abi", [X86_64, X86_32], ids=["64", "32"])
def test_multicall_makes_each_entry_and_writes_back_only_results(x86, abi):
    d = x86[0]
    ver = xen.__HYPERVISOR_xen_version
    d.physmap.write(X86_BUF, entries(abi, [(ver, 0), (99,), (xen.__HYPERVISOR_multicall, 0, 0),
                                           (xen.__HYPERVISOR_xenpmu_op, 0, 0)]))
    assert call(d, xen.__HYPERVISOR_multicall, X86_BUF, 4, abi=abi) == 0
    version = call(d, ver, 0, 0, abi=abi)
    assert results(d, X86_BUF, abi, 4) == [version, -errno.ENOSYS, -errno.EINVAL,
                                           -errno.EOPNOTSUPP]
    assert not d.vcpus[0].in_multicall


def test_multicall_faults(x86):
    d = x86[0]
    assert call(d, xen.__HYPERVISOR_multicall, BAD, 1) == -errno.EFAULT
    assert call(d, xen.__HYPERVISOR_multicall, BAD, 0) == 0
    end = (16 << 20) - 64                            # the last entry that fits in RAM
    d.physmap.write(end, entries(X86_64, [(xen.__HYPERVISOR_xen_version, 0)]))
    assert call(d, xen.__HYPERVISOR_multicall, end, 0xFFFFFFFF) == -errno.EFAULT
    assert results(d, end, X86_64, 1) == [call(d, xen.__HYPERVISOR_xen_version, 0, 0)]


def test_multicall_on_arm_uses_arms_table(arm):
    d = arm[0]
    d.physmap.write(ARM_BUF, entries(ARM64, [(xen.__HYPERVISOR_set_timer_op, 1 << 40),
                                            (xen.__HYPERVISOR_xen_version, 0)]))
    assert call(d, xen.__HYPERVISOR_multicall, ARM_BUF, 2, abi=ARM64) == 0
    assert results(d, ARM_BUF, ARM64, 2) == [-errno.ENOSYS,
                                             call(d, xen.__HYPERVISOR_xen_version, 0, 0,
                                                  abi=ARM64)]
