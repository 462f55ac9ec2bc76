"""public/memory.h: XENMEM_* sub-ops, map spaces and argument structs."""

from .cstruct import Struct, domid, handle, u16, u32, xen_pfn, xen_ulong

XENMEM_increase_reservation = 0
XENMEM_decrease_reservation = 1
XENMEM_maximum_ram_page = 2
XENMEM_current_reservation = 3
XENMEM_maximum_reservation = 4
XENMEM_machphys_mfn_list = 5
XENMEM_populate_physmap = 6
XENMEM_add_to_physmap = 7
XENMEM_memory_map = 9
XENMEM_machine_memory_map = 10
XENMEM_exchange = 11
XENMEM_machphys_mapping = 12
XENMEM_set_memory_map = 13
XENMEM_maximum_gpfn = 14
XENMEM_remove_from_physmap = 15
XENMEM_add_to_physmap_batch = 23
XENMEM_claim_pages = 24
XENMEM_reserved_device_memory_map = 27
XENMEM_acquire_resource = 28

MEMOP_EXTENT_SHIFT = 6
MEMOP_CMD_MASK = (1 << MEMOP_EXTENT_SHIFT) - 1

XENMAPSPACE_shared_info = 0
XENMAPSPACE_grant_table = 1
XENMAPSPACE_gmfn = 2
XENMAPSPACE_gmfn_range = 3
XENMAPSPACE_gmfn_foreign = 4
XENMAPSPACE_dev_mmio = 5
XENMAPIDX_grant_table_status = 0x80000000

XENMEMF_populate_on_demand = 1 << 16
XENMEMF_exact_node_request = 1 << 17
XENMEMF_vnode = 1 << 18

E820_RAM = 1
E820_RESERVED = 2
E820_ACPI = 3
E820_NVS = 4
E820_UNUSABLE = 5
E820_ENTRY_SIZE = 20   # packed {u64 addr; u64 size; u32 type}
E820MAX = 1024         # the most entries XENMEM_set_memory_map takes (asm/e820.h)

xen_memory_reservation = Struct("xen_memory_reservation", [
    ("extent_start", handle("xen_pfn_t")), ("nr_extents", xen_ulong),
    ("extent_order", u32), ("mem_flags", u32), ("domid", domid)])
xen_add_to_physmap = Struct("xen_add_to_physmap", [
    ("domid", domid), ("size", u16), ("space", u32), ("idx", xen_ulong), ("gpfn", xen_pfn)])
xen_remove_from_physmap = Struct("xen_remove_from_physmap", [("domid", domid), ("gpfn", xen_pfn)])
xen_memory_map = Struct("xen_memory_map", [("nr_entries", u32), ("buffer", handle("void"))])
xen_foreign_memory_map = Struct("xen_foreign_memory_map", [("domid", domid),
                                                           ("map", xen_memory_map)])
