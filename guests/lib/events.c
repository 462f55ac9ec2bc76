/**
 * @file lib/events.c
 *
 * Event channels, shared_info, the upcall handler, blocking and time
 * (include/xtf/events.h).
 */
#include <xtf.h>
#include <xtf/events.h>
#include <xtf/smp.h>

/* ---- EVTCHNOP wrappers ------------------------------------------------------------ */
long evtchnop_alloc_unbound(domid_t dom, domid_t remote_dom)
{
    struct evtchn_alloc_unbound op = { .dom = dom, .remote_dom = remote_dom };
    long rc = hypercall_event_channel_op(EVTCHNOP_alloc_unbound, &op);

    return rc ?: (long)op.port;
}

long evtchnop_bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port)
{
    struct evtchn_bind_interdomain op = { .remote_dom = remote_dom,
                                          .remote_port = remote_port };
    long rc = hypercall_event_channel_op(EVTCHNOP_bind_interdomain, &op);

    return rc ?: (long)op.local_port;
}

long evtchnop_bind_virq(uint32_t virq, uint32_t vcpu)
{
    struct evtchn_bind_virq op = { .virq = virq, .vcpu = vcpu };
    long rc = hypercall_event_channel_op(EVTCHNOP_bind_virq, &op);

    return rc ?: (long)op.port;
}

long evtchnop_bind_ipi(uint32_t vcpu)
{
    struct evtchn_bind_ipi op = { .vcpu = vcpu };
    long rc = hypercall_event_channel_op(EVTCHNOP_bind_ipi, &op);

    return rc ?: (long)op.port;
}

long evtchnop_bind_pirq(uint32_t pirq)
{
    struct evtchn_bind_pirq op = { .pirq = pirq };
    long rc = hypercall_event_channel_op(EVTCHNOP_bind_pirq, &op);

    return rc ?: (long)op.port;
}

long evtchnop_bind_vcpu(evtchn_port_t port, uint32_t vcpu)
{
    struct evtchn_bind_vcpu op = { .port = port, .vcpu = vcpu };

    return hypercall_event_channel_op(EVTCHNOP_bind_vcpu, &op);
}

long evtchnop_send(evtchn_port_t port)
{
    struct evtchn_send op = { .port = port };

    return hypercall_event_channel_op(EVTCHNOP_send, &op);
}

long evtchnop_close(evtchn_port_t port)
{
    struct evtchn_close op = { .port = port };

    return hypercall_event_channel_op(EVTCHNOP_close, &op);
}

long evtchnop_unmask(evtchn_port_t port)
{
    struct evtchn_unmask op = { .port = port };

    return hypercall_event_channel_op(EVTCHNOP_unmask, &op);
}

long evtchnop_reset(domid_t dom)
{
    struct evtchn_reset op = { .dom = dom };

    return hypercall_event_channel_op(EVTCHNOP_reset, &op);
}

long evtchnop_set_priority(evtchn_port_t port, uint32_t priority)
{
    struct evtchn_set_priority op = { .port = port, .priority = priority };

    return hypercall_event_channel_op(EVTCHNOP_set_priority, &op);
}

long evtchnop_status(domid_t dom, evtchn_port_t port, struct evtchn_status *st)
{
    memset(st, 0, sizeof(*st));
    st->dom = dom;
    st->port = port;
    return hypercall_event_channel_op(EVTCHNOP_status, st);
}

/* ---- shared_info and vcpu_info ----------------------------------------------------- */
struct shared_info *shared_info;
static uint8_t shared_info_page[XEN_PAGE_SIZE] __aligned(XEN_PAGE_SIZE);

/* 64-byte aligned: a vcpu_info never straddles a page. */
struct vcpu_info xtf_vcpu_info[XTF_MAX_VCPUS] __aligned(64);

struct shared_info *map_shared_info(void)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF,
        .space = XENMAPSPACE_shared_info,
        .idx = 0,
        .gpfn = (unsigned long)shared_info_page >> XEN_PAGE_SHIFT,
    };

    if ( shared_info )
        return shared_info;
    if ( hypercall_memory_op(XENMEM_add_to_physmap, &xatp) )
        return NULL;

    shared_info = (struct shared_info *)shared_info_page;
    for ( unsigned int cpu = 0; cpu < XTF_MAX_VCPUS; cpu++ )
        if ( !xtf_cpus[cpu].vcpu_info && cpu < ARRAY_SIZE(shared_info->vcpu_info) )
            xtf_cpus[cpu].vcpu_info = &shared_info->vcpu_info[cpu];
    return shared_info;
}

