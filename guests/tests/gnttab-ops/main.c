/**
 * @file tests/gnttab-ops/main.c
 *
 * Every GNTTABOP a PVH domU may call, in both grant table versions, with
 * good and bad arguments, against Xen's xen/common/grant_table.c and x86's
 * grant p2m mappings: the table set up as Linux 6.1 does it, setup_table,
 * query_size, get/set_version, map_grant_ref into our own physmap (a domain
 * may map its own grants) with its GTF_reading/GTF_writing bookkeeping and
 * handles, unmap_grant_ref, copy by grant ref and by gfn, swap_grant_ref,
 * sub-page and transitive grants in v2, and the ops hvm_grant_table_op()
 * refuses with -ENOSYS.  Run as two domains (`hvsim run gnttab-ops.elf
 * gnttab-ops.elf`), each also checks what it may not do to the other's table.
 */
#include <xtf.h>
#include <xtf/ctl.h>
#include <xtf/events.h>
#include <xtf/gnttab.h>

const char test_title[] = "Grant tables: every op, v1 and v2";

#define NO_SUCH_DOMID (DOMID_FIRST_RESERVED - 1)
#define BAD_PTR ((void *)0xdead0000ul)
#define EMPTY_GFN 0x10000ul         /* above RAM: nothing there */
#define NR_FRAMES 2

static domid_t self;
static uint8_t data[4][PAGE_SIZE] __aligned(PAGE_SIZE);     /* what we grant */
static uint8_t maps[4][PAGE_SIZE] __aligned(PAGE_SIZE);     /* where we map */

static unsigned long gfn_of(const void *p)
{
    return (unsigned long)p >> PAGE_SHIFT;
}

static long gnttab_op(unsigned int cmd, void *arg, unsigned int count)
{
    return hypercall_grant_table_op(cmd, arg, count);
}

static void check_status(const char *what, int16_t got, int16_t exp)
{
    xtf_check(got == exp, "%s: status %d, expected %d", what, got, exp);
}

