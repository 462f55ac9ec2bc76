/**
 * @file include/xtf/events.h
 *
 * Event channels, shared_info/vcpu_info, upcalls and Xen system time.
 *
 * - EVTCHNOP wrappers (evtchnop_*): they return the port (>= 0) or a
 *   negative Xen errno.
 * - shared_info: map_shared_info() places it on a page of the image;
 *   vcpu_info_of(cpu) is the legacy slot in it until register_vcpu_info().
 * - 2-level bitmaps: evtchn_{test,set,clear}_{pending,mask}() on the
 *   layout this guest's word size latched (64-bit in hvm64, 32-bit else).
 * - Upcalls: the library handler at XTF_EVTCHN_VECTOR scans the 2-level
 *   bitmaps, clears each pending unmasked port and calls its handler.
 *   Delivery is either the domain's callback vector (HVM_PARAM_CALLBACK_IRQ,
 *   re-injected while evtchn_upcall_pending is set) or a per-vCPU upcall
 *   vector (HVMOP_set_evtchn_upcall_vector, once per 0->1 transition; a
 *   LAPIC interrupt: where CPUID shows a LAPIC the library software-enables
 *   it and EOIs each upcall).
 * - block_while_eq(): SCHEDOP_block until a variable changes, without the
 *   lost wake-up race (see lib/events.c).
 * - Time: pvclock from vcpu_time_info, HVMOP_get_time.
 */
#ifndef XTF_EVENTS_H
#define XTF_EVENTS_H

#include <xtf/hypercall.h>
#include <xtf/smp.h>
#include <arch/regs.h>

/* Bits per word of the 2-level bitmaps and selector in this layout. */
#define EVTCHN_WORD_BITS    (sizeof(xen_ulong_t) * 8)
/* Ports the 2-level ABI can name with this layout (4096 or 1024). */
#define EVTCHN_2L_NR_PORTS  (EVTCHN_WORD_BITS * EVTCHN_WORD_BITS)

/* The vector the library's upcall handler uses (Linux's choice too); on
 * arm64 the interrupt Xen raises, the `hypervisor` node's PPI 31. */
#ifdef __aarch64__
#define XTF_EVTCHN_VECTOR   31
#else
#define XTF_EVTCHN_VECTOR   0xf3
#endif

/* Nanoseconds. */
#define NS_PER_US           1000ull
#define NS_PER_MS           1000000ull
#define NS_PER_S            1000000000ull

/* ---- EVTCHNOP wrappers -------------------------------------------------- */
long evtchnop_alloc_unbound(domid_t dom, domid_t remote_dom);
long evtchnop_bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port);
long evtchnop_bind_virq(uint32_t virq, uint32_t vcpu);
long evtchnop_bind_ipi(uint32_t vcpu);
long evtchnop_bind_pirq(uint32_t pirq);
long evtchnop_bind_vcpu(evtchn_port_t port, uint32_t vcpu);
long evtchnop_send(evtchn_port_t port);
long evtchnop_close(evtchn_port_t port);
long evtchnop_unmask(evtchn_port_t port);
long evtchnop_reset(domid_t dom);
long evtchnop_set_priority(evtchn_port_t port, uint32_t priority);
/* EVTCHNOP_status into @st (its dom and port are filled in). */
long evtchnop_status(domid_t dom, evtchn_port_t port, struct evtchn_status *st);

/* ---- shared_info and vcpu_info ------------------------------------------ */
extern struct shared_info *shared_info;     /* NULL until mapped. */

/* Map shared_info (once) over a page of the image; NULL on failure. */
struct shared_info *map_shared_info(void);

/* Where Xen writes vCPU @cpu's vcpu_info (NULL if shared_info is unmapped). */
struct vcpu_info *vcpu_info_of(unsigned int cpu);

/*
 * VCPUOP_register_vcpu_info for vCPU @cpu, to xtf_vcpu_info[cpu]; on
 * success vcpu_info_of(cpu) follows it.  Returns the hypercall's result.
 */
extern struct vcpu_info xtf_vcpu_info[];
long register_vcpu_info(unsigned int cpu);

/* ---- atomic bit operations on xen_ulong_t bitmaps ----------------------- */
static inline bool test_bit(unsigned int nr, const volatile xen_ulong_t *map)
{
    return (map[nr / EVTCHN_WORD_BITS] >> (nr % EVTCHN_WORD_BITS)) & 1;
}

