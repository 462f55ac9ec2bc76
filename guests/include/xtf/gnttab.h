/**
 * @file include/xtf/gnttab.h
 *
 * Grant table helpers for test guests: the table set up the way Linux 6.1
 * does it on a PVH domU (version, size, frames through add_to_physmap),
 * entries written in either layout, and one-op wrappers around
 * GNTTABOP_map_grant_ref / unmap_grant_ref / copy.
 */
#ifndef XTF_GNTTAB_H
#define XTF_GNTTAB_H

#include <xtf.h>

#define GNTTAB_MAX_FRAMES 8     /* what the helpers map (of Xen's default 64) */

/* The table as mapped: version, frames, and the status frame (v2). */
extern unsigned int gnttab_version;
extern unsigned int gnttab_nr_frames;
extern uint8_t gnttab_frames[GNTTAB_MAX_FRAMES][PAGE_SIZE];
extern uint16_t gnttab_status[PAGE_SIZE / 2];

/*
 * Linux's gnttab_init() for a PVH domU: GNTTABOP_set_version, query_size,
 * then the frames mapped with XENMAPSPACE_grant_table from the highest index
 * down (and the status frame with XENMAPIDX_grant_table_status in v2).
 * Returns 0 or the first failing result (checked and reported).
 */
long gnttab_setup(unsigned int version, unsigned int nr_frames);

/* Write entry @ref: full page @gfn granted to @domid with GTF_* @flags. */
void gnttab_grant(grant_ref_t ref, domid_t domid, unsigned long gfn, uint16_t flags);
/* v2: a sub-page grant of [off, off + len) of @gfn. */
void gnttab_grant_sub_page(grant_ref_t ref, domid_t domid, unsigned long gfn,
                           uint16_t off, uint16_t len, uint16_t flags);
/* v2: a transitive grant of (@trans_domid, @trans_ref) to @domid. */
void gnttab_grant_transitive(grant_ref_t ref, domid_t domid, domid_t trans_domid,
                             grant_ref_t trans_ref);
/* Take the grant away (the entry becomes GTF_invalid, domid 0). */
void gnttab_revoke(grant_ref_t ref);
/* The entry's flags (v1) or its status (v2): where GTF_reading/writing show. */
uint16_t gnttab_access(grant_ref_t ref);
uint16_t gnttab_flags(grant_ref_t ref);

/* One map: its status; *handle set on success. */
int16_t gnttab_map(domid_t dom, grant_ref_t ref, unsigned long gfn, uint32_t flags,
                   grant_handle_t *handle);
/* One unmap of @handle mapped at @gfn. */
int16_t gnttab_unmap(grant_handle_t handle, unsigned long gfn);
/* One copy, by grant ref where @flags (GNTCOPY_*) says so, else by gfn. */
int16_t gnttab_copy1(domid_t sdom, unsigned long sref_or_gfn, uint16_t soff,
                     domid_t ddom, unsigned long dref_or_gfn, uint16_t doff,
                     uint16_t len, uint16_t flags);

/* A page of our RAM given back to Xen (decrease_reservation): a free gfn. */
long balloon_out(const void *page);

#endif /* XTF_GNTTAB_H */
