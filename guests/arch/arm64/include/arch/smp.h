/**
 * @file arch/arm64/include/arch/smp.h
 *
 * Which vCPU is running: MPIDR_EL1, as Xen's vaffinity (Aff0 holds 16).
 */
#ifndef XTF_ARM64_SMP_H
#define XTF_ARM64_SMP_H

#define STACK_SIZE 0x2000

#ifndef __ASSEMBLY__

static inline unsigned int smp_processor_id(void)
{
    unsigned long mpidr;

    asm ("mrs %0, mpidr_el1" : "=r" (mpidr));
    return (mpidr & 0xf) | (((mpidr >> 8) & 0xff) << 4);
}

static inline unsigned long vcpu_mpidr(unsigned int cpu)
{
    return ((unsigned long)(cpu >> 4) << 8) | (cpu & 0xf);
}

#endif /* __ASSEMBLY__ */

#endif /* XTF_ARM64_SMP_H */
