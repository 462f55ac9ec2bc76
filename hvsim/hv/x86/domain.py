"""VCPUOP_initialise's register state for a PVH vCPU (Xen's
xen/arch/x86/hvm/domain.c: check_segment() and arch_set_info_hvm_guest()).

A vcpu_hvm_context is checked as Xen checks it; each refusal is -EINVAL with
its reason on the hypervisor console, as Xen's gprintk(XENLOG_ERR) prints
it ("(XEN) d1v0 Non-present segment provided"), and in the trace.  A context
that passes is loaded into the target vCPU."""

from ...abi import errno
from ...abi import hvm_vcpu as hv_ctx
from ...arch.x86.cpustate import GPRS_32, R_CS, R_DS, R_ES, R_SS
from ...arch.x86.defns import (CR0_PG, CR4_PAE, EFER_LMA, EFER_LME, EFLAGS_DEFINED, EFLAGS_MBS,
                               MASK32, canonical)
from ...arch.x86.msr import EFER_VALID
from .hvm import CR4_GUEST_VALID, TSS32_SIZE

# Xen's segment attribute word: type S DPL P in bits 0-7, AVL L DB G in bits 8-11
SEG_TYPE = 0xF
SEG_TYPE_ACCESSED = 1 << 0        # code/data: accessed
SEG_TYPE_TSS_BUSY = 1 << 1        # a TSS: busy
SEG_TYPE_RW = 1 << 1              # data: writable; code: readable
SEG_TYPE_CODE = 1 << 3
SEG_S = 1 << 4                    # a code or data segment (clear: a system segment)
SEG_DPL_SHIFT = 5
SEG_P = 1 << 7
SEG_L = 1 << 9
SEG_DB = 1 << 10
SEG_G = 1 << 11
SEG_PAD = 0xF000                  # bits 12-15: must be zero
SYS_DESC_TSS_BUSY = 0xB

# the flat segments arch_set_info_hvm_guest() gives a 64-bit context
FLAT_LIMIT = MASK32
ATTR_CODE64 = SEG_G | SEG_L | SEG_P | SEG_S | SEG_TYPE_CODE | SEG_TYPE_RW | SEG_TYPE_ACCESSED
ATTR_DATA = SEG_G | SEG_DB | SEG_P | SEG_S | SEG_TYPE_RW | SEG_TYPE_ACCESSED
ATTR_TSS_BUSY = SEG_P | SYS_DESC_TSS_BUSY
FLAT64_SEGMENTS = {"cs": (0, FLAT_LIMIT, ATTR_CODE64), "ds": (0, FLAT_LIMIT, ATTR_DATA),
                   "ss": (0, FLAT_LIMIT, ATTR_DATA), "es": (0, FLAT_LIMIT, ATTR_DATA),
                   "tr": (0, TSS32_SIZE - 1, ATTR_TSS_BUSY)}

_SEG_INDEX = {"cs": R_CS, "ds": R_DS, "ss": R_SS, "es": R_ES, "tr": "tr"}
_PAD2_BYTES = 6                   # vcpu_hvm_x86_32.pad2: three u16


class Refused(Exception):
    """A context Xen refuses with -EINVAL; the arguments are Xen's reasons."""


def _dpl(attr):
    return (attr >> SEG_DPL_SHIFT) & 3


def check_segment(name, attr):
    """check_segment(): why Xen would refuse this segment, or None."""
    if attr & SEG_PAD:
        return "Segment attribute bits 12-15 are not zero"
    if attr == 0:
        return None if name in ("ds", "es") else "Null selector provided for CS, SS or TR"
    typ = attr & SEG_TYPE
    if name == "tr":
        if attr & SEG_S:
            return "Code or data segment provided for TR"
        if typ != SYS_DESC_TSS_BUSY:
            return "Non-32-bit-TSS segment provided for TR"
    elif not attr & SEG_S:
        return "System segment provided for a code or data segment"
    if not attr & SEG_P:
        return "Non-present segment provided"
    if name == "cs" and not typ & SEG_TYPE_CODE:
        return "Non-code segment provided for CS"
    if name == "ss" and (typ & SEG_TYPE_CODE or not typ & SEG_TYPE_RW):
        return "Non-writeable segment provided for SS"
    if name in ("ds", "es") and typ & SEG_TYPE_CODE and not typ & SEG_TYPE_RW:
        return "Non-readable segment provided for DS or ES"
    return None


