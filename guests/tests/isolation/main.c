/**
 * @file tests/isolation/main.c
 *
 * Isolation between domains (tests/test_isolation.py boots it several times
 * from one LCM, each domain with its `role=`):
 *
 * - role=victim (the innocent domain, d1): `work=N` rounds of a fixed amount
 *   of work, each a checksum over a 16 KiB buffer, an event sent to itself
 *   through a loopback interdomain channel and taken in its upcall, and
 *   every 4th round a set_timer_op 100 us ahead and SCHEDOP_block until its
 *   VIRQ_TIMER.  It keeps a vault of pages filled with a pattern, grants one
 *   page read-only (ref 8) and one writable (ref 9, the drop box) to d2, and
 *   at the end checks that the vault, the read-only page and everything but
 *   what d2 may write in the drop box are untouched.  It reports its
 *   progress in guest terms over the work: guest time taken, its own
 *   runstate (time running, time runnable, i.e. waiting for the CPU, and
 *   blocked) and its share of the CPU while it wanted it, running /
 *   (running + runnable).  `wait_peer=1`: wait (on
 *   timer ticks, at most 2 s of guest time) for d2's mark in the drop box
 *   before the checks.
 * - hostile neighbours (d2 and up): role=idle (ends at once: the baseline),
 *   crash (a fatal #UD: the domain crashes itself), triple (an IDT with no
 *   entries, then int3: a triple fault), spin (cli; jmp .), flood=version or
 *   flood=yield (a tight loop of xen_version or SCHEDOP_yield).
 * - role=attack (d2): tries to reach d1's memory and event channels other
 *   than through the grants it holds, and checks Xen's errno for each; then
 *   uses the grants as allowed (copies into the drop box, maps the read-only
 *   page read-only, whose write is #GP) and leaves its mark.
 */
#include <xtf.h>
#include <xtf/cmdline.h>
#include <xtf/ctl.h>
#include <xtf/events.h>
#include <xtf/gnttab.h>

const char test_title[] = "Isolation between domains";

#define VICTIM       1
#define ATTACKER     2
#define RO_REF       8
#define DROP_REF     9
#define UNGRANTED    10              /* an entry of d1's table it never fills */
#define VAULT_PAGES  8
#define WORK_BYTES   (16 * 1024)
#define TIMER_EVERY  4
#define TIMER_NS     (100 * NS_PER_US)
#define PEER_WAIT_MS 2000

static const char mark[] = "d2 was here, through its grant";

