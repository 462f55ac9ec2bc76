/**
 * @file arch/arm64/include/arch/traps.h
 *
 * Synchronous exceptions taken to the guest's VBAR_EL1 (arch/arm64/head.S).
 */
#ifndef XTF_ARM64_TRAPS_H
#define XTF_ARM64_TRAPS_H

#include <xtf/types.h>

/* The registers head.S saves on exception entry. */
struct cpu_regs {
    uint64_t x[31];
    uint64_t sp, elr, spsr, esr, far;
};

/* Called for every synchronous exception; the default panics (but for
 * access_faults()'s access). */
void do_sync_exception(struct cpu_regs *regs);

/* Does a 32-bit load (or a store of 0, @write) at @p abort?  (Only with the
 * default do_sync_exception.) */
bool access_faults(volatile uint32_t *p, bool write);

/* Called for every IRQ (from EL1 or EL0); the default acknowledges it and
 * runs xtf_irq_handlers[INTID] (it panics if there is none). */
void do_irq(struct cpu_regs *regs);

#define NR_XTF_IRQS 64
typedef void (*xtf_irq_handler_t)(struct cpu_regs *regs);
extern xtf_irq_handler_t xtf_irq_handlers[NR_XTF_IRQS];

#endif /* XTF_ARM64_TRAPS_H */
