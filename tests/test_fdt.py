"""hvsim's own FDT reader (hvsim/boot/fdt.py) against an independent one: the
`fdt` package reads every LCM in firmware/ and a tree with every kind of
property, and both must see the same nodes and the same property values."""

import glob
import os
import struct
import subprocess

import fdt
import pytest

from hvsim.boot.fdt import read_fdt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

EVERY_KIND = """/dts-v1/;
/ {
    empty;
    str = "one";
    strs = "a", "bc", "";
    words = <1 0xffffffff 7>;
    bytes = [00 01 fe];
    n1 { m = <0 0x10000>; n2 { deep = "x"; }; };
    n3@4 { reg = <4>; };
};
"""


def oracle_value(prop):
    """The raw bytes of a property as the `fdt` package decoded it."""
    if isinstance(prop, fdt.PropStrings):
        return b"".join(s.encode() + b"\0" for s in prop.data)
    if isinstance(prop, fdt.PropWords):
        return b"".join(struct.pack(">I", w) for w in prop.data)
    if isinstance(prop, fdt.PropBytes):
        return bytes(prop.data)
    return b""


def tree_of_oracle(blob):
    out = {}
    root = fdt.parse_dtb(blob).root

    def visit(node, path):
        out[path] = {p.name: oracle_value(p) for p in node.props}
        for child in node.nodes:
            visit(child, (path.rstrip("/") + "/" + child.name))
    visit(root, "/")
    return out


def tree_of_hvsim(blob):
    return {n.path: dict(n.props) for n in read_fdt(blob, "test.dtb").walk()}


def blobs():
    found = sorted(glob.glob(os.path.join(ROOT, "firmware", "build", "*", "lcm.dtb")))
    return [pytest.param(p, id=os.path.basename(os.path.dirname(p))) for p in found]


@pytest.mark.parametrize("path", blobs())
def test_scenario_lcms_read_the_same(path):
    blob = open(path, "rb").read()
    assert tree_of_hvsim(blob) == tree_of_oracle(blob)


def test_every_property_kind_reads_the_same(tmp_path):
    src = tmp_path / "t.dts"
    src.write_text(EVERY_KIND)
    blob = subprocess.run(["dtc", "-I", "dts", "-O", "dtb", str(src)], check=True,
                          capture_output=True).stdout
    ours = tree_of_hvsim(blob)
    assert ours == tree_of_oracle(blob)
    assert ours["/"]["strs"] == b"a\0bc\0\0" and ours["/n1/n2"] == {"deep": b"x\0"}
