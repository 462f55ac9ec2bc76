/**
 * @file tests/arm64-irq/main.c
 *
 * What an Arm domain's interrupts look like on Xen: the GICv2 distributor
 * and CPU interface (xen/arch/arm/vgic-v2.c behind GICD, the GICv2 virtual
 * CPU interface behind GICC), SGIs to this vCPU and (with --vcpus 2)
 * between vCPUs, priority masking and preemption, the generic timer's
 * virtual (PPI 27) and physical (PPI 30) timers, IRQs taken from EL1 and
 * from EL0, the event channel upcall as PPI 31 with evtchn_upcall_pending,
 * SCHEDOP_block unmasking PSTATE.I, and the data abort for a GIC register
 * Xen does not handle.
 */
#include <xtf.h>
#include <arch/gic.h>
#include <arch/smccc.h>
#include <arch/el0.h>

const char test_title[] = "arm64 interrupts: vGIC, generic timer, event channel PPI";

#define EC(esr)  ((esr) >> 26)
/* A timer far enough ahead (32 ms) that a loaded host cannot overtake it. */
#define VTIMER_TICKS 2000000

static volatile unsigned int irq_count[2][32];      /* [vCPU][INTID] */
static volatile unsigned int order[8], norder;
static volatile unsigned long irq_spsr, irq_ctl;
static volatile bool irq_from_el0, keep_upcall_pending;
static volatile unsigned long sync_esr, sync_far, sync_elr, sync_count;
static struct shared_info *shinfo;

static unsigned int this_cpu(void)
{
    return read_sysreg(mpidr_el1) & 0xff;
}

static void irq_sgi3(void)
{
    /* Running at priority 0x80: SGI 5 (0xa0) must wait, SGI 4 (0x40) preempts. */
    local_irq_enable();
    gic_send_sgi(5, SGIR_TARGET_SELF, 0);
    gic_send_sgi(4, SGIR_TARGET_SELF, 0);
    asm volatile ("isb" ::: "memory");
    order[norder++] = 0x3e;                 /* the end of SGI 3's handler */
    local_irq_disable();
}

void do_irq(struct cpu_regs *regs)
{
    uint32_t iar = gicc_read(GICC_IAR);
    unsigned int intid = iar & 0x3ff, cpu = this_cpu();

    if ( intid == GIC_SPURIOUS )
        return;
    if ( intid < 32 && cpu < 2 )
        irq_count[cpu][intid]++;
    irq_spsr = regs->spsr;
    if ( norder < ARRAY_SIZE(order) )
        order[norder++] = intid;

    switch ( intid )
    {
    case 3:
        irq_sgi3();
        break;
    case 6:                                 /* vCPU 1: answer vCPU 0 */
        gic_send_sgi(7, SGIR_TARGET_LIST, 1);
        break;
    case PPI_VTIMER:
        irq_ctl = read_sysreg(cntv_ctl_el0);
        write_sysreg(irq_ctl | CNT_CTL_IMASK, cntv_ctl_el0);
        break;
    case PPI_PTIMER:
        irq_ctl = read_sysreg(cntp_ctl_el0);
        write_sysreg(0, cntp_ctl_el0);
        break;
    case PPI_EVTCHN:
        irq_ctl = shinfo->vcpu_info[0].evtchn_upcall_pending;
        if ( !keep_upcall_pending )
        {
            shinfo->vcpu_info[0].evtchn_upcall_pending = 0;
            shinfo->vcpu_info[0].evtchn_pending_sel = 0;
        }
        break;
    }

    if ( el0_return(regs) )
        irq_from_el0 = true;
    gicc_write(GICC_EOIR, iar);
}

void do_sync_exception(struct cpu_regs *regs)
{
    sync_esr = regs->esr;
    sync_far = regs->far;
    sync_elr = regs->elr;
    sync_count++;
    if ( !el0_return(regs) )
        regs->elr += 4;
}

