/**
 * @file tests/timer/main.c
 *
 * Xen's time and timers for an HVM/PVH guest (xen/common/domain.c
 * common_vcpu_op, xen/common/sched/core.c, xen/arch/x86/time.c):
 *
 * - vcpu_time_info (pvclock): version seqlock, system time from RDTSC,
 *   monotonic, consistent with HVMOP_get_time, the TSC frequency of CPUID
 *   leaf base+3 and the shared_info wallclock; the runstate of the vCPU;
 * - VCPUOP_set_singleshot_timer / stop_singleshot_timer (a deadline in the
 *   past fires at once; VCPU_SSHOTTMR_future is ignored since Xen 4.18);
 * - set_timer_op (-ENOSYS on Arm, which has none), 64-bit and the 32-bit
 *   ABI's two halves, with 0 (stop), a deadline in the past, and absurd
 *   deadlines (100 ms instead);
 * - VCPUOP_set_periodic_timer / stop_periodic_timer (1 ms minimum; ticks
 *   while the vCPU runs, never wakes it while it is blocked);
 * - SCHEDOP_block woken by VIRQ_TIMER, SCHEDOP_poll with a timeout;
 * - before HVM_PARAM_CALLBACK_IRQ, an event wakes nobody: SCHEDOP_poll on
 *   another port sleeps to its timeout (hvm_assert_evtchn_irq());
 * - with a second vCPU (--vcpus 2): system time never goes backwards
 *   between the vCPUs, and vCPU 1's own singleshot timer wakes it.
 *
 * Timers never fire early; how late they may fire is TIMER_LATE_NS: Xen
 * itself is within ~50 us (timer_slop), an emulator running on a busy host
 * needs more.
 */
#include <xtf.h>
#include <xtf/ctl.h>
#include <xtf/events.h>

const char test_title[] = "Time and timers: pvclock, singleshot, set_timer_op, periodic, poll";

#define TIMER_LATE_NS   (20 * NS_PER_MS)
/* Xen's rules (common_vcpu_op(), do_set_timer_op()). */
#define MIN_PERIOD_NS   NS_PER_MS                        /* MILLISECS(1) */
#define STIME_DELTA_MAX ((uint64_t)~0ull >> 2)
#define HUGE_TIMEOUT_NS (100 * NS_PER_MS)                /* "huge timeout": NOW() + 100 ms */
#define BAD_PORT        0x7fffffffu

static struct vcpu_info *vi;
static unsigned int nr_vcpus;
static evtchn_port_t timer_port;

/* VIRQ_TIMER events, each with the system time its upcall ran at. */
static volatile unsigned int ticks;
static uint64_t tick_ns[64];

static void timer_event(evtchn_port_t port, void *data)
{
    if ( ticks < ARRAY_SIZE(tick_ns) )
        tick_ns[ticks] = xen_system_time();
    ticks++;
}

static uint64_t now(void)
{
    return xen_system_time();
}

/* Wait for the next VIRQ_TIMER in SCHEDOP_block; returns when it ran. */
static uint64_t block_for_tick(void)
{
    unsigned int t = ticks;

    block_while_eq(&ticks, t);
    return tick_ns[t < ARRAY_SIZE(tick_ns) ? t : 0];
}

static void check_fired(const char *what, uint64_t fired, uint64_t deadline)
{
    xtf_check(fired >= deadline, "%s: fired %llu ns early", what,
              (unsigned long long)(deadline - fired));
    xtf_check(fired <= deadline + TIMER_LATE_NS, "%s: fired %llu us late", what,
              (unsigned long long)div_u64(fired - deadline, 1000, NULL));
}

/* The timer port is pending right now (IF=0: not consumed yet). */
static bool fired_already(void)
{
    return evtchn_test_pending(timer_port);
}

/* Take the pending timer upcall (hlt returns at once with one deliverable). */
static void take_upcall(void)
{
    if ( vi->evtchn_upcall_pending )
        take_pending_irq();
}

static long poll_ports(evtchn_port_t *ports, unsigned int nr, uint64_t timeout)
{
    return sched_poll(ports, nr, timeout);
}

static long singleshot(unsigned int vcpu, uint64_t deadline, uint32_t flags)
{
    struct vcpu_set_singleshot_timer s = { .timeout_abs_ns = deadline, .flags = flags };

    return hypercall_vcpu_op(VCPUOP_set_singleshot_timer, vcpu, &s);
}

static long periodic(unsigned int vcpu, uint64_t period)
{
    struct vcpu_set_periodic_timer p = { .period_ns = period };

    return hypercall_vcpu_op(VCPUOP_set_periodic_timer, vcpu, &p);
}

