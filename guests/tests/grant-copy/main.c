/**
 * @file tests/grant-copy/main.c
 *
 * Bulk transfer with GNTTABOP_copy between two domains: run it as both,
 * `hvsim run grant-copy.elf grant-copy.elf`.  Domain 1 grants NR_PAGES pages
 * of data (and their checksum in a header page) to domain 2, which pulls
 * them `rounds=N` times (command line, default 8) in batches of copies of
 * every size and offset pattern, verifies them, and pushes them back
 * inverted; domain 1 checks every byte.  Domain 1 uses grant table version 2,
 * domain 2 version 1; a transitive grant of domain 1 leads back to a page
 * domain 2 granted it, and a sub-page grant limits what may be copied.  `chunk=N` (512, 1024, 2048 or 4096)
 * sets the bytes per copy op.  Copies Xen refuses between the two
 * domains are checked too: a grant for another domain, a bad ref, a length
 * past the page, a gfn named with the peer's domid.
 */
#include <xtf.h>
#include <xtf/cmdline.h>
#include <xtf/ctl.h>
#include <xtf/events.h>
#include <xtf/gnttab.h>
#include <xtf/peer.h>

const char test_title[] = "Grant tables: bulk GNTTABOP_copy between two domains";

#define HDR_REF   8
#define DATA_REF0 9
#define NR_PAGES  16
#define FOREIGN_REF (DATA_REF0 + NR_PAGES)      /* granted to a third domain */
#define TRANS_REF (FOREIGN_REF + 1)             /* d1: transitive, to d2's BACK_REF */
#define SUB_REF   (FOREIGN_REF + 2)             /* d1: a sub-page of the header */
#define BACK_REF  8                             /* d2: its own page, granted to d1 */
#define MIN_CHUNK 512                           /* bytes per copy op: chunk=N */

