/**
 * @file tests/smp/main.c
 *
 * Several vCPUs (run with `--vcpus 4`; with one vCPU it ends SKIP):
 *
 * - vCPU 0 brings the others up with VCPUOP_initialise (a vcpu_hvm_context
 *   in this environment's mode, each vCPU on its own stack) and VCPUOP_up,
 *   checking VCPUOP_is_up, VCPUOP_get_runstate_info and the error cases
 *   (-EEXIST, -EINVAL for up before initialise and for bad contexts,
 *   -ENOENT for a vCPU that does not exist, -EFAULT);
 * - every vCPU moves its vcpu_info out of shared_info with
 *   VCPUOP_register_vcpu_info (-EBUSY the second time; Xen marks every
 *   selector bit and the upcall pending), sets its own upcall vector
 *   (HVMOP_set_evtchn_upcall_vector) and binds an IPI event channel;
 * - the upcall pending since registration is taken as soon as the vCPU
 *   enables interrupts, and an IPI a vCPU sends itself with interrupts
 *   enabled is taken on the hypercall's return (Xen injects the vector on
 *   the next VM entry, or at the interrupt window);
 * - the vCPUs pass a token round a ring with those IPIs (vCPU i sends to
 *   vCPU i+1), each blocked in SCHEDOP_block in between: every vCPU gets
 *   its IPIs, in ring order;
 * - the secondary vCPUs take themselves down (VCPUOP_down) and vCPU 0
 *   checks they are offline.
 */
#include <xtf.h>
#include <xtf/events.h>
#include <xtf/smp.h>

const char test_title[] = "SMP: vCPU bring-up, vcpu_info, upcall vectors, IPI ring";

#define LAPS        10
#define BAD_PTR     ((void *)0xdead0000ul)
#define SPIN_LIMIT  1000000         /* SCHEDOP_yields while waiting for other vCPUs. */

static unsigned int nr_vcpus;

/* Per vCPU, written by that vCPU. */
static evtchn_port_t ipi_port[XTF_MAX_VCPUS], self_port[XTF_MAX_VCPUS];
static volatile unsigned int self_ipis[XTF_MAX_VCPUS];
static volatile unsigned int received[XTF_MAX_VCPUS];
static volatile unsigned int ready, done;
static struct {
    long register1, register2;      /* VCPUOP_register_vcpu_info results. */
    bool sel_all, upcall_pending;   /* What registration left in the new vcpu_info. */
    long upcall_vector, status, self_bind;
    bool pending_before_sti, taken_at_sti;
    unsigned int self_ipis_on_return;
    unsigned int cpuid_vcpu_id, stack_id;
    struct evtchn_status st;
    struct vcpu_runstate_info rs;
    long rs_rc;
} info[XTF_MAX_VCPUS];

/* The order IPIs arrived in, across all vCPUs. */
static volatile unsigned int seq;
static unsigned int arrivals[LAPS * XTF_MAX_VCPUS];

static void on_ipi(evtchn_port_t port, void *data)
{
    unsigned int cpu = (unsigned long)data;
    unsigned int n = __atomic_fetch_add(&seq, 1, __ATOMIC_SEQ_CST);

    if ( n < ARRAY_SIZE(arrivals) )
        arrivals[n] = cpu;
    received[cpu]++;
}

static void on_self_ipi(evtchn_port_t port, void *data)
{
    self_ipis[(unsigned long)data]++;
}

static long vcpu_op(unsigned int cmd, unsigned int vcpu, void *arg)
{
    return hypercall_vcpu_op(cmd, vcpu, arg);
}

static long runstate(unsigned int vcpu, struct vcpu_runstate_info *rs)
{
    memset(rs, 0, sizeof(*rs));
    return vcpu_op(VCPUOP_get_runstate_info, vcpu, rs);
}

static void wait_for(const volatile unsigned int *p, unsigned int val, const char *what)
{
    unsigned int n;

    for ( n = 0; *p < val && n < SPIN_LIMIT; n++ )
        hypercall_sched_op(SCHEDOP_yield, NULL);
    if ( *p < val )
        panic("timed out waiting for %s (%u of %u)\n", what, *p, val);
}

