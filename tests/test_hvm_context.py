"""VCPUOP_initialise's context checks (hvsim/hv/x86/domain.py, Xen's
xen/arch/x86/hvm/domain.c): every refusal and Xen's reason for it; the
guests (smp) check the errno end to end."""

import pytest

from hvsim.abi import errno
from hvsim.abi import hvm_vcpu as hv_ctx
from hvsim.abi.cstruct import X86_64
from hvsim.hv.x86 import domain as ctx

LAY = hv_ctx.vcpu_hvm_context.layout(X86_64)
FLAT_CODE32, FLAT_DATA, TSS = 0xC9B, 0xC93, 0x8B      # as guests write them


def context32(**fields):
    """A good 32-bit flat context, with `fields` (cpu_regs.x86_32.*) changed."""
    regs = dict(eip=0x100000, cr0=1, cs_ar=FLAT_CODE32, ds_ar=FLAT_DATA, ss_ar=FLAT_DATA,
                es_ar=FLAT_DATA, tr_ar=TSS, tr_limit=0x67, cs_limit=0xFFFFF,
                ds_limit=0xFFFFF, ss_limit=0xFFFFF, es_limit=0xFFFFF)
    regs.update(fields)
    buf = bytearray(LAY.size)
    LAY.put(buf, mode=hv_ctx.VCPU_HVM_MODE_32B,
            **{"cpu_regs.x86_32." + k: v for k, v in regs.items()})
    return buf


def context64(**fields):
    regs = dict(rip=0x100000, cr0=0x80000011, cr4=0x20, efer=0x100)
    regs.update(fields)
    buf = bytearray(LAY.size)
    LAY.put(buf, mode=hv_ctx.VCPU_HVM_MODE_64B,
            **{"cpu_regs.x86_64." + k: v for k, v in regs.items()})
    return buf


def reasons(buf):
    with pytest.raises(ctx.Refused) as e:
        ctx._checked_context(LAY, buf)
    return list(e.value.args)


def test_good_contexts_pass_with_flat_64bit_segments():
    rip, _, _, _, _, _, efer, segs = ctx._checked_context(LAY, context64())
    assert rip == 0x100000 and efer & (1 << 10)               # LMA follows LME
    assert segs["cs"] == (0, 0xFFFFFFFF, 0xA9B) and segs["ss"] == (0, 0xFFFFFFFF, 0xC93)
    assert segs["tr"] == (0, 0x67, 0x8B)
    _, _, _, _, _, _, _, segs = ctx._checked_context(LAY, context32())
    assert segs["tr"][2] == TSS                              # busy TSS kept


@pytest.mark.parametrize("fields, why", [
    (dict(cs_ar=FLAT_CODE32 | 0x1000), ["Segment attribute bits 12-15 are not zero"]),
    (dict(ss_ar=0), ["Null selector provided for CS, SS or TR"]),
    (dict(tr_ar=FLAT_DATA), ["Code or data segment provided for TR"]),
    (dict(tr_ar=0x89 & ~0x7), ["Non-32-bit-TSS segment provided for TR"]),
    (dict(ds_ar=0x8B), ["System segment provided for a code or data segment"]),
    (dict(es_ar=FLAT_DATA & ~0x80), ["Non-present segment provided"]),
    (dict(cs_ar=FLAT_DATA), ["Non-code segment provided for CS"]),
    (dict(ss_ar=0xC91), ["Non-writeable segment provided for SS"]),
    (dict(ds_ar=0xC99), ["Non-readable segment provided for DS or ES"]),
    (dict(cs_ar=0x0, ss_ar=0x0), ["Null selector provided for CS, SS or TR"] * 2),
    (dict(eip=0x200000, cs_ar=0x49B, cs_limit=0xFFFFF),
     ["EIP (0x200000) outside CS limit (0x0fffff)"]),
    (dict(ss_ar=FLAT_DATA | 0x60), ["SS.DPL (3) is different than CS.DPL (0)"]),
    (dict(es_ar=FLAT_DATA | 0x60), ["ES.DPL (3) is greater than CS.DPL (0)"]),
    (dict(efer=1 << 10), ["EFER.LMA set without EFER.LME (0x00000000000400)"]),
    (dict(pad1=1), ["vcpu_hvm_x86_32 padding is not zero"]),
    (dict(cr4=1 << 12), ["Bad CR4 value: 0x00000000001000"]),
    (dict(efer=1 << 15), ["Bad EFER value (0x00000000008000): Unknown bits set"]),
])
def test_32bit_refusals_say_why(fields, why):
    assert reasons(context32(**fields)) == why


@pytest.mark.parametrize("fields, why", [
    (dict(rip=1 << 63), ["RIP contains a non-canonical address (0x8000000000000000)"]),
    (dict(cr0=0x11), ["CR0 doesn't have paging enabled (0x00000000000011)"]),
    (dict(cr4=0), ["CR4 doesn't have PAE enabled (0x00000000000000)"]),
    (dict(efer=0), ["EFER doesn't have LME enabled (0x00000000000000)"]),
])
def test_64bit_refusals_say_why(fields, why):
    assert reasons(context64(**fields)) == why


def test_bad_mode_and_padding_say_why():
    buf = context64()
    LAY.put(buf, mode=2)
    assert reasons(buf) == ["Unknown vcpu_hvm_context mode 2"]
    buf = context64()
    LAY.put(buf, pad=1)
    assert reasons(buf) == ["vcpu_hvm_context padding is not zero"]


def test_a_refusal_is_einval_with_the_reason_printed_for_the_calling_vcpu():
    lines = []

    class Hv:
        def gprintk(self, v, text):
            lines.append("%s %s" % (v, text))

    class V:
        hv = Hv()

        def __repr__(self):
            return "d1v0"
    assert ctx.set_info_hvm_guest(V(), None, LAY, context64(cr0=0x11)) == -errno.EINVAL
    assert lines == ["d1v0 CR0 doesn't have paging enabled (0x00000000000011)"]