static void test_setup(void)
{
    struct gnttab_get_version gv = { .dom = DOMID_SELF };
    struct gnttab_query_size qs = { .dom = DOMID_SELF };
    struct gnttab_setup_table st = { .dom = DOMID_SELF, .nr_frames = 1 };
    xen_pfn_t frames[NR_FRAMES + 1];

    printk("Testing the table's set-up\n");
    xtf_check_rc("get_version", gnttab_op(GNTTABOP_get_version, &gv, 1), 0);
    xtf_check_eq("initial version", gv.version, 1);
    xtf_check_rc("query_size", gnttab_op(GNTTABOP_query_size, &qs, 1), 0);
    check_status("query_size", qs.status, GNTST_okay);
    xtf_check_eq("initial frames", qs.nr_frames, 1);
    xtf_check_eq("max frames (Xen's default)", qs.max_nr_frames, 64);

    st.frame_list = frames;
    frames[0] = 0;
    xtf_check_rc("setup_table before mapping", gnttab_op(GNTTABOP_setup_table, &st, 1), 0);
    check_status("setup_table", st.status, GNTST_okay);
    xtf_check_eq("frame 0 is nowhere (INVALID_GFN)", frames[0], ~(xen_pfn_t)0);

    /* Linux 6.1 on PVH: set_version, query_size, frames mapped from the top. */
    if ( gnttab_setup(1, NR_FRAMES) )
        return;
    /* The toolstack's grants of the console and xenstore pages to the backend (d0). */
    xtf_check_eq("reserved console entry", gnttab_flags(GNTTAB_RESERVED_CONSOLE),
                 GTF_permit_access);
    xtf_check_eq("reserved xenstore entry", gnttab_flags(GNTTAB_RESERVED_XENSTORE),
                 GTF_permit_access);
    xtf_check_eq("console grant's domid",
                 ((struct grant_entry_v1 *)gnttab_frames)[GNTTAB_RESERVED_CONSOLE].domid, 0);
    xtf_check(((struct grant_entry_v1 *)gnttab_frames)[GNTTAB_RESERVED_XENSTORE].frame,
              "xenstore grant has no frame");
    qs.nr_frames = 0;
    xtf_check_rc("query_size", gnttab_op(GNTTABOP_query_size, &qs, 1), 0);
    xtf_check_eq("frames after add_to_physmap", qs.nr_frames, NR_FRAMES);
    st.nr_frames = NR_FRAMES;
    xtf_check_rc("setup_table", gnttab_op(GNTTABOP_setup_table, &st, 1), 0);
    xtf_check_eq("setup_table frame 0", frames[0], gfn_of(gnttab_frames[0]));
    xtf_check_eq("setup_table frame 1", frames[1], gfn_of(gnttab_frames[1]));

    st.nr_frames = 65;
    xtf_check_rc("setup_table, 65 frames", gnttab_op(GNTTABOP_setup_table, &st, 1), 0);
    check_status("setup_table, 65 frames", st.status, GNTST_general_error);
    st.nr_frames = 1;
    xtf_check_rc("setup_table, count 2", gnttab_op(GNTTABOP_setup_table, &st, 2), -EINVAL);
    st.dom = NO_SUCH_DOMID;
    xtf_check_rc("setup_table, no such domain", gnttab_op(GNTTABOP_setup_table, &st, 1), 0);
    check_status("setup_table, no such domain", st.status, GNTST_bad_domain);
    st.dom = DOMID_SELF;
    st.frame_list = BAD_PTR;
    xtf_check_rc("setup_table, bad frame list", gnttab_op(GNTTABOP_setup_table, &st, 1), 0);
    check_status("setup_table, bad frame list", st.status, GNTST_bad_virt_addr);
    xtf_check_rc("setup_table, bad argument", gnttab_op(GNTTABOP_setup_table, BAD_PTR, 1),
                 -EFAULT);

    qs.dom = NO_SUCH_DOMID;
    xtf_check_rc("query_size, no such domain", gnttab_op(GNTTABOP_query_size, &qs, 1), 0);
    check_status("query_size, no such domain", qs.status, GNTST_bad_domain);
    xtf_check_rc("query_size, count 0", gnttab_op(GNTTABOP_query_size, &qs, 0), -EINVAL);
    gv.dom = NO_SUCH_DOMID;
    xtf_check_rc("get_version, no such domain", gnttab_op(GNTTABOP_get_version, &gv, 1),
                 -ESRCH);

    {
        struct xen_add_to_physmap xatp = {
            .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table,
            .idx = 64, .gpfn = EMPTY_GFN,
        };

        xtf_check_rc("add_to_physmap grant frame 64 (max is 64 frames)",
                     hypercall_memory_op(XENMEM_add_to_physmap, &xatp), -EINVAL);
        xatp.idx = XENMAPIDX_grant_table_status;
        xtf_check_rc("add_to_physmap a status frame in v1 (frame 0x80000000)",
                     hypercall_memory_op(XENMEM_add_to_physmap, &xatp), -EINVAL);
    }
}

