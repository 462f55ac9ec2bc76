/**
 * @file tests/memory-ops/main.c
 *
 * The reservation and physmap memory ops of a PVH domU, against the results
 * of Xen's xen/common/memory.c and x86's xenmem_add_to_physmap_one():
 * decrease_reservation (and a gfn given back twice: XSA-277), populate_physmap,
 * increase_reservation up to maximum_reservation, remove_from_physmap,
 * add_to_physmap with gmfn and gmfn_range, maximum_gpfn, memory_map and
 * set_memory_map (x86's arch_memory_op), and the refusals
 * (extent order, start extent, NUMA flags, bad domain, bad list) that make
 * an op return its start extent.  A gfn with nothing behind it reads all
 * ones and drops writes (Xen's null handler for an HVM domain).
 */
#include <xtf.h>

const char test_title[] = "Memory ops: reservations and the physmap";

#define NO_SUCH_DOMID (DOMID_FIRST_RESERVED - 1)
#define BAD_PTR ((void *)0xdead0000ul)

/* Above the 128 MiB of RAM, below the special pages; identity mapped. */
#define HIGH_GFN 0x10000ul

/* public/memory.h's node selector (a macro there, so not in xen-abi.h). */
#define XENMEMF_node(n) ((((n) + 1) & 0xff) << 8)

static uint8_t pages[8][PAGE_SIZE] __aligned(4 * PAGE_SIZE);

static unsigned long gfn_of(const void *p)
{
    return (unsigned long)p >> PAGE_SHIFT;
}

static volatile uint32_t *word(unsigned long gfn)
{
    return (volatile uint32_t *)(gfn << PAGE_SHIFT);
}

static long reservation(unsigned int op, xen_pfn_t *list, unsigned long nr,
                        unsigned int order, unsigned int flags, domid_t dom)
{
    struct xen_memory_reservation r = {
        .extent_start = list, .nr_extents = nr, .extent_order = order,
        .mem_flags = flags, .domid = dom,
    };

    return hypercall_memory_op(op, &r);
}

static long query(unsigned int op)
{
    domid_t dom = DOMID_SELF;

    return hypercall_memory_op(op, &dom);
}

static long cur_pages(void)
{
    return query(XENMEM_current_reservation);
}

static void check_empty(const char *what, unsigned long gfn)
{
    *word(gfn) = 0x12345678;
    xtf_check_eq(what, *word(gfn), 0xffffffffu);
}

static void check_fresh(const char *what, unsigned long gfn)
{
    xtf_check(memis((void *)(gfn << PAGE_SHIFT), 0, PAGE_SIZE), "%s: not zeroed", what);
    *word(gfn) = 0xfeedf00d;
    xtf_check_eq(what, *word(gfn), 0xfeedf00d);
}

static void test_decrease_populate(void)
{
    xen_pfn_t gfn = gfn_of(pages[0]);
    xen_pfn_t pair = gfn_of(pages[4]);
    long cur = cur_pages();

    printk("Testing decrease_reservation and populate_physmap\n");
    memset(pages[0], 0xa5, PAGE_SIZE);
    xtf_check_rc("decrease_reservation", reservation(XENMEM_decrease_reservation, &gfn, 1,
                                                     0, 0, DOMID_SELF), 1);
    xtf_check_rc("current_reservation after", cur_pages(), cur - 1);
    check_empty("ballooned-out page reads all ones", gfn);
    /* XSA-277: the same gfn again stops at extent 0 (and leaves no lock held). */
    xtf_check_rc("decrease_reservation, same gfn again",
                 reservation(XENMEM_decrease_reservation, &gfn, 1, 0, 0, DOMID_SELF), 0);
    xtf_check_rc("decrease_reservation, a third time",
                 reservation(XENMEM_decrease_reservation, &gfn, 1, 0, 0, DOMID_SELF), 0);
    xtf_check_rc("populate_physmap", reservation(XENMEM_populate_physmap, &gfn, 1,
                                                 0, 0, DOMID_SELF), 1);
    xtf_check_rc("current_reservation back", cur_pages(), cur);
    check_fresh("repopulated page", gfn);

    xtf_check_rc("decrease_reservation, order 2",
                 reservation(XENMEM_decrease_reservation, &pair, 1, 2, 0, DOMID_SELF), 1);
    xtf_check_rc("current_reservation after order 2", cur_pages(), cur - 4);
    check_empty("page 3 of the order-2 extent", pair + 3);
    xtf_check_rc("populate_physmap, order 2",
                 reservation(XENMEM_populate_physmap, &pair, 1, 2, 0, DOMID_SELF), 1);
    check_fresh("page 2 of the repopulated extent", pair + 2);
    xtf_check_rc("current_reservation", cur_pages(), cur);
}

