"""The LCM: detection (hyperlaunch, dom0less, classic), the binding, one
precise line per validation error, garbage never escaping as anything but
HostInputError, the boot scenarios in firmware/, and `hvsim lcm check`."""

import argparse
import io
import os
import random
import re
import shutil
import subprocess

import pytest

import built

from hvsim import lcmcheck
from hvsim.abi import bootfdt
from hvsim.boot import arm64, bzimage, firmware, lcm
from hvsim.boot.multiboot2 import build_mbi, parse_mbi
from hvsim.boot.plan import KIND_CLASSIC, KIND_DOM0LESS, KIND_HYPERLAUNCH
from hvsim.boot.pvh import DomainSpec
from hvsim.errors import ConfigError, HostInputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_GUEST = os.path.join(ROOT, "guests", "build", "hvm64", "example.elf")
KERNEL = 'compatible = "multiboot,kernel", "multiboot,module";'
RAMDISK = 'compatible = "multiboot,ramdisk", "multiboot,module";'


def dtc(tmp_path, source, name="lcm"):
    if shutil.which("dtc") is None:
        pytest.fail("dtc is needed: install the device-tree-compiler package")
    src = tmp_path / (name + ".dts")
    out = tmp_path / (name + ".dtb")
    src.write_text(source)
    r = subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", str(out), str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def hyperlaunch(*domains):
    return ('/dts-v1/;\n/ { chosen { hypervisor { compatible = "hypervisor,xen";\n%s\n}; }; };\n'
            % "\n".join(domains))


def dom0less(*domains):
    return "/dts-v1/;\n/ { chosen {\n%s\n}; };\n" % "\n".join(domains)


def domain(name, props="", kernel="module-index = <1>;", extra=""):
    """A xen,domain node; kernel=None leaves the kernel subnode out."""
    knode = "kernel { %s %s };" % (KERNEL, kernel) if kernel is not None else ""
    return '%s { compatible = "xen,domain"; %s %s %s };' % (name, props, knode, extra)


def check(tmp_path, source, modules=None, host_mem=None):
    data = dtc(tmp_path, source)
    return lcm.check_lcm(data, "lcm.dtb", lcm.ModuleTable(count=modules), host_mem)


def one_error(tmp_path, source, **kw):
    result = check(tmp_path, source, **kw)
    assert len(result.errors) == 1, [str(e) for e in result.errors]
    assert result.plan is None
    return str(result.errors[0])


def boot(tmp_path, lcm_source=None, modules=(b"kernel-1",), xen_args="", lcm_args="",
         host_mem=firmware.DEFAULT_HOST_MEM):
    """Boot through the firmware stage: module 0 is the compiled LCM (if any), then
    `modules` (bytes, or (bytes, module2 args))."""
    lines = []
    if lcm_source is not None:
        dtc(tmp_path, lcm_source)
        lines.append("module2 lcm.dtb %s" % lcm_args)
    for i, m in enumerate(modules):
        data, args = m if isinstance(m, tuple) else (m, "")
        (tmp_path / ("m%d.bin" % i)).write_bytes(data)
        lines.append("module2 m%d.bin %s" % (i, args))
    cfg = tmp_path / "boot.cfg"
    cfg.write_text('menuentry "t" {\n multiboot2 /boot/xen.gz %s\n %s\n}\n'
                   % (xen_args, "\n ".join(lines)))
    result = firmware.boot_config(str(cfg), host_mem=host_mem)
    return lcm.check_firmware(result), result


# -- detection


def test_detect_hyperlaunch(tmp_path):
    checked, _ = boot(tmp_path, hyperlaunch(domain("d", "domid = <3>;")))
    plan = checked.plan_or_raise()
    assert plan.kind == KIND_HYPERLAUNCH
    assert plan.source == firmware.display_path(str(tmp_path / "lcm.dtb"))
    assert [d.domid for d in plan.domains] == [3]
    assert plan.domains[0].kernel.data == b"kernel-1"
    assert plan.domains[0].kernel.label == "module 1 (%s)" % firmware.display_path(
        str(tmp_path / "m0.bin"))


def test_detect_dom0less(tmp_path):
    src = dom0less(domain("domU1", "cpus = <1>; memory = <0 0x8000>;"))
    plan = boot(tmp_path, src)[0].plan_or_raise()
    assert plan.kind == KIND_DOM0LESS and plan.domains[0].domid == 1   # domid_alloc from 1


def test_detect_classic(tmp_path):
    checked, _ = boot(tmp_path, None, modules=[(b"\x7fELF-kernel", "console=hvc0 quiet"),
                                               b"initrd", b"extra"],
                      xen_args="dom0_mem=256M,max:512M dom0_max_vcpus=1-2")
    plan = checked.plan_or_raise()
    assert plan.kind == KIND_CLASSIC and plan.hypervisor_cmdline.startswith("dom0_mem")
    d0 = plan.domains[0]
    assert (d0.domid, d0.name, d0.node_path) == (0, "dom0", None)
    assert d0.caps == bootfdt.DOMAIN_CAPS_CONTROL | bootfdt.DOMAIN_CAPS_HARDWARE | \
        bootfdt.DOMAIN_CAPS_XENSTORE
    assert (d0.mem_bytes, d0.mem_max, d0.vcpus) == (256 << 20, 512 << 20, 2)
    assert d0.kernel.data == b"\x7fELF-kernel" and d0.kernel_cmdline == "console=hvc0 quiet"
    assert d0.ramdisk.data == b"initrd"
    assert len(plan.warnings) == 1 and "module 2" in plan.warnings[0] and \
        "not used" in plan.warnings[0]


