/**
 * @file arch/x86/include/arch/hypercall-x86_32.h
 *
 * The 32-bit hypercall ABI: arguments in %ebx, %ecx, %edx, %esi, %edi, the
 * result in %eax.  Xen (debug builds) clobbers the argument registers a
 * hypercall consumed, so they are all outputs here.
 */
#ifndef XTF_X86_HYPERCALL_X86_32_H
#define XTF_X86_HYPERCALL_X86_32_H

#define _hypercall_1(type, hcall, a1)                                   \
    ({                                                                  \
        long __res, __ign1;                                             \
        asm volatile ("call hypercall_page + %c[offset]"                \
                      : "=a" (__res), "=b" (__ign1)                     \
                      : [offset] "i" ((hcall) * HYPERCALL_PAGE_SLOT_SIZE), \
                        "1" ((long)(a1))                                \
                      : "memory");                                      \
        (type)__res;                                                    \
    })

#define _hypercall_2(type, hcall, a1, a2)                               \
    ({                                                                  \
        long __res, __ign1, __ign2;                                     \
        asm volatile ("call hypercall_page + %c[offset]"                \
                      : "=a" (__res), "=b" (__ign1), "=c" (__ign2)      \
                      : [offset] "i" ((hcall) * HYPERCALL_PAGE_SLOT_SIZE), \
                        "1" ((long)(a1)), "2" ((long)(a2))              \
                      : "memory");                                      \
        (type)__res;                                                    \
    })

#define _hypercall_3(type, hcall, a1, a2, a3)                           \
    ({                                                                  \
        long __res, __ign1, __ign2, __ign3;                             \
        asm volatile ("call hypercall_page + %c[offset]"                \
                      : "=a" (__res), "=b" (__ign1), "=c" (__ign2),     \
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