static void test_refusals(void)
{
    xen_pfn_t list[3] = { gfn_of(pages[1]), gfn_of(pages[2]), gfn_of(pages[3]) };
    xen_pfn_t high = HIGH_GFN + 0x1000;
    long cur = cur_pages();

    printk("Testing what makes a reservation op do nothing\n");
    xtf_check_rc("decrease, extent order 10 (domU max 9)",
                 reservation(XENMEM_decrease_reservation, list, 1, 10, 0, DOMID_SELF), 0);
    xtf_check_rc("populate, extent order 10",
                 reservation(XENMEM_populate_physmap, list, 1, 10, 0, DOMID_SELF), 0);
    xtf_check_rc("decrease, no extents",
                 reservation(XENMEM_decrease_reservation, list, 0, 0, 0, DOMID_SELF), 0);
    xtf_check_rc("decrease, start extent 5 of 3",
                 reservation(XENMEM_decrease_reservation | (5 << MEMOP_EXTENT_SHIFT),
                             list, 3, 0, 0, DOMID_SELF), 5);
    xtf_check_rc("decrease, no such domain",
                 reservation(XENMEM_decrease_reservation, list, 1, 0, 0, NO_SUCH_DOMID), 0);
    xtf_check_rc("populate, exact node for a domU",
                 reservation(XENMEM_populate_physmap, &high, 1, 0,
                             XENMEMF_node(0) | XENMEMF_exact_node_request, DOMID_SELF), 0);
    xtf_check_rc("populate, 12 address bits",
                 reservation(XENMEM_populate_physmap, &high, 1, 0, 12, DOMID_SELF), 0);
    xtf_check_rc("populate on demand, own domain",
                 reservation(XENMEM_populate_physmap, &high, 1, 0,
                             XENMEMF_populate_on_demand, DOMID_SELF), 0);
    xtf_check_rc("decrease, bad extent list",
                 reservation(XENMEM_decrease_reservation, BAD_PTR, 1, 0, 0, DOMID_SELF), 0);
    xtf_check_rc("decrease, bad argument", hypercall_memory_op(XENMEM_decrease_reservation,
                                                               BAD_PTR), 0);
    xtf_check_rc("current_reservation unchanged", cur_pages(), cur);

    /* The second extent is empty: the op stops there, the first stays done. */
    list[1] = HIGH_GFN + 0x2000;
    xtf_check_rc("decrease, second extent empty",
                 reservation(XENMEM_decrease_reservation, list, 3, 0, 0, DOMID_SELF), 1);
    check_empty("first extent given back", list[0]);
    xtf_check_rc("decrease, continuing at extent 2",
                 reservation(XENMEM_decrease_reservation | (2 << MEMOP_EXTENT_SHIFT),
                             list, 3, 0, 0, DOMID_SELF), 3);
    xtf_check_rc("current_reservation", cur_pages(), cur - 2);
    list[1] = list[2];
    xtf_check_rc("populate both back", reservation(XENMEM_populate_physmap, list, 2, 0, 0,
                                                   DOMID_SELF), 2);
    xtf_check_rc("current_reservation back", cur_pages(), cur);
}

static void test_high_gfn(void)
{
    xen_pfn_t gfn = HIGH_GFN;
    long cur = cur_pages(), max_gpfn = query(XENMEM_maximum_gpfn);

    printk("Testing a page populated above RAM\n");
    check_empty("above RAM before populating", gfn);
    xtf_check_rc("populate_physmap above RAM",
                 reservation(XENMEM_populate_physmap, &gfn, 1, 0, 0, DOMID_SELF), 1);
    check_fresh("page above RAM", gfn);
    xtf_check_rc("current_reservation", cur_pages(), cur + 1);
    xtf_check_rc("maximum_gpfn (the special pages are higher)",
                 query(XENMEM_maximum_gpfn), max_gpfn);
    xtf_check_rc("decrease it", reservation(XENMEM_decrease_reservation, &gfn, 1, 0, 0,
                                            DOMID_SELF), 1);
    check_empty("above RAM after", gfn);
    xtf_check_rc("current_reservation", cur_pages(), cur);
    printk("  maximum_gpfn %#lx\n", max_gpfn);
}

