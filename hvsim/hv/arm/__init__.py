"""The Arm platform a domain sees: what Xen emulates itself for an arm64
guest, as xen/arch/arm/ does.  `psci.py` is PSCI through SMC/HVC
(xen/arch/arm/vpsci.c); the virtual GIC (`vgic.py`: xen/arch/arm/vgic.c and
vgic-v3.c) and the generic timer's virtual and physical timers (`vtimer.py`:
xen/arch/arm/vtimer.c) will join it.  As with hv/x86/, the CPU model
stays in hvsim/arch/ and these modules hold Xen's policy."""
