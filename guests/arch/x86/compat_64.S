/*
 * hypercall_compat32(): make a hypercall with the 32-bit ABI from a
 * compatibility-mode (32-bit) code segment of a 64-bit guest.  Xen then
 * treats the call as a 32-bit one (compat structure layouts).
 */
#include <arch/asm_macros.h>
#include <arch/desc.h>
#include <xen-abi-defs.h>

        .code64
/* long hypercall_compat32(nr, a1, a2, a3, a4, a5) */
ENTRY(hypercall_compat32)       /* %edi nr, %esi a1, %edx a2, %ecx a3, %r8d a4, %r9d a5 */
        push    %rbx            /* Callee-saved: compatibility mode may */
        push    %rbp            /* leave the upper halves undefined. */
        push    %r12
        push    %r13
        push    %r14
        push    %r15
        /*
         * Compatibility mode takes the stack's size from SS.B: after a return
         * from ring 3 SS is NULL (64-bit interrupt delivery loads it so) and
         * its B is 0, which would make this a 16-bit stack.  Use the flat
         * ring 0 data segment while in 32-bit code, as a kernel's compat
         * entry does, and restore the caller's SS after.
         */
        mov     %ss, %eax
        push    %rax
        mov     $__KERN_DS, %eax
        mov     %eax, %ss

        imul    $HYPERCALL_PAGE_SLOT_SIZE, %edi, %eax
        add     $hypercall_page, %eax
        mov     %esi, %ebx      /* a1 */
        xchg    %ecx, %edx      /* a2 -> %ecx, a3 -> %edx (EBX, ECX, EDX, ESI, EDI) */
        mov     %r8d, %esi      /* a4 */
        mov     %r9d, %edi      /* a5 */

        push    $__KERN_CS32    /* Far return into the 32-bit segment. */
        push    $1f
        lretq

        .code32
1:      call    *%eax
        ljmp    $__KERN_CS, $2f

        .code64
2:      movslq  %eax, %rax      /* The result is a 32-bit long. */
        pop     %rcx
        mov     %ecx, %ss
        pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %rbp
        pop     %rbx
        ret
ENDFUNC(hypercall_compat32)