def test_detect_fdt_that_is_not_an_lcm(tmp_path):
    plan = boot(tmp_path, "/dts-v1/;\n/ { chosen { stdout-path = \"x\"; }; };\n")[0].plan
    assert plan.kind == KIND_CLASSIC
    assert "module 0 is a device tree but not an LCM" in plan.warnings[0]


def test_hypervisor_node_must_be_xen(tmp_path):
    src = hyperlaunch(domain("d")).replace('"hypervisor,xen"', '"hypervisor,other"')
    with pytest.raises(HostInputError) as e:
        check(tmp_path, src)
    assert str(e.value) == ("lcm.dtb: /chosen/hypervisor: compatible: ['hypervisor,other'] "
                            "does not include 'hypervisor,xen' (Xen: -ENODATA) (write "
                            "compatible = \"hypervisor,xen\";)")


def test_not_an_lcm(tmp_path):
    with pytest.raises(HostInputError) as e:
        check(tmp_path, "/dts-v1/;\n/ { };\n")
    assert str(e.value) == ("lcm.dtb: /chosen: not an LCM: no /chosen/hypervisor compatible "
                            "'hypervisor,xen' and no /chosen child compatible 'xen,domain' "
                            "(see firmware/README.md for the layout)")
    with pytest.raises(HostInputError) as e:
        lcm.check_lcm(b"not a dtb", "x.dtb")
    assert str(e.value) == ("x.dtb: FDT header: not a device tree blob (no magic 0xd00dfeed) "
                            "(compile the LCM source with dtc -I dts -O dtb)")


def test_no_classic_without_modules(tmp_path):
    with pytest.raises(HostInputError) as e:
        boot(tmp_path, None, modules=())[0].plan_or_raise()
    assert str(e.value) == ("MBI: modules: no MB2 modules: nothing to boot (add module2 lines: "
                            "an LCM first, or the dom0 kernel first)")


# -- the binding


def test_binding_values(tmp_path):
    src = hyperlaunch(domain("ctl", "domid = <0>; capabilities = <0x5>; mode = <0>; "
                             "cpus = <2>; memory = <0x0 0x40000>; mem-min = <0 0x20000>; "
                             "mem-max = <0 0x80000>;",
                             'module-index = <1>; bootargs = "console=hvc0";',
                             extra="initrd { %s mb-index = <2>; };" % RAMDISK))
    plan = check(tmp_path, src, modules=3).plan_or_raise()
    d = plan.domains[0]
    assert (d.node_path, d.name, d.domid, d.caps, d.mode, d.vcpus) == \
        ("/chosen/hypervisor/ctl", "ctl", 0, 5, 0, 2)
    assert (d.mem_bytes, d.mem_min, d.mem_max) == (256 << 20, 128 << 20, 512 << 20)
    assert (d.kernel.index, d.kernel.label, d.kernel_cmdline) == (1, "module 1", "console=hvc0")
    assert d.ramdisk.index == 2 and d.capability_names == "CONTROL|XENSTORE"


def test_cmdline_mb2_string_wins_over_bootargs(tmp_path):
    src = hyperlaunch(domain("a", "domid = <1>;", 'module-index = <1>; bootargs = "from-dt";'),
                      domain("b", "domid = <2>;", 'module-index = <2>; bootargs = "from-dt";'))
    plan = boot(tmp_path, src, modules=[(b"k1", "from-mb2"), b"k2"])[0].plan_or_raise()
    assert [d.kernel_cmdline for d in plan.domains] == ["from-mb2", "from-dt"]


def test_domains_in_lcm_order_and_to_domain_specs(tmp_path):
    src = hyperlaunch(domain("zeta", "domid = <5>; capabilities = <0x2>; cpus = <2>; "
                             "memory = <0 0x10000>;", "module-index = <1>;",
                             extra="rd { %s module-index = <3>; };" % RAMDISK),
                      domain("alpha", "domid = <1>;", "module-index = <2>;"))
    plan = boot(tmp_path, src, modules=[b"K-zeta", b"K-alpha", (b"RD", "rd args")])[0].plan
    assert [d.name for d in plan.domains] == ["zeta", "alpha"]
    specs = plan.to_domain_specs()
    assert all(isinstance(s, DomainSpec) and s.is_console for s in specs)
    z = specs[0]
    assert (z.domid, z.name, z.mem, z.vcpus, z.caps, z.kernel_data) == \
        (5, "zeta", 64 << 20, 2, bootfdt.DOMAIN_CAPS_HARDWARE, b"K-zeta")
    assert z.kernel.startswith("module 1 (") and z.source == z.kernel
    assert [(m.data, m.cmdline) for m in z.modules] == [(b"RD", "rd args")]
    assert specs[1].mem == lcm.DEFAULT_DOMAIN_MEM
    assert plan.warnings == ["%s: /chosen/hypervisor/alpha: memory: missing: the domain "
                             "gets 128 MiB" % plan.source]


