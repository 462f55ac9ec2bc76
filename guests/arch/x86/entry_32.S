/*
 * 32-bit exception entry, exec_user() and the return to ring 0.
 *
 * Frame built for do_exception() (struct cpu_regs), from the top:
 *
 *   [ss, esp]                      pushed by the CPU on a privilege change
 *   eflags, cs, eip                pushed by the CPU
 *   error code                     the CPU's, or 0 pushed by the stub
 *   entry vector                   pushed by the stub
 *   eax ... ebp                    handle_exception
 */
#include <arch/asm_macros.h>
#include <arch/desc.h>
#include <arch/processor.h>

        .code32

/* One stub per vector; entry_stubs[] lists their addresses for the IDT. */
        .section .rodata.entry_stubs, "a"
        .balign 4
GLOBAL(entry_stubs)

        .text
        .set    vec, 0
        .rept   256
        .balign 16
1:
        .if     vec >= 32 || !((X86_EXC_HAVE_EC >> (vec & 31)) & 1)
        push    $0                      /* No error code: keep one layout. */
        .endif
        push    $vec
        jmp     handle_exception

        .pushsection .rodata.entry_stubs, "a"
        .long   1b
        .popsection
        .set    vec, vec + 1
        .endr

ENTRY(handle_exception)
        push    %eax
        push    %ebx
        push    %ecx
        push    %edx
        push    %esi
        push    %edi
        push    %ebp

        cld
        mov     %esp, %eax
        push    %eax                    /* struct cpu_regs * */
        call    do_exception
        add     $4, %esp

        pop     %ebp
        pop     %edi
        pop     %esi
        pop     %edx
        pop     %ecx
        pop     %ebx
        pop     %eax
        add     $8, %esp                /* Vector and error code. */
        iret
ENDFUNC(handle_exception)

/*
 * unsigned long exec_user_param(fn, p1): iret to ring 3 at a stub that calls
 * fn(p1) on the user stack and comes back with int $X86_VEC_RET2KERN.
 */
ENTRY(exec_user_param)
        push    %ebp
        mov     8(%esp), %eax           /* fn */
        mov     12(%esp), %edx          /* p1 */
        pushf
        push    $1f                     /* entry_ret_to_kernel() returns here. */
        mov     %esp, exec_user_kernel_sp

        /* The iret frame. */
        push    exec_user_ss
        push    $user_stack + STACK_SIZE
        pushf
        mov     exec_user_efl_and_mask, %ecx
        and     %ecx, (%esp)
        mov     exec_user_efl_or_mask, %ecx
        or      %ecx, (%esp)
        push    exec_user_cs
        push    $exec_user_stub
        iret

1:      popf
        pop     %ebp
        ret
ENDFUNC(exec_user_param)

/* int $X86_VEC_RET2KERN: back to exec_user_param(), %eax = fn's result. */
ENTRY(entry_ret_to_kernel)
        mov     exec_user_kernel_sp, %esp
        ret
ENDFUNC(entry_ret_to_kernel)

        .section .text.user, "ax", @progbits
exec_user_stub:
        push    %edx                    /* fn(p1) */
        call    *%eax
        int     $X86_VEC_RET2KERN

        .data
        .balign 4
exec_user_kernel_sp:
        .long   0
GLOBAL(exec_user_cs)
        .long   __USER_CS
GLOBAL(exec_user_ss)
        .long   __USER_DS
GLOBAL(exec_user_efl_and_mask)
        .long   ~0
GLOBAL(exec_user_efl_or_mask)
        .long   0