/* Nothing fires until @until: SCHEDOP_poll on the timer port times out. */
static void check_quiet_until(const char *what, uint64_t until)
{
    unsigned int t = ticks;
    long rc = poll_ports(&timer_port, 1, until);

    xtf_check_rc(what, rc, 0);
    xtf_check(!fired_already() && ticks == t, "%s: a timer fired", what);
    xtf_check(now() >= until, "%s: poll returned %llu ns before its timeout", what,
              (unsigned long long)(until - now()));
}

/* ---- time ------------------------------------------------------------------------ */
#ifndef __aarch64__        /* Xen on Arm fills no vcpu_time_info: time is the generic timer */
static void print_date(uint64_t sec)
{
    /* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm). */
    uint32_t rem;
    uint64_t days = div_u64(sec, 86400, &rem);
    long z = days + 719468, era = z / 146097;
    unsigned long doe = z - era * 146097;
    unsigned long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned long mp = (5 * doy + 2) / 153;
    unsigned long d = doy - (153 * mp + 2) / 5 + 1;
    unsigned long m = mp < 10 ? mp + 3 : mp - 9;
    long y = yoe + era * 400 + (m <= 2);

    printk("  wallclock: %04ld-%02lu-%02lu %02u:%02u:%02u UTC\n", y, m, d, rem / 3600,
           rem / 60 % 60, rem % 60);
}

/*
 * A TSC value and the pvclock time of (about) the same moment: both read
 * within 10 us (the vCPU may be descheduled between any two instructions).
 */
static bool tsc_sample(uint32_t tsc_khz, uint64_t *tsc, uint64_t *ns)
{
    for ( unsigned int i = 0; i < 50; i++ )
    {
        uint64_t a = rdtsc(), n = now(), b = rdtsc();

        if ( b - a < tsc_khz / 100 )
        {
            *tsc = a + ((b - a) >> 1);
            *ns = n;
            return true;
        }
    }
    return false;
}

static void test_time(void)
{
    volatile struct vcpu_time_info *t = &vi->time;
    struct vcpu_runstate_info rs;
    uint32_t version, eax, ebx, ecx, edx, tsc_khz, wcv;
    uint64_t a, b, g, prev, tsc0 = 0, tsc1 = 0, ns0 = 0, ns1 = 0, expect, slack, wc_sec;
    unsigned int i;
    uint64_t back_from = 0, back_to = 0;

    printk("Testing vcpu_time_info and the wallclock\n");

    version = t->version;
    xtf_check(!(version & 1), "vcpu_time_info.version %u is odd (update in progress)", version);
    xtf_check(t->tsc_to_system_mul != 0, "tsc_to_system_mul is 0");
    xtf_check(!(t->flags & ~(XEN_PVCLOCK_TSC_STABLE_BIT)), "unknown pvclock flags %#x",
              t->flags);
    printk("  pvclock: mul %#x shift %d flags %#x, system time %llu ns\n",
           t->tsc_to_system_mul, t->tsc_shift, t->flags, (unsigned long long)now());

    /* Monotonic, and consistent with HVMOP_get_time. */
    prev = now();
    for ( i = 0; i < 2000; i++ )
    {
        a = now();
        if ( a < prev && !back_from )
        {
            back_from = prev;
            back_to = a;
        }
        prev = a;
    }
    xtf_check(!back_from, "pvclock went backwards: %llu -> %llu ns",
              (unsigned long long)back_from, (unsigned long long)back_to);
    a = now();
    g = hvm_get_time();
    b = now();
    xtf_check(g != 0, "HVMOP_get_time failed");
    xtf_check(a <= g + NS_PER_US && g <= b + NS_PER_US,
              "HVMOP_get_time %llu outside pvclock [%llu, %llu]", (unsigned long long)g,
              (unsigned long long)a, (unsigned long long)b);

    /* The TSC rate of CPUID leaf base+3 matches the pvclock scale. */
    cpuid_count(xen_cpuid_base + 3, 0, &eax, &ebx, &ecx, &edx);
    tsc_khz = ecx;
    if ( xtf_check(tsc_khz != 0, "CPUID base+3: no TSC frequency") )
    {
        bool ok = tsc_sample(tsc_khz, &tsc0, &ns0);

        spin_until(ns0 + 2 * NS_PER_MS);
        ok = tsc_sample(tsc_khz, &tsc1, &ns1) && ok;
        xtf_check(ok, "no undisturbed (RDTSC, pvclock) sample");
        expect = div_u64((tsc1 - tsc0) * 1000, tsc_khz / 1000, NULL);
        slack = div_u64(expect, 1000, NULL) + 20 * NS_PER_US;     /* 0.1% + samples */
        xtf_check(ns1 - ns0 + slack >= expect && ns1 - ns0 <= expect + slack,
                  "pvclock %llu ns vs %llu TSC ticks at %u kHz (%llu ns)",
                  (unsigned long long)(ns1 - ns0), (unsigned long long)(tsc1 - tsc0), tsc_khz,
                  (unsigned long long)expect);
        printk("  TSC: %u kHz\n", tsc_khz);
    }

    /* Wallclock: seqlock even, plausible, and advancing with system time. */
    do {
        wcv = shared_info->wc_version;
        barrier();
        wc_sec = shared_info->wc_sec;
#ifdef __x86_64__
        wc_sec |= (uint64_t)shared_info->wc_sec_hi << 32;
#else
        wc_sec |= (uint64_t)shared_info->arch.wc_sec_hi << 32;
#endif
        ns0 = shared_info->wc_nsec;
        barrier();
    } while ( (wcv & 1) || wcv != shared_info->wc_version );
    xtf_check(wcv != 0, "wc_version is 0: no wallclock");
    xtf_check(ns0 < NS_PER_S, "wc_nsec %llu", (unsigned long long)ns0);
    a = now();
    wc_sec += div_u64(ns0 + a, NS_PER_S, NULL);
    xtf_check(wc_sec >= 946684800, "wallclock %llu s is before 2000",
              (unsigned long long)wc_sec);
    print_date(wc_sec);

    /* This vCPU's runstate: running, its times summing to its age. */
    xtf_check_rc("get_runstate_info(no such vCPU)",
                 hypercall_vcpu_op(VCPUOP_get_runstate_info, nr_vcpus, &rs), -ENOENT);
    a = now();
    if ( xtf_check_rc("get_runstate_info(0)",
                      hypercall_vcpu_op(VCPUOP_get_runstate_info, 0, &rs), 0) )
    {
        uint64_t sum = rs.time[0] + rs.time[1] + rs.time[2] + rs.time[3];

        b = now();
        xtf_check(rs.state == RUNSTATE_running, "runstate %d, expected running", rs.state);
        xtf_check(rs.state_entry_time <= b, "state_entry_time %llu in the future",
                  (unsigned long long)rs.state_entry_time);
        xtf_check(rs.time[RUNSTATE_running] > 0, "no time spent running");
        xtf_check(sum <= b, "runstate times sum to %llu ns, now %llu",
                  (unsigned long long)sum, (unsigned long long)b);
        xtf_check(rs.state_entry_time >= rs.time[RUNSTATE_offline],
                  "entered running at %llu ns, after %llu ns offline",
                  (unsigned long long)rs.state_entry_time,
                  (unsigned long long)rs.time[RUNSTATE_offline]);
    }
}