def test_to_domain_specs_needs_bytes(tmp_path):
    plan = check(tmp_path, hyperlaunch(domain("d"))).plan
    with pytest.raises(HostInputError) as e:
        plan.to_domain_specs()
    assert "the plan has no bytes for this module" in str(e.value)


def test_reg_matching_an_mb2_module(tmp_path):
    # the firmware puts module 0 (the LCM, < 4 KiB) at 16 MiB and module 1 on the next page
    src = hyperlaunch(domain("d", "#address-cells = <1>; #size-cells = <1>;",
                             "reg = <0x1001000 0x8>;"))
    plan = boot(tmp_path, src, modules=[(b"kernel-A", "args")])[0].plan_or_raise()
    k = plan.domains[0].kernel
    assert (k.index, k.data, plan.domains[0].kernel_cmdline) == (1, b"kernel-A", "args")


def test_reg_into_host_memory(tmp_path):
    src = hyperlaunch(domain("d", "#address-cells = <2>; #size-cells = <2>;",
                             "reg = <0x0 0x1001002 0x0 0x4>;"))
    plan = boot(tmp_path, src, modules=[b"kernel-A"])[0].plan_or_raise()
    k = plan.domains[0].kernel
    assert (k.index, k.data, k.label) == (None, b"rnel", "reg [0x1001002, 0x1001006)")


def test_reg_nowhere(tmp_path):
    src = hyperlaunch(domain("d", "#address-cells = <1>; #size-cells = <1>;",
                             "reg = <0x30000000 0x1000>;"))
    checked, _ = boot(tmp_path, src)
    assert [str(e) for e in checked.errors] == [
        "%s: /chosen/hypervisor/d/kernel: reg: [0x30000000, 0x30001000) matches no MB2 module "
        "and holds no loaded bytes (use module-index, or the exact range of a module)"
        % (tmp_path / "lcm.dtb")]


def test_reg_without_mbi_is_shown_unchecked(tmp_path):
    src = hyperlaunch(domain("d", "", "reg = <0x0 0x1000000 0x400000>;"))   # 2 + 1 cells
    assert check(tmp_path, src).plan.domains[0].kernel.label == "reg [0x1000000, 0x1400000)"


def test_unknown_capability_bits_warn_and_are_masked(tmp_path):
    result = check(tmp_path, hyperlaunch(domain("d", "capabilities = <0x45>; "
                                                "memory = <0 0x8000>;")))
    assert result.plan.domains[0].caps == 0x5
    assert result.warnings == [
        "lcm.dtb: /chosen/hypervisor/d: capabilities: unknown bits 0x40 ignored (masked off as "
        "Xen does; known: CONTROL 0x1, HARDWARE 0x2, XENSTORE 0x4, DEVICE_MODEL 0x8, "
        "NOT_HYPERCALL_TARGET 0x10)"]


def test_dom0less_domids_are_allocated_around_given_ones(tmp_path):
    body = "cpus = <1>; memory = <0 0x8000>;"
    src = dom0less(domain("a", body, "module-index = <1>;"),
                   domain("b", body + " domid = <1>;", "module-index = <2>;"),
                   domain("c", body, "module-index = <3>;"))
    assert [d.domid for d in check(tmp_path, src).plan.domains] == [2, 1, 3]


def test_static_evtchns(tmp_path):
    src = hyperlaunch(
        domain("a", "domid = <1>;", "module-index = <1>;",
               extra='ea: ec { compatible = "xen,evtchn-v1"; xen,evtchn = <10 &eb>; };'),
        domain("b", "domid = <2>;", "module-index = <2>;",
               extra='eb: ec { compatible = "xen,evtchn-v1"; xen,evtchn = <20 &ea>; };'))
    plan = check(tmp_path, src).plan_or_raise()
    ec = plan.domains[0].static_evtchns[0]
    assert (ec.node_path, ec.local_port, ec.remote_domid, ec.remote_port,
            ec.remote_node_path) == ("/chosen/hypervisor/a/ec", 10, 2, 20,
                                     "/chosen/hypervisor/b/ec")
    assert plan.static_evtchn_pairs() == [((1, 10), (2, 20))]


# -- validation: one precise line each

D = "lcm.dtb: /chosen/hypervisor/d"


