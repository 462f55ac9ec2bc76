/**
 * @file arch/x86/include/arch/setup.h
 *
 * Boot: head.S enters xtf_main() in the environment's final mode, on the
 * boot stack, with paging on (if the environment pages).
 */
#ifndef XTF_X86_SETUP_H
#define XTF_X86_SETUP_H

#include <xtf/compiler.h>
#include <xtf/types.h>

/* Physical address of the hvm_start_info, saved by head.S from %ebx. */
extern uint32_t pvh_start_info_pa;

void __noreturn xtf_main(void);

/* GDT/TSS/IDT, the FPU, Xen detection and the hypercall page. */
void arch_setup(void);

#endif /* XTF_X86_SETUP_H */
