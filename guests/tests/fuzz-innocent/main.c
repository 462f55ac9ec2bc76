/**
 * @file tests/fuzz-innocent/main.c
 *
 * The innocent domain of the multi-domain hypercall fuzz (firmware/
 * fuzz-multi): it fills `pattern=N` MiB of its RAM with a seeded stream,
 * then, while the fuzzer domains (domids first..first+count-1 from its
 * command line) hammer the hypervisor, wakes every 10 ms to verify a slice
 * of the pattern and its own code checksum, and watches them with
 * getdomaininfo (it is a control domain for that alone).  When every fuzzer
 * has shut down it verifies the whole pattern once more and reports
 * SUCCESS: nothing another domain did reached its memory.
 */
#include <xtf.h>
#include <xtf/cmdline.h>
#include <xtf/ctl.h>
#include <xtf/events.h>

const char test_title[] = "Innocent domain beside hypercall fuzzers";

#define PATTERN_BASE 0x1000000ul                /* 16 MiB: far above the image */
#define SLICES       64
#define WAKE_NS      10000000ull                /* 10 ms */

static uint64_t *pattern = (uint64_t *)PATTERN_BASE;
static unsigned long words;

/* The pattern's word i: a hash of the seed and i. */
static uint64_t expected(unsigned long i, uint64_t seed)
{
    return (seed ^ (i * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
}

/* Verify words [from, to); false (and a report) at the first wrong one. */
static bool verify(unsigned long from, unsigned long to, uint64_t seed)
{
    for ( unsigned long i = from; i < to; i++ )
        if ( pattern[i] != expected(i, seed) )
        {
            xtf_failure("Fail: pattern word %lu at %p is %#lx, expected %#lx\n",
                        i, &pattern[i], (unsigned long)pattern[i],
                        (unsigned long)expected(i, seed));
            return false;
        }
    return true;
}

extern const char _image_start[], __stop_ex_table[];

static uint32_t code_sum(void)
{
    uint32_t s = 0;

    for ( const char *p = _image_start; p < __stop_ex_table; p++ )
        s = (s << 5) + s + (uint8_t)*p;
    return s;
}

/* True once domain @d has shut down or is gone. */
static bool ended(domid_t d)
{
    struct xen_domctl_getdomaininfo info;
    long rc = domctl_getdomaininfo(d, &info);

    if ( rc == -ESRCH )
        return true;
    if ( rc )
        panic("getdomaininfo d%u: %ld\n", d, rc);
    return info.flags & XEN_DOMINF_shutdown;
}

void test_main(void)
{
    unsigned long first = cmdline_ulong("first", 1);
    unsigned long count = cmdline_ulong("count", 0);
    uint64_t seed = cmdline_ulong("seed", 0x1ee7);
    uint32_t sum = code_sum();
    unsigned long wakes = 0, slice = 0;
    struct evtchn_alloc_unbound op = { .dom = DOMID_SELF, .remote_dom = DOMID_SELF };
    evtchn_port_t port;
    bool all_ended;

    if ( !count )
        return xtf_skip("Skip: no fuzzers to watch (boot firmware/fuzz-multi)\n");
    words = (cmdline_ulong("pattern", 8) << 20) / sizeof(uint64_t);
    for ( unsigned long i = 0; i < words; i++ )
        pattern[i] = expected(i, seed);
    if ( hypercall_event_channel_op(EVTCHNOP_alloc_unbound, &op) )
        panic("alloc_unbound failed\n");
    port = op.port;                     /* polled with a timeout: a 10 ms sleep */
    printk("Watching d%lu..d%lu: %lu MiB of pattern at %#lx\n", first,
           first + count - 1, (words * sizeof(uint64_t)) >> 20, PATTERN_BASE);

    do {
        unsigned long per = words / SLICES;

        sched_poll(&port, 1, hvm_get_time() + WAKE_NS);
        wakes++;
        if ( !verify(slice * per, (slice + 1) * per, seed) )
            return;
        slice = (slice + 1) % SLICES;
        if ( code_sum() != sum )
            return xtf_failure("Fail: code checksum changed\n");
        all_ended = true;
        for ( unsigned long d = first; d < first + count; d++ )
            all_ended &= ended(d);
    } while ( !all_ended );

    if ( !verify(0, words, seed) )
        return;
    printk("Pattern and code intact after %lu wake-ups\n", wakes);
    xtf_success(NULL);
}