/* Wait (wfi, IRQs unmasked) until irq_count[0][intid] reaches @n. */
static bool wait_irq(unsigned int intid, unsigned int n)
{
    for ( int i = 0; i < 1000 && irq_count[0][intid] < n; i++ )
    {
        local_irq_disable();
        if ( irq_count[0][intid] < n )
            asm volatile ("wfi" ::: "memory");
        local_irq_enable();
    }
    local_irq_disable();
    return irq_count[0][intid] >= n;
}

static void test_distributor(void)
{
    unsigned int i;

    unsigned int nr_vcpus = smccc(PSCI_AFFINITY_INFO64, 1, 0, 0) < 0 ? 1 : 2;

    printk("Testing the distributor's registers\n");
    xtf_check(gicd_read(GICD_TYPER) == (nr_vcpus - 1) << 5,
              "GICD_TYPER %#x, expected %#x (%u vCPUs, no SPIs)", gicd_read(GICD_TYPER),
              (nr_vcpus - 1) << 5, nr_vcpus);
    xtf_check(gicd_read(GICD_IIDR) == 0x43b, "GICD_IIDR %#x", gicd_read(GICD_IIDR));
    xtf_check(gicd_read(GICD_IGROUPR) == 0, "GICD_IGROUPR0 %#x, expected RAZ",
              gicd_read(GICD_IGROUPR));
    for ( i = 0; i < 32; i += 4 )
        xtf_check(gicd_read(GICD_ITARGETSR + i) == 0x01010101, "GICD_ITARGETSR%u %#x", i / 4,
                  gicd_read(GICD_ITARGETSR + i));
    gicd_write(GICD_ITARGETSR + 24, 0x02020202);
    xtf_check(gicd_read(GICD_ITARGETSR + 24) == 0x01010101, "a PPI's target changed");
    xtf_check(gicd_read(GICD_ISENABLER + 4) == 0, "GICD_ISENABLER1 (no SPIs) %#x",
              gicd_read(GICD_ISENABLER + 4));

    gicd_writeb(GICD_IPRIORITYR + 27, 0xa0);
    gicd_writeb(GICD_IPRIORITYR + 26, 0x30);
    xtf_check(gicd_readb(GICD_IPRIORITYR + 27) == 0xa0, "IPRIORITYR byte 27 %#x",
              gicd_readb(GICD_IPRIORITYR + 27));
    xtf_check((gicd_read(GICD_IPRIORITYR + 24) & 0xffff0000) == 0xa0300000,
              "IPRIORITYR6 %#x", gicd_read(GICD_IPRIORITYR + 24));

    gicd_write(GICD_ISENABLER, (1u << 27) | (1u << 1));
    xtf_check(gicd_read(GICD_ISENABLER) == ((1u << 27) | (1u << 1)) &&
              gicd_read(GICD_ICENABLER) == gicd_read(GICD_ISENABLER),
              "I[SC]ENABLER0 %#x/%#x", gicd_read(GICD_ISENABLER), gicd_read(GICD_ICENABLER));
    gicd_write(GICD_ICENABLER, 1u << 27);
    xtf_check(gicd_read(GICD_ISENABLER) == (1u << 1), "ICENABLER0 did not disable PPI 27");
    xtf_check(gicc_read(GICC_IIDR) != 0, "GICC_IIDR reads 0");
}

