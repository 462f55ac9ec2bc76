/**
 * @file tests/fuzz-hypercalls/main.c
 *
 * Hypercall fuzzer: `seed=N calls=N` random hypercalls (xorshift64, the seed
 * printed first so a failure replays).  Each call: a number 0..63 through the
 * hypercall page, or one beyond it by a raw vmcall; a sub-op biased to the
 * real ones of xen-abi.h; arguments from classes (small, random 32/64-bit,
 * 0, -1, non-canonical, past RAM, a pointer into a 2-page buffer of random
 * bytes refilled before every call).  After each call: the result is 0, a
 * negative errno in Xen's range or a documented positive result; a stack
 * canary holds; every 1024 calls (and at the end) the code and rodata
 * checksum holds.
 *
 * The grant_table_op count is kept below 4096 (see test_main()).
 *
 * The buffer's bytes are random but every 32-bit word has bit 31 set, so a
 * guest handle or gfn that a structure holds never points into this
 * domain's RAM (a 32-bit guest's handles are 32 bits wide).
 */
#include <xtf.h>
#include <xtf/cmdline.h>

const char test_title[] = "Hypercall fuzzer";

static uint64_t rng;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static unsigned int below(unsigned int n)
{
    return (unsigned int)((uint32_t)next() % n);
}

/*
 * The 2-page buffer: the last two pages of the default 128 MiB of RAM, far
 * from the image, so a call that walks an array past it (a huge count)
 * faults at the end of RAM instead of writing into this domain's data.
 */
#define FUZZBUF_SIZE (2 * PAGE_SIZE)
#define fuzzbuf ((uint8_t *)(0x8000000ul - FUZZBUF_SIZE))

static void refill(void)
{
    uint32_t *w = (uint32_t *)fuzzbuf;

    for ( unsigned int i = 0; i < FUZZBUF_SIZE / 4; i += 2 )
    {
        uint64_t r = next();

        w[i] = (uint32_t)r | 0x80000000u;
        w[i + 1] = (uint32_t)(r >> 32) | 0x80000000u;
    }
}

static unsigned long arg(void)
{
    switch ( below(9) )
    {
    case 0: return below(64);                                /* small */
    case 1: return (unsigned long)next();                    /* 64 (or 32) bits */
    case 2: return (uint32_t)next() | 0x80000000u;           /* 32 bits, out of RAM */
    case 3: return 0;                                        /* 0 / NULL */
    case 4: return ~0ul;                                     /* -1 */
#ifdef __x86_64__
    case 5: return 0x8000000000000000ul | (next() & 0xffffffffff000ul); /* non-canonical */
#else
    case 5: return 0xfffff000ul;
#endif
    case 6: return 0x10000000ul + (below(1024) << 12);       /* past RAM (128 MiB) */
    default:                                                 /* into the buffer */
        return (unsigned long)fuzzbuf +
            (below(4) ? PAGE_SIZE - 8 * below(8) : below(2 * PAGE_SIZE - 64));
    }
}

/* Real sub-op numbers of each hypercall (the rest: random ones). */
static const uint8_t subops_max[64] = {
    [__HYPERVISOR_sched_op]         = SCHEDOP_pin_override,
    [__HYPERVISOR_sched_op_compat]  = SCHEDOP_pin_override,
    [__HYPERVISOR_xen_version]      = XENVER_commandline2,
    [__HYPERVISOR_console_io]       = CONSOLEIO_read,
    [__HYPERVISOR_event_channel_op] = EVTCHNOP_reset_cont,
    [__HYPERVISOR_grant_table_op]   = GNTTABOP_cache_flush,
    [__HYPERVISOR_memory_op]        = XENMEM_acquire_resource,
    [__HYPERVISOR_hvm_op]           = HVMOP_altp2m,
    [__HYPERVISOR_vcpu_op]          = VCPUOP_register_vcpu_time_phys_area,
};