static inline bool test_and_set_bit(unsigned int nr, volatile xen_ulong_t *map)
{
    xen_ulong_t mask = (xen_ulong_t)1 << (nr % EVTCHN_WORD_BITS);

    return __atomic_fetch_or(&map[nr / EVTCHN_WORD_BITS], mask,
                             __ATOMIC_SEQ_CST) & mask;
}

static inline bool test_and_clear_bit(unsigned int nr, volatile xen_ulong_t *map)
{
    xen_ulong_t mask = (xen_ulong_t)1 << (nr % EVTCHN_WORD_BITS);

    return __atomic_fetch_and(&map[nr / EVTCHN_WORD_BITS], ~mask,
                              __ATOMIC_SEQ_CST) & mask;
}

static inline void set_bit(unsigned int nr, volatile xen_ulong_t *map)
{
    test_and_set_bit(nr, map);
}

static inline void clear_bit(unsigned int nr, volatile xen_ulong_t *map)
{
    test_and_clear_bit(nr, map);
}

/* The 2-level bitmaps of the mapped shared_info. */
static inline bool evtchn_test_pending(evtchn_port_t port)
{
    return test_bit(port, shared_info->evtchn_pending);
}

static inline bool evtchn_clear_pending(evtchn_port_t port)
{
    return test_and_clear_bit(port, shared_info->evtchn_pending);
}

static inline bool evtchn_test_mask(evtchn_port_t port)
{
    return test_bit(port, shared_info->evtchn_mask);
}

static inline void evtchn_set_mask(evtchn_port_t port)
{
    set_bit(port, shared_info->evtchn_mask);
}

static inline void evtchn_clear_mask(evtchn_port_t port)
{
    clear_bit(port, shared_info->evtchn_mask);
}

/* ---- upcalls ------------------------------------------------------------- */
typedef void (*evtchn_handler_t)(evtchn_port_t port, void *data);

/*
 * Call @fn(port, data) from vCPU @cpu's upcall for each event on @port
 * (port < 1024).  Only @cpu's upcall handles @port from then on; ports
 * without a handler are vCPU 0's (evtchn_default_handler).
 */
void evtchn_bind_handler(evtchn_port_t port, unsigned int cpu,
                         evtchn_handler_t fn, void *data);

/* Called for events on ports without a handler (may be NULL). */
extern evtchn_handler_t evtchn_default_handler;

/* For the architecture's upcall entry: the 2-level scan of vCPU @cpu's
 * events (counted in struct xtf_cpu), and the port ownership set-up. */
void evtchn_scan(unsigned int cpu);
void init_port_owner(void);

/*
 * Install the upcall handler at XTF_EVTCHN_VECTOR and make it the domain's
 * callback vector (HVM_PARAM_CALLBACK_IRQ, type VECTOR).  Maps shared_info
 * if needed.  Returns the set_param result.  On arm64 the upcall is the
 * `hypervisor` node's PPI 31: this enables it in the GIC instead (0).
 */
long evtchn_setup_callback_vector(void);

#ifdef __aarch64__
/* The GIC's CPU interface and PPI 31 on the calling vCPU (a secondary vCPU
 * started with smp_start_vcpu() gets it once the upcall is set up). */
void evtchn_enable_upcall_here(void);
#endif

/*
 * Install the upcall handler and make XTF_EVTCHN_VECTOR vCPU @cpu's upcall
 * vector (HVMOP_set_evtchn_upcall_vector).  Xen raises it once right away.
 */
long evtchn_setup_upcall_vector(unsigned int cpu);

/* Upcalls taken and ports handled are counted per vCPU in struct xtf_cpu. */

/*
 * Block (SCHEDOP_block, interrupts enabled) while *p == val, i.e. until an
 * upcall handler changes it.  Restores the caller's interrupt flag.
 */
void block_while_eq(const volatile unsigned int *p, unsigned int val);

/* ---- time ------------------------------------------------------------------ */
/* Xen system time (ns) from a vcpu_time_info, by the pvclock formula. */
uint64_t pvclock_read(const volatile struct vcpu_time_info *t);

/* pvclock_read() of this vCPU's vcpu_info (arm64: the physical counter,
 * whose count is Xen's system time). */
uint64_t xen_system_time(void);

/* HVMOP_get_time (0 if it fails). */
uint64_t hvm_get_time(void);

/* n / d and n % d for 64-bit n without libgcc. */
uint64_t div_u64(uint64_t n, uint32_t d, uint32_t *rem);

/* Spin (interrupts as they are) until system time reaches @deadline. */
void spin_until(uint64_t deadline);

#endif /* XTF_EVENTS_H */