static void test_sgi_self(void)
{
    uint32_t iar;

    printk("Testing SGIs to this vCPU\n");
    gic_init_cpu();
    gic_enable_irq(1, 0x80);
    gic_send_sgi(1, SGIR_TARGET_SELF, 0);
    xtf_check(gicc_read(GICC_HPPIR) == 1, "HPPIR %#x, expected SGI 1", gicc_read(GICC_HPPIR));
    iar = gicc_read(GICC_IAR);
    xtf_check(iar == 1, "IAR %#x, expected SGI 1 from CPU 0", iar);
    xtf_check(gicc_read(GICC_RPR) == 0x80, "RPR %#x while SGI 1 is active", gicc_read(GICC_RPR));
    xtf_check(gicd_read(GICD_ISACTIVER) == 2, "ISACTIVER0 %#x", gicd_read(GICD_ISACTIVER));
    gicc_write(GICC_EOIR, iar);
    xtf_check(gicc_read(GICC_RPR) == 0xff, "RPR %#x after EOI", gicc_read(GICC_RPR));
    xtf_check(gicc_read(GICC_IAR) == GIC_SPURIOUS, "IAR with nothing pending is not 1023");
    xtf_check(irq_count[0][1] == 0, "an IRQ was taken with PSTATE.I set");

    gic_send_sgi(1, SGIR_TARGET_SELF, 0);
    local_irq_enable();
    local_irq_disable();
    xtf_check(irq_count[0][1] == 1 && (irq_spsr & 0xf) == 5,
              "SGI 1 taken %u times (SPSR %#lx), expected once from EL1h",
              irq_count[0][1], irq_spsr);
    gic_send_sgi(1, SGIR_TARGET_LIST, 1);
    local_irq_enable();
    local_irq_disable();
    xtf_check(irq_count[0][1] == 2, "SGI 1 by target list not taken");
    gic_send_sgi(1, SGIR_TARGET_OTHERS, 0);
    local_irq_enable();
    local_irq_disable();
    xtf_check(irq_count[0][1] == 2, "SGI 1 to the other vCPUs reached this one");
}

static void test_priorities(void)
{
    printk("Testing priority masking and preemption\n");
    gic_enable_irq(2, 0xc0);
    gicc_write(GICC_PMR, 0x80);
    gic_send_sgi(2, SGIR_TARGET_SELF, 0);
    local_irq_enable();
    local_irq_disable();
    xtf_check(irq_count[0][2] == 0, "SGI 2 (priority 0xc0) taken under PMR 0x80");
    xtf_check(gicc_read(GICC_HPPIR) == 2, "HPPIR %#x, expected the masked SGI 2",
              gicc_read(GICC_HPPIR));
    local_irq_enable();
    gicc_write(GICC_PMR, 0xf8);             /* taken as soon as it is unmasked */
    local_irq_disable();
    xtf_check(irq_count[0][2] == 1, "SGI 2 not taken once PMR allowed it");

    gic_enable_irq(3, 0x80);
    gic_enable_irq(4, 0x40);
    gic_enable_irq(5, 0xa0);
    norder = 0;
    gic_send_sgi(3, SGIR_TARGET_SELF, 0);
    local_irq_enable();
    local_irq_disable();
    xtf_check(norder == 4 && order[0] == 3 && order[1] == 4 && order[2] == 0x3e && order[3] == 5,
              "order %u: %#x %#x %#x %#x, expected SGI 3, SGI 4 preempting it, then SGI 5",
              norder, order[0], order[1], order[2], order[3]);
}

