/**
 * @file arch/arm64/include/arch/smccc.h
 *
 * SMC Calling Convention calls over `hvc #0`, as Xen routes them to its
 * virtual PSCI (xen/arch/arm/vsmc.c, vpsci.c).
 */
#ifndef XTF_ARM64_SMCCC_H
#define XTF_ARM64_SMCCC_H

#define PSCI_VERSION          0x84000000UL
#define PSCI_CPU_OFF          0x84000002UL
#define PSCI_MIGRATE          0x84000005UL
#define PSCI_FEATURES         0x8400000aUL
#define PSCI_CPU_ON64         0xc4000003UL
#define PSCI_AFFINITY_INFO64  0xc4000004UL
#define PSCI_AFFINITY_ON      0
#define PSCI_AFFINITY_OFF     1

/* Function @fid with three arguments; the result is x0. */
static inline long smccc(unsigned long fid, unsigned long a1, unsigned long a2,
                         unsigned long a3)
{
    register unsigned long x0 asm("x0") = fid;
    register unsigned long x1 asm("x1") = a1;
    register unsigned long x2 asm("x2") = a2;
    register unsigned long x3 asm("x3") = a3;

    asm volatile ("hvc #0" : "+r" (x0), "+r" (x1), "+r" (x2), "+r" (x3)
                  :: "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12",
                     "x13", "x14", "x15", "x16", "x17", "memory");
    return x0;
}

#endif /* XTF_ARM64_SMCCC_H */
