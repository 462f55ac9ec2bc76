/**
 * @file arch/arm64/include/arch/processor.h
 *
 * System register access.
 */
#ifndef XTF_ARM64_PROCESSOR_H
#define XTF_ARM64_PROCESSOR_H

#define read_sysreg(r) ({ unsigned long __v;                            \
            asm volatile ("mrs %0, " #r : "=r" (__v)); __v; })
#define write_sysreg(v, r) asm volatile ("msr " #r ", %0" :: "r" ((unsigned long)(v)))

#endif /* XTF_ARM64_PROCESSOR_H */
