/**
 * @file arch/x86/include/arch/hypercall-x86_64.h
 *
 * The 64-bit hypercall ABI: arguments in %rdi, %rsi, %rdx, %r10, %r8, the
 * result in %rax.  Xen (debug builds) clobbers the argument registers a
 * hypercall consumed, so they are all outputs here.
 */
#ifndef XTF_X86_HYPERCALL_X86_64_H
#define XTF_X86_HYPERCALL_X86_64_H

#define _hypercall_1(type, hcall, a1)                                   \
    ({                                                                  \
        long __res, __ign1;                                             \
        asm volatile ("call hypercall_page + %c[offset]"                \
                      : "=a" (__res), "=D" (__ign1)                     \
                      : [offset] "i" ((hcall) * HYPERCALL_PAGE_SLOT_SIZE), \
                        "1" ((long)(a1))                                \
                      : "memory");                                      \
        (type)__res;                                                    \
    })

#define _hypercall_2(type, hcall, a1, a2)                               \
    ({                                                                  \
        long __res, __ign1, __ign2;                                     \
        asm volatile ("call hypercall_page + %c[offset]"                \
                      : "=a" (__res), "=D" (__ign1), "=S" (__ign2)      \
                      : [offset] "i" ((hcall) * HYPERCALL_PAGE_SLOT_SIZE), \
                        "1" ((long)(a1)), "2" ((long)(a2))              \
                      : "memory");                                      \
        (type)__res;                                                    \
    })

#define _hypercall_3(type, hcall, a1, a2, a3)                           \
    ({                                                                  \
        long __res, __ign1, __ign2, __ign3;                             \
        asm volatile ("call hypercall_page + %c[offset]"                \
                      : "=a" (__res), "=D" (__ign1), "=S" (__ign2),     \
                        "=d" (__ign3)                                   \
                      : [offset] "i" ((hcall) * HYPERCALL_PAGE_SLOT_SIZE), \
                        "1" ((long)(a1)), "2" ((long)(a2)),             \
                        "3" ((long)(a3))                                \
                      : "memory");                                      \
        (type)__res;                                                    \
    })

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