/* What each vCPU does once up: vcpu_info, upcall vector, IPI port. */
static void setup_events(unsigned int cpu)
{
    uint32_t eax, ebx, ecx, edx;
    struct vcpu_info *vi;
    unsigned int upcalls;
    long rc;

    cpuid_count(xen_cpuid_base + 4, 0, &eax, &ebx, &ecx, &edx);
    info[cpu].cpuid_vcpu_id = ebx;
    info[cpu].stack_id = smp_processor_id();

    info[cpu].register1 = register_vcpu_info(cpu);
    vi = vcpu_info_of(cpu);
    info[cpu].sel_all = vi->evtchn_pending_sel == (xen_ulong_t)~0ul;
    info[cpu].upcall_pending = vi->evtchn_upcall_pending;
    info[cpu].register2 = register_vcpu_info(cpu);

    info[cpu].upcall_vector = evtchn_setup_upcall_vector(cpu);

    rc = evtchnop_bind_ipi(cpu);
    if ( rc > 0 )
    {
        ipi_port[cpu] = rc;
        evtchn_bind_handler(rc, cpu, on_ipi, (void *)(unsigned long)cpu);
        info[cpu].status = evtchnop_status(DOMID_SELF, rc, &info[cpu].st);
    }
    else
        info[cpu].status = rc;

    /*
     * Registration marked an upcall pending and setting the vector raised
     * it: it arrives once interrupts are enabled (the instruction after the
     * sti shadow).
     */
    upcalls = xtf_cpus[cpu].upcalls;
    info[cpu].pending_before_sti = vi->evtchn_upcall_pending;
    asm volatile ("sti; nop; cli" ::: "memory");
    info[cpu].taken_at_sti = xtf_cpus[cpu].upcalls != upcalls;
    if ( vi->evtchn_upcall_pending )
        asm volatile ("sti; hlt; cli" ::: "memory");   /* Take it (hlt: at once). */

    /*
     * An IPI to ourselves with interrupts on: the upcall is injected on the
     * VM entry that ends EVTCHNOP_send, so its handler has run when the
     * hypercall returns.
     */
    rc = info[cpu].self_bind = evtchnop_bind_ipi(cpu);
    if ( rc > 0 )
    {
        self_port[cpu] = rc;
        evtchn_bind_handler(rc, cpu, on_self_ipi, (void *)(unsigned long)cpu);
        asm volatile ("sti" ::: "memory");
        evtchnop_send(rc);
        info[cpu].self_ipis_on_return = self_ipis[cpu];
        asm volatile ("cli" ::: "memory");
    }
}

/* The ring: vCPU i waits for lap k's IPI, then passes it on to vCPU i+1. */
static void ring(unsigned int cpu)
{
    unsigned int lap;

    for ( lap = 0; lap < LAPS; lap++ )
    {
        if ( cpu == 0 )
            evtchnop_send(ipi_port[1]);
        block_while_eq(&received[cpu], lap);
        if ( cpu != 0 )
            evtchnop_send(ipi_port[(cpu + 1) % nr_vcpus]);
    }
}

static void ap_main_fn(unsigned int cpu)
{
    setup_events(cpu);
    __atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);

    /* vCPU 0 starts the ring once every vCPU is ready. */
    ring(cpu);

    info[cpu].rs_rc = runstate(cpu, &info[cpu].rs);
    printk("vCPU %u: %u IPIs received, %u upcalls, vcpu_info at %p\n", cpu, received[cpu],
           xtf_cpus[cpu].upcalls, vcpu_info_of(cpu));
    __atomic_fetch_add(&done, 1, __ATOMIC_SEQ_CST);
    /* Returning takes this vCPU down (VCPUOP_down on itself, lib/smp.c). */
}

