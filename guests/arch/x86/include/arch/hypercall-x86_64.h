/**
 * @file arch/x86/include/arch/hypercall-x86_64.h
 *
 * The 64-bit hypercall ABI: arguments in %rdi, %rsi, %rdx, %r10, %r8, the
 * result in %rax.  Xen (debug builds) clobbers the argument registers a
 * hypercall consumed, so they are all outputs of the wrappers.
 */
#ifndef XTF_X86_HYPERCALL_X86_64_H
#define XTF_X86_HYPERCALL_X86_64_H

/* Output constraints of the first three argument registers (xtf/hypercall.h). */
#define _HYPERCALL_ARG1 "=D"
#define _HYPERCALL_ARG2 "=S"
#define _HYPERCALL_ARG3 "=d"

static inline long _hypercall_any(unsigned int nr, unsigned long a1,
                                  unsigned long a2, unsigned long a3,
                                  unsigned long a4, unsigned long a5)
{
    register unsigned long r10 asm("r10") = a4;
    register unsigned long r8 asm("r8") = a5;
    const void *fn = hypercall_page + nr * HYPERCALL_PAGE_SLOT_SIZE;
    long res;

    asm volatile ("call *%[fn]"
                  : "=a" (res), "+D" (a1), "+S" (a2), "+d" (a3),
                    "+r" (r10), "+r" (r8)
                  : [fn] "r" (fn)
                  : "memory");
    return res;
}

/*
 * The 32-bit ABI from a compatibility-mode code segment (arch/x86/
 * compat_64.S): arguments in %ebx, %ecx, %edx, %esi, %edi, the result in
 * %eax, sign-extended.  Xen then uses its compat structure layouts.
 */
long hypercall_compat32(unsigned int nr, uint32_t a1, uint32_t a2,
                        uint32_t a3, uint32_t a4, uint32_t a5);

#endif /* XTF_X86_HYPERCALL_X86_64_H */