static void test_vtimer(void)
{
    unsigned long cval, now;
    long tval;

    printk("Testing the virtual timer (PPI 27)\n");
    gic_enable_irq(PPI_VTIMER, 0x80);
    write_sysreg(0, cntv_ctl_el0);
    now = read_sysreg(cntvct_el0);
    write_sysreg(now + VTIMER_TICKS, cntv_cval_el0);
    write_sysreg(CNT_CTL_ENABLE, cntv_ctl_el0);
    xtf_check(read_sysreg(cntv_cval_el0) == now + VTIMER_TICKS,
              "CNTV_CVAL_EL0 did not keep its value");
    xtf_check(read_sysreg(cntv_ctl_el0) == CNT_CTL_ENABLE, "CNTV_CTL_EL0 %#lx before expiry",
              read_sysreg(cntv_ctl_el0));
    tval = (int32_t)read_sysreg(cntv_tval_el0);
    xtf_check(tval > 0 && tval <= VTIMER_TICKS, "CNTV_TVAL_EL0 %ld before expiry", tval);
    xtf_check(wait_irq(PPI_VTIMER, 1), "the virtual timer did not fire");
    xtf_check(irq_ctl == (CNT_CTL_ENABLE | CNT_CTL_ISTATUS), "CNTV_CTL_EL0 in the handler %#lx",
              irq_ctl);
    xtf_check(read_sysreg(cntvct_el0) >= now + VTIMER_TICKS, "fired before CVAL");
    tval = (int32_t)read_sysreg(cntv_tval_el0);
    xtf_check(tval <= 0, "CNTV_TVAL_EL0 %ld after expiry", tval);

    /* TVAL writes set CVAL from now; a masked timer stays silent, then fires once unmasked. */
    now = read_sysreg(cntvct_el0);
    write_sysreg(3000, cntv_tval_el0);
    cval = read_sysreg(cntv_cval_el0);
    xtf_check(cval >= now + 3000 && cval < now + 3000 + VTIMER_TICKS,
              "CVAL %#lx after TVAL 3000 at %#lx", cval, now);
    write_sysreg(CNT_CTL_ENABLE | CNT_CTL_IMASK, cntv_ctl_el0);
    while ( read_sysreg(cntvct_el0) < cval )
        ;
    local_irq_enable();
    local_irq_disable();
    xtf_check(irq_count[0][PPI_VTIMER] == 1, "a masked timer fired");
    xtf_check(read_sysreg(cntv_ctl_el0) & CNT_CTL_ISTATUS, "ISTATUS clear after CVAL");
    write_sysreg(CNT_CTL_ENABLE, cntv_ctl_el0);
    local_irq_enable();
    local_irq_disable();
    xtf_check(irq_count[0][PPI_VTIMER] == 2, "the timer's level did not fire once unmasked");
    write_sysreg(0, cntv_ctl_el0);
}

static void test_ptimer(void)
{
    printk("Testing the physical timer (PPI 30)\n");
    gic_enable_irq(PPI_PTIMER, 0x80);
    write_sysreg(VTIMER_TICKS, cntp_tval_el0);
    write_sysreg(CNT_CTL_ENABLE, cntp_ctl_el0);
    xtf_check(read_sysreg(cntp_ctl_el0) == CNT_CTL_ENABLE, "CNTP_CTL_EL0 %#lx before expiry",
              read_sysreg(cntp_ctl_el0));
    xtf_check(wait_irq(PPI_PTIMER, 1), "the physical timer did not fire");
    xtf_check(irq_ctl == (CNT_CTL_ENABLE | CNT_CTL_ISTATUS), "CNTP_CTL_EL0 in the handler %#lx",
              irq_ctl);
    xtf_check(read_sysreg(cntp_ctl_el0) == 0, "CNTP_CTL_EL0 %#lx after a 0 write",
              read_sysreg(cntp_ctl_el0));
}

static void test_el0(void)
{
    unsigned long count = sync_count;

    printk("Testing IRQs from EL0\n");
    irq_from_el0 = false;
    write_sysreg(4000, cntv_tval_el0);
    write_sysreg(CNT_CTL_ENABLE, cntv_ctl_el0);
    RUN_AT_EL0(0, "nop");
    xtf_check(irq_from_el0 && irq_count[0][PPI_VTIMER] == 3 && (irq_spsr & 0x3cf) == 0,
              "timer IRQ from EL0: count %u, SPSR %#lx", irq_count[0][PPI_VTIMER], irq_spsr);
    write_sysreg(0, cntv_ctl_el0);

    write_sysreg(0, cntkctl_el1);
    RUN_AT_EL0(0, "mrs x1, cntp_ctl_el0");
    xtf_check(sync_count == count + 1 && sync_esr == (1UL << 25),
              "CNTP_CTL_EL0 from EL0 without EL0PTEN: ESR %#lx, expected undefined", sync_esr);
    RUN_AT_EL0(0, "mrs x1, cntv_ctl_el0");
    xtf_check(sync_count == count + 2 && EC(sync_esr) == 0x18 && (sync_esr & 1),
              "CNTV_CTL_EL0 from EL0 without EL0VTEN: ESR %#lx, expected EC 0x18 (read)",
              sync_esr);
}