static void test_bringup_errors(void)
{
    static struct vcpu_hvm_context ctx;
    struct vcpu_runstate_info rs;

    printk("Testing vCPU bring-up errors\n");

    xtf_check_rc("VCPUOP_is_up(0)", vcpu_op(VCPUOP_is_up, 0, NULL), 1);
    for ( unsigned int i = 1; i < nr_vcpus; i++ )
    {
        char msg[48];

        snprintf(msg, sizeof(msg), "VCPUOP_is_up(%u) before VCPUOP_up", i);
        xtf_check_rc(msg, vcpu_op(VCPUOP_is_up, i, NULL), 0);
    }

    if ( xtf_check_rc("VCPUOP_get_runstate_info(0)", runstate(0, &rs), 0) )
        xtf_check_eq("vCPU 0 runstate", rs.state, RUNSTATE_running);
    if ( xtf_check_rc("VCPUOP_get_runstate_info(1)", runstate(1, &rs), 0) )
    {
        xtf_check_eq("vCPU 1 runstate before VCPUOP_up", rs.state, RUNSTATE_offline);
        xtf_check(rs.time[RUNSTATE_running] == 0, "vCPU 1 ran %llu ns before VCPUOP_up",
                  (unsigned long long)rs.time[RUNSTATE_running]);
    }

    xtf_check_rc("VCPUOP_up(1) before VCPUOP_initialise", vcpu_op(VCPUOP_up, 1, NULL), -EINVAL);

    smp_prepare_vcpu(1, ap_main_fn, &ctx);
    xtf_check_rc("VCPUOP_initialise(0) (already initialised)",
                 vcpu_op(VCPUOP_initialise, 0, &ctx), -EEXIST);
    xtf_check_rc("VCPUOP_initialise, no such vCPU", vcpu_op(VCPUOP_initialise, nr_vcpus, &ctx),
                 -ENOENT);
    xtf_check_rc("VCPUOP_up, no such vCPU", vcpu_op(VCPUOP_up, nr_vcpus, NULL), -ENOENT);
    xtf_check_rc("VCPUOP_is_up, no such vCPU", vcpu_op(VCPUOP_is_up, nr_vcpus, NULL), -ENOENT);
    xtf_check_rc("VCPUOP_down, no such vCPU", vcpu_op(VCPUOP_down, nr_vcpus, NULL), -ENOENT);
    xtf_check_rc("VCPUOP_get_runstate_info, no such vCPU", runstate(nr_vcpus, &rs), -ENOENT);
    xtf_check_rc("VCPUOP_is_up, vCPU 0xffffffff", vcpu_op(VCPUOP_is_up, ~0u, NULL), -ENOENT);
    xtf_check_rc("VCPUOP_initialise, bad pointer", vcpu_op(VCPUOP_initialise, 1, BAD_PTR),
                 -EFAULT);

    ctx.mode = VCPU_HVM_MODE_64B + 1;
    xtf_check_rc("VCPUOP_initialise, unknown mode", vcpu_op(VCPUOP_initialise, 1, &ctx), -EINVAL);
    smp_prepare_vcpu(1, ap_main_fn, &ctx);
    ctx.pad = 1;
    xtf_check_rc("VCPUOP_initialise, pad != 0", vcpu_op(VCPUOP_initialise, 1, &ctx), -EINVAL);
    smp_prepare_vcpu(1, ap_main_fn, &ctx);
#ifdef __x86_64__
    ctx.cpu_regs.x86_64.rip = 1ul << 63;
    xtf_check_rc("VCPUOP_initialise, non-canonical rip", vcpu_op(VCPUOP_initialise, 1, &ctx),
                 -EINVAL);
    smp_prepare_vcpu(1, ap_main_fn, &ctx);
    ctx.cpu_regs.x86_64.cr0 &= ~X86_CR0_PG;
    xtf_check_rc("VCPUOP_initialise, 64-bit mode without paging",
                 vcpu_op(VCPUOP_initialise, 1, &ctx), -EINVAL);
#else
    ctx.cpu_regs.x86_32.cs_ar = 0;
    xtf_check_rc("VCPUOP_initialise, null CS", vcpu_op(VCPUOP_initialise, 1, &ctx), -EINVAL);
    smp_prepare_vcpu(1, ap_main_fn, &ctx);
    ctx.cpu_regs.x86_32.ss_ar |= DESC_DPL(3);
    xtf_check_rc("VCPUOP_initialise, SS.DPL != CS.DPL", vcpu_op(VCPUOP_initialise, 1, &ctx),
                 -EINVAL);
    smp_prepare_vcpu(1, ap_main_fn, &ctx);
    ctx.cpu_regs.x86_32.pad1 = 1;
    xtf_check_rc("VCPUOP_initialise, pad1 != 0", vcpu_op(VCPUOP_initialise, 1, &ctx), -EINVAL);
#endif
    xtf_check_rc("VCPUOP_up(1) after failed VCPUOP_initialise", vcpu_op(VCPUOP_up, 1, NULL),
                 -EINVAL);
}

