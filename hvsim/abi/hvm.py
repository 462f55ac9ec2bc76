"""public/hvm/hvm_op.h and public/hvm/params.h: HVMOP_* sub-ops, HVM_PARAM_*
indices, the callback-via encoding and argument structs."""

from .cstruct import Struct, domid, u8, u16, u32, u64

HVMOP_set_param = 0
HVMOP_get_param = 1
HVMOP_set_pci_intx_level = 2
HVMOP_set_isa_irq_level = 3
HVMOP_set_pci_link_route = 4
HVMOP_flush_tlbs = 5
HVMOP_pagetable_dying = 9
HVMOP_get_time = 10
HVMOP_xentrace = 11
HVMOP_set_mem_access = 12
HVMOP_get_mem_access = 13
HVMOP_get_mem_type = 15
HVMOP_set_evtchn_upcall_vector = 23
HVMOP_guest_request_vm_event = 24
HVMOP_altp2m = 25

HVM_PARAM_CALLBACK_IRQ = 0
HVM_PARAM_STORE_PFN = 1
HVM_PARAM_STORE_EVTCHN = 2
HVM_PARAM_IOREQ_PFN = 5
HVM_PARAM_BUFIOREQ_PFN = 6
HVM_PARAM_VIRIDIAN = 9
HVM_PARAM_TIMER_MODE = 10
HVM_PARAM_HPET_ENABLED = 11
HVM_PARAM_IDENT_PT = 12
HVM_PARAM_ACPI_S_STATE = 14
HVM_PARAM_VM86_TSS = 15
HVM_PARAM_VPT_ALIGN = 16
HVM_PARAM_CONSOLE_PFN = 17
HVM_PARAM_CONSOLE_EVTCHN = 18
HVM_PARAM_ACPI_IOPORTS_LOCATION = 19
HVM_PARAM_BUFIOREQ_EVTCHN = 26
HVM_PARAM_PAGING_RING_PFN = 27
HVM_PARAM_MONITOR_RING_PFN = 28
HVM_PARAM_SHARING_RING_PFN = 29
HVM_PARAM_TRIPLE_FAULT_REASON = 31
HVM_PARAM_IOREQ_SERVER_PFN = 32
HVM_PARAM_NR_IOREQ_SERVER_PAGES = 33
HVM_PARAM_VM_GENERATION_ID_ADDR = 34
HVM_PARAM_ALTP2M = 35
HVM_PARAM_X87_FIP_WIDTH = 36
HVM_PARAM_VM86_TSS_SIZED = 37
HVM_PARAM_MCA_CAP = 38
HVM_NR_PARAMS = 39

HVM_MAX_VCPUS = 128                 # public/hvm/hvm_info_table.h

HVM_PARAM_CALLBACK_TYPE_GSI = 0
HVM_PARAM_CALLBACK_TYPE_PCI_INTX = 1
HVM_PARAM_CALLBACK_TYPE_VECTOR = 2
HVM_PARAM_CALLBACK_TYPE_PPI = 2
HVM_PARAM_CALLBACK_IRQ_TYPE_SHIFT = 56
HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_SHIFT = 8           # val[15:8]: the PPI's trigger flags
HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_LOW_LEVEL = 2

# toolstack convention for HVM/PVH special pages (tools/include/xenguest.h)
X86_HVM_END_SPECIAL_REGION = 0xFF000
X86_HVM_NR_SPECIAL_PAGES = 8
SPECIALPAGE_PAGING = 0
SPECIALPAGE_ACCESS = 1
SPECIALPAGE_SHARING = 2
SPECIALPAGE_BUFIOREQ = 3
SPECIALPAGE_XENSTORE = 4
SPECIALPAGE_IOREQ = 5
SPECIALPAGE_IDENT_PT = 6
SPECIALPAGE_CONSOLE = 7


def special_pfn(x):
    return X86_HVM_END_SPECIAL_REGION - X86_HVM_NR_SPECIAL_PAGES + x


xen_hvm_param = Struct("xen_hvm_param", [
    ("domid", domid), ("pad", u16), ("index", u32), ("value", u64)])
xen_hvm_evtchn_upcall_vector = Struct("xen_hvm_evtchn_upcall_vector", [
    ("vcpu", u32), ("vector", u8)])
xen_hvm_get_time = Struct("xen_hvm_get_time", [("now", u64)])
xen_hvm_pagetable_dying = Struct("xen_hvm_pagetable_dying", [
    ("domid", domid), ("pad0", u16), ("pad1", u16), ("pad2", u16), ("gpa", u64)])