static void test_map_unmap(void)
{
    grant_ref_t ref = 10, ro_ref = 11;
    grant_handle_t h = ~0u, h2 = ~0u;
    struct gnttab_map_grant_ref op;
    struct gnttab_unmap_grant_ref un;
    unsigned long at = gfn_of(maps[0]), at2 = gfn_of(maps[1]);

    printk("Testing map_grant_ref and unmap_grant_ref (v%u)\n", gnttab_version);
    memset(data[0], 0x11, PAGE_SIZE);
    gnttab_grant(ref, self, gfn_of(data[0]), 0);
    xtf_check_eq("access flags before mapping", gnttab_access(ref), 0);

    /* Linux maps grants into ballooned-out pages. */
    xtf_check_rc("balloon out the mapping page", balloon_out(maps[0]), 1);
    check_status("map", gnttab_map(self, ref, at, GNTMAP_host_map, &h), GNTST_okay);
    xtf_check_eq("first handle", h, 0);
    xtf_check_eq("reading|writing while mapped", gnttab_access(ref),
                 GTF_reading | GTF_writing);
    xtf_check(memis(maps[0], 0x11, PAGE_SIZE), "mapped page does not show the grant");
    ACCESS_ONCE(maps[0][5]) = 0x22;
    xtf_check_eq("write through the mapping", ACCESS_ONCE(data[0][5]), 0x22);

    /* The same grant mapped a second time (read-only) at another gfn. */
    xtf_check_rc("balloon out a second page", balloon_out(maps[1]), 1);
    check_status("second map, read-only", gnttab_map(self, ref, at2,
                 GNTMAP_host_map | GNTMAP_readonly, &h2), GNTST_okay);
    xtf_check_eq("second handle", h2, 1);
    xtf_check_eq("second mapping reads", ACCESS_ONCE(maps[1][5]), 0x22);

    check_status("unmap at a gfn with no grant mapping",
                 gnttab_unmap(h, gfn_of(data[3])), GNTST_general_error);
    check_status("unmap", gnttab_unmap(h, at), GNTST_okay);
    xtf_check_eq("still reading (the r/o map)", gnttab_access(ref), GTF_reading);
    check_status("unmap again", gnttab_unmap(h, at), GNTST_bad_handle);
#ifdef __aarch64__
    /* Xen on Arm: nothing at the gfn is a stage-2 fault, a data abort for us. */
    xtf_check(access_faults((volatile uint32_t *)maps[0], true) &&
              access_faults((volatile uint32_t *)maps[0], false),
              "gfn empty after unmap: an access did not abort");
#else
    *(volatile uint32_t *)maps[0] = 0x12345678;
    xtf_check_eq("gfn empty after unmap", *(volatile uint32_t *)maps[0], 0xffffffffu);
#endif

    memset(&un, 0, sizeof(un));
    un.handle = h2;
    xtf_check_rc("unmap with host_addr 0", gnttab_op(GNTTABOP_unmap_grant_ref, &un, 1), 0);
    check_status("unmap with host_addr 0 (nothing done)", un.status, GNTST_okay);
    xtf_check_eq("still mapped", gnttab_access(ref), GTF_reading);
    un.host_addr = (uint64_t)at2 << PAGE_SHIFT;
    un.dev_bus_addr = 0x1000;
    xtf_check_rc("unmap, wrong bus address", gnttab_op(GNTTABOP_unmap_grant_ref, &un, 1), 0);
    check_status("unmap, wrong bus address", un.status, GNTST_general_error);
    check_status("unmap the r/o map", gnttab_unmap(h2, at2), GNTST_okay);
    xtf_check_eq("no access flags after the last unmap", gnttab_access(ref), 0);
    check_status("unmap handle 100000", gnttab_unmap(100000, at), GNTST_bad_handle);

    /* Freed handles go to the tail of the free list. */
    check_status("map again", gnttab_map(self, ref, at, GNTMAP_host_map, &h), GNTST_okay);
    xtf_check_eq("next handle", h, 2);

    /* A read-only grant. */
    gnttab_grant(ro_ref, self, gfn_of(data[1]), GTF_readonly);
    check_status("writable map of a r/o grant",
                 gnttab_map(self, ro_ref, at2, GNTMAP_host_map, NULL), GNTST_general_error);
    xtf_check_eq("no flags left by the refusal", gnttab_access(ro_ref), 0);
    check_status("read-only map of a r/o grant",
                 gnttab_map(self, ro_ref, at2, GNTMAP_host_map | GNTMAP_readonly, &h2),
                 GNTST_okay);
    xtf_check_eq("reading only", gnttab_access(ro_ref), GTF_reading);

    /* Refusals, in Xen's order of checks. */
    memset(&op, 0, sizeof(op));
    check_status("no host/device flag", gnttab_map(self, ref, at2, 0, NULL),
                 GNTST_bad_gntref);
    check_status("device_map (HVM)", gnttab_map(self, ref, at2, GNTMAP_host_map |
                 GNTMAP_device_map, NULL), GNTST_general_error);
    check_status("application_map (HVM)", gnttab_map(self, ref, at2, GNTMAP_host_map |
                 GNTMAP_application_map, NULL), GNTST_general_error);
    check_status("contains_pte (HVM)", gnttab_map(self, ref, at2, GNTMAP_host_map |
                 GNTMAP_contains_pte, NULL), GNTST_general_error);
    check_status("no such domain", gnttab_map(NO_SUCH_DOMID, ref, at2, GNTMAP_host_map, NULL),
                 GNTST_bad_domain);
    check_status("DOMID_SELF (map looks domains up by id)",
                 gnttab_map(DOMID_SELF, ref, at2, GNTMAP_host_map, NULL), GNTST_bad_domain);
    check_status("ref past the table", gnttab_map(self, NR_FRAMES * PAGE_SIZE / 8, at2,
                 GNTMAP_host_map, NULL), GNTST_bad_gntref);
    gnttab_grant(12, self + 1, gfn_of(data[2]), 0);
    check_status("grant for another domain", gnttab_map(self, 12, at2, GNTMAP_host_map, NULL),
                 GNTST_general_error);
    gnttab_revoke(12);
    check_status("invalid entry", gnttab_map(self, 12, at2, GNTMAP_host_map, NULL),
                 GNTST_general_error);
    gnttab_grant(12, self, EMPTY_GFN, 0);
    check_status("grant of an empty gfn", gnttab_map(self, 12, at2, GNTMAP_host_map, NULL),
                 GNTST_bad_page);
    xtf_check_eq("no flags left by bad_page", gnttab_access(12), 0);
    gnttab_grant(12, self, gfn_of(data[2]), 0);
    check_status("unknown flag bit", gnttab_map(self, 12, at2, GNTMAP_host_map | (1 << 5),
                 NULL), GNTST_general_error);
    xtf_check_eq("no flags left by the p2m refusal", gnttab_access(12), 0);
    xtf_check_rc("map, bad argument", gnttab_op(GNTTABOP_map_grant_ref, BAD_PTR, 1), -EFAULT);
    xtf_check_rc("map, count 0", gnttab_op(GNTTABOP_map_grant_ref, &op, 0), 0);

    /* set_version refuses while grants beyond the reserved ones are mapped. */
    {
        struct gnttab_set_version sv = { .version = 2 };

        xtf_check_rc("set_version while mapped", gnttab_op(GNTTABOP_set_version, &sv, 1),
                     -EBUSY);
        xtf_check_eq("version reported", sv.version, 1);
    }
    check_status("unmap", gnttab_unmap(h, at), GNTST_okay);
    check_status("unmap r/o", gnttab_unmap(h2, at2), GNTST_okay);
}

