"""public/arch-x86/cpuid.h: the Xen hypervisor CPUID leaves and the
hypercall-page MSR they advertise (public/arch-x86/xen.h conventions)."""

XEN_CPUID_FIRST_LEAF = 0x40000000
XEN_CPUID_MAX_NUM_LEAVES = 5
XEN_CPUID_SIGNATURE_EBX = 0x566E6558   # "XenV"
XEN_CPUID_SIGNATURE_ECX = 0x65584D4D   # "MMXe"
XEN_CPUID_SIGNATURE_EDX = 0x4D4D566E   # "nVMM"

XEN_HYPERCALL_MSR = 0x40000000          # leaf 2 EBX: the hypercall-page MSR

# leaf 4 (HVM) EAX flags
XEN_HVM_CPUID_APIC_ACCESS_VIRT = 1 << 0
XEN_HVM_CPUID_X2APIC_VIRT = 1 << 1
XEN_HVM_CPUID_IOMMU_MAPPINGS = 1 << 2
XEN_HVM_CPUID_VCPU_ID_PRESENT = 1 << 3
XEN_HVM_CPUID_DOMID_PRESENT = 1 << 4
XEN_HVM_CPUID_EXT_DEST_ID = 1 << 5
XEN_HVM_CPUID_UPCALL_VECTOR = 1 << 6

# leaf 3 sub-leaf 0 EAX flags
XEN_CPUID_TSC_EMULATED = 1 << 0
XEN_CPUID_HOST_TSC_RELIABLE = 1 << 1
XEN_CPUID_RDTSCP_INSTR_AVAIL = 1 << 2

# the hypercall page: 128 slots of 32 bytes, `call page + 32 * nr`
HYPERCALL_PAGE_SLOT_SIZE = 32
