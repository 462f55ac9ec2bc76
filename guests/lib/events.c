/**
 * @file lib/events.c
 *
 * Event channels, shared_info and vcpu_info, the upcall's 2-level scan
 * (include/xtf/events.h); how upcalls arrive, blocking and time are the
 * architecture's (arch/x86/events.c, arch/arm64/events.c).
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

void init_port_owner(void)
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
 * The 2-level scan of an upcall on vCPU @cpu: while evtchn_upcall_pending,
 * clear it and the selector, then each pending unmasked port this vCPU
 * owns, calling its handler (the architecture's upcall entry calls this).
 */
void evtchn_scan(unsigned int cpu)
{
    struct xtf_cpu *c = &xtf_cpus[cpu];
    struct vcpu_info *vi = c->vcpu_info;

    c->upcalls++;
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
}

/* ---- time -------------------------------------------------------------------------- */

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

