/**
 * @file arch/arm64/include/arch/lib.h
 */
#ifndef XTF_ARM64_LIB_H
#define XTF_ARM64_LIB_H

#include <xtf/compiler.h>
#include <arch/traps.h>

/* Wait for interrupts forever (Xen blocks the vCPU at each wfi). */
static inline void __noreturn halt_forever(void)
{
    for ( ;; )
        asm volatile ("wfi");
}

#endif /* XTF_ARM64_LIB_H */
