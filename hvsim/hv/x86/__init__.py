"""The x86 platform a PVH domain sees: what Xen emulates itself, as
xen/arch/x86/hvm/ does.  `hvm.py` is hvm.c (hvm_op and HVM parameters, the
CR4 bits a guest may set, the debug console port 0xE9), `domain.py` is
domain.c (the vcpu_hvm_context of VCPUOP_initialise, checked with Xen's
reasons), `io.py` routes guest-physical and port accesses that no RAM backs
(hvm_io_intercept and the null handler), `vlapic.py` is each vCPU's local
APIC.  A PVH domU has nothing else: no IO-APIC, PIC, PIT, HPET, RTC or PCI,
so those addresses and ports read all ones like any other hole.  The CPU
model (instructions, modes, exceptions) stays in hvsim/arch/x86/."""
