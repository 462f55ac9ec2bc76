"""The device tree an arm64 domain boots with, as libxl writes it
(tools/libs/light/libxl_arm.c: make_root_properties, make_chosen_node,
make_cpus_node, make_psci_node, make_memory_nodes, make_gicv2_node,
make_timer_node, make_hypervisor_node), generated with the `fdt` package."""

import fdt

from ..abi import arch_arm as a
from ..hv.version import version_tuple

PHANDLE_GIC = 65000                  # GUEST_PHANDLE_GIC
DT_IRQ_TYPE_LEVEL_LOW = 0x8
GIC_PPI = 1
HYP_TIMER_PPI = 26                   # the EL2 timer: listed by libxl, never fired for a guest


def _cells64(*values):
    out = []
    for v in values:
        out += [v >> 32, v & 0xFFFFFFFF]
    return out


def _ppi(irq):
    """An interrupt specifier for PPI `irq`, every CPU, level low (set_interrupt())."""
    return [GIC_PPI, irq - 16, (0xF << 8) | DT_IRQ_TYPE_LEVEL_LOW]


def _node(name, *props):
    n = fdt.Node(name)
    for p in props:
        n.append(p)
    return n


def build(d, spec, mem, initrd):
    """The DTB blob for domain d; initrd is (address, size) or None."""
    major, minor = version_tuple()
    root = fdt.Node("/")
    for p in (fdt.PropStrings("compatible", "xen,xenvm-%d.%d" % (major, minor), "xen,xenvm"),
              fdt.PropWords("interrupt-parent", PHANDLE_GIC),
              fdt.PropWords("#address-cells", 2), fdt.PropWords("#size-cells", 2),
              fdt.PropStrings("model", "XENVM-%d.%d" % (major, minor))):
        root.append(p)

    chosen = _node("chosen")
    if spec.cmdline:
        chosen.append(fdt.PropStrings("bootargs", spec.cmdline))
    if initrd:
        chosen.append(fdt.PropWords("linux,initrd-start", *_cells64(initrd[0])))
        chosen.append(fdt.PropWords("linux,initrd-end", *_cells64(initrd[0] + initrd[1])))
    root.append(chosen)

    cpus = _node("cpus", fdt.PropWords("#address-cells", 1), fdt.PropWords("#size-cells", 0))
    for i in range(spec.vcpus):
        mpidr = ((i >> 4) << 8) | (i & 0xF)
        cpus.append(_node("cpu@%x" % mpidr, fdt.PropStrings("device_type", "cpu"),
                          fdt.PropStrings("compatible", "arm,armv8"),
                          fdt.PropStrings("enable-method", "psci"),
                          fdt.PropWords("reg", mpidr)))
    root.append(cpus)

    root.append(_node("psci", fdt.PropStrings("compatible", "arm,psci-1.0", "arm,psci-0.2",
                                              "arm,psci"),
                      fdt.PropStrings("method", "hvc"),
                      fdt.PropWords("cpu_off", a.PSCI_0_2_FN_CPU_OFF),
                      fdt.PropWords("cpu_on", a.PSCI_0_2_FN_CPU_ON)))

    root.append(_node("memory@%x" % a.GUEST_RAM0_BASE, fdt.PropStrings("device_type", "memory"),
                      fdt.PropWords("reg", *_cells64(a.GUEST_RAM0_BASE, mem))))

    root.append(_node("interrupt-controller@%x" % a.GUEST_GICD_BASE,
                      fdt.PropStrings("compatible", "arm,cortex-a15-gic"),
                      fdt.PropWords("#interrupt-cells", 3), fdt.PropWords("#address-cells", 0),
                      fdt.Property("interrupt-controller"),
                      fdt.PropWords("reg", *_cells64(a.GUEST_GICD_BASE, a.GUEST_GICD_SIZE,
                                                     a.GUEST_GICC_BASE, a.GUEST_GICC_SIZE)),
                      fdt.PropWords("linux,phandle", PHANDLE_GIC),
                      fdt.PropWords("phandle", PHANDLE_GIC)))

    root.append(_node("timer", fdt.PropStrings("compatible", "arm,armv8-timer"),
                      fdt.PropWords("interrupts", *(_ppi(a.GUEST_TIMER_PHYS_S_PPI)
                                                    + _ppi(a.GUEST_TIMER_PHYS_NS_PPI)
                                                    + _ppi(a.GUEST_TIMER_VIRT_PPI)
                                                    + _ppi(HYP_TIMER_PPI))),
                      fdt.Property("always-on")))

    root.append(_node("hypervisor",
                      fdt.PropStrings("compatible", "xen,xen-%d.%d" % (major, minor), "xen,xen"),
                      fdt.PropWords("reg", *_cells64(a.GUEST_GNTTAB_BASE, a.GUEST_GNTTAB_SIZE)),
                      fdt.PropWords("interrupts", *_ppi(a.GUEST_EVTCHN_PPI))))
    tree = fdt.FDT()
    tree.root = root
    return tree.to_dtb(version=17)
