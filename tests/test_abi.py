"""hvsim.abi against the layouts gcc computed from Xen's own public headers
(tests/data/xen-struct-layouts.txt: x86_64, i386 and aarch64 builds)."""

import os
import re
import subprocess

import pytest

from hvsim.abi import (ARM64, X86_32, X86_64, cheader, console, event_channel, grant_table,
                       hvm, memory, sched, start_info, vcpu, version, xen, xs_wire)
from hvsim.abi.cstruct import Struct

HERE = os.path.dirname(__file__)
ABIS = {"x86_64": X86_64, "i386": X86_32, "arm64": ARM64}
MODULES = (xen, sched, version, console, start_info, event_channel, grant_table, memory,
           hvm, vcpu, xs_wire)


def _reference():
    """{(c name, field or None): {abi: (offset, size) or size}} from the layout file."""
    ref = {}
    pat = re.compile(r"^(SIZE|OFF|VAL)\s+(\S+ \S+|\S+)\s+(x86_64=\S+)\s+(i386=\S+)\s+(arm64=\S+)")
    with open(os.path.join(HERE, "data", "xen-struct-layouts.txt")) as f:
        for line in f:
            m = pat.match(line)
            if not m:
                continue
            kind, name = m.group(1), m.group(2)
            vals = dict(x.split("=", 1) for x in m.group(3, 4, 5))
            ref[(kind, name)] = vals
    return ref


REF = _reference()


def _ours():
    out = {}
    for mod in MODULES:
        for key, value in vars(mod).items():
            if isinstance(value, Struct) and not key.startswith("_"):
                out[value.cname] = value
    return out


OURS = _ours()
# per-ABI arch structs are reached through the struct that embeds them
EMBEDDED = {"struct arch_vcpu_info": (xen.vcpu_info, "arch"),
            "struct arch_shared_info": (xen.shared_info, "arch")}


def _struct_for(base, abi):
    if base in EMBEDDED:
        parent, member = EMBEDDED[base]
        return dict(parent.members_for(abi))[member]
    return OURS[base]


def _cases():
    for (kind, name), vals in sorted(REF.items()):
        base = name.split(".", 1)[0]
        if base in OURS or base in EMBEDDED:
            yield pytest.param(kind, name, vals, id=name)


@pytest.mark.parametrize("kind,name,vals", list(_cases()))
def test_layout_matches_xen_headers(kind, name, vals):
    base, _, field = name.partition(".")
    exists = {a: REF.get(("SIZE", base), {}).get(a) != "-" for a in ABIS}
    for abi_name, abi in ABIS.items():
        want = vals[abi_name]
        if not exists[abi_name]:
            continue                        # the struct is not part of this ABI
        lay = _struct_for(base, abi).layout(abi)
        if want == "-":
            assert field not in lay.fields, (abi_name, name)
            continue
        if kind == "SIZE":
            assert lay.size == int(want), (abi_name, name)
        else:
            off, size = (int(x) for x in want.split("/"))
            f = lay.fields.get(field)
            assert f is not None, (abi_name, name)
            assert (f.offset, f.size) == (off, size), (abi_name, name)


def test_reference_covers_the_core_structs():
    covered = {name.split(".", 1)[0] for (_, name) in REF if name.split(".", 1)[0] in OURS}
    for must in ("struct shared_info", "struct vcpu_info", "struct evtchn_status",
                 "struct gnttab_copy", "struct hvm_start_info", "struct xen_memory_reservation"):
        assert must in covered


def test_values_from_reference():
    legacy = REF[("VAL", "XEN_LEGACY_MAX_VCPUS")]
    nr2l = REF[("VAL", "EVTCHN_2L_NR_CHANNELS")]
    for abi_name, abi in ABIS.items():
        assert xen.legacy_max_vcpus(abi) == int(legacy[abi_name])
        assert event_channel.evtchn_2l_nr_channels(abi) == int(nr2l[abi_name])


def test_xs_wire_values_from_reference():
    """Every number of io/xs_wire.h that gcc saw equals ours (the enum, ring and limits)."""
    vals = {name: v for (kind, name), v in REF.items()
            if kind == "VAL" and (name.startswith("XS_") or name.startswith("XENSTORE_"))}
    assert len(vals) >= 40
    for name, by_abi in vals.items():
        assert getattr(xs_wire, name) == int(by_abi["x86_64"]) == int(by_abi["i386"]), name
    assert xs_wire.xsd_sockmsg.layout(X86_64).size == xs_wire.XSD_SOCKMSG_SIZE


def test_field_access_roundtrip():
    lay = event_channel.evtchn_status.layout(X86_64)
    buf = bytearray(lay.size)
    lay.put(buf, dom=0x7FF0, port=5, status=2, **{"u.interdomain.port": 9})
    assert lay.get(buf, "dom", "port", "status") == (0x7FF0, 5, 2)
    assert lay.get(buf, "u.interdomain.port") == 9
    lay.put(buf, status=-1)                      # values are masked to the field width
    assert lay.get(buf, "status") == 0xFFFFFFFF


@pytest.mark.parametrize("flag", ["-m64", "-m32"])
def test_generated_c_header_agrees_with_gcc(tmp_path, flag):
    """gcc lays the generated structs out exactly as hvsim.abi does (static asserts)."""
    hdr = tmp_path / "xen-abi.h"
    hdr.write_text(cheader.generate())
    src = tmp_path / "t.c"
    src.write_text('#include "xen-abi.h"\nint x = __HYPERVISOR_sched_op + ENOSYS;\n')
    r = subprocess.run(["gcc", flag, "-ffreestanding", "-c", str(src), "-o",
                        str(tmp_path / "t.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