def _context32(lay, buf):
    g = lambda f: lay.get(buf, "cpu_regs.x86_32." + f)               # noqa: E731
    pad2 = lay.offset("cpu_regs.x86_32.pad2")
    if g("pad1") or any(buf[pad2:pad2 + _PAD2_BYTES]):
        raise Refused("vcpu_hvm_x86_32 padding is not zero")
    segs = {}
    for name in ("cs", "ds", "ss", "es", "tr"):
        attr, base, limit = g(name + "_ar"), g(name + "_base"), g(name + "_limit")
        if attr & SEG_P:                                  # accessed / busy
            attr |= SEG_TYPE_TSS_BUSY if name == "tr" else SEG_TYPE_ACCESSED
        segs[name] = (base, limit, attr)
    bad = [why for why in (check_segment(n, a) for n, (_, _, a) in segs.items()) if why]
    if bad:                                               # Xen checks (and reports) all five
        raise Refused(*bad)
    _, cs_limit, cs_attr = segs["cs"]
    limit = ((cs_limit << 12) | 0xFFF) & FLAT_LIMIT if cs_attr & SEG_G else cs_limit
    if g("eip") > limit:
        raise Refused("EIP (%#08x) outside CS limit (%#08x)" % (g("eip"), limit))
    ss_attr = segs["ss"][2]
    if _dpl(ss_attr) != _dpl(cs_attr):
        raise Refused("SS.DPL (%u) is different than CS.DPL (%u)"
                      % (_dpl(ss_attr), _dpl(cs_attr)))
    for name in ("ds", "es"):
        attr = segs[name][2]
        if attr & SEG_P and _dpl(attr) > _dpl(cs_attr):
            raise Refused("%s.DPL (%u) is greater than CS.DPL (%u)"
                          % (name.upper(), _dpl(attr), _dpl(cs_attr)))
    efer = g("efer")
    if efer & EFER_LMA and not efer & EFER_LME:
        raise Refused("EFER.LMA set without EFER.LME (%#016x)" % efer)
    regs = {idx: g(name) for name, idx in GPRS_32}
    return (g("eip"), regs, g("eflags"), g("cr0"), g("cr3"), g("cr4"), efer, segs)


def _context64(lay, buf):
    g = lambda f: lay.get(buf, "cpu_regs.x86_64." + f)               # noqa: E731
    rip, cr0, cr4, efer = g("rip"), g("cr0"), g("cr4"), g("efer")
    if not canonical(rip):
        raise Refused("RIP contains a non-canonical address (%#x)" % rip)
    if not cr0 & CR0_PG:
        raise Refused("CR0 doesn't have paging enabled (%#016x)" % cr0)
    if not cr4 & CR4_PAE:
        raise Refused("CR4 doesn't have PAE enabled (%#016x)" % cr4)
    if not efer & EFER_LME:
        raise Refused("EFER doesn't have LME enabled (%#016x)" % efer)
    regs = {idx: g("r" + name[1:]) for name, idx in GPRS_32}
    return (rip, regs, g("rflags"), cr0, g("cr3"), cr4, efer, dict(FLAT64_SEGMENTS))


def _checked_context(lay, buf):
    """The context's registers, checked: (rip, regs, rflags, cr0, cr3, cr4,
    efer, segments); Refused otherwise."""
    mode, pad = lay.get(buf, "mode", "pad")
    if pad:
        raise Refused("vcpu_hvm_context padding is not zero")
    if mode == hv_ctx.VCPU_HVM_MODE_32B:
        ctx = _context32(lay, buf)
    elif mode == hv_ctx.VCPU_HVM_MODE_64B:
        ctx = _context64(lay, buf)
    else:
        raise Refused("Unknown vcpu_hvm_context mode %u" % mode)
    rip, regs, rflags, cr0, cr3, cr4, efer, segs = ctx
    if efer & EFER_LME:
        efer |= EFER_LMA
    if cr4 & ~CR4_GUEST_VALID:
        raise Refused("Bad CR4 value: %#016x" % cr4)
    if efer & ~EFER_VALID:
        raise Refused("Bad EFER value (%#016x): Unknown bits set" % efer)
    return rip, regs, rflags, cr0, cr3, cr4, efer, segs


def set_info_hvm_guest(v, target, lay, buf):
    """arch_set_info_hvm_guest(): load the vcpu_hvm_context in `buf` into
    `target` (0), or refuse it (-EINVAL, the reason printed as v's)."""
    try:
        rip, regs, rflags, cr0, cr3, cr4, efer, segs = _checked_context(lay, buf)
    except Refused as refused:
        for why in refused.args:
            v.hv.gprintk(v, why)
        return -errno.EINVAL
    target.arch.reset_hvm_context(rip, regs, (rflags & EFLAGS_DEFINED) | EFLAGS_MBS, cr0, cr3,
                                  cr4, efer, {_SEG_INDEX[k]: s for k, s in segs.items()})
    target.tsc_offset = v.domain.vcpus[0].tsc_offset      # sync an AP's TSC with the BSP's
    return 0
