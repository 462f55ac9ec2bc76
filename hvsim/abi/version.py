"""public/version.h: XENVER_* sub-ops, their buffers, and XENFEAT_* bits."""

from .cstruct import Struct, array, char, u32, xen_ulong

XENVER_version = 0
XENVER_extraversion = 1
XENVER_compile_info = 2
XENVER_capabilities = 3
XENVER_changeset = 4
XENVER_platform_parameters = 5
XENVER_get_features = 6
XENVER_pagesize = 7
XENVER_guest_handle = 8
XENVER_commandline = 9
XENVER_build_id = 10
XENVER_extraversion2 = 11
XENVER_capabilities2 = 12
XENVER_changeset2 = 13
XENVER_commandline2 = 14

XEN_EXTRAVERSION_LEN = 16
XEN_CAPABILITIES_INFO_LEN = 1024
XEN_CHANGESET_INFO_LEN = 64
XEN_COMMANDLINE_LEN = 1024
XEN_DOMAIN_HANDLE_LEN = 16

xen_compile_info = Struct("xen_compile_info", [
    ("compiler", array(char, 64)),
    ("compile_by", array(char, 16)),
    ("compile_domain", array(char, 32)),
    ("compile_date", array(char, 32)),
])
xen_platform_parameters = Struct("xen_platform_parameters", [
    ("virt_start", xen_ulong),
])
xen_feature_info = Struct("xen_feature_info", [
    ("submap_idx", u32),
    ("submap", u32),
])
xen_varbuf = Struct("xen_varbuf", [("len", u32)])   # followed by char buf[]

XENFEAT_writable_page_tables = 0
XENFEAT_writable_descriptor_tables = 1
XENFEAT_auto_translated_physmap = 2
XENFEAT_supervisor_mode_kernel = 3
XENFEAT_pae_pgdir_above_4gb = 4
XENFEAT_mmu_pt_update_preserve_ad = 5
XENFEAT_highmem_assist = 6
XENFEAT_gnttab_map_avail_bits = 7
XENFEAT_hvm_callback_vector = 8
XENFEAT_hvm_safe_pvclock = 9
XENFEAT_hvm_pirqs = 10
XENFEAT_dom0 = 11
XENFEAT_grant_map_identity = 12
XENFEAT_memory_op_vnode_supported = 13
XENFEAT_ARM_SMCCC_supported = 14
XENFEAT_linux_rsdp_unrestricted = 15
XENFEAT_not_direct_mapped = 16
XENFEAT_direct_mapped = 17
XENFEAT_runstate_phys_area = 18
XENFEAT_vcpu_time_phys_area = 19
XENFEAT_dm_msix_all_writes = 20
XENFEAT_NR_SUBMAPS = 1