static void test_copy(void)
{
    grant_ref_t ref = 20, ro_ref = 21;
    struct gnttab_copy ops[3];
    unsigned int i;

    printk("Testing copy (v%u)\n", gnttab_version);
    for ( i = 0; i < PAGE_SIZE; i++ )
        data[0][i] = i * 7;
    memset(data[1], 0, PAGE_SIZE);
    gnttab_grant(ref, self, gfn_of(data[0]), 0);
    gnttab_grant(ro_ref, self, gfn_of(data[1]), GTF_readonly);

    check_status("copy gref -> own gfn", gnttab_copy1(self, ref, 100, DOMID_SELF,
                 gfn_of(data[2]), 200, 1000, GNTCOPY_source_gref), GNTST_okay);
    xtf_check(!memcmp(data[2] + 200, data[0] + 100, 1000), "copied bytes differ");
    xtf_check_eq("no access flags after a copy", gnttab_access(ref), 0);
    check_status("copy own gfn -> gref", gnttab_copy1(DOMID_SELF, gfn_of(data[0]), 0, self,
                 ref, 0, PAGE_SIZE, GNTCOPY_dest_gref), GNTST_okay);
    check_status("copy gfn -> gfn", gnttab_copy1(DOMID_SELF, gfn_of(data[0]), 0, DOMID_SELF,
                 gfn_of(data[3]), 0, PAGE_SIZE, 0), GNTST_okay);
    xtf_check(!memcmp(data[3], data[0], PAGE_SIZE), "gfn copy differs");
    check_status("copy to a r/o grant", gnttab_copy1(DOMID_SELF, gfn_of(data[0]), 0, self,
                 ro_ref, 0, 16, GNTCOPY_dest_gref), GNTST_general_error);
    xtf_check_eq("no flags left on the r/o grant", gnttab_access(ro_ref), 0);
    check_status("copy from a r/o grant", gnttab_copy1(self, ro_ref, 0, DOMID_SELF,
                 gfn_of(data[2]), 0, 16, GNTCOPY_source_gref), GNTST_okay);
    check_status("gfn named with our domid", gnttab_copy1(self, gfn_of(data[0]), 0, DOMID_SELF,
                 gfn_of(data[2]), 0, 16, 0), GNTST_permission_denied);
    check_status("no such domain", gnttab_copy1(NO_SUCH_DOMID, ref, 0, DOMID_SELF,
                 gfn_of(data[2]), 0, 16, GNTCOPY_source_gref), GNTST_bad_domain);
    check_status("offset + length past the page", gnttab_copy1(self, ref, 4000, DOMID_SELF,
                 gfn_of(data[2]), 0, 100, GNTCOPY_source_gref), GNTST_bad_copy_arg);
    check_status("length 4097", gnttab_copy1(self, ref, 0, DOMID_SELF, gfn_of(data[2]), 0,
                 PAGE_SIZE + 1, GNTCOPY_source_gref), GNTST_bad_copy_arg);
    check_status("bad ref wins over bad length", gnttab_copy1(self, 100000, 0, DOMID_SELF,
                 gfn_of(data[2]), 0, PAGE_SIZE + 1, GNTCOPY_source_gref), GNTST_bad_gntref);
    check_status("source gfn empty", gnttab_copy1(DOMID_SELF, EMPTY_GFN, 0, DOMID_SELF,
                 gfn_of(data[2]), 0, 16, 0), GNTST_bad_page);
    check_status("zero length", gnttab_copy1(self, ref, 0, DOMID_SELF, gfn_of(data[2]), 0, 0,
                 GNTCOPY_source_gref), GNTST_okay);

    /* A batch: each op has its own status. */
    memset(ops, 0, sizeof(ops));
    for ( i = 0; i < 3; i++ )
    {
        ops[i].source.u.ref = ref;
        ops[i].source.domid = self;
        ops[i].dest.u.gmfn = gfn_of(data[2]);
        ops[i].dest.domid = DOMID_SELF;
        ops[i].len = 64;
        ops[i].flags = GNTCOPY_source_gref;
    }
    ops[1].source.u.ref = 100000;
    ops[2].dest.offset = 4090;
    xtf_check_rc("copy batch", gnttab_op(GNTTABOP_copy, ops, 3), 0);
    check_status("batch op 0", ops[0].status, GNTST_okay);
    check_status("batch op 1", ops[1].status, GNTST_bad_gntref);
    check_status("batch op 2", ops[2].status, GNTST_bad_copy_arg);
    xtf_check_rc("copy, bad argument", gnttab_op(GNTTABOP_copy, BAD_PTR, 1), -EFAULT);
}