@pytest.mark.parametrize("source, kw, expected", [
    (hyperlaunch(domain("a", "domid = <1>;", "module-index = <1>;"),
                 domain("b", "", "module-index = <2>;")), {},
     "lcm.dtb: /chosen/hypervisor/b: domid: missing: with several domains each needs one "
     "(add domid = <N>; (N below 0x7ff0, unique))"),
    (hyperlaunch(domain("a", "domid = <1>;", "module-index = <1>;"),
                 domain("b", "domid = <1>;", "module-index = <2>;")), {},
     "lcm.dtb: /chosen/hypervisor/b: domid: 1 is already /chosen/hypervisor/a's (give each "
     "domain its own domid)"),
    (hyperlaunch(domain("d", "domid = <0x7ff0>;")), {},
     D + ": domid: 32752 (0x7ff0) is at or above DOMID_FIRST_RESERVED (0x7ff0) (use a domid "
     "below 0x7ff0)"),
    (hyperlaunch(domain("a", "domid = <1>; capabilities = <0x2>;", "module-index = <1>;"),
                 domain("b", "domid = <2>; capabilities = <0x3>;", "module-index = <2>;")), {},
     "lcm.dtb: /chosen/hypervisor/b: capabilities: a second hardware domain "
     "(/chosen/hypervisor/a already has DOMAIN_CAPS_HARDWARE) (there can be only one hardware "
     "domain)"),
    (hyperlaunch(domain("a", "domid = <1>; capabilities = <0x4>;", "module-index = <1>;"),
                 domain("b", "domid = <2>; capabilities = <0x5>;", "module-index = <2>;")), {},
     "lcm.dtb: /chosen/hypervisor/b: capabilities: a second xenstore domain "
     "(/chosen/hypervisor/a already has DOMAIN_CAPS_XENSTORE) (there can be only one xenstore "
     "domain)"),
    (hyperlaunch(domain("d", kernel=None)), {},
     D + ": no kernel: no subnode is compatible 'multiboot,kernel' and 'multiboot,module' "
     "(add kernel { compatible = \"multiboot,kernel\", \"multiboot,module\"; module-index = "
     "<N>; };)"),
    (hyperlaunch(domain("d", kernel="module-index = <4>;")), {"modules": 3},
     D + "/kernel: module-index: 4 but there are only 3 MB2 modules (0-2, the LCM being 0) "
     "(add a module2 line for it or fix the index)"),
    (hyperlaunch(domain("d", kernel="module-index = <0>;")), {},
     D + "/kernel: module-index: 0 is the LCM itself (the first module after the LCM is "
     "module-index = <1>)"),
    (hyperlaunch(domain("d", kernel="module-index = <63>;")), {},
     D + "/kernel: module-index: 63: Xen supports at most 63 boot modules (use an index below "
     "63)"),
    (hyperlaunch(domain("d", "#address-cells = <1>; #size-cells = <1>;",
                        "module-index = <1>; reg = <0x1000 0x10>;")), {},
     D + "/kernel: reg: given together with module-index: a module is located by one of them "
     "(remove reg or module-index)"),
    (hyperlaunch(domain("d", kernel="module-index = <1>; mb-index = <1>;")), {},
     D + "/kernel: mb-index: given together with module-index (keep module-index only)"),
    (hyperlaunch(domain("d", kernel="")), {},
     D + "/kernel: no location: neither module-index nor reg (add module-index = <N>; (N: "
     "the module's place among the MB2 modules, the LCM being 0))"),
    (hyperlaunch(domain("a", "domid = <1>;", "module-index = <1>;"),
                 domain("b", "domid = <2>;", "mb-index = <1>;")), {},
     "lcm.dtb: /chosen/hypervisor/b/kernel: mb-index: module 1 is already used by "
     "/chosen/hypervisor/a/kernel (each MB2 module backs one domain module: load it twice)"),
    (hyperlaunch(domain("d", "memory = <0x1 0x0>;")), {},
     D + ": memory: 4 TiB is more than the host's 4 GiB (lower it, or give the host more "
     "memory)"),
    (hyperlaunch(domain("a", "domid = <1>; memory = <0 0x300000>;", "module-index = <1>;"),
                 domain("b", "domid = <2>; memory = <0 0x200000>;", "module-index = <2>;")), {},
     "lcm.dtb: /chosen/hypervisor/b: memory: 2 GiB brings the domains' total to 5 GiB, more "
     "than the host's 4 GiB (lower the domains' memory, or give the host more)"),
    (hyperlaunch(domain("d", "memory = <0 0x20000>;")), {"host_mem": 64 << 20},
     D + ": memory: 128 MiB is more than the host's 64 MiB (lower it, or give the host more "
     "memory)"),
    (hyperlaunch(domain("d", "domid = <0 1>;")), {},
     D + ": domid: 8 bytes; expected 1 cell (a u32) (write it as domid = <N>;)"),
    (hyperlaunch(domain("d", "memory = <0x20000>;")), {},
     D + ": memory: 4 bytes; expected 2 cells (a u64 in KiB, e.g. <0x0 0x20000> for 128 MiB) "
     "(write it as memory = <N N>;)"),
    (hyperlaunch(domain("d", "#address-cells = <3>;", "reg = <0 0 0 0>;")), {},
     D + ": #address-cells: 3: must be 1 or 2 for module reg (use <1> (32-bit) or <2> "
     "(64-bit))"),
    (hyperlaunch(domain("d", "#address-cells = <1>; #size-cells = <1>;", "reg = <0x1000>;")), {},
     D + "/kernel: reg: 4 bytes; expected 2 cells (#address-cells 1 + #size-cells 1 of "
     "/chosen/hypervisor/d) (write it as reg = <N N>;)"),
    (hyperlaunch(domain("d", "mode = <3>;")), {},
     D + ": mode: 0x3 sets both BUILD_MODE_PARAVIRT and BUILD_MODE_ENABLE_DM, which Xen "
     "rejects (-EINVAL) (use mode = <0> for PVH)"),
    (hyperlaunch(domain("d", "mode = <1>;")), {},
     D + ": mode: 0x1 asks for a PV domain (BUILD_MODE_PARAVIRT); hvsim runs PVH domains only "
     "(use mode = <0> for PVH)"),
    (hyperlaunch(domain("d", "mode = <2>;")), {},
     D + ": mode: 0x2 asks for an HVM domain with a device model (BUILD_MODE_ENABLE_DM); hvsim "
     "runs PVH domains only (use mode = <0> for PVH)"),
    (hyperlaunch(domain("d", "cpus = <0>;")), {},
     D + ": cpus: 0: a domain needs at least one vCPU (set cpus = <1> or more)"),
    (hyperlaunch(domain("d", "cpus = <129>;")), {},
     D + ": cpus: 129 is more than HVM_MAX_VCPUS (128) (use at most 128)"),
    (hyperlaunch(domain("d", "memory = <0 0x10000>; mem-min = <0 0x20000>;")), {},
     D + ": mem-min: 128 MiB is more than memory (64 MiB) (keep mem-min <= memory)"),
    (hyperlaunch(domain("d", "memory = <0 2>;")), {},
     D + ": memory: 2 KiB is less than one 4 KiB page (give the size in KiB, e.g. <0x0 "
     "0x20000> for 128 MiB)"),
    (hyperlaunch(domain("d", kernel=None, extra='kernel { compatible = "multiboot,kernel"; '
                        'module-index = <1>; };')), {},
     D + "/kernel: compatible: 'multiboot,kernel' without 'multiboot,module' (write "
     "compatible = \"multiboot,kernel\", \"multiboot,module\";)"),
    (hyperlaunch(domain("d", extra="k2 { %s module-index = <2>; };" % KERNEL)), {},
     D + "/k2: a second multiboot,kernel module (the first is /chosen/hypervisor/d/kernel) "
     "(give each domain one kernel and at most one ramdisk)"),
    (hyperlaunch(domain("d", kernel='module-index = <1>; bootargs = <1>;')), {},
     D + "/kernel: bootargs: not a single NUL-terminated string (write it as bootargs = "
     "\"...\";)"),
    (dom0less(domain("u", "cpus = <1>;")), {},
     "lcm.dtb: /chosen/u: memory: missing (dom0less requires it) (add memory = <0x0 KiB>; "
     "e.g. <0x0 0x20000> for 128 MiB)"),
    (dom0less(domain("u", "memory = <0 0x8000>;")), {},
     "lcm.dtb: /chosen/u: cpus: missing (dom0less requires it) (add cpus = <1>;)"),
    ('/dts-v1/;\n/ { chosen { hypervisor { compatible = "hypervisor,xen"; }; }; };\n', {},
     "lcm.dtb: /chosen/hypervisor: no domain: no child node is compatible 'xen,domain' "
     "(describe at least one domain)"),
])
def test_validation_errors(tmp_path, source, kw, expected):
    assert one_error(tmp_path, source, **kw) == expected


