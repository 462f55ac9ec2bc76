/**
 * @file tests/lapic/main.c
 *
 * The local APIC of a PVH domU's vCPU, as Xen's vlapic.c emulates it, from
 * the guest's side, first in xAPIC mode (the MMIO page at 0xfee00000) and
 * then in x2APIC mode (MSRs 0x800-0x8ff):
 *
 * - ID, version, the software enable in SVR, TPR and PPR, LDR;
 * - self-IPIs taken in priority order, one priority class at a time (ISR),
 *   a higher class nesting, TPR holding a lower class back, EOI;
 * - ESR for an illegal vector, a self NMI;
 * - the timer: one-shot (counting down in TMCCT), periodic, masked, and
 *   TSC-deadline;
 * - the x2APIC MSRs' #GP rules and the APIC_BASE mode switches;
 * - with two vCPUs or more (--vcpus 2): a fixed IPI by physical APIC ID wakes
 *   vCPU 1 from hlt, and its reply by APIC ID 0 reaches vCPU 0, in each mode.
 */
#include <xtf.h>
#include <xtf/smp.h>

const char test_title[] = "Local APIC";

#define APIC_BASE_GPA   0xfee00000u
#define APIC_ID         0x20
#define APIC_LVR        0x30
#define APIC_TASKPRI    0x80
#define APIC_PROCPRI    0xa0
#define APIC_EOI        0xb0
#define APIC_LDR        0xd0
#define APIC_SPIV       0xf0
#define APIC_ISR        0x100
#define APIC_IRR        0x200
#define APIC_ESR        0x280
#define APIC_ICR        0x300
#define APIC_ICR2       0x310
#define APIC_LVTT       0x320
#define APIC_LVTERR     0x370
#define APIC_TMICT      0x380
#define APIC_TMCCT      0x390
#define APIC_TDCR       0x3e0
#define APIC_SELF_IPI   0x3f0

#define SPIV_ENABLE     (1u << 8)
#define LVT_MASKED      (1u << 16)
#define TIMER_PERIODIC  (1u << 17)
#define TIMER_TSC_DL    (2u << 17)
#define ICR_SELF        (1u << 18)
#define DM_NMI          0x400
#define ESR_SENDILL     (1u << 5)
#define MSR_X2APIC(reg) (0x800 + ((reg) >> 4))
#define MSR_TSC_DEADLINE 0x6e0

static unsigned int x2apic;          /* the mode the accessors use */
static uint32_t tsc_khz;

static volatile uint32_t *apic_mmio(unsigned int reg)
{
    return (volatile uint32_t *)(unsigned long)(APIC_BASE_GPA + reg);
}

static uint32_t apic_read(unsigned int reg)
{
    return x2apic ? (uint32_t)rdmsr(MSR_X2APIC(reg)) : *apic_mmio(reg);
}

static void apic_write(unsigned int reg, uint32_t val)
{
    if ( x2apic )
        wrmsr(MSR_X2APIC(reg), val);
    else
        *apic_mmio(reg) = val;
}

static void self_ipi(uint32_t low)
{
    if ( x2apic )
        wrmsr(MSR_X2APIC(APIC_ICR), ICR_SELF | low);
    else
    {
        *apic_mmio(APIC_ICR2) = 0;
        *apic_mmio(APIC_ICR) = ICR_SELF | low;
    }
}

static bool irr_has(unsigned int vec)
{
    return apic_read(APIC_IRR + 0x10 * (vec / 32)) & (1u << (vec % 32));
}

static bool isr_has(unsigned int vec)
{
    return apic_read(APIC_ISR + 0x10 * (vec / 32)) & (1u << (vec % 32));
}

/* ---- interrupt log ---------------------------------------------------------------------- */
static volatile unsigned int log_len;
static volatile uint8_t log_vec[32];
static volatile unsigned int nested_vec;      /* sent by the handler of 0x90 */

static void log_irq(unsigned int vec)
{
    if ( log_len < ARRAY_SIZE(log_vec) )
        log_vec[log_len] = vec;
    log_len++;
}