static void test_swap(void)
{
    struct gnttab_swap_grant_ref sw = { .ref_a = 30, .ref_b = 31 };
    grant_handle_t h;

    printk("Testing swap_grant_ref (v%u)\n", gnttab_version);
    gnttab_grant(30, self, gfn_of(data[0]), 0);
    gnttab_grant(31, self + 1, gfn_of(data[1]), GTF_readonly);
    xtf_check_rc("swap", gnttab_op(GNTTABOP_swap_grant_ref, &sw, 1), 0);
    check_status("swap", sw.status, GNTST_okay);
    xtf_check_eq("ref 30 after the swap", gnttab_flags(30),
                 GTF_permit_access | GTF_readonly);
    xtf_check_eq("ref 31 after the swap", gnttab_flags(31), GTF_permit_access);
    sw.ref_b = 30;
    xtf_check_rc("swap a ref with itself", gnttab_op(GNTTABOP_swap_grant_ref, &sw, 1), 0);
    check_status("swap a ref with itself", sw.status, GNTST_okay);
    sw.ref_b = 100000;
    xtf_check_rc("swap, bad ref", gnttab_op(GNTTABOP_swap_grant_ref, &sw, 1), 0);
    check_status("swap, bad ref", sw.status, GNTST_bad_gntref);

    check_status("map ref 31", gnttab_map(self, 31, gfn_of(maps[0]), GNTMAP_host_map, &h),
                 GNTST_okay);
    sw.ref_b = 31;
    xtf_check_rc("swap a mapped ref", gnttab_op(GNTTABOP_swap_grant_ref, &sw, 1), 0);
    check_status("swap a mapped ref", sw.status, GNTST_eagain);
    check_status("unmap ref 31", gnttab_unmap(h, gfn_of(maps[0])), GNTST_okay);
}