def evtchn_pair(a_cells, b_cells, a_port_domain="domid = <1>;"):
    return hyperlaunch(
        domain("a", a_port_domain, "module-index = <1>;",
               extra='ea: ec { compatible = "xen,evtchn-v1"; xen,evtchn = <%s>; };' % a_cells),
        domain("b", "domid = <2>;", "module-index = <2>;",
               extra='eb: ec { compatible = "xen,evtchn-v1"; xen,evtchn = <%s>; }; '
                     'ex: other { compatible = "xen,evtchn-v1"; xen,evtchn = <30 &ea>; };'
                     % b_cells))


A_EC = "lcm.dtb: /chosen/hypervisor/a/ec: xen,evtchn: "


@pytest.mark.parametrize("a_cells, b_cells, expected", [
    ("10 &eb", "20 &ex", A_EC + "its peer /chosen/hypervisor/b/ec does not point back at it "
     "(each end's xen,evtchn names the other end)"),
    ("10 0x99", "20 &ea", A_EC + "phandle 0x99 names no node (point it at the other end with "
     "&label)"),
    ("0 &eb", "20 &ea", A_EC + "local port 0: must be 1..1023 (port 0 is reserved; dom0less "
     "domUs get 1024 ports) (pick a port in that range)"),
    ("10 &eb", "20", "lcm.dtb: /chosen/hypervisor/b/ec: xen,evtchn: 4 bytes; expected 2 cells "
     "(<local-port &peer-node>) (write it as xen,evtchn = <N N>;)"),
])
def test_evtchn_errors(tmp_path, a_cells, b_cells, expected):
    result = check(tmp_path, evtchn_pair(a_cells, b_cells))
    assert expected in [str(e) for e in result.errors]
    assert result.plan is None


def test_evtchn_peer_must_be_an_evtchn_node(tmp_path):
    src = hyperlaunch(
        domain("a", "domid = <1>;", "module-index = <1>;",
               extra='ec { compatible = "xen,evtchn-v1"; xen,evtchn = <10 &kb>; };'),
        domain("b", "domid = <2>;", kernel=None,
               extra="kb: kernel { %s module-index = <2>; };" % KERNEL))
    assert one_error(tmp_path, src) == (
        A_EC + "its peer /chosen/hypervisor/b/kernel is not a 'xen,evtchn-v1' node of a domain "
        "(point it at the other domain's event channel node)")


