/* A minimal Multiboot2 kernel: the header GRUB looks for, a stack, and a
 * jump to dump_mbi(magic, mbi).  Built as ELF32 at 1 MiB. */
#define MB2_MAGIC   0xe85250d6
#define MB2_ARCH    0                /* i386 protected mode */
#define MB2_LENGTH  (mb2_end - mb2_start)

        .section .multiboot2, "a"
        .align 8
mb2_start:
        .long MB2_MAGIC, MB2_ARCH, MB2_LENGTH
        .long -(MB2_MAGIC + MB2_ARCH + MB2_LENGTH)
        .align 8
        .short 0, 0                  /* end tag */
        .long 8
mb2_end:

        .text
        .globl _start
        .code32
_start:
        mov $stack_top, %esp
        push %ebx                    /* MBI physical address */
        push %eax                    /* 0x36d76289 */
        call dump_mbi
1:      hlt
        jmp 1b

        .bss
        .align 16
        .space 16384
stack_top:

        .section .note.GNU-stack, "", @progbits