static void test_refused_ops(void)
{
    static const unsigned int ops[] = {
        GNTTABOP_dump_table, GNTTABOP_transfer, GNTTABOP_unmap_and_replace,
        GNTTABOP_get_status_frames, GNTTABOP_cache_flush, GNTTABOP_cache_flush + 1,
        GNTTABOP_query_size | (1 << 12),
    };
    unsigned int i;
    char what[48];

    printk("Testing the ops an HVM guest may not call\n");
    for ( i = 0; i < ARRAY_SIZE(ops); i++ )
    {
        snprintf(what, sizeof(what), "grant_table_op %#x", ops[i]);
        xtf_check_rc(what, gnttab_op(ops[i], NULL, 1), -ENOSYS);
    }
}

static void test_v2(void)
{
    struct gnttab_set_version sv = { .version = 3 };
    struct gnttab_get_version gv = { .dom = DOMID_SELF };
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table,
    };
    grant_handle_t h;
    union grant_entry_v2 *e2 = (union grant_entry_v2 *)gnttab_frames;

    printk("Testing set_version and version 2\n");
    xtf_check_rc("set_version 3", gnttab_op(GNTTABOP_set_version, &sv, 1), -EINVAL);
    xtf_check_eq("version reported", sv.version, 1);
    sv.version = 1;
    xtf_check_rc("set_version 1 (no change)", gnttab_op(GNTTABOP_set_version, &sv, 1), 0);

    gnttab_grant(GNTTAB_RESERVED_XENSTORE, 0, 0xfeffc, 0);     /* kept across versions */
    gnttab_grant(40, self, gfn_of(data[0]), 0);                 /* cleared */
    sv.version = 2;
    xtf_check_rc("set_version 2", gnttab_op(GNTTABOP_set_version, &sv, 1), 0);
    gnttab_version = 2;
    xtf_check_rc("get_version", gnttab_op(GNTTABOP_get_version, &gv, 1), 0);
    xtf_check_eq("version", gv.version, 2);
    xtf_check_eq("reserved entry kept: flags", e2[GNTTAB_RESERVED_XENSTORE].hdr.flags,
                 GTF_permit_access);
    xtf_check_eq("reserved entry kept: frame", e2[GNTTAB_RESERVED_XENSTORE].full_page.frame,
                 0xfeffc);
    xtf_check_eq("entry 40 cleared", e2[40].hdr.flags, 0);

    xtf_check_rc("balloon out the status page", balloon_out(gnttab_status), 1);
    xatp.idx = XENMAPIDX_grant_table_status;
    xatp.gpfn = gfn_of(gnttab_status);
    xtf_check_rc("add_to_physmap status frame 0", hypercall_memory_op(XENMEM_add_to_physmap,
                                                                      &xatp), 0);
    xatp.idx = XENMAPIDX_grant_table_status | 8;
    xatp.gpfn = EMPTY_GFN;
    xtf_check_rc("status frame 8 (needs 64 grant frames, the max)",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), -EINVAL);

    /* A full-page v2 grant: flags in the status frame, not the entry. */
    gnttab_grant(41, self, gfn_of(data[0]), 0);
    check_status("v2 map", gnttab_map(self, 41, gfn_of(maps[0]), GNTMAP_host_map, &h),
                 GNTST_okay);
    xtf_check_eq("v2 status while mapped", gnttab_status[41], GTF_reading | GTF_writing);
    xtf_check_eq("v2 entry flags untouched", e2[41].hdr.flags, GTF_permit_access);
    check_status("v2 unmap", gnttab_unmap(h, gfn_of(maps[0])), GNTST_okay);
    xtf_check_eq("v2 status after unmap", gnttab_status[41], 0);

    /* Sub-page grants: copies within bounds only, never maps. */
    memset(data[1], 0x5a, PAGE_SIZE);
    gnttab_grant_sub_page(42, self, gfn_of(data[1]), 256, 512, 0);
    check_status("map a sub-page grant", gnttab_map(self, 42, gfn_of(maps[0]),
                 GNTMAP_host_map, NULL), GNTST_general_error);
    check_status("copy inside the sub-page", gnttab_copy1(self, 42, 256, DOMID_SELF,
                 gfn_of(data[2]), 0, 512, GNTCOPY_source_gref), GNTST_okay);
    check_status("copy before the sub-page", gnttab_copy1(self, 42, 255, DOMID_SELF,
                 gfn_of(data[2]), 0, 16, GNTCOPY_source_gref), GNTST_general_error);
    check_status("copy past the sub-page", gnttab_copy1(self, 42, 700, DOMID_SELF,
                 gfn_of(data[2]), 0, 100, GNTCOPY_source_gref), GNTST_general_error);

    /* A transitive grant naming ourselves is refused. */
    gnttab_grant_transitive(43, self, self, 41);
    check_status("self-referential transitive grant", gnttab_copy1(self, 43, 0, DOMID_SELF,
                 gfn_of(data[2]), 0, 16, GNTCOPY_source_gref), GNTST_general_error);
    xtf_check_eq("no status left", gnttab_status[43], 0);

    test_copy();
    test_swap();

    /* Back to v1: a reserved entry v1 cannot express is refused. */
    gnttab_grant(GNTTAB_RESERVED_CONSOLE, 0, 0, 0);
    e2[GNTTAB_RESERVED_CONSOLE].full_page.frame = 1ull << 32;
    sv.version = 1;
    xtf_check_rc("set_version 1 with a 64-bit frame", gnttab_op(GNTTABOP_set_version, &sv, 1),
                 -ERANGE);
    xtf_check_eq("version reported", sv.version, 2);
    gnttab_revoke(GNTTAB_RESERVED_CONSOLE);
    sv.version = 1;
    xtf_check_rc("set_version 1", gnttab_op(GNTTABOP_set_version, &sv, 1), 0);
    gnttab_version = 1;