def test_evtchn_duplicate_local_port(tmp_path):
    src = hyperlaunch(
        domain("a", "domid = <1>;", "module-index = <1>;",
               extra='e1: ec1 { compatible = "xen,evtchn-v1"; xen,evtchn = <10 &f1>; }; '
                     'e2: ec2 { compatible = "xen,evtchn-v1"; xen,evtchn = <10 &f2>; };'),
        domain("b", "domid = <2>;", "module-index = <2>;",
               extra='f1: ec1 { compatible = "xen,evtchn-v1"; xen,evtchn = <11 &e1>; }; '
                     'f2: ec2 { compatible = "xen,evtchn-v1"; xen,evtchn = <12 &e2>; };'))
    assert one_error(tmp_path, src) == (
        "lcm.dtb: /chosen/hypervisor/a/ec2: xen,evtchn: local port 10 is also "
        "/chosen/hypervisor/a/ec1's (give each static event channel of a domain its own port)")


def test_every_error_is_collected(tmp_path):
    src = hyperlaunch(domain("d", "domid = <0x8000>; cpus = <0>; mode = <1>;",
                             "module-index = <0>;"))
    errors = [str(e) for e in check(tmp_path, src).errors]
    assert len(errors) == 4 and all(e.startswith("lcm.dtb: /chosen/hypervisor/d") for e in errors)


def test_plan_raises_the_first_error(tmp_path):
    src = hyperlaunch(domain("d", "cpus = <0>;"))
    with pytest.raises(HostInputError) as e:
        boot(tmp_path, src)[0].plan_or_raise()
    assert str(e.value).endswith("/chosen/hypervisor/d: cpus: 0: a domain needs at least one "
                                 "vCPU (set cpus = <1> or more)")
    assert str(e.value).startswith(firmware.display_path(str(tmp_path / "lcm.dtb")))


def test_dom0_options_errors(tmp_path):
    with pytest.raises(HostInputError) as e:
        boot(tmp_path, None, xen_args="dom0_mem=lots")[0]
    assert str(e.value) == ("Xen command line: dom0_mem: 'lots' is not [min:S,][max:S,][S] "
                            "(use e.g. dom0_mem=512M)")
    with pytest.raises(HostInputError) as e:
        boot(tmp_path, None, xen_args="dom0_max_vcpus=0")[0]
    assert str(e.value) == ("Xen command line: dom0_max_vcpus: '0' is not 1..128 (use e.g. "
                            "dom0_max_vcpus=2)")


# -- garbage in: only HostInputError out


def mutations(seed, rng, count):
    for i in range(count):
        kind = i % 3
        if kind == 0:
            yield seed[:rng.randrange(0, len(seed) + 1)]
        elif kind == 1:
            data = bytearray(seed)
            for _ in range(rng.randrange(1, 8)):
                data[rng.randrange(len(data))] = rng.getrandbits(8)
            yield bytes(data)
        else:
            yield seed[:4] + bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))


# where a refusal points: the FDT structure (header, a byte offset) or a node
FDT_FIELD = re.compile(r"FDT header|FDT offset 0x[0-9a-f]+(: .+)?|/.*")


def assert_names_file_and_field(e, source, field=FDT_FIELD):
    """One line: SOURCE: FIELD: problem (fix), FIELD where the problem is."""
    assert e.file == source and e.problem, repr(e)
    assert e.field is not None and field.fullmatch(e.field), repr(e.field)
    assert str(e).startswith("%s: %s: %s" % (source, e.field, e.problem)), str(e)
    assert "\n" not in str(e)


def test_fuzz_lcm(tmp_path):
    """Garbage LCMs: a broken blob or a device tree that is no LCM raises at
    once, naming the FDT header, the offset or /chosen; a readable LCM with
    bad properties collects errors naming the node (and property), and gives
    no plan; the fuzz reaches all three, and some mutations still pass."""
    rng = random.Random(1)
    seeds = [dtc(tmp_path, open(os.path.join(ROOT, "firmware", s, "lcm.dts")).read(), s)
             for s in ("demo3", "dom0less")]
    outcomes = {"raised at the FDT": 0, "raised at /chosen": 0, "collected": 0, "passed": 0}
    for seed in seeds:
        for data in mutations(seed, rng, 1500):
            try:
                result = lcm.check_lcm(data, "fuzz.dtb", lcm.ModuleTable(count=rng.randrange(1, 6)))
            except HostInputError as e:
                assert_names_file_and_field(e, "fuzz.dtb")
                outcomes["raised at /chosen" if e.field.startswith("/") else
                         "raised at the FDT"] += 1
                continue
            for e in result.errors:
                assert_names_file_and_field(e, "fuzz.dtb", re.compile(r"/.*"))
            assert (result.plan is None) == bool(result.errors)
            outcomes["collected" if result.errors else "passed"] += 1
    assert all(outcomes.values()), outcomes


def test_fuzz_module0_through_the_mbi(tmp_path):
    """Garbage as MB2 module 0: only HostInputError, naming module 0 and the
    FDT header, offset or node, or (a device tree that is no LCM, booted as
    the classic dom0) the Xen command line's dom0_mem, too big for this host."""
    rng = random.Random(2)
    seed = dtc(tmp_path, open(os.path.join(ROOT, "firmware", "demo3", "lcm.dts")).read())
    memory = firmware.HostMemory(64 << 20)
    for data in mutations(seed, rng, 600):
        memory.blobs = {0x1000000: data, 0x1100000: b"kernel"}
        mbi = build_mbi("", "fuzz", [(0x1000000, 0x1000000 + len(data), ""),
                                     (0x1100000, 0x1100006, "")],
                        memory.mmap, memory.mem_lower, memory.mem_upper)
        info = parse_mbi(mbi, memory=memory)
        try:
            result = lcm.check_bootinfo(info, memory=memory)
        except HostInputError as e:
            if e.file == "Xen command line":
                assert_names_file_and_field(e, "Xen command line", re.compile("dom0_mem"))
                assert "more than the host's" in e.problem
            else:
                assert_names_file_and_field(e, "LCM (MB2 module 0)")
            continue
        for e in result.errors:
            assert_names_file_and_field(e, "LCM (MB2 module 0)", re.compile(r"/.*"))
        assert (result.plan is None) == bool(result.errors)