/*
 * The runstate and vcpu time memory areas (what Linux registers for its
 * steal clock and pvclock): filled at registration, the runstate one
 * rewritten at every change of state; vm_assist's runstate_update_flag.
 */
static struct vcpu_runstate_info rs_area __aligned(64);
static struct vcpu_time_info time_area __aligned(64);

static void test_memory_areas(void)
{
    struct vcpu_register_runstate_memory_area ra = { .addr = (unsigned long)&rs_area };
    struct vcpu_register_time_memory_area ta = { .addr = (unsigned long)&time_area };
    uint64_t blocked0, entry0, d;

    printk("Testing the runstate and vcpu time memory areas\n");

    xtf_check_rc("vm_assist(enable, runstate_update_flag)",
                 hypercall_vm_assist(VMASST_CMD_enable, VMASST_TYPE_runstate_update_flag), 0);
    xtf_check_rc("vm_assist(enable, PV-only type 4)",
                 hypercall_vm_assist(VMASST_CMD_enable, 4), -EINVAL);
    xtf_check_rc("vm_assist(unknown command)",
                 hypercall_vm_assist(2, VMASST_TYPE_runstate_update_flag), -ENOSYS);

    rs_area.state = -1;
    if ( !xtf_check_rc("register_runstate_memory_area(0)",
                       hypercall_vcpu_op(VCPUOP_register_runstate_memory_area, 0, &ra), 0) )
        return;
    xtf_check(rs_area.state == RUNSTATE_running, "runstate area: state %d, expected running",
              rs_area.state);
    xtf_check(!(rs_area.state_entry_time >> 63), "runstate area: XEN_RUNSTATE_UPDATE left set");
    blocked0 = rs_area.time[RUNSTATE_blocked];
    entry0 = rs_area.state_entry_time;

    /* Block until a singleshot: the area shows the blocked time once back. */
    d = now() + 5 * NS_PER_MS;
    singleshot(0, d, 0);
    block_for_tick();
    xtf_check(rs_area.state == RUNSTATE_running, "runstate area after blocking: state %d",
              rs_area.state);
    xtf_check(rs_area.state_entry_time > entry0, "runstate area: entry time did not move");
    xtf_check(rs_area.time[RUNSTATE_blocked] > blocked0,
              "runstate area: no blocked time after blocking");
    xtf_check(!(rs_area.state_entry_time >> 63), "runstate area: XEN_RUNSTATE_UPDATE left set");

    xtf_check_rc("register_vcpu_time_memory_area(0)",
                 hypercall_vcpu_op(VCPUOP_register_vcpu_time_memory_area, 0, &ta), 0);
    xtf_check(time_area.version && !(time_area.version & 1),
              "vcpu time area: version %u", time_area.version);
    xtf_check(time_area.tsc_to_system_mul == vi->time.tsc_to_system_mul &&
              time_area.tsc_shift == vi->time.tsc_shift &&
              time_area.system_time == vi->time.system_time &&
              time_area.tsc_timestamp == vi->time.tsc_timestamp,
              "vcpu time area differs from vcpu_info's time");
    xtf_check_rc("vm_assist(disable, runstate_update_flag)",
                 hypercall_vm_assist(VMASST_CMD_disable, VMASST_TYPE_runstate_update_flag), 0);
}
#endif

