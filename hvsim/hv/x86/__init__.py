"""The x86 platform a PVH domain sees: what Xen emulates itself, as
xen/arch/x86/hvm/ does.  `io.py` routes guest-physical accesses that no RAM
backs (hvm_io_intercept and the null handler), `vlapic.py` is each vCPU's
local APIC.  A PVH domU has nothing else: no IO-APIC, PIC, PIT, HPET, RTC or
PCI, so those addresses and ports read all ones like any other hole."""