static uint8_t vault[VAULT_PAGES][PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t ro_page[PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t drop[PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t work_buf[WORK_BYTES];
static uint8_t scratch[PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t map_slot[PAGE_SIZE] __aligned(PAGE_SIZE);    /* d2: where it maps */

static volatile unsigned int loop_rx, ticks;

static unsigned long gfn_of(const void *p)
{
    return (unsigned long)p >> PAGE_SHIFT;
}

static uint32_t adler(const uint8_t *p, unsigned long len)
{
    uint32_t a = 1, b = 0;

    while ( len-- )
    {
        a = (a + *p++) % 65521;
        b = (b + a) % 65521;
    }
    return (b << 16) | a;
}

static void fill(uint8_t *p, unsigned long len, uint64_t seed)
{
    while ( len-- )
    {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *p++ = seed;
    }
}

/* ---- the victim ---------------------------------------------------------- */
static void on_loop(evtchn_port_t p, void *data) { loop_rx++; }
static void on_tick(evtchn_port_t p, void *data) { ticks++; }

static void wait_tick(uint64_t ns)
{
    unsigned int t = ticks;

    hypercall_set_timer_op(xen_system_time() + ns);
    block_while_eq(&ticks, t);
}

static bool drop_marked(void)
{
    return !memcmp(drop, mark, sizeof(mark));
}

static bool drop_untouched_but_mark(void)
{
    unsigned int i, from = drop_marked() ? sizeof(mark) : 0;

    for ( i = from; i < PAGE_SIZE; i++ )
        if ( drop[i] )
            return false;
    return true;
}

/* This vCPU's time running, runnable and blocked so far (VCPUOP_get_runstate_info,
 * the current state's time extrapolated to now). */
static bool runstate_now(uint64_t t[3])
{
    struct vcpu_runstate_info rs;

    if ( !xtf_check_rc("get_runstate_info", hypercall_vcpu_op(VCPUOP_get_runstate_info, 0, &rs),
                       0) )
        return false;
    t[0] = rs.time[RUNSTATE_running];
    t[1] = rs.time[RUNSTATE_runnable];
    t[2] = rs.time[RUNSTATE_blocked];
    if ( rs.state == RUNSTATE_running )
        t[0] += xen_system_time() - rs.state_entry_time;
    return true;
}

static void victim(void)
{
    unsigned long rounds = cmdline_ulong("work", 64), i;
    uint32_t vault_sum, ro_sum, work_sum = 0;
    evtchn_port_t offered, bound;
    uint64_t t0, t1, rs0[3], rs1[3], run_ns, wait_ns;
    long rc;

    fill(&vault[0][0], sizeof(vault), 0x5eed1);
    fill(ro_page, sizeof(ro_page), 0x5eed2);
    fill(work_buf, sizeof(work_buf), 0x5eed3);
    vault_sum = adler(&vault[0][0], sizeof(vault));
    ro_sum = adler(ro_page, sizeof(ro_page));
    if ( gnttab_setup(1, 1) )
        return;
    gnttab_grant(RO_REF, ATTACKER, gfn_of(ro_page), GTF_readonly);
    gnttab_grant(DROP_REF, ATTACKER, gfn_of(drop), 0);

    if ( !xtf_check_rc("HVM_PARAM_CALLBACK_IRQ (vector)", evtchn_setup_callback_vector(), 0) )
        return;
    rc = evtchnop_bind_virq(VIRQ_TIMER, 0);
    if ( !xtf_check(rc > 0, "bind_virq(VIRQ_TIMER): %ld", rc) )
        return;
    evtchn_bind_handler(rc, 0, on_tick, NULL);
    rc = evtchnop_alloc_unbound(DOMID_SELF, DOMID_SELF);
    if ( !xtf_check(rc > 0, "alloc_unbound(self): %ld", rc) )
        return;
    offered = rc;
    rc = evtchnop_bind_interdomain(DOMID_SELF, offered);
    if ( !xtf_check(rc > 0, "bind_interdomain(self, %u): %ld", offered, rc) )
        return;
    bound = rc;
    evtchn_clear_pending(bound);
    evtchn_bind_handler(offered, 0, on_loop, NULL);

    if ( !runstate_now(rs0) )
        return;
    t0 = xen_system_time();
    for ( i = 0; i < rounds; i++ )
    {
        work_sum += adler(work_buf, sizeof(work_buf));
        evtchnop_send(bound);
        block_while_eq(&loop_rx, i);
        if ( i % TIMER_EVERY == TIMER_EVERY - 1 )
            wait_tick(TIMER_NS);
    }
    t1 = xen_system_time();
    xtf_check_eq("loopback events", loop_rx, rounds);
    xtf_check_eq("timer ticks", ticks, rounds / TIMER_EVERY);

    if ( runstate_now(rs1) )
    {
        run_ns = rs1[0] - rs0[0];
        wait_ns = rs1[1] - rs0[1];
        printk("isolation: work %lu rounds (sum %08x) in %llu us; running %llu us, "
               "runnable %llu us, blocked %llu us; cpu share %u/1000\n",
               rounds, work_sum, (unsigned long long)div_u64(t1 - t0, 1000, NULL),
               (unsigned long long)div_u64(run_ns, 1000, NULL),
               (unsigned long long)div_u64(wait_ns, 1000, NULL),
               (unsigned long long)div_u64(rs1[2] - rs0[2], 1000, NULL),
               (unsigned int)div_u64(run_ns * 1000, (run_ns + wait_ns) ?: 1, NULL));
    }

    if ( cmdline_is("wait_peer", "1") )
    {
        for ( i = 0; i < PEER_WAIT_MS && !drop_marked(); i++ )
            wait_tick(NS_PER_MS);
        xtf_check(drop_marked(), "d%u never left its mark in the drop box", ATTACKER);
    }
    xtf_check_eq("vault checksum", adler(&vault[0][0], sizeof(vault)), vault_sum);
    xtf_check_eq("read-only grant's page checksum", adler(ro_page, sizeof(ro_page)), ro_sum);
    xtf_check(drop_untouched_but_mark(), "drop box: bytes written past d%u's mark", ATTACKER);
    xtf_check(!(gnttab_flags(RO_REF) & (GTF_reading | GTF_writing)) &&
              !(gnttab_flags(DROP_REF) & (GTF_reading | GTF_writing)),
              "grants still in use: %#x %#x", gnttab_flags(RO_REF), gnttab_flags(DROP_REF));
    printk("isolation: vault %08x, read-only page %08x, drop box %s: untouched\n",
           vault_sum, ro_sum, drop_marked() ? "marked" : "empty");
}

/* ---- hostile neighbours -------------------------------------------------- */
static void __noreturn triple_fault(void)
{
    static const struct __packed { uint16_t limit; unsigned long base; } no_idt = { 0, 0 };

    asm volatile ("lidt %0; int3" :: "m" (no_idt));
    for ( ;; )
        ;
}

static void hostile(void)
{
    if ( cmdline_is("role", "idle") )
        return;
    if ( cmdline_is("role", "crash") )
    {
        printk("crash: ud2 with nothing to catch it\n");
        asm volatile ("ud2");
    }
    else if ( cmdline_is("role", "triple") )
    {
        printk("triple: lidt of an empty IDT, int3\n");
        triple_fault();
    }
    else if ( cmdline_is("role", "spin") )
    {
        printk("spin: cli; jmp .\n");
        asm volatile ("cli; 1: jmp 1b");
    }
    else if ( cmdline_is("flood", "version") )
    {
        printk("flood: xen_version in a loop\n");
        for ( ;; )
            hypercall_xen_version(XENVER_version, NULL);
    }
    else if ( cmdline_is("flood", "yield") )
    {
        printk("flood: SCHEDOP_yield in a loop\n");
        for ( ;; )
            hypercall_sched_op(SCHEDOP_yield, NULL);
    }
    xtf_skip("Skip: give a role= (tests/test_isolation.py boots it beside others)\n");
}

/* ---- the attacker -------------------------------------------------------- */
/* Wait until d1's grants are there: a copy from its read-only ref works. */
static bool victim_ready(void)
{
    unsigned int tries;

    for ( tries = 0; tries < 10000; tries++ )
    {
        if ( gnttab_copy1(VICTIM, RO_REF, 0, DOMID_SELF, gfn_of(scratch), 0, 64,
                          GNTCOPY_source_gref) == GNTST_okay )
            return true;
        hypercall_sched_op(SCHEDOP_yield, NULL);
    }
    return xtf_check(false, "d%u's grants never appeared", VICTIM);
}

static void attack_gnttab(void)
{
    struct gnttab_setup_table setup = { .dom = VICTIM, .nr_frames = 1 };
    struct gnttab_query_size qs = { .dom = VICTIM };
    grant_handle_t h;
    exinfo_t fault = 0;

    xtf_check_eq("copy from a ref d1 never granted",
                 (uint16_t)gnttab_copy1(VICTIM, UNGRANTED, 0, DOMID_SELF, gfn_of(scratch), 0,
                                        16, GNTCOPY_source_gref), (uint16_t)GNTST_general_error);
    xtf_check_eq("copy into a ref d1 never granted",
                 (uint16_t)gnttab_copy1(DOMID_SELF, gfn_of(scratch), 0, VICTIM, UNGRANTED, 0,
                                        16, GNTCOPY_dest_gref), (uint16_t)GNTST_general_error);
    xtf_check_eq("copy into d1's read-only grant",
                 (uint16_t)gnttab_copy1(DOMID_SELF, gfn_of(scratch), 0, VICTIM, RO_REF, 0, 16,
                                        GNTCOPY_dest_gref), (uint16_t)GNTST_general_error);
    xtf_check_eq("copy into a ref past d1's table",
                 (uint16_t)gnttab_copy1(DOMID_SELF, gfn_of(scratch), 0, VICTIM, 100000, 0, 16,
                                        GNTCOPY_dest_gref), (uint16_t)GNTST_bad_gntref);
    xtf_check_eq("copy into d1's memory by gfn",
                 (uint16_t)gnttab_copy1(DOMID_SELF, gfn_of(scratch), 0, VICTIM, gfn_of(vault), 0,
                                        16, 0), (uint16_t)GNTST_permission_denied);
    xtf_check_eq("copy past the end of the drop box",
                 (uint16_t)gnttab_copy1(DOMID_SELF, gfn_of(scratch), 0, VICTIM, DROP_REF, 4000,
                                        200, GNTCOPY_dest_gref), (uint16_t)GNTST_bad_copy_arg);

    xtf_check_eq("map a ref d1 never granted",
                 (uint16_t)gnttab_map(VICTIM, UNGRANTED, gfn_of(map_slot), GNTMAP_host_map, &h),
                 (uint16_t)GNTST_general_error);
    xtf_check_eq("map d1's read-only grant writable",
                 (uint16_t)gnttab_map(VICTIM, RO_REF, gfn_of(map_slot), GNTMAP_host_map, &h),
                 (uint16_t)GNTST_general_error);
    xtf_check_eq("map a ref past d1's table",
                 (uint16_t)gnttab_map(VICTIM, 100000, gfn_of(map_slot), GNTMAP_host_map, &h),
                 (uint16_t)GNTST_bad_gntref);

    xtf_check_rc("GNTTABOP_setup_table(d1)", hypercall_grant_table_op(GNTTABOP_setup_table,
                                                                      &setup, 1), 0);
    xtf_check_eq("GNTTABOP_setup_table(d1) status", setup.status, GNTST_permission_denied);
    xtf_check_rc("GNTTABOP_query_size(d1)", hypercall_grant_table_op(GNTTABOP_query_size,
                                                                     &qs, 1), 0);
    xtf_check_eq("GNTTABOP_query_size(d1) status", qs.status, GNTST_permission_denied);

    /* What the grants allow: the drop box written, the read-only page read. */
    memcpy(scratch, mark, sizeof(mark));
    xtf_check_eq("copy our mark into the drop box",
                 (uint16_t)gnttab_copy1(DOMID_SELF, gfn_of(scratch), 0, VICTIM, DROP_REF, 0,
                                        sizeof(mark), GNTCOPY_dest_gref), (uint16_t)GNTST_okay);
    if ( xtf_check_eq("map d1's read-only grant read-only",
                      (uint16_t)gnttab_map(VICTIM, RO_REF, gfn_of(map_slot),
                                           GNTMAP_host_map | GNTMAP_readonly, &h),
                      (uint16_t)GNTST_okay) )
    {
        uint8_t before = map_slot[100];

        asm volatile ("1: movb $0xcc, %[p]; 2:"
                      _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                      : "+a" (fault), [p] "=m" (map_slot[100]));
        xtf_check_exinfo("write to a read-only grant mapping", fault, EXINFO_SYM(GP, 0));
        xtf_check_eq("the read-only mapping after the write", map_slot[100], before);
        xtf_check_eq("unmap", (uint16_t)gnttab_unmap(h, gfn_of(map_slot)),
                     (uint16_t)GNTST_okay);
    }
}

static void attack_memory(void)
{
    xen_pfn_t frame = gfn_of(vault);
    struct xen_memory_reservation r = { .nr_extents = 1, .domid = VICTIM };
    struct xen_add_to_physmap atp = { .domid = VICTIM, .space = XENMAPSPACE_gmfn,
                                      .idx = gfn_of(vault), .gpfn = gfn_of(vault) + 1 };
    struct xen_remove_from_physmap rfp = { .domid = VICTIM, .gpfn = gfn_of(vault) };
    domid_t dom = VICTIM;

    r.extent_start = &frame;
    xtf_check_rc("decrease_reservation(d1's vault page)",
                 hypercall_memory_op(XENMEM_decrease_reservation, &r), 0);
    xtf_check_rc("populate_physmap(d1)", hypercall_memory_op(XENMEM_populate_physmap, &r), 0);
    xtf_check_rc("increase_reservation(d1)",
                 hypercall_memory_op(XENMEM_increase_reservation, &r), 0);
    xtf_check_rc("add_to_physmap(d1)", hypercall_memory_op(XENMEM_add_to_physmap, &atp),
                 -EPERM);
    xtf_check_rc("remove_from_physmap(d1's vault page)",
                 hypercall_memory_op(XENMEM_remove_from_physmap, &rfp), -EPERM);
    xtf_check_rc("current_reservation(d1)",
                 hypercall_memory_op(XENMEM_current_reservation, &dom), -EPERM);
}

static void attack_evtchn_and_control(void)
{
    struct evtchn_reset reset = { .dom = VICTIM };
    struct sched_remote_shutdown rs = { .domain_id = VICTIM, .reason = SHUTDOWN_crash };
    struct xen_hvm_param p = { .domid = VICTIM, .index = HVM_PARAM_CALLBACK_IRQ };
    struct evtchn_status st;
    evtchn_port_t port;

    xtf_check_rc("alloc_unbound in d1", evtchnop_alloc_unbound(VICTIM, DOMID_SELF), -EPERM);
    xtf_check_rc("status of d1's port 1", evtchnop_status(VICTIM, 1, &st), -EPERM);
    xtf_check_rc("EVTCHNOP_reset(d1)", hypercall_event_channel_op(EVTCHNOP_reset, &reset),
                 -EPERM);
    for ( port = 1; port < 8; port++ )      /* d1's ports: none is offered to us */
        xtf_check_rc("bind_interdomain to a d1 port not offered to us",
                     evtchnop_bind_interdomain(VICTIM, port), -EINVAL);
    xtf_check_rc("send on a port we do not have", evtchnop_send(100), -EINVAL);
    xtf_check_rc("HVMOP_set_param(d1)", hypercall_hvm_op(HVMOP_set_param, &p), -EPERM);
    xtf_check_rc("HVMOP_get_param(d1)", hypercall_hvm_op(HVMOP_get_param, &p), -EPERM);
    xtf_check_rc("SCHEDOP_remote_shutdown(d1)",
                 hypercall_sched_op(SCHEDOP_remote_shutdown, &rs), -EPERM);
    xtf_check_rc("XEN_DOMCTL_pausedomain(d1)", domctl_simple(XEN_DOMCTL_pausedomain, VICTIM),
                 -EPERM);
}

static void attacker(void)
{
    if ( gnttab_setup(1, 1) || !victim_ready() )
        return;
    attack_gnttab();
    attack_memory();
    attack_evtchn_and_control();
    printk("attack: done, every way into d%u refused but the grants\n", VICTIM);
}

void test_main(void)
{
    if ( !xen_present )
        return xtf_skip("Skip: Xen not present\n");
    if ( cmdline_is("role", "victim") )
        victim();
    else if ( cmdline_is("role", "attack") )
        attacker();
    else
        hostile();
    xtf_success(NULL);
}