static void test_evtchn(void)
{
    static uint8_t page[4096] __aligned(4096);
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_shared_info,
        .idx = 0, .gpfn = (unsigned long)page >> 12,
    };
    struct evtchn_bind_ipi ipi = { .vcpu = 0 };
    struct evtchn_send send;
    xen_ulong_t bit;

    printk("Testing event channel upcalls (PPI 31)\n");
    xtf_check_rc("XENMEM_add_to_physmap(shared_info)",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), 0);
    shinfo = (struct shared_info *)page;
    gic_enable_irq(PPI_EVTCHN, 0xa0);
    xtf_check_rc("EVTCHNOP_bind_ipi", hypercall_event_channel_op(EVTCHNOP_bind_ipi, &ipi), 0);
    bit = 1UL << (ipi.port % 64);
    __atomic_and_fetch(&shinfo->evtchn_mask[ipi.port / 64], ~bit, __ATOMIC_SEQ_CST);
    shinfo->vcpu_info[0].evtchn_upcall_pending = 0;

    send.port = ipi.port;
    xtf_check_rc("EVTCHNOP_send", hypercall_event_channel_op(EVTCHNOP_send, &send), 0);
    xtf_check(shinfo->vcpu_info[0].evtchn_upcall_pending == 1, "evtchn_upcall_pending not set");
    xtf_check(shinfo->evtchn_pending[ipi.port / 64] & bit, "the port is not pending");
    xtf_check(gicc_read(GICC_HPPIR) == PPI_EVTCHN, "HPPIR %#x, expected PPI 31",
              gicc_read(GICC_HPPIR));
    local_irq_enable();
    local_irq_disable();
    xtf_check(irq_count[0][PPI_EVTCHN] == 1 && irq_ctl == 1,
              "PPI 31 taken %u times (upcall pending %lu)", irq_count[0][PPI_EVTCHN], irq_ctl);

    /* Only a 0 -> 1 transition of evtchn_upcall_pending raises the PPI. */
    keep_upcall_pending = true;
    __atomic_and_fetch(&shinfo->evtchn_pending[ipi.port / 64], ~bit, __ATOMIC_SEQ_CST);
    hypercall_event_channel_op(EVTCHNOP_send, &send);
    local_irq_enable();
    local_irq_disable();
    __atomic_and_fetch(&shinfo->evtchn_pending[ipi.port / 64], ~bit, __ATOMIC_SEQ_CST);
    shinfo->vcpu_info[0].evtchn_pending_sel = 0;
    hypercall_event_channel_op(EVTCHNOP_send, &send);
    local_irq_enable();
    local_irq_disable();
    xtf_check(irq_count[0][PPI_EVTCHN] == 2 && shinfo->vcpu_info[0].evtchn_pending_sel,
              "PPI 31 taken %u times, expected once for two sends",
              irq_count[0][PPI_EVTCHN] - 1);
    keep_upcall_pending = false;
    shinfo->vcpu_info[0].evtchn_upcall_pending = 0;
    shinfo->vcpu_info[0].evtchn_pending_sel = 0;

    /* SCHEDOP_block clears PSTATE.I (local_event_delivery_enable) and waits for the vGIC. */
    write_sysreg(3000, cntv_tval_el0);
    write_sysreg(CNT_CTL_ENABLE, cntv_ctl_el0);
    xtf_check_rc("SCHEDOP_block", hypercall_sched_op(SCHEDOP_block, NULL), 0);
    xtf_check(irq_count[0][PPI_VTIMER] == 4, "the timer IRQ was not taken after SCHEDOP_block");
    xtf_check(!(read_sysreg(daif) & 0x80), "PSTATE.I still set after SCHEDOP_block");
    local_irq_disable();
    write_sysreg(0, cntv_ctl_el0);
}

