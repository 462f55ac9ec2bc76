/**
 * @file arch/arm64/setup.c
 *
 * The arm64 environment: Xen's version (Xen is always there: an Arm domain
 * is entered by Xen's domain builder), the boot stack, and the default
 * synchronous exception handler.
 */
#include <xtf.h>
#include <arch/setup.h>
#include <arch/el0.h>
#include <arch/gic.h>
#include <xtf/ctl.h>

bool xen_present;
uint32_t xen_cpuid_base;
unsigned int xen_major, xen_minor;
uint64_t arm64_dtb_pa;

uint8_t boot_stack[16384] __aligned(16);
asm (".globl boot_stack_top; .set boot_stack_top, boot_stack + 16384");

void arch_setup(void)
{
    long v = hypercall_xen_version(XENVER_version, NULL);

    xen_present = true;
    xen_major = v >> 16;
    xen_minor = v & 0xffff;
}

/* The access access_faults() is making, and whether it aborted. */
static volatile unsigned long probe_pc;
static volatile bool probe_faulted;

bool access_faults(volatile uint32_t *p, bool write)
{
    probe_faulted = false;
    if ( write )
        asm volatile ("adr x9, 1f; str x9, %[pc]; 1: str wzr, [%[p]]"
                      : [pc] "=m" (probe_pc) : [p] "r" (p) : "x9", "memory");
    else
        asm volatile ("adr x9, 1f; str x9, %[pc]; 1: ldr w9, [%[p]]"
                      : [pc] "=m" (probe_pc) : [p] "r" (p) : "x9", "memory");
    probe_pc = 0;
    return probe_faulted;
}

void __attribute__((weak)) do_sync_exception(struct cpu_regs *regs)
{
    if ( probe_pc && regs->elr == probe_pc )
    {
        probe_faulted = true;
        regs->elr += 4;
        return;
    }
    panic("Unhandled synchronous exception: ESR %#lx (EC %#lx) at %#lx, FAR %#lx\n",
          regs->esr, regs->esr >> 26, regs->elr, regs->far);
}

void arm64_unexpected_vector(unsigned long esr, unsigned long elr)
{
    panic("Unexpected exception vector: ESR %#lx at %#lx\n", esr, elr);
}

xtf_irq_handler_t xtf_irq_handlers[NR_XTF_IRQS];

/* Acknowledge, run the interrupt's handler, end it (a test may have its own). */
void __attribute__((weak)) do_irq(struct cpu_regs *regs)
{
    uint32_t iar = gicc_read(GICC_IAR);
    unsigned int irq = iar & 0x3ff;

    if ( irq == GIC_SPURIOUS )
        return;
    if ( irq >= NR_XTF_IRQS || !xtf_irq_handlers[irq] )
        panic("Unhandled IRQ %u at %#lx (SPSR %#lx)\n", irq, regs->elr, regs->spsr);
    xtf_irq_handlers[irq](regs);
    gicc_write(GICC_EOIR, iar);
}

/* Our domid: the remote end Xen records for an unbound port offered to DOMID_SELF. */
domid_t self_domid(void)
{
    struct evtchn_alloc_unbound op = { .dom = DOMID_SELF, .remote_dom = DOMID_SELF };
    struct evtchn_status st = { .dom = DOMID_SELF };
    struct evtchn_close cl;
    domid_t self = DOMID_SELF;

    if ( hypercall_event_channel_op(EVTCHNOP_alloc_unbound, &op) )
        return self;
    st.port = cl.port = op.port;
    if ( !hypercall_event_channel_op(EVTCHNOP_status, &st) )
        self = st.u.unbound.dom;
    hypercall_event_channel_op(EVTCHNOP_close, &cl);
    return self;
}

unsigned long el1_resume;
uint8_t el0_stack[EL0_STACK_SIZE] __aligned(16);
