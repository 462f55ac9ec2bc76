"""public/bootfdt.h: domain capabilities given at boot (DOMAIN_CAPS_*), as
used by dom0less and the hyperlaunch LCM `capabilities` property.
DEVICE_MODEL and NOT_HYPERCALL_TARGET are from the proposed (unmerged)
split of dom0's powers; upstream's mask today is 0x7."""

DOMAIN_CAPS_CONTROL = 1 << 0
DOMAIN_CAPS_HARDWARE = 1 << 1
DOMAIN_CAPS_XENSTORE = 1 << 2
DOMAIN_CAPS_DEVICE_MODEL = 1 << 3
DOMAIN_CAPS_NOT_HYPERCALL_TARGET = 1 << 4
DOMAIN_CAPS_MASK = 0x1F

# the hyperlaunch LCM binding (generation C series, not yet in Xen's public headers)
HYPERLAUNCH_MODULE_IDX = 0          # the LCM is MB2 module 0
MAX_NR_BOOTMODS = 63
BUILD_MODE_PARAVIRT = 1 << 0
BUILD_MODE_ENABLE_DM = 1 << 1