# -- the scenarios in firmware/


def scenario_dirs():
    base = os.path.join(ROOT, "firmware")
    return sorted(d for d in os.listdir(base) if os.path.isfile(os.path.join(base, d, "boot.cfg")))


def module2_count(cfg_path):
    return len(re.findall(r"^\s*module2\s", open(cfg_path).read(), re.M))


EXPECTED = {"demo3": (KIND_HYPERLAUNCH, 3), "linux-xtf": (KIND_HYPERLAUNCH, 3),
            "one": (KIND_HYPERLAUNCH, 1),
            "sixteen": (KIND_HYPERLAUNCH, 16), "dom0less": (KIND_DOM0LESS, 2),
            "classic": (KIND_CLASSIC, 1), "xsm-a": (KIND_HYPERLAUNCH, 7),
            "xsm-b": (KIND_HYPERLAUNCH, 4), "dom0less-arm64": (KIND_DOM0LESS, 2),
            "fuzz-multi": (KIND_HYPERLAUNCH, 3), "linux-arm64": (KIND_DOM0LESS, 1)}


def test_every_scenario_is_listed():
    assert set(scenario_dirs()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if EXPECTED[n][0] != KIND_CLASSIC))
def test_scenario_lcm(tmp_path, name):
    base = os.path.join(ROOT, "firmware", name)
    data = dtc(tmp_path, open(os.path.join(base, "lcm.dts")).read())
    result = lcm.check_lcm(data, "lcm.dtb",
                           lcm.ModuleTable(count=module2_count(os.path.join(base, "boot.cfg"))))
    assert result.errors == [] and result.warnings == []
    assert (result.plan.kind, len(result.plan.domains)) == EXPECTED[name]


# scenarios whose modules are in build/ (make linux, make xtf), not guests/build/
USES_BUILD = {"linux-xtf": ("build/linux/vmlinuz", "build/xtf/.hvsim-built"),
              "linux-arm64": ("build/linux-arm64/Image", "build/linux-arm64/initramfs.cpio")}


def scenario_tree(tmp_path, name):
    """firmware/NAME's boot.cfg as it is, in a tree under tmp_path laid out
    like the repository's (its LCM compiled, the guests linked); returns
    the scenario's directory there."""
    fw = tmp_path / "firmware"
    (fw / name).mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "firmware", name, "boot.cfg"), fw / name / "boot.cfg")
    lcm_src = os.path.join(ROOT, "firmware", name, "lcm.dts")
    if os.path.exists(lcm_src):
        (fw / "build" / name).mkdir(parents=True)
        dtc(fw / "build" / name, open(lcm_src).read())
    build = os.path.dirname(os.path.dirname(EXAMPLE_GUEST))
    for env in ("hvm64", "hvm32pae", "arm64"):       # hvm32pae: fuzz-multi's 32-bit fuzzer
        guests = tmp_path / "guests" / "build" / env
        guests.mkdir(parents=True)
        if os.path.isdir(os.path.join(build, env)):
            for image in os.listdir(os.path.join(build, env)):
                os.symlink(os.path.join(build, env, image), guests / image)
    for path in USES_BUILD.get(name, ()):
        if not os.path.exists(os.path.join(ROOT, path)):
            pytest.skip("%s uses %s, which is not built (make linux, make linux-arm64, make xtf)"
                        % (name, path))
    if name in USES_BUILD:
        os.symlink(os.path.join(ROOT, "build"), tmp_path / "build")
    return fw / name


@built.needs(EXAMPLE_GUEST)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scenario_boot_config(tmp_path, name):
    """The scenario's boot.cfg as it is, in a tree laid out like the repository's."""
    plan, result = lcm.boot_plan(str(scenario_tree(tmp_path, name) / "boot.cfg"))
    assert (plan.kind, len(plan.domains)) == EXPECTED[name]
    assert plan.warnings == []
    assert all(s.kernel_data[:4] == b"\x7fELF" or arm64.is_arm64_kernel(s.kernel_data)
               or bzimage.is_bzimage(s.kernel_data) for s in plan.to_domain_specs())


# -- hvsim lcm check


def run_check(argv):
    parser = argparse.ArgumentParser(prog="hvsim")
    lcmcheck.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lcm", "check"] + argv)
    out, err = io.StringIO(), io.StringIO()
    checked = (lcmcheck._check_lcm_file(args, open(args.file, "rb").read(), None)
               if argv[0].endswith(".dtb") else lcmcheck._check_config(args, None))
    code = lcmcheck.report(*checked, out, err)
    return code, out.getvalue(), err.getvalue()


