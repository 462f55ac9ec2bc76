/**
 * @file tests/shared-ring/main.c
 *
 * A split driver in miniature, between two domains: run it as both,
 * `hvsim run shared-ring.elf shared-ring.elf`.  Domain 1 (the frontend)
 * grants a ring page and data pages to domain 2 (the backend) and posts
 * requests; the backend maps the ring, serves each request from the data
 * page (mapping it, or with GNTTABOP_copy in and out for every other one),
 * checksums it, inverts it, and answers.  The frontend checks every answer
 * and every byte.  A read-only grant is mapped read-only and a write
 * through it faults as on Xen (#GP for an HVM domain).  Then the backend
 * lets go, the frontend revokes its grants, and the backend's later map
 * and copy fail as Xen fails them.  `maps=N` (command line) makes the
 * backend also time N map+unmap pairs.
 */
#include <xtf.h>
#include <xtf/cmdline.h>
#include <xtf/ctl.h>
#include <xtf/events.h>
#include <xtf/gnttab.h>
#include <xtf/peer.h>

const char test_title[] = "Grant tables: a shared ring between two domains";

#define RING_REF  8                 /* the first refs a guest may use */
#define RO_REF    9
#define DATA_REF0 10
#define NR_DATA   4
#define NR_REQS   24
#define RING_SLOTS 8
#define REQ_DONE  0xffffffffu

struct req { uint32_t id, ref, sum, pad; };
struct rsp { uint32_t id, sum; int32_t status, pad; };
struct ring {
    uint32_t req_prod, rsp_prod;
    struct req req[RING_SLOTS];
    struct rsp rsp[RING_SLOTS];
};

static domid_t peer;