static void handler(struct cpu_regs *regs)
{
    unsigned int vec = regs->entry_vector & 0xff;

    log_irq(vec);
    xtf_check(isr_has(vec), "vector %#x not in service in its handler", vec);
    if ( vec == 0x90 && nested_vec )
    {
        /* A same-class vector waits for our EOI, a higher class nests. */
        self_ipi(0x95);
        self_ipi(0xa0);
        asm volatile ("sti; nop; nop; cli" ::: "memory");
        log_irq(0xff);              /* marks "0x90 resumed" */
        nested_vec = 0;
    }
    apic_write(APIC_EOI, 0);
}

static void timer_handler(struct cpu_regs *regs)
{
    log_irq(regs->entry_vector & 0xff);
    apic_write(APIC_EOI, 0);
}

static volatile unsigned int nmis;

static bool nmi_hook(struct cpu_regs *regs)
{
    if ( regs->entry_vector != X86_EXC_NMI )
        return false;
    nmis++;
    return true;
}

static void log_reset(void)
{
    log_len = 0;
}

static void check_log(const char *what, const uint8_t *exp, unsigned int n)
{
    bool ok = log_len == n;

    for ( unsigned int i = 0; ok && i < n; i++ )
        ok = log_vec[i] == exp[i];
    if ( !xtf_check(ok, "%s: %u interrupts logged, expected %u", what, log_len, n) )
        for ( unsigned int i = 0; i < log_len && i < ARRAY_SIZE(log_vec); i++ )
            printk("  got %#x\n", log_vec[i]);
}

static void wait_us(unsigned int us)
{
    uint64_t end = rdtsc() + (uint64_t)(tsc_khz / 1000) * us;

    while ( rdtsc() < end )
        asm volatile ("sti; nop; cli" ::: "memory");
}

/* Block with interrupts enabled until @n interrupts are logged (or 50 ms). */
static void wait_for_irqs(unsigned int n)
{
    uint64_t end = rdtsc() + (uint64_t)tsc_khz * 50;

    while ( log_len < n && rdtsc() < end )
        asm volatile ("sti; hlt; cli" ::: "memory");
}

/* ---- tests ------------------------------------------------------------------------------ */
static void test_registers(void)
{
    uint32_t id = apic_read(APIC_ID), lvr = apic_read(APIC_LVR);

    xtf_check_eq("APIC ID (vCPU 0)", x2apic ? id : id >> 24, 0);
    xtf_check_eq("version", lvr & 0xff, 0x14);
    xtf_check_eq("max LVT entry", (lvr >> 16) & 0xff, 5);
    if ( x2apic )
        xtf_check_eq("x2APIC LDR (cluster 0, bit 0)", apic_read(APIC_LDR), 1);

    apic_write(APIC_SPIV, 0xff);
    xtf_check_eq("SVR, software disabled", apic_read(APIC_SPIV), 0xff);
    self_ipi(0x40);
    xtf_check(!irr_has(0x40), "fixed IPI accepted by a software-disabled APIC");
    apic_write(APIC_SPIV, SPIV_ENABLE | 0xff);
    xtf_check_eq("SVR, software enabled", apic_read(APIC_SPIV), SPIV_ENABLE | 0xff);

    apic_write(APIC_TASKPRI, 0x35);
    xtf_check_eq("TPR", apic_read(APIC_TASKPRI), 0x35);
    xtf_check_eq("PPR follows TPR with nothing in service", apic_read(APIC_PROCPRI), 0x35);
    apic_write(APIC_TASKPRI, 0);
}