def test_lcm_check_table(tmp_path):
    dtc(tmp_path, open(os.path.join(ROOT, "firmware", "demo3", "lcm.dts")).read())
    path = str(tmp_path / "lcm.dtb")
    code, out, err = run_check([path])
    assert code == 0 and err == ""
    assert out == (
        "LCM %s (module-index not range-checked: give --modules N): hyperlaunch, 3 domains\n"
        "Xen command line: (empty)\n"
        "domid  name   capabilities           mode  vcpus  memory  kernel    ramdisk  "
        "command line\n"
        "0      ctl    CONTROL|XENSTORE       PVH   1      64 MiB  module 1  -        "
        "role=control guest=2 port=10\n"
        "1      hw     HARDWARE|DEVICE_MODEL  PVH   2      64 MiB  module 2  -        "
        "role=hardware control=0 port=10\n"
        "2      guest  -                      PVH   1      32 MiB  module 3  -        "
        "role=guest\n"
        "static event channels:\n"
        "  d0 port 10 <-> d1 port 10\n" % path)


def test_lcm_check_errors(tmp_path):
    dtc(tmp_path, hyperlaunch(domain("d", "cpus = <0>; mode = <1>; memory = <0 0x8000>;")))
    code, out, err = run_check([str(tmp_path / "lcm.dtb"), "--modules", "1"])
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "hvsim: error: lcm.dtb: /chosen/hypervisor/d: mode: 0x1 asks for a PV domain "
        "(BUILD_MODE_PARAVIRT); hvsim runs PVH domains only (use mode = <0> for PVH)"
        .replace("lcm.dtb", str(tmp_path / "lcm.dtb")),
        "hvsim: error: %s: /chosen/hypervisor/d: cpus: 0: a domain needs at least one vCPU "
        "(set cpus = <1> or more)" % (tmp_path / "lcm.dtb"),
        "hvsim: error: %s: /chosen/hypervisor/d/kernel: module-index: 1 but there are only 1 "
        "MB2 modules (0-0, the LCM being 0) (add a module2 line for it or fix the index)"
        % (tmp_path / "lcm.dtb")]


def test_lcm_check_main(tmp_path, capsys):
    dtc(tmp_path, hyperlaunch(domain("d")))
    parser = argparse.ArgumentParser(prog="hvsim")
    lcmcheck.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lcm", "check", str(tmp_path / "lcm.dtb"), "--host-mem", "1G"])
    assert args.func(args) == 0
    assert "hyperlaunch, 1 domain\n" in capsys.readouterr().out
    args = parser.parse_args(["lcm", "check", str(tmp_path / "none.dtb")])
    with pytest.raises(HostInputError) as e:
        args.func(args)
    assert str(e.value) == "%s: cannot read it: No such file or directory" % (tmp_path /
                                                                              "none.dtb")
    args = parser.parse_args(["lcm"])
    assert args.func(args) == 2


def test_lcm_check_refuses_other_files(tmp_path):
    parser = argparse.ArgumentParser(prog="hvsim")
    lcmcheck.add_parser(parser.add_subparsers(dest="command"))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\xff binary")
    args = parser.parse_args(["lcm", "check", str(junk)])
    with pytest.raises(HostInputError) as e:
        args.func(args)
    assert str(e.value) == ("%s: neither a device tree blob (an LCM) nor a boot config (text) "
                            "(give an LCM compiled by dtc, or a boot.cfg)" % junk)


def test_lcm_check_boot_config(tmp_path):
    dtc(tmp_path, hyperlaunch(domain("d", "memory = <0 0x8000>;", "module-index = <1>;",
                                     extra="rd { %s module-index = <2>; };" % RAMDISK)))
    (tmp_path / "k.elf").write_bytes(b"kernel")
    (tmp_path / "rd.img").write_bytes(b"ramdisk")
    cfg = tmp_path / "boot.cfg"
    cfg.write_text('menuentry "t" --id t {\n multiboot2 /boot/xen.gz loglvl=all\n'
                   ' module2 lcm.dtb\n module2 k.elf console=hvc0\n module2 rd.img\n}\n')
    code, out, err = run_check([str(cfg), "--entry", "t"])
    k, rd = (firmware.display_path(str(tmp_path / n)) for n in ("k.elf", "rd.img"))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "boot config %s, entry 't': hyperlaunch, 1 domain" % cfg
    assert lines[1] == "Xen command line: loglvl=all"
    assert lines[3].split() == ["0", "d", "-", "PVH", "1", "32", "MiB", "module", "1",
                                "(%s)" % k, "module", "2", "(%s)" % rd, "console=hvc0"]


@built.needs(EXAMPLE_GUEST)
def test_lcm_check_scenario_directory(tmp_path, capsys):
    """`hvsim lcm check DIR` reads DIR/boot.cfg, as `hvsim boot DIR` does; a
    directory without one is refused in one line."""
    parser = argparse.ArgumentParser(prog="hvsim")
    lcmcheck.add_parser(parser.add_subparsers(dest="command"))
    demo3 = str(scenario_tree(tmp_path, "demo3"))
    args = parser.parse_args(["lcm", "check", demo3])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("boot config %s, entry " % os.path.join(demo3, "boot.cfg"))
    assert "hyperlaunch, 3 domains" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    args = parser.parse_args(["lcm", "check", str(empty)])
    with pytest.raises(ConfigError) as e:
        args.func(args)
    assert str(e.value) == ("%s: no such boot config (give a boot.cfg or a scenario "
                            "directory)" % empty)