struct vcpu_info *vcpu_info_of(unsigned int cpu)
{
    return cpu < XTF_MAX_VCPUS ? xtf_cpus[cpu].vcpu_info : NULL;
}

long register_vcpu_info(unsigned int cpu)
{
    unsigned long va = (unsigned long)&xtf_vcpu_info[cpu];
    struct vcpu_register_vcpu_info r = {
        .mfn = va >> XEN_PAGE_SHIFT,            /* A GFN for HVM: identity mapped. */
        .offset = va & (XEN_PAGE_SIZE - 1),
    };
    long rc = hypercall_vcpu_op(VCPUOP_register_vcpu_info, cpu, &r);

    if ( !rc )
        xtf_cpus[cpu].vcpu_info = &xtf_vcpu_info[cpu];
    return rc;
}

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
#define NR_HANDLED_PORTS 1024

static struct {
    evtchn_handler_t fn;
    void *data;
} handlers[NR_HANDLED_PORTS];

evtchn_handler_t evtchn_default_handler;

/*
 * Ports each vCPU's upcall handles (bit set = this vCPU's): a vCPU scanning
 * a bitmap word for its own selector bit must leave the other vCPUs' ports
 * to them.  Unclaimed ports are vCPU 0's.
 */
#define PORT_WORDS (NR_HANDLED_PORTS / EVTCHN_WORD_BITS)
static xen_ulong_t port_owner[XTF_MAX_VCPUS][PORT_WORDS];
static bool port_owner_init;

static void init_port_owner(void)
{
    if ( port_owner_init )
        return;
    memset(port_owner[0], 0xff, sizeof(port_owner[0]));
    port_owner_init = true;
}

void evtchn_bind_handler(evtchn_port_t port, unsigned int cpu,
                         evtchn_handler_t fn, void *data)
{
    if ( port >= NR_HANDLED_PORTS || cpu >= XTF_MAX_VCPUS )
        panic("evtchn_bind_handler(%u, %u): out of range\n", port, cpu);
    init_port_owner();
    handlers[port].fn = fn;
    handlers[port].data = data;
    for ( unsigned int c = 0; c < XTF_MAX_VCPUS; c++ )
        if ( c == cpu )
            set_bit(port, port_owner[c]);
        else
            clear_bit(port, port_owner[c]);
}

static xen_ulong_t owned_bits(unsigned int cpu, unsigned int word)
{
    if ( word < PORT_WORDS )
        return port_owner[cpu][word];
    return cpu == 0 ? ~(xen_ulong_t)0 : 0;
}

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
    struct vcpu_info *vi = c->vcpu_info;

    c->upcalls++;
    if ( c->block_armed )
        block_abort(regs);

    while ( vi && shared_info && ACCESS_ONCE(vi->evtchn_upcall_pending) )
    {
        xen_ulong_t sel;

        ACCESS_ONCE(vi->evtchn_upcall_pending) = 0;
        sel = __atomic_exchange_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);

        while ( sel )
        {
            unsigned int word = __builtin_ctzl(sel);
            xen_ulong_t bits;

            sel &= sel - 1;
            while ( (bits = ACCESS_ONCE(shared_info->evtchn_pending[word]) &
                            ~ACCESS_ONCE(shared_info->evtchn_mask[word]) &
                            owned_bits(cpu, word)) )
            {
                evtchn_port_t port = word * EVTCHN_WORD_BITS + __builtin_ctzl(bits);

                if ( !evtchn_clear_pending(port) )
                    continue;
                c->events++;
                if ( port < NR_HANDLED_PORTS && handlers[port].fn )
                    handlers[port].fn(port, handlers[port].data);
                else if ( evtchn_default_handler )
                    evtchn_default_handler(port, NULL);
            }
        }
    }

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

uint64_t hvm_get_time(void)
{
    struct xen_hvm_get_time t = { 0 };

    return hypercall_hvm_op(HVMOP_get_time, &t) ? 0 : t.now;
}

uint64_t div_u64(uint64_t n, uint32_t d, uint32_t *rem)
{
#ifdef __i386__
    uint32_t hi = n >> 32, lo = n, r;

    r = hi % d;
    hi /= d;
    asm ("divl %[d]" : "+a" (lo), "+d" (r) : [d] "rm" (d));
    if ( rem )
        *rem = r;
    return ((uint64_t)hi << 32) | lo;
#else
    if ( rem )
        *rem = n % d;
    return n / d;
#endif
}

void spin_until(uint64_t deadline)
{
    while ( xen_system_time() < deadline )
        asm volatile ("pause" ::: "memory");
}