static void bring_up(unsigned int cpu)
{
    static struct vcpu_hvm_context ctx;
    struct vcpu_runstate_info rs;
    char msg[64];

    smp_prepare_vcpu(cpu, ap_main_fn, &ctx);
    snprintf(msg, sizeof(msg), "VCPUOP_initialise(%u)", cpu);
    if ( !xtf_check_rc(msg, vcpu_op(VCPUOP_initialise, cpu, &ctx), 0) )
        return;
    snprintf(msg, sizeof(msg), "VCPUOP_initialise(%u) again", cpu);
    xtf_check_rc(msg, vcpu_op(VCPUOP_initialise, cpu, &ctx), -EEXIST);
    snprintf(msg, sizeof(msg), "VCPUOP_is_up(%u) after VCPUOP_initialise", cpu);
    xtf_check_rc(msg, vcpu_op(VCPUOP_is_up, cpu, NULL), 0);
    if ( !runstate(cpu, &rs) )
        xtf_check_eq("runstate after VCPUOP_initialise", rs.state, RUNSTATE_offline);

    snprintf(msg, sizeof(msg), "VCPUOP_up(%u)", cpu);
    xtf_check_rc(msg, vcpu_op(VCPUOP_up, cpu, NULL), 0);
    snprintf(msg, sizeof(msg), "VCPUOP_is_up(%u)", cpu);
    xtf_check_rc(msg, vcpu_op(VCPUOP_is_up, cpu, NULL), 1);
    snprintf(msg, sizeof(msg), "VCPUOP_up(%u) again", cpu);
    xtf_check_rc(msg, vcpu_op(VCPUOP_up, cpu, NULL), 0);
    if ( !runstate(cpu, &rs) )
        xtf_check(rs.state == RUNSTATE_runnable || rs.state == RUNSTATE_running ||
                  rs.state == RUNSTATE_blocked,
                  "vCPU %u runstate %d after VCPUOP_up", cpu, rs.state);
}

static void check_vcpu(unsigned int cpu)
{
    const struct xtf_cpu *c = &xtf_cpus[cpu];
    char msg[80];

#define CHECK_RC(what, got, exp) \
    (snprintf(msg, sizeof(msg), "vCPU %u: %s", cpu, what), xtf_check_rc(msg, got, exp))
#define CHECK(ok, what) \
    xtf_check(ok, "vCPU %u: %s", cpu, what)

    CHECK(info[cpu].stack_id == cpu, "runs on another vCPU's stack");
    CHECK(info[cpu].cpuid_vcpu_id == cpu, "CPUID leaf base+4 EBX is another vCPU id");
    if ( CHECK_RC("VCPUOP_register_vcpu_info", info[cpu].register1, 0) )
    {
        CHECK(c->vcpu_info == &xtf_vcpu_info[cpu], "vcpu_info not moved");
        CHECK(info[cpu].sel_all, "registration did not set every selector bit");
        CHECK(info[cpu].upcall_pending, "registration did not mark an upcall pending");
    }
    CHECK_RC("VCPUOP_register_vcpu_info again", info[cpu].register2, -EBUSY);
    CHECK_RC("HVMOP_set_evtchn_upcall_vector", info[cpu].upcall_vector, 0);
    if ( CHECK_RC("EVTCHNOP_status of the IPI port", info[cpu].status, 0) )
    {
        CHECK(info[cpu].st.status == EVTCHNSTAT_ipi, "IPI port status not EVTCHNSTAT_ipi");
        CHECK(info[cpu].st.vcpu == cpu, "IPI port notifies another vCPU");
    }
    CHECK(info[cpu].pending_before_sti, "no upcall pending after registration");
    CHECK(info[cpu].taken_at_sti, "pending upcall not taken when interrupts were enabled");
    if ( CHECK(info[cpu].self_bind > 0, "cannot bind a second IPI port") )
        CHECK(info[cpu].self_ipis_on_return == 1,
              "IPI to itself not taken on return from EVTCHNOP_send");
    snprintf(msg, sizeof(msg), "vCPU %u: IPIs received", cpu);
    xtf_check_eq(msg, received[cpu], LAPS);
    CHECK(c->upcalls >= LAPS, "fewer upcalls than IPIs");
    if ( cpu )
    {
        CHECK_RC("VCPUOP_get_runstate_info (itself)", info[cpu].rs_rc, 0);
        CHECK(info[cpu].rs.state == RUNSTATE_running, "own runstate is not running");
        CHECK(info[cpu].rs.time[RUNSTATE_blocked], "never blocked");
    }
#undef CHECK
#undef CHECK_RC
}

