/**
 * @file arch/arm64/include/arch/lib.h
 */
#ifndef XTF_ARM64_LIB_H
#define XTF_ARM64_LIB_H

#include <xtf/compiler.h>
#include <arch/traps.h>

/* IRQs on/off (PSTATE.I), and taking one that is pending now: the CPU
 * takes it at the unmask. */
static inline void local_irq_enable(void)
{
    asm volatile ("msr daifclr, #2" ::: "memory");
}

static inline void local_irq_disable(void)
{
    asm volatile ("msr daifset, #2" ::: "memory");
}

static inline void take_pending_irq(void)
{
    asm volatile ("msr daifclr, #2; isb; msr daifset, #2" ::: "memory");
}

/* Wait for interrupts forever (Xen blocks the vCPU at each wfi). */
static inline void __noreturn halt_forever(void)
{
    for ( ;; )
        asm volatile ("wfi");
}

#endif /* XTF_ARM64_LIB_H */