static void test_priorities(void)
{
    static const uint8_t order[] = { 0x9f, 0x90, 0x61, 0x40 };
    static const uint8_t nesting[] = { 0x90, 0xa0, 0xff, 0x95 };
    static const uint8_t tpr_order[] = { 0x65, 0x45 };

    for ( unsigned int v = 0x40; v <= 0xa0; v++ )
        xtf_irq_handlers[v] = handler;

    /* Four vectors pending at once are taken highest first. */
    log_reset();
    self_ipi(0x40);
    self_ipi(0x90);
    if ( x2apic )
        wrmsr(MSR_X2APIC(APIC_SELF_IPI), 0x61);
    else
        self_ipi(0x61);
    self_ipi(0x9f);
    xtf_check(irr_has(0x40) && irr_has(0x61) && irr_has(0x90) && irr_has(0x9f),
              "self-IPIs not pending in IRR");
    asm volatile ("sti; nop; nop; cli" ::: "memory");
    check_log("priority order", order, ARRAY_SIZE(order));
    xtf_check(!irr_has(0x40) && !isr_has(0x40), "0x40 still pending or in service");

    /* Within 0x90's handler: 0xa0 nests, 0x95 waits for the EOI. */
    log_reset();
    nested_vec = 1;
    self_ipi(0x90);
    asm volatile ("sti; nop; nop; cli" ::: "memory");
    check_log("nesting by priority class", nesting, ARRAY_SIZE(nesting));

    /* TPR holds a lower class back until it is lowered. */
    log_reset();
    apic_write(APIC_TASKPRI, 0x50);
    self_ipi(0x45);
    self_ipi(0x65);
    asm volatile ("sti; nop; nop; cli" ::: "memory");
    xtf_check(irr_has(0x45), "vector 0x45 not held back by TPR 0x50");
    apic_write(APIC_TASKPRI, 0);
    asm volatile ("sti; nop; nop; cli" ::: "memory");
    check_log("TPR masking", tpr_order, ARRAY_SIZE(tpr_order));

    xtf_check_eq("PPR after every EOI", apic_read(APIC_PROCPRI), 0);
}

static void test_errors_and_nmi(void)
{
    apic_write(APIC_ESR, 0);
    self_ipi(0x05);                          /* an illegal vector */
    apic_write(APIC_ESR, 0);                 /* latches the errors */
    xtf_check_eq("ESR after an illegal vector", apic_read(APIC_ESR), ESR_SENDILL);
    apic_write(APIC_ESR, 0);
    xtf_check_eq("ESR cleared", apic_read(APIC_ESR), 0);

    xtf_exception_hook = nmi_hook;
    nmis = 0;
    self_ipi(DM_NMI);
    asm volatile ("nop; nop" ::: "memory");  /* an NMI ignores IF */
    wait_us(100);
    xtf_check_eq("self NMI taken", nmis, 1);
    xtf_exception_hook = NULL;
}

