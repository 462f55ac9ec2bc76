/*
 * PVH entry.  Xen (and QEMU) start us here, at the address in the
 * XEN_ELFNOTE_PHYS32_ENTRY note, in 32-bit flat protected mode with paging
 * off, no usable GDT/IDT, and %ebx = physical address of hvm_start_info.
 *
 * Load our GDT and segments, switch to the environment's paging mode (long
 * mode for hvm64), and call xtf_main() on the boot stack.
 */
#include <arch/asm_macros.h>
#include <arch/config.h>
#include <arch/desc.h>
#include <arch/msr-index.h>
#include <arch/page.h>
#include <arch/processor.h>
#include <xen-abi-defs.h>

/* The PVH entry point note: name "Xen", type PHYS32_ENTRY, 32-bit address. */
        .section .note.Xen, "a", @note
        .balign 4
        .long 2f - 1f
        .long 4f - 3f
        .long XEN_ELFNOTE_PHYS32_ENTRY
1:      .asciz "Xen"
2:      .balign 4
3:      .long _start
4:      .balign 4

#ifdef __x86_64__
# define BOOT_CS __KERN_CS32    /* __KERN_CS is a long mode segment. */
#else
# define BOOT_CS __KERN_CS
#endif

        .section .text.head, "ax", @progbits
        .code32
GLOBAL(_start)
        cld
        mov     %ebx, pvh_start_info_pa

        lgdt    gdt_ptr
        ljmp    $BOOT_CS, $1f
1:
        mov     $__KERN_DS, %eax
        mov     %eax, %ss
        /* DPL 3 data segments: usable at ring 0, and kept by iret to ring 3. */
        mov     $__USER_DS, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %fs
        mov     %eax, %gs
        mov     $boot_stack + STACK_SIZE, %esp

#if CONFIG_PAGING_LEVELS >= 3
        /* EFER.NXE if the CPU has NX (for the NX test pages). */
        mov     $0x80000000, %eax
        cpuid
        cmp     $0x80000001, %eax
        jb      2f
        mov     $0x80000001, %eax
        cpuid
        test    $X86_FEAT_E1D_NX, %edx
        jz      2f
        mov     $MSR_EFER, %ecx
        rdmsr
        or      $EFER_NXE, %eax
        wrmsr
2:
#endif

#if CONFIG_PAGING_LEVELS == 2
        mov     $X86_CR4_PSE, %eax
        mov     %eax, %cr4
        mov     $l2_identmap, %eax
        mov     %eax, %cr3
#elif CONFIG_PAGING_LEVELS == 3
        mov     $X86_CR4_PAE, %eax
        mov     %eax, %cr4
        mov     $pae_l3_identmap, %eax
        mov     %eax, %cr3
#elif CONFIG_PAGING_LEVELS == 4
        mov     $X86_CR4_PAE, %eax
        mov     %eax, %cr4
        mov     $l4_identmap, %eax
        mov     %eax, %cr3
        mov     $MSR_EFER, %ecx
        rdmsr
        or      $EFER_LME, %eax
        wrmsr
#endif

#if CONFIG_PAGING_LEVELS > 0
        mov     %cr0, %eax
        or      $(X86_CR0_PG | X86_CR0_WP), %eax
        mov     %eax, %cr0
#endif

#ifdef __x86_64__
        /* Paging on with EFER.LME: long mode, still in a 32-bit segment. */
        ljmp    $__KERN_CS, $start64

        .code64
start64:
        mov     $boot_stack + STACK_SIZE, %rsp
#endif
        call    xtf_main
        ud2                     /* xtf_main() does not return. */
ENDFUNC(_start)

/*
 * Secondary vCPUs start here (lib/smp.c, VCPUOP_initialise): in the
 * environment's final mode and paging, on their own stack, with the vCPU id
 * in %edi/%rdi, and segments Xen loaded with selector 0.  Load the shared
 * GDT, segments and IDT, then ap_main(id).
 */
#ifdef __x86_64__
        .code64
ENTRY(ap_start)
        lgdt    gdt_ptr
        mov     $__KERN_DS, %eax
        mov     %eax, %ss
        mov     $__USER_DS, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %fs
        mov     %eax, %gs
        push    $__KERN_CS
        push    $1f
        lretq
1:      lidt    idt_ptr
        call    ap_main         /* ap_main(%rdi) */
        ud2
ENDFUNC(ap_start)
#else
        .code32
ENTRY(ap_start)
        lgdt    gdt_ptr
        ljmp    $__KERN_CS, $1f
1:      mov     $__KERN_DS, %eax
        mov     %eax, %ss
        mov     $__USER_DS, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %fs
        mov     %eax, %gs
        lidt    idt_ptr
        sub     $12, %esp       /* Keep the call 16-byte aligned. */
        push    %edi
        call    ap_main         /* ap_main(%edi) */
        ud2
ENDFUNC(ap_start)
#endif

        .bss
        .balign PAGE_SIZE
GLOBAL(boot_stack)
        .skip   STACK_SIZE
