"""The Arm platform a domain sees: what Xen emulates itself for an arm64
guest, as xen/arch/arm/ does.  Empty until the arm64 work lands; its modules
will be `vgic.py` (the virtual GIC: xen/arch/arm/vgic.c and vgic-v3.c),
`vtimer.py` (the generic timer's virtual and physical timers:
xen/arch/arm/vtimer.c) and `psci.py` (PSCI CPU_ON/OFF, SYSTEM_OFF/RESET
through SMC/HVC: xen/arch/arm/vpsci.c).  As with hv/x86/, the CPU model
stays in hvsim/arch/ and these modules hold Xen's policy."""