static void test_timer(void)
{
    static const uint8_t one[] = { 0x70 };
    uint32_t c1, c2;

    xtf_irq_handlers[0x70] = timer_handler;
    xtf_irq_handlers[0x71] = timer_handler;
    xtf_irq_handlers[0x72] = timer_handler;

    /* One-shot, divide by 1: 1 ms. */
    log_reset();
    apic_write(APIC_TDCR, 0xb);
    apic_write(APIC_LVTT, 0x70);
    apic_write(APIC_TMICT, 1000000);
    c1 = apic_read(APIC_TMCCT);
    c2 = apic_read(APIC_TMCCT);
    xtf_check(c1 && c1 <= 1000000 && c2 <= c1, "one-shot TMCCT %u then %u", c1, c2);
    xtf_check_eq("TMICT reads back", apic_read(APIC_TMICT), 1000000);
    wait_for_irqs(1);
    wait_us(2000);
    check_log("one-shot timer", one, 1);
    xtf_check_eq("one-shot TMCCT after expiry", apic_read(APIC_TMCCT), 0);

    /* Periodic, divide by 2: 200 us periods, over about 2 ms. */
    log_reset();
    apic_write(APIC_TDCR, 0x0);
    apic_write(APIC_LVTT, TIMER_PERIODIC | 0x71);
    apic_write(APIC_TMICT, 100000);
    wait_for_irqs(4);
    xtf_check(log_len >= 4, "periodic timer: %u ticks", log_len);
    xtf_check(log_vec[0] == 0x71 && log_vec[3] == 0x71, "periodic timer vector");
    xtf_check(apic_read(APIC_TMCCT) <= 100000, "periodic TMCCT %u", apic_read(APIC_TMCCT));

    /* Masked: it runs on, and nothing is raised. */
    apic_write(APIC_LVTT, LVT_MASKED | TIMER_PERIODIC | 0x71);
    wait_us(300);
    log_reset();
    wait_us(1000);
    xtf_check_eq("masked periodic timer raises nothing", log_len, 0);
    apic_write(APIC_TMICT, 0);

    /* TSC-deadline: 1 ms ahead, then one in the past. */
    log_reset();
    apic_write(APIC_LVTT, TIMER_TSC_DL | 0x72);
    xtf_check_eq("TMICT in TSC-deadline mode", apic_read(APIC_TMICT), 0);
    {
        uint64_t dl = rdtsc() + tsc_khz;

        wrmsr(MSR_TSC_DEADLINE, dl);
        xtf_check_eq("TSC_DEADLINE reads back", rdmsr(MSR_TSC_DEADLINE), dl);
        wait_for_irqs(1);
        xtf_check_eq("TSC-deadline timer fired", log_len, 1);
        xtf_check(rdtsc() >= dl, "TSC-deadline timer fired early");
        xtf_check_eq("TSC_DEADLINE after expiry", rdmsr(MSR_TSC_DEADLINE), 0);
        wrmsr(MSR_TSC_DEADLINE, 1);
        wait_for_irqs(2);
        xtf_check_eq("TSC deadline in the past fires", log_len, 2);
    }
    apic_write(APIC_LVTT, LVT_MASKED);
}

static void test_x2apic_rules(void)
{
    uint64_t val;

    xtf_check_exinfo("rdmsr x2APIC EOI (write only)", rdmsr_safe(MSR_X2APIC(APIC_EOI), &val),
                     EXINFO_SYM(GP, 0));
    xtf_check_exinfo("wrmsr x2APIC version (read only)",
                     wrmsr_safe(MSR_X2APIC(APIC_LVR), 0), EXINFO_SYM(GP, 0));
    xtf_check_exinfo("wrmsr x2APIC EOI, non-zero", wrmsr_safe(MSR_X2APIC(APIC_EOI), 1),
                     EXINFO_SYM(GP, 0));
    xtf_check_exinfo("wrmsr x2APIC TPR, reserved bits",
                     wrmsr_safe(MSR_X2APIC(APIC_TASKPRI), 0x100), EXINFO_SYM(GP, 0));
    xtf_check_exinfo("rdmsr x2APIC ICR2 (none in x2APIC)", rdmsr_safe(0x831, &val),
                     EXINFO_SYM(GP, 0));
    xtf_check_eq("xAPIC page in x2APIC mode (null handler)", *apic_mmio(APIC_ID),
                 0xffffffffu);
    xtf_check_exinfo("APIC_BASE: x2APIC straight back to xAPIC",
                     wrmsr_safe(MSR_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_BSP |
                                APIC_BASE_ENABLE), EXINFO_SYM(GP, 0));
}

static void test_apic_base(void)
{
    uint64_t val;

    xtf_check_exinfo("x2APIC MSR in xAPIC mode", rdmsr_safe(MSR_X2APIC(APIC_ID), &val),
                     EXINFO_SYM(GP, 0));
    xtf_check_exinfo("APIC_BASE: moving the xAPIC window",
                     wrmsr_safe(MSR_APIC_BASE, 0xfed00000u | APIC_BASE_BSP | APIC_BASE_ENABLE),
                     EXINFO_SYM(GP, 0));
    xtf_check_exinfo("APIC_BASE: reserved bit",
                     wrmsr_safe(MSR_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_BSP |
                                APIC_BASE_ENABLE | 1), EXINFO_SYM(GP, 0));

    /* Disabled: the page is a hole; enabled again: reset (SVR 0xff). */
    wrmsr(MSR_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_BSP);
    xtf_check_eq("xAPIC page with the APIC disabled", *apic_mmio(APIC_SPIV), 0xffffffffu);
    wrmsr(MSR_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_BSP | APIC_BASE_ENABLE);
    xtf_check_eq("SVR after re-enabling", *apic_mmio(APIC_SPIV), 0xff);
}

