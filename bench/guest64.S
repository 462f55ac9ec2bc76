/*
 * Benchmark guest: PVH entry -> identity-mapped long mode, then one of the
 * workloads selected at build time (-DWORKLOAD=...):
 *   COMPUTE    ALU + load + store loop, ITERATIONS times (7 instructions each)
 *   HYPERCALL  xen_version(XENVER_version) through the hypercall page
 *   EVTCHN     EVTCHNOP_send on an unbound port (a hypercall with a struct argument)
 * The label `workload_done` marks the end of the measured part.
 */
#define MSR_EFER 0xc0000080

    .section .note.Xen, "a"
    .long 4, 4, 18
    .asciz "Xen"
    .long _start

    .text
    .code32
    .globl _start
_start:
    /* PML4[0] -> PDPT, PDPT[0] -> PD, PD[0..3] = 2 MiB identity pages */
    movl $pdpt + 3, pml4
    movl $pd + 3, pdpt
    movl $0x000083, pd
    movl $0x200083, pd + 8
    movl $0x400083, pd + 16
    movl $0x600083, pd + 24
#ifdef DATA_NX
    movl $0x80000000, pd + 20       /* PD[2] (the data page) no-execute */
#endif
    mov %cr4, %eax
    or $0x20, %eax                  /* PAE */
    mov %eax, %cr4
    mov $pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
#ifdef DATA_NX
    or $0x900, %eax                 /* LME | NXE */
#else
    or $0x100, %eax                 /* LME */
#endif
    wrmsr
    mov %cr0, %eax
    or $0x80000000, %eax
    mov %eax, %cr0
    lgdt gdt_ptr
    ljmp $8, $start64

    .code64
start64:
    mov $stack_top, %rsp
    /* install the hypercall page */
    mov $0x40000000, %ecx
    mov $hypercall_page, %eax
    xor %edx, %edx
    wrmsr
#if WORKLOAD == 1
    mov $ITERATIONS, %rcx
    mov $0x400000, %rsi             /* data in another 2 MiB page than the code.
                                       The store dominates the loop: in Unicorn 2.1.4
                                       every store takes QEMU's notdirty slow path
                                       (~40 ns; the other six instructions ~5 ns) */
1:  add %rcx, %rax
    xor %rax, %rbx
    mov %rbx, (%rsi)
    mov (%rsi), %rdx
    add %rdx, %r8
    dec %rcx
    jnz 1b
#elif WORKLOAD == 2
    mov $ITERATIONS, %r12
1:  xor %edi, %edi                  /* XENVER_version */
    xor %esi, %esi
    call hypercall_page + 17 * 32
    dec %r12
    jnz 1b
#elif WORKLOAD == 3
    mov $ITERATIONS, %r12
    movl $1, -8(%rsp)               /* EVTCHNOP_send(port 1): an unbound port */
1:  mov $4, %edi
    lea -8(%rsp), %rsi
    call hypercall_page + 32 * 32
    dec %r12
    jnz 1b
#endif
    .globl workload_done
workload_done:
    /* SCHEDOP_shutdown(SHUTDOWN_poweroff) */
    mov $2, %edi
    mov $shutdown_reason, %rsi
    call hypercall_page + 29 * 32
    cli
    hlt

    .data
    .balign 8
gdt:
    .quad 0
    .quad 0x00af9a000000ffff        /* 64-bit code */
    .quad 0x00cf92000000ffff        /* data */
gdt_ptr:
    .word gdt_ptr - gdt - 1
    .long gdt
shutdown_reason:
    .long 0

    .bss
    .balign 4096
pml4: .space 4096
pdpt: .space 4096
pd:   .space 4096
hypercall_page: .space 4096
    .space 16384
stack_top:
