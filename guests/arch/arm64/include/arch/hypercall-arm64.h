/**
 * @file arch/arm64/include/arch/hypercall-arm64.h
 *
 * Xen's arm64 hypercall ABI: `hvc #0xEA1` (XEN_HYPERCALL_TAG), the number
 * in x16, arguments in x0..x4, the result in x0.  A debug build of Xen
 * clobbers x16 and the argument registers a hypercall consumed.
 */
#ifndef XTF_ARM64_HYPERCALL_ARM64_H
#define XTF_ARM64_HYPERCALL_ARM64_H

static inline long _hypercall_any(unsigned int nr, unsigned long a1,
                                  unsigned long a2, unsigned long a3,
                                  unsigned long a4, unsigned long a5)
{
    register unsigned long x16 asm("x16") = nr;
    register unsigned long x0 asm("x0") = a1;
    register unsigned long x1 asm("x1") = a2;
    register unsigned long x2 asm("x2") = a3;
    register unsigned long x3 asm("x3") = a4;
    register unsigned long x4 asm("x4") = a5;

    asm volatile ("hvc #0xea1"
                  : "+r" (x0), "+r" (x1), "+r" (x2), "+r" (x3), "+r" (x4),
                    "+r" (x16)
                  :
                  : "memory");
    return x0;
}

#define _hypercall_1(type, hcall, a1) \
    ((type)_hypercall_any(hcall, (unsigned long)(a1), 0, 0, 0, 0))
#define _hypercall_2(type, hcall, a1, a2) \
    ((type)_hypercall_any(hcall, (unsigned long)(a1), (unsigned long)(a2), 0, 0, 0))
#define _hypercall_3(type, hcall, a1, a2, a3) \
    ((type)_hypercall_any(hcall, (unsigned long)(a1), (unsigned long)(a2), \
                          (unsigned long)(a3), 0, 0))

#endif /* XTF_ARM64_HYPERCALL_ARM64_H */
