/*
 * 64-bit exception entry, exec_user() and the return to ring 0.
 *
 * Frame built for do_exception() (struct cpu_regs), from the top:
 *
 *   ss, rsp, rflags, cs, rip       pushed by the CPU (always, in long mode)
 *   error code | entry vector      the CPU's error code, or 0 pushed by the
 *                                  stub; the stub writes the vector into the
 *                                  upper half
 *   rax ... r15                    handle_exception
 */
#include <arch/asm_macros.h>
#include <arch/desc.h>
#include <arch/processor.h>

        .code64

/* One stub per vector; entry_stubs[] lists their addresses for the IDT. */
        .section .rodata.entry_stubs, "a"
        .balign 8
GLOBAL(entry_stubs)

        .text
        .set    vec, 0
        .rept   256
        .balign 16
1:
        .if     vec >= 32 || !((X86_EXC_HAVE_EC >> (vec & 31)) & 1)
        push    $0                      /* No error code: keep one layout. */
        .endif
        movl    $vec, 4(%rsp)
        jmp     handle_exception

        .pushsection .rodata.entry_stubs, "a"
        .quad   1b
        .popsection
        .set    vec, vec + 1
        .endr

ENTRY(handle_exception)
        push    %rax
        push    %rbx
        push    %rcx
        push    %rdx
        push    %rsi
        push    %rdi
        push    %rbp
        push    %r8
        push    %r9
        push    %r10
        push    %r11
        push    %r12
        push    %r13
        push    %r14
        push    %r15

        cld
        mov     %rsp, %rdi              /* struct cpu_regs * */
        mov     %rsp, %rbx              /* Saved above; preserved by C. */
        and     $~15, %rsp              /* ABI stack alignment for the call. */
        call    do_exception
        mov     %rbx, %rsp

        pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %r11
        pop     %r10
        pop     %r9
        pop     %r8
        pop     %rbp
        pop     %rdi
        pop     %rsi
        pop     %rdx
        pop     %rcx
        pop     %rbx
        pop     %rax
        add     $8, %rsp                /* Error code and vector. */
        iretq
ENDFUNC(handle_exception)

/*
 * unsigned long exec_user_param(fn, p1): iret to ring 3 at a stub that calls
 * fn(p1) on the user stack and comes back with int $X86_VEC_RET2KERN.
 */
ENTRY(exec_user_param)                  /* %rdi = fn, %rsi = p1 */
        push    %rbp
        pushf
        push    $1f                     /* entry_ret_to_kernel() returns here. */
        mov     %rsp, exec_user_kernel_sp(%rip)

        /* The iret frame. */
        push    exec_user_ss(%rip)
        push    $user_stack + STACK_SIZE
        pushf
        mov     exec_user_efl_and_mask(%rip), %rax
        and     %rax, (%rsp)
        mov     exec_user_efl_or_mask(%rip), %rax
        or      %rax, (%rsp)
        push    exec_user_cs(%rip)
        cmpq    $__USER_CS32, exec_user_cs(%rip)
        je      2f
        push    $exec_user_stub
        iretq
2:      push    $exec_user_stub32       /* Compatibility mode. */
        iretq

1:      popf
        pop     %rbp
        ret
ENDFUNC(exec_user_param)

/* int $X86_VEC_RET2KERN: back to exec_user_param(), %rax = fn's result. */
ENTRY(entry_ret_to_kernel)
        mov     exec_user_kernel_sp(%rip), %rsp
        ret
ENDFUNC(entry_ret_to_kernel)

        .section .text.user, "ax", @progbits
exec_user_stub:
        xchg    %rdi, %rsi              /* fn(p1) */
        call    *%rsi
        int     $X86_VEC_RET2KERN

        .code32
exec_user_stub32:                       /* fn is 32-bit code (cdecl). */
        push    %esi
        call    *%edi
        int     $X86_VEC_RET2KERN
        .code64

        .data
        .balign 8
exec_user_kernel_sp:
        .quad   0
GLOBAL(exec_user_cs)
        .quad   __USER_CS
GLOBAL(exec_user_ss)
        .quad   __USER_DS
GLOBAL(exec_user_efl_and_mask)
        .quad   ~0
GLOBAL(exec_user_efl_or_mask)
        .quad   0