/*
 * Calls skipped because they end, stall or harm this domain by design:
 * - multicall: its nested calls would bypass this list;
 * - sched_op(_compat) block, shutdown, poll, remote_shutdown, shutdown_code
 *   (changes the exit code), watchdog (a random timeout kills the domain);
 * - vcpu_op initialise/up/down (own vCPU), send_nmi (no NMI handler);
 * - memory_op ops that take, move or remap its pages: decrease_reservation,
 *   populate_physmap, add_to_physmap(_batch), exchange, remove_from_physmap,
 *   access_op, acquire_resource;
 * - hvm_op set_param (callback, store/console pfns), set_mem_access,
 *   set_evtchn_upcall_vector (a random vector delivers events as exceptions);
 * - event_channel_op close/reset/reset_cont/unmask (the library's ports);
 * - grant_table_op setup_table/set_version/transfer;
 * - console_io write (random bytes on the console the verdict is read from).
 */
static bool skipped(unsigned int nr, unsigned long a1)
{
    unsigned int cmd = (unsigned int)a1;

    switch ( nr )
    {
    case __HYPERVISOR_multicall:
        return true;
    case __HYPERVISOR_sched_op:
    case __HYPERVISOR_sched_op_compat:
        return cmd == SCHEDOP_block || cmd == SCHEDOP_shutdown ||
            cmd == SCHEDOP_poll || cmd == SCHEDOP_remote_shutdown ||
            cmd == SCHEDOP_shutdown_code || cmd == SCHEDOP_watchdog;
    case __HYPERVISOR_vcpu_op:
        return cmd == VCPUOP_initialise || cmd == VCPUOP_up ||
            cmd == VCPUOP_down || cmd == VCPUOP_send_nmi;
    case __HYPERVISOR_memory_op:
        cmd = a1 & 0x3f;                        /* MEMOP_CMD_MASK */
        return cmd == XENMEM_decrease_reservation ||
            cmd == XENMEM_populate_physmap || cmd == XENMEM_add_to_physmap ||
            cmd == XENMEM_add_to_physmap_batch || cmd == XENMEM_exchange ||
            cmd == XENMEM_remove_from_physmap || cmd == 21 /* access_op */ ||
            cmd == XENMEM_acquire_resource;
    case __HYPERVISOR_hvm_op:
        return cmd == HVMOP_set_param || cmd == HVMOP_set_mem_access ||
            cmd == HVMOP_set_evtchn_upcall_vector;
    case __HYPERVISOR_event_channel_op:
        return cmd == EVTCHNOP_close || cmd == EVTCHNOP_reset ||
            cmd == EVTCHNOP_reset_cont || cmd == EVTCHNOP_unmask;
    case __HYPERVISOR_grant_table_op:
        cmd = a1 & 0xfff;                       /* GNTTABOP_CMD_MASK */
        return cmd == GNTTABOP_setup_table || cmd == GNTTABOP_set_version ||
            cmd == GNTTABOP_transfer;
    case __HYPERVISOR_console_io:
        return cmd == CONSOLEIO_write;
    }
    return false;
}

/* A result beside 0 and -errno that Xen documents for the call. */
static bool positive_ok(unsigned int nr, unsigned long a1, long rc)
{
    switch ( nr )
    {
    case __HYPERVISOR_xen_version:          /* version, page size, lengths */
    case __HYPERVISOR_memory_op:            /* reservations, extents done */
        return true;
    case __HYPERVISOR_vcpu_op:
        return (unsigned int)a1 == VCPUOP_is_up && rc == 1;
    case __HYPERVISOR_sched_op:
        return (unsigned int)a1 == SCHEDOP_pin_override;
    }
    return false;
}