static void test_bad_accesses(void)
{
    unsigned long count = sync_count, at;

    printk("Testing GIC registers Xen does not handle\n");
    asm volatile ("adr %0, 1f; 1: str %w1, [%2]" : "=&r" (at)
                  : "r" (1), "r" (GICD_BASE + GICD_ICPENDR) : "memory");
    xtf_check(sync_count == count + 1 && EC(sync_esr) == 0x25 && sync_elr == at &&
              sync_far == GICD_BASE + GICD_ICPENDR,
              "ICPENDR0 write: ESR %#lx ELR %#lx FAR %#lx, expected a data abort", sync_esr,
              sync_elr, sync_far);
    asm volatile ("adr %0, 1f; 1: ldr w1, [%1, #0xe8]" : "=&r" (at)
                  : "r" (GICD_BASE + 0xf00) : "x1", "memory");
    xtf_check(sync_count == count + 2 && EC(sync_esr) == 0x25 && sync_elr == at &&
              sync_far == GICD_BASE + GICD_ICPIDR2,
              "ICPIDR2 read: ESR %#lx ELR %#lx FAR %#lx, expected a data abort", sync_esr,
              sync_elr, sync_far);
}

/* ---- SGIs between vCPUs (--vcpus 2) ------------------------------------ */
uint8_t secondary_stack[4096] __aligned(16);
static volatile bool secondary_ready, secondary_stop;

void secondary_entry(void);
asm (".pushsection .text\n"
     ".globl secondary_entry\n"
     "secondary_entry:\n\t"
     "ldr x1, =secondary_stack + 4096\n\t"
     "mov sp, x1\n\t"
     "ldr x1, =vectors\n\t"
     "msr vbar_el1, x1\n\t"
     "isb\n\t"
     "bl secondary_main\n"
     "1:\tb 1b\n\t"
     ".ltorg\n"
     ".popsection");

void __noreturn secondary_main(void)
{
    gicc_write(GICC_PMR, 0xf8);
    gicc_write(GICC_CTLR, 1);
    gic_enable_irq(6, 0x80);
    secondary_ready = true;
    while ( !secondary_stop )
    {
        local_irq_enable();
        asm volatile ("wfi" ::: "memory");
    }
    local_irq_disable();
    smccc(PSCI_CPU_OFF, 0, 0, 0);
    panic("PSCI CPU_OFF returned on vCPU 1\n");
}

static void test_sgi_smp(void)
{
    unsigned int round;

    if ( smccc(PSCI_AFFINITY_INFO64, 1, 0, 0) < 0 )
        return;                             /* one vCPU */
    printk("Testing SGIs between vCPUs\n");
    xtf_check(smccc(PSCI_CPU_ON64, 1, (unsigned long)secondary_entry, 0) == 0, "CPU_ON vCPU 1");
    for ( int i = 0; i < 100000 && !secondary_ready; i++ )
        hypercall_sched_op(SCHEDOP_yield, NULL);
    xtf_check(secondary_ready, "vCPU 1 did not come up");
    xtf_check(gicd_read(GICD_ITARGETSR) == 0x01010101, "vCPU 0's ITARGETSR0 %#x",
              gicd_read(GICD_ITARGETSR));
    gic_enable_irq(7, 0x80);
    for ( round = 1; round <= 5; round++ )
    {
        gic_send_sgi(6, round & 1 ? SGIR_TARGET_LIST : SGIR_TARGET_OTHERS, 2);
        if ( !xtf_check(wait_irq(7, round), "round %u: no answer from vCPU 1", round) )
            break;
    }
    printk("  %u SGI round trips\n", irq_count[0][7]);
    xtf_check(irq_count[1][6] == 5 && irq_count[0][6] == 0,
              "SGI 6 reached vCPU 1 %u times and vCPU 0 %u times", irq_count[1][6],
              irq_count[0][6]);
    secondary_stop = true;
    gic_send_sgi(6, SGIR_TARGET_LIST, 2);
    for ( int i = 0; i < 100000 && smccc(PSCI_AFFINITY_INFO64, 1, 0, 0) != PSCI_AFFINITY_OFF; i++ )
        hypercall_sched_op(SCHEDOP_yield, NULL);
}

void test_main(void)
{
    local_irq_disable();
    test_distributor();
    test_sgi_self();
    test_priorities();
    test_vtimer();
    test_ptimer();
    test_el0();
    test_evtchn();
    test_bad_accesses();
    test_sgi_smp();

    if ( xtf_status() == STATUS_RUNNING )
        xtf_success(NULL);
}
