/**
 * @file arch/x86/include/arch/asm_macros.h
 *
 * Helpers for code shared between assembly and C, and 32/64-bit code.
 */
#ifndef XTF_X86_ASM_MACROS_H
#define XTF_X86_ASM_MACROS_H

#ifdef __ASSEMBLY__
# define _ASM_PTR_RAW .long
# ifdef __x86_64__
#  undef _ASM_PTR_RAW
#  define _ASM_PTR_RAW .quad
# endif
# define _ASM_PTR _ASM_PTR_RAW

# define ENTRY(name)                            \
    .text;                                      \
    .globl name;                                \
    .type name, STT_FUNC;                       \
    .balign 16;                                 \
    name:

# define GLOBAL(name)                           \
    .globl name;                                \
    name:

# define ENDFUNC(name)                          \
    .size name, . - name

#else
# ifdef __x86_64__
#  define _ASM_PTR ".quad"
# else
#  define _ASM_PTR ".long"
# endif
#endif

/* The word-size register names, for asm shared by 32 and 64-bit code. */
#ifdef __x86_64__
# define _ASM_AX "rax"
# define _ASM_SP "rsp"
#else
# define _ASM_AX "eax"
# define _ASM_SP "esp"
#endif

#endif /* XTF_X86_ASM_MACROS_H */
