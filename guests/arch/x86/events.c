/**
 * @file arch/x86/events.c
 *
 * How event channel upcalls reach an x86 HVM guest (include/xtf/events.h):
 * the callback vector or a per-vCPU upcall vector through the IDT (and the
 * local APIC's EOI), blocking with the lost wake-up race closed, and Xen
 * system time from pvclock.
 */
#include <xtf.h>
#include <xtf/events.h>
#include <xtf/smp.h>

/* ---- the local APIC (only where CPUID shows one) ------------------------------------- */
#define APIC_EOI        0xb0
#define APIC_SVR        0xf0
#define  APIC_SVR_ENABLE (1u << 8)
#define MSR_X2APIC_EOI  0x80b
#define MSR_X2APIC_SVR  0x80f

/* 0: no APIC, 1: xAPIC, 2: x2APIC; latched when an upcall vector is set. */
static unsigned int apic_mode;

static bool apic_present(void)
{
    return cpuid_edx(1) & X86_FEAT_1D_APIC;
}

static volatile uint32_t *apic_reg(unsigned int reg)
{
    return (volatile uint32_t *)(unsigned long)(APIC_DEFAULT_BASE + reg);
}

/* A per-vCPU upcall vector is a LAPIC interrupt: software-enable the APIC. */
static void apic_sw_enable(void)
{
    apic_mode = (rdmsr(MSR_APIC_BASE) & APIC_BASE_EXTD) ? 2 : 1;
    if ( apic_mode == 2 )
        wrmsr(MSR_X2APIC_SVR, rdmsr(MSR_X2APIC_SVR) | APIC_SVR_ENABLE | 0xff);
    else
        *apic_reg(APIC_SVR) |= APIC_SVR_ENABLE | 0xff;
}

static void apic_eoi(void)
{
    if ( apic_mode == 2 )
        wrmsr(MSR_X2APIC_EOI, 0);
    else
        *apic_reg(APIC_EOI) = 0;
}

/* ---- the upcall ------------------------------------------------------------------- */
/*
 * block_while_eq()'s critical section, in lib/events.c's block_once(): from
 * xtf_block_begin (the test of the condition) to the hypercall's trap.  An
 * upcall landing there must not let the vCPU block after the handler
 * changed the condition: it resumes at xtf_block_end instead, i.e. skips
 * the hypercall.  Inside the sched_op stub it resumes at a bare `ret`
 * (the stub pushes nothing), back to xtf_block_end.
 */
extern const char xtf_block_begin[], xtf_block_end[], xtf_block_ret[];

asm (".pushsection .text, \"ax\", @progbits\n\t"
     ".globl xtf_block_ret\n"
     "xtf_block_ret: ret\n\t"
     ".popsection");

static void block_abort(struct cpu_regs *regs)
{
    unsigned long slot = (unsigned long)hypercall_page +
                         __HYPERVISOR_sched_op * HYPERCALL_PAGE_SLOT_SIZE;

    if ( regs->ip >= (unsigned long)xtf_block_begin &&
         regs->ip < (unsigned long)xtf_block_end )
        regs->ip = (unsigned long)xtf_block_end;
    else if ( regs->ip >= slot && regs->ip < slot + HYPERCALL_PAGE_SLOT_SIZE )
        regs->ip = (unsigned long)xtf_block_ret;
}

static void evtchn_upcall(struct cpu_regs *regs)
{
    unsigned int cpu = smp_processor_id();
    struct xtf_cpu *c = &xtf_cpus[cpu];

    if ( c->block_armed )
        block_abort(regs);
    evtchn_scan(cpu);
    if ( c->upcall_vector && apic_mode )
        apic_eoi();
}