static void test_physmap(void)
{
    struct xen_remove_from_physmap xrfp = { .domid = DOMID_SELF, .gpfn = gfn_of(pages[1]) };
    struct xen_add_to_physmap xatp = { .domid = DOMID_SELF, .space = XENMAPSPACE_gmfn };
    xen_pfn_t dst = gfn_of(pages[2]);
    long cur = cur_pages();

    printk("Testing remove_from_physmap and add_to_physmap gmfn\n");
    xtf_check_rc("remove_from_physmap", hypercall_memory_op(XENMEM_remove_from_physmap,
                                                            &xrfp), 0);
    check_empty("removed page", xrfp.gpfn);
    xtf_check_rc("current_reservation (the page is still ours)", cur_pages(), cur);
    xtf_check_rc("remove_from_physmap again",
                 hypercall_memory_op(XENMEM_remove_from_physmap, &xrfp), -ENOENT);
    xtf_check_rc("remove_from_physmap, start extent",
                 hypercall_memory_op(XENMEM_remove_from_physmap | (1 << MEMOP_EXTENT_SHIFT),
                                     &xrfp), -EINVAL);
    xrfp.domid = NO_SUCH_DOMID;
    xtf_check_rc("remove_from_physmap, no such domain",
                 hypercall_memory_op(XENMEM_remove_from_physmap, &xrfp), -ESRCH);

    /* gmfn: move pages[3] (patterned) to pages[2]'s gfn; what was there is freed. */
    memset(pages[3], 0x3c, PAGE_SIZE);
    xatp.idx = gfn_of(pages[3]);
    xatp.gpfn = dst;
    xtf_check_rc("add_to_physmap gmfn", hypercall_memory_op(XENMEM_add_to_physmap, &xatp), 0);
    xtf_check(memis(pages[2], 0x3c, PAGE_SIZE), "moved page lost its contents");
    check_empty("the page's old gfn", xatp.idx);
    xtf_check_rc("current_reservation (one page freed)", cur_pages(), cur - 1);
    xtf_check_rc("add_to_physmap gmfn from an empty gfn",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), -EINVAL);

    /* gmfn_range: pages[2] and the empty gfn after it go to pages[6..7]. */
    xatp.space = XENMAPSPACE_gmfn_range;
    xatp.idx = dst;
    xatp.gpfn = gfn_of(pages[6]);
    xatp.size = 1;
    memset(pages[6], 0, 2 * PAGE_SIZE);
    xtf_check_rc("add_to_physmap gmfn_range, size 1",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), 0);
    xtf_check(memis(pages[6], 0x3c, PAGE_SIZE), "gmfn_range lost the contents");
    xatp.size = 2;
    xtf_check_rc("add_to_physmap gmfn_range, size 2 at start extent 3",
                 hypercall_memory_op(XENMEM_add_to_physmap | (3 << MEMOP_EXTENT_SHIFT),
                                     &xatp), -EILSEQ);
    xatp.idx = dst;                     /* empty now: the first page fails */
    xatp.gpfn = gfn_of(pages[7]);
    pages[7][0] = 0x77;
    xtf_check_rc("add_to_physmap gmfn_range from an empty gfn",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), -EINVAL);
    xtf_check_eq("the range's target untouched", pages[7][0], 0x77);

    /* Fill the holes again for the rest of the test. */
    {
        xen_pfn_t back[3] = { gfn_of(pages[1]), gfn_of(pages[2]), gfn_of(pages[3]) };
        xtf_check_rc("populate the holes", reservation(XENMEM_populate_physmap, back, 3, 0, 0,
                                                       DOMID_SELF), 3);
        /* the removed page is still ours, the moves freed two, three are new */
        xtf_check_rc("current_reservation", cur_pages(), cur + 1);
    }
}