/* ---- VCPUOP_set_singleshot_timer ------------------------------------------------- */
static void test_singleshot(void)
{
    uint64_t d, fired;
    unsigned int t;
    bool new_abi = xen_major > 4 || (xen_major == 4 && xen_minor >= 18);

    printk("Testing VCPUOP_set/stop_singleshot_timer\n");

    xtf_check_rc("set_singleshot(no such vCPU)", singleshot(nr_vcpus, now(), 0), -ENOENT);
    xtf_check_rc("stop_singleshot(no such vCPU)",
                 hypercall_vcpu_op(VCPUOP_stop_singleshot_timer, nr_vcpus, NULL), -ENOENT);
    if ( nr_vcpus > 1 )
    {
        xtf_check_rc("set_singleshot(another vCPU)", singleshot(1, now() + NS_PER_MS, 0),
                     -EINVAL);
        xtf_check_rc("stop_singleshot(another vCPU)",
                     hypercall_vcpu_op(VCPUOP_stop_singleshot_timer, 1, NULL), -EINVAL);
    }

    /* A future deadline wakes the blocked vCPU. */
    d = now() + 2 * NS_PER_MS;
    xtf_check_rc("set_singleshot(now + 2 ms)", singleshot(0, d, 0), 0);
    xtf_check(!fired_already(), "a future singleshot fired at once");
    fired = block_for_tick();
    check_fired("singleshot", fired, d);
    check_quiet_until("singleshot fires once", now() + 5 * NS_PER_MS);

    /* A deadline in the past: the event is sent during the hypercall. */
    t = ticks;
    xtf_check_rc("set_singleshot(past)", singleshot(0, now() - NS_PER_US, 0), 0);
    xtf_check(fired_already(), "past singleshot: VIRQ_TIMER not pending on return");
    take_upcall();
    xtf_check(ticks == t + 1, "past singleshot: %u events", ticks - t);

    /* VCPU_SSHOTTMR_future: -ETIME before Xen 4.18, ignored since. */
    t = ticks;
    if ( new_abi )
    {
        xtf_check_rc("set_singleshot(past, VCPU_SSHOTTMR_future)",
                     singleshot(0, now() - NS_PER_US, VCPU_SSHOTTMR_future), 0);
        xtf_check(fired_already(), "VCPU_SSHOTTMR_future: the event was not sent");
        take_upcall();
        xtf_check(ticks == t + 1, "VCPU_SSHOTTMR_future: %u events", ticks - t);
    }
    else
    {
        xtf_check_rc("set_singleshot(past, VCPU_SSHOTTMR_future)",
                     singleshot(0, now() - NS_PER_US, VCPU_SSHOTTMR_future), -ETIME);
        xtf_check(!fired_already(), "VCPU_SSHOTTMR_future: -ETIME but the event was sent");
    }

    /* Stopped: never fires. */
    d = now() + 2 * NS_PER_MS;
    xtf_check_rc("set_singleshot(now + 2 ms)", singleshot(0, d, 0), 0);
    xtf_check_rc("stop_singleshot", hypercall_vcpu_op(VCPUOP_stop_singleshot_timer, 0, NULL),
                 0);
    check_quiet_until("stopped singleshot", d + 4 * NS_PER_MS);
    xtf_check_rc("stop_singleshot (not armed)",
                 hypercall_vcpu_op(VCPUOP_stop_singleshot_timer, 0, NULL), 0);

    /* Re-arming replaces the deadline. */
    d = now() + 3 * NS_PER_MS;
    xtf_check_rc("set_singleshot(now + 50 ms)", singleshot(0, now() + 50 * NS_PER_MS, 0), 0);
    xtf_check_rc("set_singleshot(now + 3 ms)", singleshot(0, d, 0), 0);
    fired = block_for_tick();
    check_fired("re-armed singleshot", fired, d);
    check_quiet_until("the replaced deadline never fires", d + 60 * NS_PER_MS);

#ifndef __aarch64__                     /* Arm's vcpu_info has no evtchn_upcall_mask */
    /* SCHEDOP_block re-enables event delivery: evtchn_upcall_mask = 0. */
    ACCESS_ONCE(vi->evtchn_upcall_mask) = 1;
    d = now() + NS_PER_MS;
    singleshot(0, d, 0);
    fired = block_for_tick();
    check_fired("singleshot with evtchn_upcall_mask set", fired, d);
    xtf_check(vi->evtchn_upcall_mask == 0, "SCHEDOP_block left evtchn_upcall_mask set");
#endif
}

