"""public/grant_table.h: GNTTABOP_* sub-ops, grant entry formats, flags,
status codes and argument structs."""

from .cstruct import (Struct, array, domid, grant_handle, grant_ref, handle, s16,
                      u16, u32, u64, xen_pfn, union)

GNTTABOP_map_grant_ref = 0
GNTTABOP_unmap_grant_ref = 1
GNTTABOP_setup_table = 2
GNTTABOP_dump_table = 3
GNTTABOP_transfer = 4
GNTTABOP_copy = 5
GNTTABOP_query_size = 6
GNTTABOP_unmap_and_replace = 7
GNTTABOP_set_version = 8
GNTTABOP_get_status_frames = 9
GNTTABOP_get_version = 10
GNTTABOP_swap_grant_ref = 11
GNTTABOP_cache_flush = 12

GNTTAB_NR_RESERVED_ENTRIES = 8
GNTTAB_RESERVED_CONSOLE = 0
GNTTAB_RESERVED_XENSTORE = 1

GTF_invalid = 0
GTF_permit_access = 1
GTF_accept_transfer = 2
GTF_transitive = 3
GTF_type_mask = 3
GTF_readonly = 1 << 2
GTF_reading = 1 << 3
GTF_writing = 1 << 4
GTF_PWT = 1 << 5
GTF_PCD = 1 << 6
GTF_PAT = 1 << 7
GTF_sub_page = 1 << 8
GTF_transfer_committed = 1 << 2
GTF_transfer_completed = 1 << 3

GNTMAP_device_map = 1 << 0
GNTMAP_host_map = 1 << 1
GNTMAP_readonly = 1 << 2
GNTMAP_application_map = 1 << 3
GNTMAP_contains_pte = 1 << 4

GNTCOPY_source_gref = 1 << 0
GNTCOPY_dest_gref = 1 << 1

GNTST_okay = 0
GNTST_general_error = -1
GNTST_bad_domain = -2
GNTST_bad_gntref = -3
GNTST_bad_handle = -4
GNTST_bad_virt_addr = -5
GNTST_bad_dev_addr = -6
GNTST_no_device_space = -7
GNTST_permission_denied = -8
GNTST_bad_page = -9
GNTST_bad_copy_arg = -10
GNTST_address_too_big = -11
GNTST_eagain = -12
GNTST_no_space = -13

grant_entry_v1 = Struct("grant_entry_v1", [("flags", u16), ("domid", domid), ("frame", u32)])
_v2_hdr = Struct("grant_entry_header", [("flags", u16), ("domid", domid)])
_v2_full = Struct("grant_entry_v2_full_page", [("hdr", _v2_hdr), ("pad0", u32), ("frame", u64)])
_v2_sub = Struct("grant_entry_v2_sub_page", [("hdr", _v2_hdr), ("page_off", u16),
                                              ("length", u16), ("frame", u64)])
_v2_trans = Struct("grant_entry_v2_transitive", [("hdr", _v2_hdr), ("trans_domid", domid),
                                                  ("pad0", u16), ("gref", grant_ref)])
grant_entry_v2 = union("grant_entry_v2", [
    ("hdr", _v2_hdr), ("full_page", _v2_full), ("sub_page", _v2_sub),
    ("transitive", _v2_trans), ("__spacer", array(u32, 4))])

gnttab_map_grant_ref = Struct("gnttab_map_grant_ref", [
    ("host_addr", u64), ("flags", u32), ("ref", grant_ref), ("dom", domid),
    ("status", s16), ("handle", grant_handle), ("dev_bus_addr", u64)])
gnttab_unmap_grant_ref = Struct("gnttab_unmap_grant_ref", [
    ("host_addr", u64), ("dev_bus_addr", u64), ("handle", grant_handle), ("status", s16)])
gnttab_setup_table = Struct("gnttab_setup_table", [
    ("dom", domid), ("nr_frames", u32), ("status", s16), ("frame_list", handle("xen_pfn_t"))])
_copy_ptr_u = union("gnttab_copy_ptr_u", [("ref", grant_ref), ("gmfn", xen_pfn)])
_copy_ptr = Struct("gnttab_copy_ptr", [("u", _copy_ptr_u), ("domid", domid), ("offset", u16)])
gnttab_copy = Struct("gnttab_copy", [
    ("source", _copy_ptr), ("dest", _copy_ptr), ("len", u16), ("flags", u16), ("status", s16)])
gnttab_query_size = Struct("gnttab_query_size", [
    ("dom", domid), ("nr_frames", u32), ("max_nr_frames", u32), ("status", s16)])
gnttab_set_version = Struct("gnttab_set_version", [("version", u32)])
gnttab_get_version = Struct("gnttab_get_version", [("dom", domid), ("pad", u16), ("version", u32)])
gnttab_get_status_frames = Struct("gnttab_get_status_frames", [
    ("nr_frames", u32), ("dom", domid), ("status", s16), ("frame_list", handle("uint64_t"))])
gnttab_swap_grant_ref = Struct("gnttab_swap_grant_ref", [
    ("ref_a", grant_ref), ("ref_b", grant_ref), ("status", s16)])
