/**
 * @file lib/gnttab.c
 *
 * Grant table helpers (see xtf/gnttab.h).
 */
#include <xtf.h>
#include <xtf/gnttab.h>

unsigned int gnttab_version;
unsigned int gnttab_nr_frames;
uint8_t gnttab_frames[GNTTAB_MAX_FRAMES][PAGE_SIZE] __aligned(PAGE_SIZE);
uint16_t gnttab_status[PAGE_SIZE / 2] __aligned(PAGE_SIZE);

static unsigned long gfn_of(const void *p)
{
    return (unsigned long)p >> PAGE_SHIFT;
}

long balloon_out(const void *page)
{
    xen_pfn_t gfn = gfn_of(page);
    struct xen_memory_reservation r = {
        .extent_start = &gfn, .nr_extents = 1, .domid = DOMID_SELF,
    };

    return hypercall_memory_op(XENMEM_decrease_reservation, &r);
}

static long map_frame(unsigned long idx, const void *page)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table,
        .idx = idx, .gpfn = gfn_of(page),
    };

    return hypercall_memory_op(XENMEM_add_to_physmap, &xatp);
}

long gnttab_setup(unsigned int version, unsigned int nr_frames)
{
    struct gnttab_set_version sv = { .version = version };
    struct gnttab_query_size qs = { .dom = DOMID_SELF };
    unsigned int i;
    long rc;

    rc = hypercall_grant_table_op(GNTTABOP_set_version, &sv, 1);
    if ( !xtf_check_rc("GNTTABOP_set_version", rc, 0) )
        return rc;
    rc = hypercall_grant_table_op(GNTTABOP_query_size, &qs, 1);
    if ( !xtf_check_rc("GNTTABOP_query_size", rc, 0) ||
         !xtf_check_eq("query_size status", qs.status, GNTST_okay) )
        return rc ?: qs.status;
    if ( !xtf_check(nr_frames <= qs.max_nr_frames && nr_frames <= GNTTAB_MAX_FRAMES,
                    "%u frames asked, %u allowed", nr_frames, qs.max_nr_frames) )
        return -EINVAL;

    /* Linux maps into ballooned-out pages, highest index first. */
    for ( i = nr_frames; i-- > 0; )
    {
        if ( balloon_out(gnttab_frames[i]) != 1 )
            return xtf_failure("Fail: could not balloon out frame %u\n", i), -ENOMEM;
        rc = map_frame(i, gnttab_frames[i]);
        if ( !xtf_check_rc("add_to_physmap grant_table", rc, 0) )
            return rc;
    }
    if ( version == 2 )
    {
        if ( balloon_out(gnttab_status) != 1 )
            return -ENOMEM;
        rc = map_frame(XENMAPIDX_grant_table_status, gnttab_status);
        if ( !xtf_check_rc("add_to_physmap grant_table_status", rc, 0) )
            return rc;
    }
    gnttab_version = version;
    gnttab_nr_frames = nr_frames;
    return 0;
}

static struct grant_entry_v1 *v1(grant_ref_t ref)
{
    return (struct grant_entry_v1 *)gnttab_frames + ref;
}

static union grant_entry_v2 *v2(grant_ref_t ref)
{
    return (union grant_entry_v2 *)gnttab_frames + ref;
}

/* The flags go last, once the rest of the entry is in place (as Linux does). */
static void set_flags(grant_ref_t ref, domid_t domid, uint16_t flags)
{
    if ( gnttab_version == 1 )
    {
        v1(ref)->domid = domid;
        barrier();
        ACCESS_ONCE(v1(ref)->flags) = flags;
    }
    else
    {
        v2(ref)->hdr.domid = domid;
        barrier();
        ACCESS_ONCE(v2(ref)->hdr.flags) = flags;
    }
}

