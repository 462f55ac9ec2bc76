/**
 * @file arch/arm64/head.S
 *
 * The arm64 entry, as Xen enters an Arm domain: EL1h, MMU off, DAIF masked,
 * x0 = the device tree.  The first 64 bytes are an arm64 Image header
 * (Documentation/arch/arm64/booting.rst), so `objcopy -O binary` of the ELF
 * is a bootable Image too.  Also the exception vectors: synchronous
 * exceptions go to do_sync_exception(), IRQs to do_irq() (from EL1 with
 * SP_EL0 or SP_ELx, and from EL0), both with a struct cpu_regs.
 */
#include <arch/config.h>
#include <arch/smp.h>

        .section .text.head, "ax"
        .globl _start
_start:
        b       1f                      /* code0 */
        .long   0                       /* code1 */
        .quad   XTF_LOAD_ADDR - 0x40000000  /* text_offset */
        .quad   _image_size             /* image_size */
        .quad   0x2                     /* flags: little endian, 4K pages */
        .quad   0, 0, 0                 /* res2..res4 */
        .ascii  "ARM\x64"               /* magic */
        .long   0                       /* res5 */

1:      ldr     x1, =__bss_start
        ldr     x2, =__bss_end
2:      cmp     x1, x2
        b.hs    3f
        str     xzr, [x1], #8
        b       2b
3:      ldr     x1, =arm64_dtb_pa
        str     x0, [x1]
        ldr     x1, =boot_stack_top
        mov     sp, x1
        ldr     x1, =vectors
        msr     vbar_el1, x1
        isb
        bl      xtf_main
4:      wfi
        b       4b

/* A secondary vCPU (PSCI CPU_ON, x0 = its id): its stack, the vectors, ap_main(). */
        .globl ap_start
ap_start:
        ldr     x1, =xtf_vcpu_stacks + STACK_SIZE
        mov     x2, #STACK_SIZE
        madd    x1, x0, x2, x1
        mov     sp, x1
        ldr     x1, =vectors
        msr     vbar_el1, x1
        isb
        bl      ap_main
        .ltorg

/* struct cpu_regs: x0..x30, sp, elr, spsr, esr, far */
#define FRAME (36 * 8)

        .macro  sync_slot
        .balign 0x80
        sub     sp, sp, #FRAME
        stp     x29, x30, [sp, #29 * 8]
        adr     x30, do_sync_exception
        b       exception_common
        .endm

        .macro  irq_slot
        .balign 0x80
        sub     sp, sp, #FRAME
        stp     x29, x30, [sp, #29 * 8]
        adr     x30, do_irq
        b       exception_common
        .endm

        .macro  bad_slot
        .balign 0x80
        b       unexpected_vector
        .endm

        .text
        .balign 2048
        .globl  vectors
vectors:
        sync_slot               /* current EL, SP_EL0 */
        irq_slot
        bad_slot
        bad_slot
        sync_slot               /* current EL, SP_ELx */
        irq_slot
        bad_slot
        bad_slot
        sync_slot               /* lower EL, AArch64 */
        irq_slot
        bad_slot
        bad_slot
        bad_slot                /* lower EL, AArch32 */
        bad_slot
        bad_slot
        bad_slot

/* x30: the C handler, called with the struct cpu_regs */
exception_common:
        stp     x0, x1, [sp, #0 * 8]
        stp     x2, x3, [sp, #2 * 8]
        stp     x4, x5, [sp, #4 * 8]
        stp     x6, x7, [sp, #6 * 8]
        stp     x8, x9, [sp, #8 * 8]
        stp     x10, x11, [sp, #10 * 8]
        stp     x12, x13, [sp, #12 * 8]
        stp     x14, x15, [sp, #14 * 8]
        stp     x16, x17, [sp, #16 * 8]
        stp     x18, x19, [sp, #18 * 8]
        stp     x20, x21, [sp, #20 * 8]
        stp     x22, x23, [sp, #22 * 8]
        stp     x24, x25, [sp, #24 * 8]
        stp     x26, x27, [sp, #26 * 8]
        str     x28, [sp, #28 * 8]
        add     x0, sp, #FRAME
        mrs     x1, elr_el1
        stp     x0, x1, [sp, #31 * 8]
        mrs     x0, spsr_el1
        mrs     x1, esr_el1
        stp     x0, x1, [sp, #33 * 8]
        mrs     x0, far_el1
        str     x0, [sp, #35 * 8]
        mov     x0, sp
        blr     x30
        ldp     x0, x1, [sp, #32 * 8]   /* elr, spsr (a handler may change them) */
        msr     elr_el1, x0
        msr     spsr_el1, x1
        ldp     x0, x1, [sp, #0 * 8]
        ldp     x2, x3, [sp, #2 * 8]
        ldp     x4, x5, [sp, #4 * 8]
        ldp     x6, x7, [sp, #6 * 8]
        ldp     x8, x9, [sp, #8 * 8]
        ldp     x10, x11, [sp, #10 * 8]
        ldp     x12, x13, [sp, #12 * 8]
        ldp     x14, x15, [sp, #14 * 8]
        ldp     x16, x17, [sp, #16 * 8]
        ldp     x18, x19, [sp, #18 * 8]
        ldp     x20, x21, [sp, #20 * 8]
        ldp     x22, x23, [sp, #22 * 8]
        ldp     x24, x25, [sp, #24 * 8]
        ldp     x26, x27, [sp, #26 * 8]
        ldp     x28, x29, [sp, #28 * 8]
        ldr     x30, [sp, #30 * 8]
        add     sp, sp, #FRAME
        eret

unexpected_vector:
        mrs     x0, esr_el1
        mrs     x1, elr_el1
        bl      arm64_unexpected_vector
        b       .