/* ---- set_timer_op ------------------------------------------------------------------ */
static void test_set_timer_op(void)
{
    uint64_t d, fired, t0;
    unsigned int t;

#ifdef __aarch64__
    /* Xen on Arm has no set_timer_op (xen/include/hypercall-defs.c): the generic timer. */
    printk("Testing set_timer_op (none on Arm)\n");
    xtf_check_rc("set_timer_op on Arm", hypercall_set_timer_op(now() + 2 * NS_PER_MS), -ENOSYS);
    return;
#endif
    printk("Testing set_timer_op (%s)\n",
           sizeof(long) == 8 ? "64-bit argument" : "32-bit ABI: two halves");

    d = now() + 2 * NS_PER_MS;
    xtf_check_rc("set_timer_op(now + 2 ms)", hypercall_set_timer_op(d), 0);
    fired = block_for_tick();
    check_fired("set_timer_op", fired, d);

    /* A deadline beyond 2^32 ns: the high half must count. */
    d = now() + (1ull << 32) + NS_PER_MS;
    xtf_check_rc("set_timer_op(now + 2^32 ns)", hypercall_set_timer_op(d), 0);
    xtf_check(!fired_already(), "set_timer_op(now + 2^32 ns) fired at once");
    fired = block_for_tick();
    check_fired("set_timer_op(now + 2^32 ns)", fired, d);

#ifdef __x86_64__
    /* The same through the 32-bit ABI, from a compatibility mode segment. */
    d = now() + (1ull << 32) + NS_PER_MS;
    xtf_check_rc("compat set_timer_op(lo, hi)",
                 hypercall_compat32(__HYPERVISOR_set_timer_op, d, d >> 32, 0, 0, 0), 0);
    xtf_check(!fired_already(), "compat set_timer_op(now + 2^32 ns) fired at once");
    fired = block_for_tick();
    check_fired("compat set_timer_op(lo, hi)", fired, d);
#endif

    /* 0 stops the singleshot timer (armed through either interface). */
    d = now() + 2 * NS_PER_MS;
    singleshot(0, d, 0);
    xtf_check_rc("set_timer_op(0)", hypercall_set_timer_op(0), 0);
    check_quiet_until("set_timer_op(0) stopped the timer", d + 4 * NS_PER_MS);

    /* In the past (but not 0): fires before the guest runs again. */
    t = ticks;
    xtf_check_rc("set_timer_op(1 ns)", hypercall_set_timer_op(1), 0);
    xtf_check(fired_already(), "set_timer_op(past): VIRQ_TIMER not pending on return");
    take_upcall();
    xtf_check(ticks == t + 1, "set_timer_op(past): %u events", ticks - t);

    /* Absurd deadlines (negative, or more than 2^50 ns ahead): 100 ms from now. */
    t0 = now();
    xtf_check_rc("set_timer_op(now + 2^51 ns)", hypercall_set_timer_op(t0 + (1ull << 51)), 0);
    fired = block_for_tick();
    check_fired("set_timer_op(now + 2^51 ns)", fired, t0 + HUGE_TIMEOUT_NS);
    t0 = now();
    xtf_check_rc("set_timer_op(negative)", hypercall_set_timer_op(1ull << 63), 0);
    fired = block_for_tick();
    check_fired("set_timer_op(negative)", fired, t0 + HUGE_TIMEOUT_NS);
}

