/**
 * @file arch/arm64/include/arch/asm_macros.h
 */
#ifndef XTF_ARM64_ASM_MACROS_H
#define XTF_ARM64_ASM_MACROS_H

#ifdef __ASSEMBLY__
# define _ASM_PTR .quad
#else
# define _ASM_PTR ".quad"
#endif

#endif /* XTF_ARM64_ASM_MACROS_H */