void gnttab_grant(grant_ref_t ref, domid_t domid, unsigned long gfn, uint16_t flags)
{
    if ( gnttab_version == 1 )
        v1(ref)->frame = gfn;
    else
        v2(ref)->full_page.frame = gfn;
    set_flags(ref, domid, GTF_permit_access | flags);
}

void gnttab_grant_sub_page(grant_ref_t ref, domid_t domid, unsigned long gfn,
                           uint16_t off, uint16_t len, uint16_t flags)
{
    v2(ref)->sub_page.frame = gfn;
    v2(ref)->sub_page.page_off = off;
    v2(ref)->sub_page.length = len;
    set_flags(ref, domid, GTF_permit_access | GTF_sub_page | flags);
}

void gnttab_grant_transitive(grant_ref_t ref, domid_t domid, domid_t trans_domid,
                             grant_ref_t trans_ref)
{
    v2(ref)->transitive.trans_domid = trans_domid;
    v2(ref)->transitive.gref = trans_ref;
    set_flags(ref, domid, GTF_transitive);
}

void gnttab_revoke(grant_ref_t ref)
{
    set_flags(ref, 0, GTF_invalid);
}

uint16_t gnttab_flags(grant_ref_t ref)
{
    return gnttab_version == 1 ? ACCESS_ONCE(v1(ref)->flags) : ACCESS_ONCE(v2(ref)->hdr.flags);
}

uint16_t gnttab_access(grant_ref_t ref)
{
    return (gnttab_version == 1 ? gnttab_flags(ref) : ACCESS_ONCE(gnttab_status[ref])) &
        (GTF_reading | GTF_writing);
}

int16_t gnttab_map(domid_t dom, grant_ref_t ref, unsigned long gfn, uint32_t flags,
                   grant_handle_t *handle)
{
    struct gnttab_map_grant_ref op = {
        .host_addr = (uint64_t)gfn << PAGE_SHIFT, .flags = flags, .ref = ref, .dom = dom,
    };
    long rc = hypercall_grant_table_op(GNTTABOP_map_grant_ref, &op, 1);

    if ( rc )
        return xtf_failure("Fail: GNTTABOP_map_grant_ref returned %ld\n", rc), GNTST_general_error;
    if ( op.status == GNTST_okay && handle )
        *handle = op.handle;
    return op.status;
}

int16_t gnttab_unmap(grant_handle_t handle, unsigned long gfn)
{
    struct gnttab_unmap_grant_ref op = {
        .host_addr = (uint64_t)gfn << PAGE_SHIFT, .handle = handle,
    };
    long rc = hypercall_grant_table_op(GNTTABOP_unmap_grant_ref, &op, 1);

    if ( rc )
        return xtf_failure("Fail: GNTTABOP_unmap_grant_ref returned %ld\n", rc), GNTST_general_error;
    return op.status;
}

static void copy_ptr(struct gnttab_copy_ptr *p, domid_t dom, unsigned long ref_or_gfn,
                     uint16_t off, bool is_ref)
{
    if ( is_ref )
        p->u.ref = ref_or_gfn;
    else
        p->u.gmfn = ref_or_gfn;
    p->domid = dom;
    p->offset = off;
}

int16_t gnttab_copy1(domid_t sdom, unsigned long sref_or_gfn, uint16_t soff,
                     domid_t ddom, unsigned long dref_or_gfn, uint16_t doff,
                     uint16_t len, uint16_t flags)
{
    struct gnttab_copy op = { .len = len, .flags = flags };
    long rc;

    copy_ptr(&op.source, sdom, sref_or_gfn, soff, flags & GNTCOPY_source_gref);
    copy_ptr(&op.dest, ddom, dref_or_gfn, doff, flags & GNTCOPY_dest_gref);
    rc = hypercall_grant_table_op(GNTTABOP_copy, &op, 1);
    if ( rc )
        return xtf_failure("Fail: GNTTABOP_copy returned %ld\n", rc), GNTST_general_error;
    return op.status;
}