long evtchn_setup_callback_vector(void)
{
    if ( !map_shared_info() )
        return -EFAULT;
    init_port_owner();
    xtf_irq_handlers[XTF_EVTCHN_VECTOR] = evtchn_upcall;
    return hvm_set_param(HVM_PARAM_CALLBACK_IRQ,
                         ((uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR <<
                          HVM_PARAM_CALLBACK_IRQ_TYPE_SHIFT) | XTF_EVTCHN_VECTOR);
}

long evtchn_setup_upcall_vector(unsigned int cpu)
{
    struct xen_hvm_evtchn_upcall_vector uv = { .vcpu = cpu,
                                               .vector = XTF_EVTCHN_VECTOR };

    if ( !map_shared_info() )
        return -EFAULT;
    init_port_owner();
    xtf_irq_handlers[XTF_EVTCHN_VECTOR] = evtchn_upcall;
    if ( apic_present() && cpu == smp_processor_id() )
        apic_sw_enable();
    xtf_cpus[cpu].upcall_vector = true;
    return hypercall_hvm_op(HVMOP_set_evtchn_upcall_vector, &uv);
}

/* ---- blocking ----------------------------------------------------------------------- */

/*
 * One SCHEDOP_block unless *p != val, with the test and the hypercall in one
 * asm statement so that evtchn_upcall() can tell where it interrupted it.
 * noipa: exactly one copy of the labels.
 */
static __attribute__((noipa)) void block_once(const volatile unsigned int *p,
                                              unsigned int val)
{
    long res, ign1, ign2;

    asm volatile (".globl xtf_block_begin, xtf_block_end\n"
                  "xtf_block_begin:\n\t"
                  "cmpl %[val], %[mem]\n\t"
                  "jne xtf_block_end\n\t"
                  "call hypercall_page + %c[off]\n"
                  "xtf_block_end:\n\t"
#ifdef __x86_64__
                  : "=a" (res), "=D" (ign1), "=S" (ign2)
#else
                  : "=a" (res), "=b" (ign1), "=c" (ign2)
#endif
                  : [val] "r" (val), [mem] "m" (*p),
                    [off] "i" (__HYPERVISOR_sched_op * HYPERCALL_PAGE_SLOT_SIZE),
                    "1" ((long)SCHEDOP_block), "2" (0L)
                  : "memory");
}

void block_while_eq(const volatile unsigned int *p, unsigned int val)
{
    struct xtf_cpu *c = this_cpu();
    unsigned long flags = read_flags();

    while ( *p == val )
    {
        c->block_armed = 1;
        barrier();
        asm volatile ("sti" ::: "memory");
        block_once(p, val);
        c->block_armed = 0;
        barrier();
    }
    if ( !(flags & X86_EFLAGS_IF) )
        asm volatile ("cli" ::: "memory");
}

/* ---- time -------------------------------------------------------------------------- */

/* (a * mul) >> 32 for a 64-bit a, with 32x32 multiplies only. */
static uint64_t mul_u64_u32_shr32(uint64_t a, uint32_t mul)
{
    uint64_t lo = (uint64_t)(uint32_t)a * mul;
    uint64_t hi = (uint64_t)(uint32_t)(a >> 32) * mul;

    return hi + (lo >> 32);
}

uint64_t pvclock_read(const volatile struct vcpu_time_info *t)
{
    uint32_t version, mul;
    uint64_t tsc_timestamp, system_time, delta;
    int8_t shift;

    do {
        version = t->version;
        barrier();
        tsc_timestamp = t->tsc_timestamp;
        system_time = t->system_time;
        mul = t->tsc_to_system_mul;
        shift = t->tsc_shift;
        delta = rdtsc() - tsc_timestamp;
        barrier();
    } while ( (version & 1) || version != t->version );

    if ( shift >= 0 )
        delta <<= shift;
    else
        delta >>= -shift;
    return system_time + mul_u64_u32_shr32(delta, mul);
}

uint64_t xen_system_time(void)
{
    struct vcpu_info *vi = this_cpu()->vcpu_info;

    if ( !vi )
        panic("xen_system_time(): no vcpu_info (map shared_info first)\n");
    return pvclock_read(&vi->time);
}

void spin_until(uint64_t deadline)
{
    while ( xen_system_time() < deadline )
        asm volatile ("pause" ::: "memory");
}
