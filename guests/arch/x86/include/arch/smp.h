/**
 * @file arch/x86/include/arch/smp.h
 *
 * Which vCPU is running: told by the stack it runs on.
 */
#ifndef XTF_X86_SMP_H
#define XTF_X86_SMP_H

#include <arch/asm_macros.h>
#include <arch/desc.h>

#ifndef XTF_MAX_VCPUS
# error "include <xtf/smp.h>"
#endif
/* Stacks of the secondary vCPUs (vCPU 0 uses boot_stack). */
extern uint8_t xtf_vcpu_stacks[XTF_MAX_VCPUS][STACK_SIZE];

static inline unsigned int smp_processor_id(void)
{
    unsigned long sp, base = (unsigned long)xtf_vcpu_stacks;

    asm ("mov %%" _ASM_SP ", %0" : "=r" (sp));
    if ( sp >= base && sp < base + sizeof(xtf_vcpu_stacks) )
        return (sp - base) / sizeof(xtf_vcpu_stacks[0]);
    return 0;
}

#endif /* XTF_X86_SMP_H */