/* Frontend: what it grants. */
static uint8_t ring_page[PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t ro_page[PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t data[NR_DATA][PAGE_SIZE] __aligned(PAGE_SIZE);

/* Backend: ballooned-out pages it maps grants into, and a bounce buffer. */
static uint8_t ring_map[PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t data_map[PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t ro_map[PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t bounce[PAGE_SIZE] __aligned(PAGE_SIZE);

static unsigned long gfn_of(const void *p)
{
    return (unsigned long)p >> PAGE_SHIFT;
}

/* Fletcher-style checksum of a page. */
static uint32_t checksum(const volatile uint8_t *p)
{
    uint32_t a = 1, b = 0;
    unsigned int i;

    for ( i = 0; i < PAGE_SIZE; i++ )
    {
        a = (a + p[i]) % 65521;
        b = (b + a) % 65521;
    }
    return (b << 16) | a;
}

static void fill(uint8_t *p, uint32_t seed)
{
    unsigned int i;

    for ( i = 0; i < PAGE_SIZE; i++ )
    {
        seed = seed * 1103515245 + 12345;
        p[i] = seed >> 16;
    }
}

/* ---- frontend --------------------------------------------------------------- */
static void frontend(void)
{
    struct ring *r = (struct ring *)ring_page;
    uint8_t expect[PAGE_SIZE];
    unsigned int k, i, bad_sums = 0, bad_bytes = 0;

    for ( k = 0; k < NR_REQS; k++ )
    {
        unsigned int slot = k % RING_SLOTS, d = k % NR_DATA;
        uint32_t sum;

        fill(data[d], k + 1);
        sum = checksum(data[d]);
        r->req[slot] = (struct req){ .id = k, .ref = DATA_REF0 + d, .sum = sum };
        barrier();                               /* x86: stores stay in order */
        ACCESS_ONCE(r->req_prod) = k + 1;
        peer_notify();
        while ( ACCESS_ONCE(r->rsp_prod) != k + 1 )
            peer_wait(peer_rx + 1);
        barrier();
        if ( r->rsp[slot].id != k || r->rsp[slot].status || r->rsp[slot].sum != sum )
            bad_sums++;
        fill(expect, k + 1);
        for ( i = 0; i < PAGE_SIZE; i++ )
            if ( data[d][i] != (uint8_t)~expect[i] )
                bad_bytes++;
        xtf_check_eq("access flags once answered", gnttab_access(DATA_REF0 + d), 0);
    }
    xtf_check(!bad_sums, "%u answers with a wrong id, status or checksum", bad_sums);
    xtf_check(!bad_bytes, "%u bytes not inverted by the backend", bad_bytes);
    printk("front: %u requests answered, checksums and data verified\n", NR_REQS);

    /* Ask the backend to let go of the ring. */
    xtf_check_eq("ring mapped: reading|writing", gnttab_access(RING_REF),
                 GTF_reading | GTF_writing);
    r->req[NR_REQS % RING_SLOTS] = (struct req){ .id = REQ_DONE };
    barrier();                               /* x86: stores stay in order */
    ACCESS_ONCE(r->req_prod) = NR_REQS + 1;
    peer_notify();
    while ( gnttab_access(RING_REF) || gnttab_access(RO_REF) )
        peer_wait(peer_rx + 1);
    printk("front: the backend unmapped the ring; revoking every grant\n");
    gnttab_revoke(RING_REF);
    gnttab_revoke(RO_REF);
    for ( i = 0; i < NR_DATA; i++ )
        gnttab_revoke(DATA_REF0 + i);
    peer_notify();
    peer_wait(peer_rx + 1);                     /* the backend has tried */
    xtf_check_eq("revoked ring entry", gnttab_flags(RING_REF), 0);
}

/* ---- backend ---------------------------------------------------------------- */
static int16_t serve_mapped(grant_ref_t ref, uint32_t *sum)
{
    grant_handle_t h;
    int16_t st = gnttab_map(peer, ref, gfn_of(data_map), GNTMAP_host_map, &h);
    unsigned int i;

    if ( st != GNTST_okay )
        return st;
    *sum = checksum(data_map);
    for ( i = 0; i < PAGE_SIZE; i++ )
        ACCESS_ONCE(data_map[i]) = ~ACCESS_ONCE(data_map[i]);
    return gnttab_unmap(h, gfn_of(data_map));
}

static int16_t serve_copied(grant_ref_t ref, uint32_t *sum)
{
    int16_t st = gnttab_copy1(peer, ref, 0, DOMID_SELF, gfn_of(bounce), 0, PAGE_SIZE,
                              GNTCOPY_source_gref);
    unsigned int i;

    if ( st != GNTST_okay )
        return st;
    *sum = checksum(bounce);
    for ( i = 0; i < PAGE_SIZE; i++ )
        bounce[i] = ~bounce[i];
    return gnttab_copy1(DOMID_SELF, gfn_of(bounce), 0, peer, ref, 0, PAGE_SIZE,
                        GNTCOPY_dest_gref);
}

static void check_read_only(void)
{
    grant_handle_t h;

    xtf_check_rc("balloon out the r/o window", balloon_out(ro_map), 1);
    if ( gnttab_map(peer, RO_REF, gfn_of(ro_map), GNTMAP_host_map | GNTMAP_readonly, &h) !=
         GNTST_okay )
        return (void)xtf_failure("Fail: read-only map of the r/o grant\n");
    xtf_check(memis(ro_map, 0x5a, PAGE_SIZE), "r/o mapping does not show the granted page");
    xtf_check_eq("writable map of a r/o grant",
                 (uint16_t)gnttab_map(peer, RO_REF, gfn_of(bounce), GNTMAP_host_map, NULL),
                 (uint16_t)GNTST_general_error);
#ifdef __aarch64__
    /* Xen on Arm: a stage-2 permission fault, a data abort for us. */
    xtf_check(access_faults((volatile uint32_t *)ro_map, true),
              "a write through a read-only grant mapping did not abort");
#else
    exinfo_t fault = 0;

    asm volatile ("1: movb $1, (%[p]); 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault) : [p] "r" (ro_map) : "memory");
    xtf_check_exinfo("write through a read-only grant mapping", fault, EXINFO_SYM(GP, 0));
#endif
    xtf_check_eq("the granter's page unharmed", ACCESS_ONCE(ro_map[0]), 0x5a);
    xtf_check_eq("unmap r/o", (uint16_t)gnttab_unmap(h, gfn_of(ro_map)), GNTST_okay);
    printk("back: read-only grant mapped, a write through it faults\n");
}

static void time_maps(unsigned long n)
{
    uint64_t t0, t1;
    unsigned long i, bad = 0;
    grant_handle_t h;
    uint32_t rem;

    t0 = xen_system_time();
    for ( i = 0; i < n; i++ )
        if ( gnttab_map(peer, DATA_REF0, gfn_of(data_map), GNTMAP_host_map, &h) ||
             gnttab_unmap(h, gfn_of(data_map)) )
            bad++;
    t1 = xen_system_time();
    xtf_check(!bad, "%lu map+unmap pairs failed", bad);
    printk("back: %lu map+unmap pairs, %llu ns each\n", n,
           (unsigned long long)div_u64(t1 - t0, n ?: 1, &rem));
}

static void backend(void)
{
    volatile struct ring *r = (volatile struct ring *)ring_map;
    grant_handle_t ring_h;
    uint32_t cons = 0;
    unsigned int served = 0, failed = 0;
    bool done = false;

    xtf_check_rc("balloon out the data window", balloon_out(data_map), 1);
    xtf_check_rc("balloon out the ring window", balloon_out(ring_map), 1);
    if ( gnttab_map(peer, RING_REF, gfn_of(ring_map), GNTMAP_host_map, &ring_h) != GNTST_okay )
        return (void)xtf_failure("Fail: could not map the ring\n");
    check_read_only();

    while ( !done )
    {
        while ( cons == ACCESS_ONCE(r->req_prod) )
            peer_wait(peer_rx + 1);
        barrier();
        while ( cons != r->req_prod )
        {
            struct req q = r->req[cons % RING_SLOTS];
            struct rsp s = { .id = q.id };

            if ( q.id == REQ_DONE )
            {
                done = true;
                break;
            }
            s.status = (q.id & 1) ? serve_copied(q.ref, &s.sum) : serve_mapped(q.ref, &s.sum);
            if ( s.status || s.sum != q.sum )
                failed++;
            served++;
            r->rsp[cons % RING_SLOTS] = s;
            barrier();                               /* x86: stores stay in order */
            r->rsp_prod = ++cons;
            peer_notify();
        }
    }
    xtf_check(!failed, "%u requests failed or had a bad checksum", failed);
    printk("back: %u requests served (mapped and copied), checksums match\n", served);
    time_maps(cmdline_ulong("maps", 100));

    /* Let go, then try again once the frontend has revoked its grants. */
    xtf_check_eq("unmap the ring", (uint16_t)gnttab_unmap(ring_h, gfn_of(ring_map)),
                 GNTST_okay);
    peer_notify();
    peer_wait(peer_rx + 1);
    xtf_check_eq("map a revoked grant",
                 (uint16_t)gnttab_map(peer, RING_REF, gfn_of(ring_map), GNTMAP_host_map, NULL),
                 (uint16_t)GNTST_general_error);
    xtf_check_eq("copy from a revoked grant",
                 (uint16_t)gnttab_copy1(peer, DATA_REF0, 0, DOMID_SELF, gfn_of(bounce), 0, 16,
                                        GNTCOPY_source_gref), (uint16_t)GNTST_general_error);
    xtf_check_eq("copy to a revoked grant",
                 (uint16_t)gnttab_copy1(DOMID_SELF, gfn_of(bounce), 0, peer, DATA_REF0 + 1, 0,
                                        16, GNTCOPY_dest_gref), (uint16_t)GNTST_general_error);
    printk("back: after revocation map and copy fail with GNTST_general_error\n");
    peer_notify();
}

void test_main(void)
{
    unsigned int i;

    if ( !xen_present )
        return xtf_skip("Skip: Xen not present\n");

    /* The frontend's grants exist before it offers the event channel. */
    if ( self_domid() == PEER_FIRST_DOMID )
    {
        if ( gnttab_setup(1, 1) )
            return;
        memset(ro_page, 0x5a, PAGE_SIZE);
        gnttab_grant(RING_REF, PEER_SECOND_DOMID, gfn_of(ring_page), 0);
        gnttab_grant(RO_REF, PEER_SECOND_DOMID, gfn_of(ro_page), GTF_readonly);
        for ( i = 0; i < NR_DATA; i++ )
            gnttab_grant(DATA_REF0 + i, PEER_SECOND_DOMID, gfn_of(data[i]), 0);
    }
    peer = peer_connect();
    if ( !peer )
        return;
    printk("d%u is the %s, d%u the %s\n", self_domid(), peer_is_first() ? "frontend" : "backend",
           peer, peer_is_first() ? "backend" : "frontend");
    if ( peer_is_first() )
        frontend();
    else
        backend();

    xtf_success(NULL);
}