/* ---- periodic timer ------------------------------------------------------------------ */
static void test_periodic(void)
{
    const uint64_t period = MIN_PERIOD_NS;
    uint64_t t0, d, fired, end;
    unsigned int t, n;

    printk("Testing VCPUOP_set/stop_periodic_timer\n");

    xtf_check_rc("set_periodic(period 0)", periodic(0, 0), -EINVAL);
    xtf_check_rc("set_periodic(1 ms - 1 ns)", periodic(0, MIN_PERIOD_NS - 1), -EINVAL);
    xtf_check_rc("set_periodic(STIME_DELTA_MAX + 1)", periodic(0, STIME_DELTA_MAX + 1),
                 -EINVAL);
    xtf_check_rc("set_periodic(no such vCPU)", periodic(nr_vcpus, period), -ENOENT);
    xtf_check_rc("stop_periodic(no such vCPU)",
                 hypercall_vcpu_op(VCPUOP_stop_periodic_timer, nr_vcpus, NULL), -ENOENT);
    if ( nr_vcpus > 1 )
    {
        xtf_check_rc("set_periodic(another vCPU)", periodic(1, period), 0);
        xtf_check_rc("stop_periodic(another vCPU)",
                     hypercall_vcpu_op(VCPUOP_stop_periodic_timer, 1, NULL), 0);
    }

    /* Ticks while the vCPU runs, the first one at once (last event at time 0). */
    t = ticks;
    t0 = now();
    xtf_check_rc("set_periodic(1 ms)", periodic(0, period), 0);
    if ( t0 >= period )
        xtf_check(fired_already(), "set_periodic: no tick at once");
    local_irq_enable();
    end = t0 + 10 * period + period / 2;
    spin_until(end);
    local_irq_disable();
    n = ticks - t;
    if ( !xtf_check(n >= 7 && n <= 11, "periodic 1 ms over 10.5 ms of running: %u ticks", n) )
        for ( unsigned int i = t; i < ticks && i < ARRAY_SIZE(tick_ns); i++ )
            printk("  tick %u at +%lld us\n", i - t,
                   (long long)div_u64(tick_ns[i] - t0, 1000, NULL));
    for ( unsigned int i = t + 1; i < ticks && i < ARRAY_SIZE(tick_ns); i++ )
        xtf_check(tick_ns[i] - tick_ns[t] >= (i - t - 1) * period,
                  "periodic tick %u too early: %llu ns after the first", i - t,
                  (unsigned long long)(tick_ns[i] - tick_ns[t]));

    /*
     * A blocked vCPU's periodic timer is stopped: only the singleshot wakes it.
     * A tick may still land between arming and blocking (the vCPU is still
     * running then): the runstate tells those apart, as the vCPU did not
     * spend time blocked before it.
     */
    d = now() + 20 * NS_PER_MS;
    singleshot(0, d, 0);
    for ( unsigned int i = 0; i < 5; i++ )
    {
        struct vcpu_runstate_info r0, r1;

        hypercall_vcpu_op(VCPUOP_get_runstate_info, 0, &r0);
        fired = block_for_tick();
        hypercall_vcpu_op(VCPUOP_get_runstate_info, 0, &r1);
        if ( fired >= d )
            break;
        if ( !xtf_check(r1.time[RUNSTATE_blocked] - r0.time[RUNSTATE_blocked] < period / 2,
                        "a periodic tick woke the vCPU after %llu us blocked",
                        (unsigned long long)div_u64(r1.time[RUNSTATE_blocked] -
                                                    r0.time[RUNSTATE_blocked], 1000, NULL)) )
            break;
    }
    xtf_check(fired >= d, "woken %llu us before the singleshot",
              (unsigned long long)div_u64(d - fired, 1000, NULL));
    xtf_check(fired <= d + TIMER_LATE_NS, "singleshot %llu us late",
              (unsigned long long)div_u64(fired - d, 1000, NULL));

    /* Stopped: quiet while running. */
    xtf_check_rc("stop_periodic", hypercall_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL), 0);
    take_upcall();
    t = ticks;
    local_irq_enable();
    spin_until(now() + 3 * period);
    local_irq_disable();
    xtf_check(ticks == t, "stopped periodic timer ticked %u times", ticks - t);

    /* The longest period is accepted (and does not tick for a while). */
    xtf_check_rc("set_periodic(STIME_DELTA_MAX)", periodic(0, STIME_DELTA_MAX), 0);
    xtf_check_rc("stop_periodic", hypercall_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL), 0);
    take_upcall();
}

