"""Xen's public Arm ABI (xen/include/public/arch-arm.h, xen/arch/arm/include/
asm/psci.h, tools/libs/guest/xg_dom_arm.c): the guest memory layout, the
hypercall tag, the PPIs a domain sees, and the PSCI function ids and return
codes Xen's virtual PSCI (xen/arch/arm/vpsci.c) answers."""

# `hvc #XEN_HYPERCALL_TAG`: number in x16, arguments in x0..x4, result in x0
XEN_HYPERCALL_TAG = 0xEA1

# the guest physical memory map (arch-arm.h)
GUEST_GICD_BASE = 0x03001000          # GICv2 distributor
GUEST_GICD_SIZE = 0x00001000
GUEST_GICC_BASE = 0x03002000          # GICv2 CPU interface
GUEST_GICC_SIZE = 0x00002000
GUEST_GNTTAB_BASE = 0x38000000        # where the guest maps its grant table frames
GUEST_GNTTAB_SIZE = 0x01000000
GUEST_MAGIC_BASE = 0x39000000         # the toolstack's magic pages
GUEST_MAGIC_SIZE = 0x01000000
GUEST_RAM0_BASE = 0x40000000          # the first 3 GiB of RAM
GUEST_RAM0_SIZE = 0xC0000000
GUEST_RAM1_BASE = 0x0200000000        # the rest
GUEST_RAM1_SIZE = 0xFE00000000

# the magic pages (xg_dom_arm.c: NR_MAGIC_PAGES and the *_PFN_OFFSETs)
NR_MAGIC_PAGES = 4
CONSOLE_PFN_OFFSET = 0
XENSTORE_PFN_OFFSET = 1

# interrupts (arch-arm.h)
GUEST_EVTCHN_PPI = 31
GUEST_TIMER_VIRT_PPI = 27
GUEST_TIMER_PHYS_S_PPI = 29
GUEST_TIMER_PHYS_NS_PPI = 30

# PSCI 0.2+ function ids (asm/psci.h) and return codes
PSCI_0_2_FN_PSCI_VERSION = 0x84000000
PSCI_0_2_FN_CPU_SUSPEND = 0x84000001
PSCI_0_2_FN_CPU_OFF = 0x84000002
PSCI_0_2_FN_CPU_ON = 0x84000003
PSCI_0_2_FN_AFFINITY_INFO = 0x84000004
PSCI_0_2_FN_MIGRATE_INFO_TYPE = 0x84000006
PSCI_0_2_FN_SYSTEM_OFF = 0x84000008
PSCI_0_2_FN_SYSTEM_RESET = 0x84000009
PSCI_1_0_FN_PSCI_FEATURES = 0x8400000A
PSCI_0_2_FN64_CPU_SUSPEND = 0xC4000001
PSCI_0_2_FN64_CPU_ON = 0xC4000003
PSCI_0_2_FN64_AFFINITY_INFO = 0xC4000004

PSCI_SUCCESS = 0
PSCI_NOT_SUPPORTED = -1
PSCI_INVALID_PARAMETERS = -2
PSCI_DENIED = -3
PSCI_ALREADY_ON = -4
PSCI_0_2_AFFINITY_LEVEL_ON = 0
PSCI_0_2_AFFINITY_LEVEL_OFF = 1
PSCI_0_2_TOS_MP_OR_NOT_PRESENT = 2

# what Xen's vPSCI reports (vpsci.c: PSCI_VERSION(1, 1))
XEN_PSCI_VERSION = (1 << 16) | 1

# SMCCC: an unknown function id (include/asm/smccc.h)
ARM_SMCCC_ERR_UNKNOWN_FUNCTION = -1