static void test_increase(void)
{
    long max = query(XENMEM_maximum_reservation), cur = cur_pages();
    xen_pfn_t gfn = HIGH_GFN;

    printk("Testing increase_reservation up to the maximum\n");
    xtf_check_rc("increase_reservation, 4 pages",
                 reservation(XENMEM_increase_reservation, NULL, 4, 0, 0, DOMID_SELF), 4);
    xtf_check_rc("current_reservation", cur_pages(), cur + 4);
    xtf_check_rc("increase_reservation past the maximum",
                 reservation(XENMEM_increase_reservation, NULL, 100000, 0, 0, DOMID_SELF),
                 max - cur - 4);
    xtf_check_rc("current_reservation at the maximum", cur_pages(), max);
    xtf_check_rc("populate_physmap with no headroom",
                 reservation(XENMEM_populate_physmap, &gfn, 1, 0, 0, DOMID_SELF), 0);
    check_empty("gfn not populated", gfn);
    printk("  %ld pages, all of maximum_reservation %ld\n", cur_pages(), max);
}

/* XENMEM_memory_map's packed entry (public/arch-x86/xen.h has none). */
struct e820_entry {
    uint64_t addr, size;
    uint32_t type;
} __attribute__((packed));

static long memory_map(struct e820_entry *map, unsigned int *nr)
{
    struct xen_memory_map m = { .nr_entries = *nr, .buffer = map };
    long rc;

    rc = hypercall_memory_op(XENMEM_memory_map, &m);
    *nr = m.nr_entries;
    return rc;
}

static long set_memory_map(domid_t dom, struct e820_entry *map, unsigned int nr)
{
    struct xen_foreign_memory_map f = { .domid = dom, .map.nr_entries = nr,
                                        .map.buffer = map };

    return hypercall_memory_op(XENMEM_set_memory_map, &f);
}

static void test_memory_map(void)
{
    static struct e820_entry orig[16], got[16];
    unsigned int nr = ARRAY_SIZE(orig), n;
    struct e820_entry mine[2];

    printk("Testing memory_map and set_memory_map\n");
    xtf_check_rc("memory_map", memory_map(orig, &nr), 0);
    xtf_check(nr >= 1 && nr < ARRAY_SIZE(orig), "memory_map: %u entries", nr);

    /* A domain may set its own map (XSM TARGET), as GRUB does. */
    mine[0] = orig[0];
    mine[1] = (struct e820_entry){ .addr = 0xfeff0000, .size = 0x1000, .type = 2 };
    xtf_check_rc("set_memory_map, DOMID_SELF", set_memory_map(DOMID_SELF, mine, 2), 0);
    n = ARRAY_SIZE(got);
    xtf_check_rc("memory_map after set", memory_map(got, &n), 0);
    xtf_check(n == 2 && !memcmp(got, mine, sizeof(mine)), "memory_map: not the map set");
    n = 1;
    xtf_check_rc("memory_map, room for one", memory_map(got, &n), 0);
    xtf_check_eq("memory_map, room for one: entries", n, 1);

    xtf_check_rc("set_memory_map, more than E820MAX entries",
                 set_memory_map(DOMID_SELF, mine, E820MAX + 1), -EINVAL);
    xtf_check_rc("set_memory_map, no such domain",
                 set_memory_map(NO_SUCH_DOMID, mine, 2), -ESRCH);
    xtf_check_rc("set_memory_map, bad buffer", set_memory_map(DOMID_SELF, BAD_PTR, 2), -EFAULT);
    xtf_check_rc("set_memory_map, bad argument",
                 hypercall_memory_op(XENMEM_set_memory_map, BAD_PTR), -EFAULT);

    /* No entries: memory_map is -ENOSYS, as before a toolstack set one. */
    xtf_check_rc("set_memory_map, no entries", set_memory_map(DOMID_SELF, mine, 0), 0);
    n = ARRAY_SIZE(got);
    xtf_check_rc("memory_map with no map", memory_map(got, &n), -ENOSYS);

    xtf_check_rc("set_memory_map, the original back", set_memory_map(DOMID_SELF, orig, nr), 0);
    n = ARRAY_SIZE(got);
    xtf_check_rc("memory_map restored", memory_map(got, &n), 0);
    xtf_check(n == nr && !memcmp(got, orig, nr * sizeof(*orig)), "memory_map not restored");
}

void test_main(void)
{
    if ( !xen_present )
        return xtf_skip("Skip: Xen not present\n");

    test_decrease_populate();
    test_refusals();
    test_high_gfn();
    test_physmap();
    test_increase();
    test_memory_map();

    xtf_success(NULL);
}