/* ---- SCHEDOP_poll --------------------------------------------------------------------- */
static void test_poll(void)
{
    evtchn_port_t ports[2];
    uint64_t t0, d;
    long rc;

    printk("Testing SCHEDOP_poll\n");

    xtf_check_rc("poll(129 ports)", poll_ports(&timer_port, 129, 0), -EINVAL);
    ports[0] = BAD_PORT;
    xtf_check_rc("poll(bad port)", poll_ports(ports, 1, now() + NS_PER_MS), -EINVAL);

    /* Timeout with nothing pending. */
    check_quiet_until("poll(timer port, now + 3 ms)", now() + 3 * NS_PER_MS);
    d = now() + 3 * NS_PER_MS;
    xtf_check_rc("poll(no ports, now + 3 ms)", poll_ports(NULL, 0, d), 0);
    xtf_check(now() >= d, "poll(no ports) returned %llu ns before its timeout",
              (unsigned long long)(d - now()));
    t0 = now();
    xtf_check_rc("poll(timeout in the past)", poll_ports(&timer_port, 1, t0 - NS_PER_US), 0);
    xtf_check(now() - t0 < TIMER_LATE_NS, "poll with a past timeout blocked %llu us",
              (unsigned long long)div_u64(now() - t0, 1000, NULL));

    /* An event ends it: the singleshot timer at 2 ms, the poll timeout at 50 ms. */
    d = now() + 2 * NS_PER_MS;
    singleshot(0, d, 0);
    rc = poll_ports(&timer_port, 1, now() + 50 * NS_PER_MS);
    xtf_check_rc("poll(timer port) woken by the timer", rc, 0);
    xtf_check(fired_already(), "poll returned without the timer port pending");
    check_fired("poll woken by VIRQ_TIMER", now(), d);
    xtf_check(now() < d + TIMER_LATE_NS, "poll waited for its timeout");

    /* Already pending (masked or not): returns at once. */
    t0 = now();
    xtf_check_rc("poll(pending port)", poll_ports(&timer_port, 1, t0 + 50 * NS_PER_MS), 0);
    xtf_check(now() - t0 < TIMER_LATE_NS, "poll on a pending port blocked");
    evtchn_set_mask(timer_port);
    t0 = now();
    ports[0] = timer_port;
    ports[1] = BAD_PORT;                /* Never looked at: the first port is pending. */
    xtf_check_rc("poll(masked pending port, bad port)", poll_ports(ports, 2, t0 + 50 * NS_PER_MS),
                 0);
    xtf_check(now() - t0 < TIMER_LATE_NS, "poll on a masked pending port blocked");
    evtchn_clear_mask(timer_port);
    take_upcall();

    /* A free port the guest marked pending itself is not an event. */
    ports[0] = evtchnop_bind_ipi(0);
    if ( xtf_check((long)ports[0] > 0, "bind_ipi: %ld", (long)ports[0]) )
    {
        xtf_check_rc("close(IPI)", evtchnop_close(ports[0]), 0);
        evtchn_set_mask(ports[0]);
        set_bit(ports[0], shared_info->evtchn_pending);
        d = now() + 3 * NS_PER_MS;
        xtf_check_rc("poll(free port marked pending)", poll_ports(ports, 1, d), 0);
        xtf_check(now() >= d, "poll on a closed port returned %llu us early",
                  (unsigned long long)div_u64(d - now(), 1000, NULL));
        evtchn_clear_pending(ports[0]);
        evtchn_clear_mask(ports[0]);
    }
}

/* ---- no callback yet -------------------------------------------------------------- */
/*
 * With neither a callback vector nor an upcall vector there is nothing to
 * raise: hvm_assert_evtchn_irq() kicks nobody, so a VIRQ_TIMER event does not
 * end SCHEDOP_poll on another port, which sleeps to its timeout.
 */
static void test_no_callback(void)
{
    long other = evtchnop_bind_ipi(0);
    evtchn_port_t port = other;
    uint64_t d, until;

    printk("Testing events without a callback\n");
    if ( !xtf_check(other > 0, "bind_ipi: %ld", other) )
        return;
    d = now() + 2 * NS_PER_MS;
    until = now() + 10 * NS_PER_MS;
    xtf_check_rc("singleshot(now + 2 ms)", singleshot(0, d, 0), 0);
    xtf_check_rc("poll(IPI port, now + 10 ms)", poll_ports(&port, 1, until), 0);
    xtf_check(fired_already(), "the singleshot timer did not fire");
#ifdef __aarch64__
    /* Xen on Arm raises PPI 31 whether or not the guest enabled it, and
     * vgic_inject_irq() kicks the vCPU: the poll ends at the timer. */
    xtf_check(now() < until, "the event on another port did not end the poll");
#else
    xtf_check(now() >= until, "no callback, yet an event on another port ended the poll "
              "%llu us early", (unsigned long long)div_u64(until - now(), 1000, NULL));
#endif
    /* Consume the event as an upcall would have. */
    evtchn_clear_pending(timer_port);
    vi->evtchn_pending_sel = 0;
    vi->evtchn_upcall_pending = 0;
    xtf_check_rc("close(IPI)", evtchnop_close(port), 0);
}

