/**
 * @file arch/x86/include/arch/hypercall-x86_32.h
 *
 * The 32-bit hypercall ABI: arguments in %ebx, %ecx, %edx, %esi, %edi, the
 * result in %eax.  Xen (debug builds) clobbers the argument registers a
 * hypercall consumed, so they are all outputs of the wrappers.
 */
#ifndef XTF_X86_HYPERCALL_X86_32_H
#define XTF_X86_HYPERCALL_X86_32_H

/* Output constraints of the first three argument registers (xtf/hypercall.h). */
#define _HYPERCALL_ARG1 "=b"
#define _HYPERCALL_ARG2 "=c"
#define _HYPERCALL_ARG3 "=d"

static inline long _hypercall_any(unsigned int nr, unsigned long a1,
                                  unsigned long a2, unsigned long a3,
                                  unsigned long a4, unsigned long a5)
{
    /* Every register is an argument: the stub address goes via memory. */
    const void *fn = hypercall_page + nr * HYPERCALL_PAGE_SLOT_SIZE;
    long res;

    asm volatile ("call *%[fn]"
                  : "=a" (res), "+b" (a1), "+c" (a2), "+d" (a3), "+S" (a4),
                    "+D" (a5)
                  : [fn] "m" (fn)
                  : "memory");
    return res;
}

#endif /* XTF_X86_HYPERCALL_X86_32_H */