void test_main(void)
{
    struct vcpu_runstate_info rs;
    unsigned int cpu, i, order_errors = 0;
    char msg[64];

    if ( !xen_present )
    {
        xtf_skip("Skip: Xen not present\n");
        return;
    }
    nr_vcpus = smp_nr_vcpus();
    if ( nr_vcpus < 2 )
    {
        xtf_skip("Skip: one vCPU: run with --vcpus 4\n");
        return;
    }
    printk("%u vCPUs\n", nr_vcpus);
    if ( !map_shared_info() )
    {
        xtf_error("Error: cannot map shared_info\n");
        return;
    }

    test_bringup_errors();

    printk("Bringing up vCPUs 1-%u\n", nr_vcpus - 1);
    setup_events(0);
    for ( cpu = 1; cpu < nr_vcpus; cpu++ )
        bring_up(cpu);
    if ( xtf_status() == STATUS_FAILURE )
        return;
    wait_for(&ready, nr_vcpus - 1, "the vCPUs to be ready");

    printk("Passing an IPI round the ring %u times\n", LAPS);
    ring(0);
    wait_for(&done, nr_vcpus - 1, "the vCPUs to finish");

    /* IPIs arrived in ring order: 1, 2, ..., n-1, 0, 1, ... */
    for ( i = 0; i < seq && i < ARRAY_SIZE(arrivals); i++ )
        if ( arrivals[i] != (i + 1) % nr_vcpus && !order_errors++ )
            printk("IPI %u went to vCPU %u, expected %u\n", i, arrivals[i],
                   (i + 1) % nr_vcpus);
    xtf_check_eq("IPIs delivered", seq, LAPS * nr_vcpus);
    xtf_check(!order_errors, "%u IPIs out of ring order", order_errors);

    for ( cpu = 0; cpu < nr_vcpus; cpu++ )
        check_vcpu(cpu);

    /* The secondary vCPUs take themselves down. */
    for ( cpu = 1; cpu < nr_vcpus; cpu++ )
    {
        for ( i = 0; i < SPIN_LIMIT && vcpu_op(VCPUOP_is_up, cpu, NULL) == 1; i++ )
            hypercall_sched_op(SCHEDOP_yield, NULL);
        snprintf(msg, sizeof(msg), "VCPUOP_is_up(%u) after its VCPUOP_down", cpu);
        xtf_check_rc(msg, vcpu_op(VCPUOP_is_up, cpu, NULL), 0);
        if ( !runstate(cpu, &rs) )
        {
            xtf_check_eq("runstate after VCPUOP_down", rs.state, RUNSTATE_offline);
            xtf_check(rs.time[RUNSTATE_running] && rs.time[RUNSTATE_blocked],
                      "vCPU %u runstate times: running %llu, blocked %llu", cpu,
                      (unsigned long long)rs.time[RUNSTATE_running],
                      (unsigned long long)rs.time[RUNSTATE_blocked]);
        }
        snprintf(msg, sizeof(msg), "VCPUOP_down(%u) when down", cpu);
        xtf_check_rc(msg, vcpu_op(VCPUOP_down, cpu, NULL), 0);
        printk("vCPU %u: IPI port %u, %u IPIs, offline\n", cpu, ipi_port[cpu], received[cpu]);
    }
    printk("vCPU 0: IPI port %u, %u IPIs; %u IPIs in ring order\n", ipi_port[0], received[0],
           seq);

    xtf_success(NULL);
}