/* ---- a second vCPU --------------------------------------------------------------- */
#define XVCPU_ROUNDS    8
#define XVCPU_SPINS     1000000     /* SCHEDOP_yields while waiting for the other vCPU. */

static volatile unsigned int turn, ap_done, ap_backwards, ap_ticks;
static volatile uint64_t stamp, ap_deadline, ap_woke;
static volatile long ap_rc_other, ap_rc_own;

static void ap_timer_event(evtchn_port_t port, void *data)
{
    ap_ticks++;
}

static void wait_turn(unsigned int cpu)
{
    for ( unsigned int n = 0; turn != cpu && n < XVCPU_SPINS; n++ )
        hypercall_sched_op(SCHEDOP_yield, NULL);
}

/* vCPU 1: time stamps in turn with vCPU 0, then its own singleshot timer. */
static void vcpu1_main(unsigned int cpu)
{
    for ( unsigned int i = 0; i < XVCPU_ROUNDS; i++ )
    {
        uint64_t t;

        wait_turn(1);
        t = now();
        if ( t < stamp )
            ap_backwards++;
        stamp = t;
        turn = 0;
    }

    ap_rc_other = singleshot(0, now() + NS_PER_MS, 0);
    ap_deadline = now() + 4 * NS_PER_MS;
    ap_rc_own = singleshot(cpu, ap_deadline, 0);
    if ( !ap_rc_own )
    {
        block_while_eq(&ap_ticks, 0);
        ap_woke = now();
    }
    ap_done = 1;
}

static void test_second_vcpu(void)
{
    unsigned int i, backwards = 0;
    long port;

    if ( nr_vcpus < 2 )
    {
        printk("One vCPU: cross-vCPU checks skipped (run with --vcpus 2)\n");
        return;
    }
    printk("Testing a second vCPU\n");

    port = evtchnop_bind_virq(VIRQ_TIMER, 1);
    if ( !xtf_check(port > 0, "bind_virq(VIRQ_TIMER, vCPU 1): %ld", port) )
        return;
    evtchn_clear_mask(port);
    evtchn_clear_pending(port);
    evtchn_bind_handler(port, 1, ap_timer_event, NULL);

    if ( !xtf_check_rc("start vCPU 1", smp_start_vcpu(1, vcpu1_main), 0) )
        return;
    for ( i = 0; i < XVCPU_ROUNDS; i++ )
    {
        uint64_t t;

        wait_turn(0);
        t = now();
        if ( t < stamp )
            backwards++;
        stamp = t;
        turn = 1;
    }
    for ( i = 0; !ap_done && i < XVCPU_SPINS; i++ )
        hypercall_sched_op(SCHEDOP_yield, NULL);
    if ( !xtf_check(ap_done, "vCPU 1 did not finish") )
        return;

    xtf_check(!backwards && !ap_backwards,
              "system time went backwards between vCPUs: %u times on vCPU 0, %u on vCPU 1",
              backwards, ap_backwards);
    xtf_check_rc("vCPU 1: set_singleshot(vCPU 0)", ap_rc_other, -EINVAL);
    if ( xtf_check_rc("vCPU 1: set_singleshot(itself)", ap_rc_own, 0) )
        check_fired("vCPU 1: its singleshot timer", ap_woke, ap_deadline);
    xtf_check(ap_ticks == 1, "vCPU 1: %u VIRQ_TIMER events, expected 1", ap_ticks);
    printk("  vCPU 1: %u time stamps in turn with vCPU 0, woken %llu ns after its deadline\n",
           2 * XVCPU_ROUNDS, (unsigned long long)(ap_woke - ap_deadline));
}

void test_main(void)
{
    long port;

    nr_vcpus = smp_nr_vcpus();
    if ( !map_shared_info() )
        return xtf_error("Cannot map shared_info\n");
    vi = vcpu_info_of(0);

    port = evtchnop_bind_virq(VIRQ_TIMER, 0);
    if ( !xtf_check(port > 0, "bind_virq(VIRQ_TIMER): %ld", port) )
        return;
    timer_port = port;
    evtchn_clear_mask(timer_port);
    evtchn_bind_handler(timer_port, 0, timer_event, NULL);
    test_no_callback();
    if ( !xtf_check_rc("HVM_PARAM_CALLBACK_IRQ (vector)", evtchn_setup_callback_vector(), 0) )
        return;

#ifndef __aarch64__
    test_time();
    test_memory_areas();
#endif
    test_singleshot();
    test_set_timer_op();
    test_periodic();
    test_poll();
    test_second_vcpu();

    printk("%u VIRQ_TIMER events, system time %llu ms\n", ticks,
           (unsigned long long)div_u64(now(), NS_PER_MS, NULL));
    xtf_success(NULL);
}