/* Hypercall @nr by vmcall with %eax = nr (past the page's 64 slots, or iret). */
static long raw_hypercall(unsigned long nr, unsigned long a1, unsigned long a2,
                          unsigned long a3, unsigned long a4, unsigned long a5)
{
    long res;
#ifdef __x86_64__
    register unsigned long r10 asm("r10") = a4;
    register unsigned long r8 asm("r8") = a5;

    asm volatile ("vmcall"
                  : "=a" (res), "+D" (a1), "+S" (a2), "+d" (a3),
                    "+r" (r10), "+r" (r8)
                  : "a" (nr) : "memory");
#else
    asm volatile ("vmcall"
                  : "=a" (res), "+b" (a1), "+c" (a2), "+d" (a3), "+S" (a4),
                    "+D" (a5)
                  : "a" (nr) : "memory");
#endif
    return res;
}

extern const char _image_start[], __stop_ex_table[];

static uint32_t code_sum(void)
{
    uint32_t s = 0;

    for ( const char *p = _image_start; p < __stop_ex_table; p++ )
        s = (s << 5) + s + (uint8_t)*p;
    return s;
}

#define CANARY 0x5a17c0de

void test_main(void)
{
    volatile unsigned long canary[4] = { CANARY, CANARY, CANARY, CANARY };
    unsigned long seed = cmdline_ulong("seed", 1);
    unsigned long calls = cmdline_ulong("calls", 10000);
    uint32_t sum = code_sum();
    unsigned long done = 0;
    unsigned long trace = cmdline_ulong("trace", ~0ul);  /* print calls from here */

    if ( !xen_present )
    {
        xtf_skip("Skip: Xen not present\n");
        return;
    }

    printk("Fuzzing: seed=%lu calls=%lu\n", seed, calls);
    rng = seed ? seed : 0x9e3779b97f4a7c15ull;

    for ( unsigned long i = 0; i < calls; i++ )
    {
        unsigned long nr, a[5];
        long rc;

        refill();
        nr = below(16) ? below(64) : (below(2) ? 64 + below(64) : (uint32_t)next());
        for ( unsigned int j = 0; j < 5; j++ )
            a[j] = arg();
        if ( nr < 64 && subops_max[nr] && below(4) )
            a[0] = below(subops_max[nr] + 1u);
        /*
         * grant_table_op walks @count ops from its pointer, writing each
         * status back: from NULL (RAM without paging, hvm32) a count past
         * ~26,000 reaches this image.  Xen does it too (in continuations);
         * counts below 4096 still cross its 512-op batches.
         */
        if ( nr == __HYPERVISOR_grant_table_op )
            a[2] &= 0xfff;
        if ( skipped(nr, a[0]) )
            continue;

        if ( i >= trace )
            printk("call %lu: hypercall %lu(%#lx, %#lx, %#lx, %#lx, %#lx)\n",
                   i, nr, a[0], a[1], a[2], a[3], a[4]);
        /* The page's iret slot is ud2, as Xen's: iret goes by vmcall. */
        if ( nr < 64 && nr != __HYPERVISOR_iret )
            rc = hypercall(nr, a[0], a[1], a[2], a[3], a[4]);
        else
            rc = raw_hypercall(nr, a[0], a[1], a[2], a[3], a[4]);
        done++;

        if ( !(rc == 0 || (rc < 0 && rc >= -4095) ||
               (rc > 0 && positive_ok(nr, a[0], rc))) )
            return xtf_failure("Fail: seed=%lu call %lu: hypercall %lu(%#lx, %#lx, %#lx, %#lx, %#lx) = %ld\n",
                               seed, i, nr, a[0], a[1], a[2], a[3], a[4], rc);
        if ( canary[0] != CANARY || canary[1] != CANARY ||
             canary[2] != CANARY || canary[3] != CANARY )
            return xtf_failure("Fail: seed=%lu call %lu: stack canary broken after hypercall %lu\n",
                               seed, i, nr);
        if ( (i % 1024 == 1023 || i == calls - 1) && code_sum() != sum )
            return xtf_failure("Fail: seed=%lu call %lu: code checksum changed (hypercall %lu)\n",
                               seed, i, nr);
    }

    printk("%lu hypercalls made (%lu skipped)\n", done, calls - done);
    xtf_success(NULL);
}