#ifdef __aarch64__
    xtf_check(access_faults((volatile uint32_t *)gnttab_status, false),
              "status frame still in the physmap: a load did not abort");
#else
    *(volatile uint16_t *)gnttab_status = 0x1234;
    xtf_check_eq("status frame gone from the physmap", *(volatile uint16_t *)gnttab_status,
                 0xffff);
#endif
    xtf_check_eq("reserved entry back in v1", gnttab_flags(GNTTAB_RESERVED_XENSTORE),
                 GTF_permit_access);
}

/* A plain domU may not look at or set up another domain's table (XSM_TARGET). */
static void test_other_domain(domid_t other)
{
    struct gnttab_query_size qs = { .dom = other };
    struct gnttab_get_version gv = { .dom = other };
    struct gnttab_setup_table st = { .dom = other, .nr_frames = 1 };
    xen_pfn_t frame;

    printk("Testing another domain's table (d%u)\n", other);
    st.frame_list = &frame;
    xtf_check_rc("query_size of another domain", gnttab_op(GNTTABOP_query_size, &qs, 1), 0);
    check_status("query_size of another domain", qs.status, GNTST_permission_denied);
    xtf_check_rc("get_version of another domain", gnttab_op(GNTTABOP_get_version, &gv, 1),
                 -EPERM);
    xtf_check_rc("setup_table of another domain", gnttab_op(GNTTABOP_setup_table, &st, 1), 0);
    check_status("setup_table of another domain", st.status, GNTST_permission_denied);
    check_status("map a ref the other domain never granted us",
                 gnttab_map(other, 100, gfn_of(maps[2]), GNTMAP_host_map, NULL),
                 GNTST_general_error);
    check_status("copy from a ref the other domain never granted us",
                 gnttab_copy1(other, 100, 0, DOMID_SELF, gfn_of(data[2]), 0, 16,
                              GNTCOPY_source_gref), GNTST_general_error);
}

void test_main(void)
{
    struct evtchn_status es;
    domid_t other;

    if ( !xen_present )
        return xtf_skip("Skip: Xen not present\n");
    self = self_domid();

    test_setup();
    if ( xtf_status() == STATUS_FAILURE )
        return;
    test_map_unmap();
    test_copy();
    test_swap();
    test_refused_ops();
    test_v2();
    other = self == 1 ? 2 : 1;
    if ( evtchnop_status(other, 0, &es) != -ESRCH )
        test_other_domain(other);

    xtf_success(NULL);
}
