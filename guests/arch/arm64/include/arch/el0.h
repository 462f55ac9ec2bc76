/**
 * @file arch/arm64/include/arch/el0.h
 *
 * Running a few instructions at EL0 (EL0t, on el0_stack) from EL1: the
 * exception that ends them comes back to EL1 at the continuation when the
 * handler calls el0_return().
 */
#ifndef XTF_ARM64_EL0_H
#define XTF_ARM64_EL0_H

#include <xtf/types.h>
#include <arch/traps.h>

#define EL0_STACK_SIZE 4096
extern unsigned long el1_resume;
extern uint8_t el0_stack[EL0_STACK_SIZE];

/* Run @insns in a loop at EL0 with PSTATE.DAIF = @daif (0x3c0: all masked). */
#define RUN_AT_EL0(daif, insns)                                         \
    asm volatile ("adr x0, 1f\n\t"                                      \
                  "msr elr_el1, x0\n\t"                                 \
                  "mov x0, #" #daif "\n\t"                              \
                  "msr spsr_el1, x0\n\t"                                \
                  "msr sp_el0, %[stack]\n\t"                            \
                  "adr x0, 2f\n\t"                                      \
                  "str x0, [%[resume]]\n\t"                             \
                  "eret\n"                                              \
                  "1:\t" insns "\n\t"                                   \
                  "b 1b\n"                                              \
                  "2:\n\t"                                              \
                  :: [stack] "r" (el0_stack + EL0_STACK_SIZE),          \
                     [resume] "r" (&el1_resume)                         \
                  : "x0", "x1", "memory")

/* From an exception handler: if it came from EL0, go back to EL1h (DAIF
 * masked) at RUN_AT_EL0's continuation and return true. */
static inline bool el0_return(struct cpu_regs *regs)
{
    if ( (regs->spsr & 0xf) != 0 )
        return false;
    regs->elr = el1_resume;
    regs->spsr = 0x3c5;
    return true;
}

#endif /* XTF_ARM64_EL0_H */