static domid_t peer;
static uint8_t hdr[PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t own[PAGE_SIZE] __aligned(PAGE_SIZE);     /* d2's page granted to d1 */
static uint8_t pages[NR_PAGES][PAGE_SIZE] __aligned(PAGE_SIZE);
static struct gnttab_copy ops[NR_PAGES * (PAGE_SIZE / MIN_CHUNK)];
static unsigned int chunk, nr_ops;

static unsigned long gfn_of(const void *p)
{
    return (unsigned long)p >> PAGE_SHIFT;
}

static uint32_t sum_pages(void)
{
    uint32_t a = 1, b = 0;
    unsigned int p, i;

    for ( p = 0; p < NR_PAGES; p++ )
        for ( i = 0; i < PAGE_SIZE; i++ )
        {
            a = (a + pages[p][i]) % 65521;
            b = (b + a) % 65521;
        }
    return (b << 16) | a;
}

static void front(void)
{
    unsigned int p, i, bad = 0;
    uint32_t seed = 7;

    for ( p = 0; p < NR_PAGES; p++ )
        for ( i = 0; i < PAGE_SIZE; i++ )
        {
            seed = seed * 1103515245 + 12345;
            pages[p][i] = seed >> 16;
        }
    *(uint32_t *)hdr = sum_pages();
    peer_notify();                              /* data ready */
    peer_wait(2);                               /* pushed back */
    seed = 7;
    for ( p = 0; p < NR_PAGES; p++ )
        for ( i = 0; i < PAGE_SIZE; i++ )
        {
            seed = seed * 1103515245 + 12345;
            if ( pages[p][i] != (uint8_t)~(seed >> 16) )
                bad++;
        }
    xtf_check(!bad, "%u bytes not pushed back inverted", bad);
    for ( p = 0; p < NR_PAGES; p++ )
        xtf_check_eq("no access flags after the copies", gnttab_access(DATA_REF0 + p), 0);
    printk("front: %u KiB pushed back, every byte checked\n", (unsigned int)(NR_PAGES * PAGE_SIZE / 1024));
}

/* A batch copying every page of the peer in chunk-byte pieces, both ways. */
static void prepare(bool pull)
{
    unsigned int p, c, per_page = PAGE_SIZE / chunk;

    memset(ops, 0, sizeof(ops));
    nr_ops = NR_PAGES * per_page;
    for ( p = 0; p < NR_PAGES; p++ )
        for ( c = 0; c < per_page; c++ )
        {
            struct gnttab_copy *op = &ops[p * per_page + c];
            struct gnttab_copy_ptr *remote = pull ? &op->source : &op->dest;
            struct gnttab_copy_ptr *local = pull ? &op->dest : &op->source;

            remote->u.ref = DATA_REF0 + p;
            remote->domid = peer;
            remote->offset = c * chunk;
            local->u.gmfn = gfn_of(pages[p]);
            local->domid = DOMID_SELF;
            local->offset = c * chunk;
            op->len = chunk;
            op->flags = pull ? GNTCOPY_source_gref : GNTCOPY_dest_gref;
        }
}

static bool run_batch(const char *what)
{
    unsigned int i, bad = 0;

    if ( !xtf_check_rc(what, hypercall_grant_table_op(GNTTABOP_copy, ops, nr_ops), 0) )
        return false;
    for ( i = 0; i < nr_ops; i++ )
        if ( ops[i].status != GNTST_okay && !bad++ )
            printk("%s: op %u status %d\n", what, i, ops[i].status);
    return xtf_check(!bad, "%s: %u copies failed", what, bad);
}

static void check_refusals(void)
{
    xtf_check_eq("copy from a grant for another domain",
                 (uint16_t)gnttab_copy1(peer, FOREIGN_REF, 0, DOMID_SELF, gfn_of(hdr), 0, 16,
                                        GNTCOPY_source_gref), (uint16_t)GNTST_general_error);
    xtf_check_eq("copy from a ref past the peer's table",
                 (uint16_t)gnttab_copy1(peer, 100000, 0, DOMID_SELF, gfn_of(hdr), 0, 16,
                                        GNTCOPY_source_gref), (uint16_t)GNTST_bad_gntref);
    xtf_check_eq("copy past the end of the page",
                 (uint16_t)gnttab_copy1(peer, DATA_REF0, 4000, DOMID_SELF, gfn_of(hdr), 0, 200,
                                        GNTCOPY_source_gref), (uint16_t)GNTST_bad_copy_arg);
    xtf_check_eq("a peer's gfn by its domid",
                 (uint16_t)gnttab_copy1(peer, 0x100, 0, DOMID_SELF, gfn_of(hdr), 0, 16, 0),
                 (uint16_t)GNTST_permission_denied);
    xtf_check_eq("copy into the peer's read-only header grant",
                 (uint16_t)gnttab_copy1(DOMID_SELF, gfn_of(hdr), 0, peer, HDR_REF, 0, 16,
                                        GNTCOPY_dest_gref), (uint16_t)GNTST_general_error);
}

/* The transitive grant resolves to our own page; the sub-page limits copies. */
static void check_v2_grants(void)
{
    uint8_t *tmp = own + PAGE_SIZE / 2;

    memset(tmp, 0, 64);
    xtf_check_eq("copy through a transitive grant",
                 (uint16_t)gnttab_copy1(peer, TRANS_REF, 0, DOMID_SELF, gfn_of(own),
                                        PAGE_SIZE / 2, 64, GNTCOPY_source_gref), GNTST_okay);
    xtf_check(memis(tmp, 0xb7, 64), "transitive copy did not read our own granted page");
    xtf_check_eq("access flags of our grant after the copy", gnttab_access(BACK_REF), 0);
    xtf_check_eq("copy inside the sub-page grant",
                 (uint16_t)gnttab_copy1(peer, SUB_REF, 1024, DOMID_SELF, gfn_of(own),
                                        PAGE_SIZE / 2, 256, GNTCOPY_source_gref), GNTST_okay);
    xtf_check_eq("copy outside the sub-page grant",
                 (uint16_t)gnttab_copy1(peer, SUB_REF, 1000, DOMID_SELF, gfn_of(own),
                                        PAGE_SIZE / 2, 256, GNTCOPY_source_gref),
                 (uint16_t)GNTST_general_error);
    printk("back: transitive and sub-page grants of a v2 domain copied from\n");
}

static void back(void)
{
    unsigned long rounds = cmdline_ulong("rounds", 8), r;
    unsigned int p, i;
    uint64_t t0, t1;
    uint32_t rem, sum;

    chunk = cmdline_ulong("chunk", MIN_CHUNK);
    if ( !xtf_check(chunk >= MIN_CHUNK && chunk <= PAGE_SIZE && !(chunk & (chunk - 1)),
                    "chunk=%u: 512, 1024, 2048 or 4096", chunk) )
        return;
    peer_wait(2);                               /* data ready */
    check_refusals();
    check_v2_grants();
    if ( !xtf_check_eq("header copy", (uint16_t)gnttab_copy1(peer, HDR_REF, 0, DOMID_SELF,
                                                             gfn_of(hdr), 0, 4,
                                                             GNTCOPY_source_gref),
                       GNTST_okay) )
        return;
    sum = *(uint32_t *)hdr;

    prepare(true);
    memset(pages, 0, sizeof(pages));
    t0 = xen_system_time();
    for ( r = 0; r < rounds; r++ )
        if ( !run_batch("pull") )
            return;
    t1 = xen_system_time();
    xtf_check_eq("checksum of the pulled data", sum_pages(), sum);
    printk("back: pulled %lu x %u KiB in %u-byte copies, %llu us per round\n", rounds,
           (unsigned int)(NR_PAGES * PAGE_SIZE / 1024), chunk,
           (unsigned long long)div_u64(t1 - t0, (rounds ?: 1) * 1000, &rem));

    for ( p = 0; p < NR_PAGES; p++ )
        for ( i = 0; i < PAGE_SIZE; i++ )
            pages[p][i] = ~pages[p][i];
    prepare(false);
    if ( run_batch("push") )
        printk("back: pushed %u KiB back inverted\n", (unsigned int)(NR_PAGES * PAGE_SIZE / 1024));
    peer_notify();
}

void test_main(void)
{
    unsigned int p;

    if ( !xen_present )
        return xtf_skip("Skip: Xen not present\n");
    if ( self_domid() == PEER_FIRST_DOMID )
    {
        if ( gnttab_setup(2, 1) )
            return;
        gnttab_grant(HDR_REF, PEER_SECOND_DOMID, gfn_of(hdr), GTF_readonly);
        for ( p = 0; p < NR_PAGES; p++ )
            gnttab_grant(DATA_REF0 + p, PEER_SECOND_DOMID, gfn_of(pages[p]), 0);
        gnttab_grant(FOREIGN_REF, PEER_SECOND_DOMID + 1, gfn_of(pages[0]), 0);
        gnttab_grant_transitive(TRANS_REF, PEER_SECOND_DOMID, PEER_SECOND_DOMID, BACK_REF);
        gnttab_grant_sub_page(SUB_REF, PEER_SECOND_DOMID, gfn_of(hdr), 1024, 256, 0);
    }
    else if ( self_domid() == PEER_SECOND_DOMID )
    {
        if ( gnttab_setup(1, 1) )
            return;
        memset(own, 0xb7, PAGE_SIZE / 2);
        gnttab_grant(BACK_REF, PEER_FIRST_DOMID, gfn_of(own), GTF_readonly);
    }
    peer = peer_connect();
    if ( !peer )
        return;
    if ( peer_is_first() )
        front();
    else
        back();
    xtf_success(NULL);
}
