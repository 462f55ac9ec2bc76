/* arm64 guests: one ELF at XTF_LOAD_ADDR (GUEST_RAM0_BASE + 0x80000). */
#include <arch/config.h>

OUTPUT_FORMAT("elf64-littleaarch64")
OUTPUT_ARCH(aarch64)
ENTRY(_start)

SECTIONS
{
    . = XTF_LOAD_ADDR;
    .text : { *(.text.head) *(.text .text.*) }
    .rodata : { *(.rodata .rodata.*) }
    __rodata_end = .;
    /* Keep written data off the code's pages: QEMU slows every store to a
     * page that holds translated code (self-modifying-code checks). */
    . = ALIGN(4096);
    .data : { *(.data .data.*) }
    . = ALIGN(16);
    __bss_start = .;
    .bss : { *(.bss .bss.*) *(COMMON) }
    . = ALIGN(16);
    __bss_end = .;
    _end = .;
    _image_size = _end - _start;
    /DISCARD/ : { *(.comment) *(.note*) *(.eh_frame) }
}