/* ---- IPIs between vCPUs ------------------------------------------------------------------ */
#define IPI_TO_AP   0xb0
#define IPI_TO_BSP  0xb1

static volatile unsigned int ap_go, ap_ready, ap_got;

static void ap_handler(struct cpu_regs *regs)
{
    if ( smp_processor_id() == 1 )
        ap_got++;
    else
        log_irq(regs->entry_vector & 0xff);
    apic_write(APIC_EOI, 0);
}

/* vCPU 1: one round per APIC mode, following vCPU 0's. */
static void ap_main(unsigned int cpu)
{
    for ( unsigned int round = 1; round <= 2; round++ )
    {
        while ( ap_go < round )
            asm volatile ("pause" ::: "memory");
        if ( x2apic && !(rdmsr(MSR_APIC_BASE) & APIC_BASE_EXTD) )
            wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EXTD);
        apic_write(APIC_SPIV, SPIV_ENABLE | 0xff);
        ap_got = 0;
        ap_ready = round;
        while ( !ap_got )
            asm volatile ("sti; hlt; cli" ::: "memory");
        /* Reply to APIC ID 0 (vCPU 0). */
        if ( x2apic )
            wrmsr(MSR_X2APIC(APIC_ICR), IPI_TO_BSP);
        else
        {
            *apic_mmio(APIC_ICR2) = 0;
            *apic_mmio(APIC_ICR) = IPI_TO_BSP;
        }
    }
}

static void test_ipis(void)
{
    static const uint8_t reply[] = { IPI_TO_BSP };
    long rc;

    xtf_irq_handlers[IPI_TO_AP] = ap_handler;
    xtf_irq_handlers[IPI_TO_BSP] = ap_handler;
    log_reset();
    if ( !ap_go )
    {
        rc = smp_start_vcpu(1, ap_main);
        if ( !xtf_check_rc("start vCPU 1", rc, 0) )
            return;
    }
    ap_go++;
    while ( ap_ready != ap_go )
        asm volatile ("pause" ::: "memory");
    wait_us(200);                          /* vCPU 1 is in hlt by now */
    if ( x2apic )
        wrmsr(MSR_X2APIC(APIC_ICR), (2ull << 32) | IPI_TO_AP);
    else
    {
        *apic_mmio(APIC_ICR2) = 2u << 24;  /* vCPU 1's APIC ID */
        *apic_mmio(APIC_ICR) = IPI_TO_AP;
    }
    wait_for_irqs(1);
    xtf_check_eq("IPI taken by vCPU 1", ap_got, 1);
    check_log("reply IPI from vCPU 1", reply, ARRAY_SIZE(reply));
}

void test_main(void)
{
    if ( !(cpuid_edx(1) & X86_FEAT_1D_APIC) )
        return xtf_skip("Skip: no local APIC in CPUID\n");
    tsc_khz = cpuid_ecx(xen_cpuid_base + 3);

    printk("Testing xAPIC mode\n");
    test_apic_base();
    test_registers();
    test_priorities();
    test_errors_and_nmi();
    test_timer();
    if ( smp_nr_vcpus() > 1 )
        test_ipis();

    if ( !(cpuid_ecx(1) & X86_FEAT_1C_X2APIC) )
        return xtf_skip("Skip: no x2APIC in CPUID\n");
    printk("Testing x2APIC mode\n");
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EXTD);
    x2apic = 1;
    test_registers();
    test_priorities();
    test_errors_and_nmi();
    test_timer();
    if ( smp_nr_vcpus() > 1 )
    {
        printk("Testing IPIs between vCPUs\n");
        test_ipis();
    }
    test_x2apic_rules();

    xtf_success(NULL);
}
