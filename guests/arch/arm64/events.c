/**
 * @file arch/arm64/events.c
 *
 * How event channel upcalls reach an arm64 guest (include/xtf/events.h):
 * the `hypervisor` node's PPI 31 on the GIC (Xen raises it on each 0 -> 1
 * transition of evtchn_upcall_pending), blocking as Linux on Arm does
 * (IRQs masked while testing, SCHEDOP_block, which clears PSTATE.I on Xen
 * on Arm, takes the upcall on return), and Xen system time from the
 * physical counter.
 */
#include <xtf.h>
#include <xtf/events.h>
#include <xtf/smp.h>
#include <arch/gic.h>

static void evtchn_irq(struct cpu_regs *regs)
{
    evtchn_scan(smp_processor_id());
}

/* The GIC's CPU interface and PPI 31 on this vCPU (banked per vCPU). */
void evtchn_enable_upcall_here(void)
{
    gic_init_cpu();
    gic_enable_irq(XTF_EVTCHN_VECTOR, 0xa0);
}

long evtchn_setup_callback_vector(void)
{
    if ( !map_shared_info() )
        return -EFAULT;
    init_port_owner();
    xtf_irq_handlers[XTF_EVTCHN_VECTOR] = evtchn_irq;
    evtchn_enable_upcall_here();
    return 0;
}

void block_while_eq(const volatile unsigned int *p, unsigned int val)
{
    unsigned long daif = read_sysreg(daif);

    for ( ;; )
    {
        local_irq_disable();
        if ( *p != val )
            break;
        hypercall_sched_op(SCHEDOP_block, NULL);
    }
    write_sysreg(daif, daif);
}

uint64_t xen_system_time(void)
{
    uint64_t cnt = read_sysreg(cntpct_el0), frq = read_sysreg(cntfrq_el0);

    return cnt / frq * 1000000000ull + (cnt % frq) * 1000000000ull / frq;
}

void spin_until(uint64_t deadline)
{
    while ( xen_system_time() < deadline )
        asm volatile ("yield" ::: "memory");
}
