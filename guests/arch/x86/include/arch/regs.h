/**
 * @file arch/x86/include/arch/regs.h
 *
 * The register frame handle_exception builds on the stack: general purpose
 * registers, the entry vector and error code, then the hardware frame.
 */
#ifndef XTF_X86_REGS_H
#define XTF_X86_REGS_H

#include <xtf/types.h>

#if defined(__x86_64__)

struct cpu_regs {
    unsigned long r15, r14, r13, r12, r11, r10, r9, r8;
    unsigned long bp, di, si, dx, cx, bx, ax;
    uint32_t error_code;        /* 0 for vectors without one. */
    uint32_t entry_vector;
    /* Hardware frame.  In 64-bit mode SS:RSP is always pushed. */
    unsigned long ip;
    uint16_t cs, _pad_cs[3];
    unsigned long flags;
    unsigned long sp;
    uint16_t ss, _pad_ss[3];
};

#else /* __i386__ */

struct cpu_regs {
    unsigned long bp, di, si, dx, cx, bx, ax;
    uint32_t entry_vector;
    uint32_t error_code;        /* 0 for vectors without one. */
    /* Hardware frame. */
    unsigned long ip;
    uint16_t cs, _pad_cs;
    unsigned long flags;
    /*
     * Only pushed when the event changed privilege level.  Otherwise these
     * two words belong to the interrupted stack: use regs_sp().
     */
    unsigned long sp;
    uint16_t ss, _pad_ss;
};

#endif

/* The stack pointer of the interrupted context. */
static inline unsigned long regs_sp(const struct cpu_regs *regs)
{
#if defined(__x86_64__)
    return regs->sp;
#else
    return (regs->cs & 3) ? regs->sp : (unsigned long)&regs->sp;
#endif
}

#endif /* XTF_X86_REGS_H */
