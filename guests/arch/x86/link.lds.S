/*
 * Linker script for every environment (preprocessed per environment).
 * One RWX load segment at XTF_LOAD_ADDR, identity mapped (vaddr == paddr),
 * plus the PT_NOTE segment holding the PVH entry note.
 */
#include <arch/config.h>
#include <arch/page.h>

ENTRY(_start)

PHDRS
{
    load PT_LOAD FLAGS(7);
    note PT_NOTE FLAGS(4);
}

SECTIONS
{
    . = XTF_LOAD_ADDR;
    _image_start = .;

    .text : {
        *(.text.head)
        *(.text .text.*)
        *(.hypercall_page)
    } :load

    .rodata : {
        *(.rodata .rodata.*)
        . = ALIGN(8);
        __start_ex_table = .;
        *(.ex_table)
        __stop_ex_table = .;
    } :load

    .note.Xen : {
        *(.note.Xen)
    } :load :note

    /* Keep written data off the code's pages: QEMU slows every store to a
     * page that holds translated code (self-modifying-code checks). */
    . = ALIGN(PAGE_SIZE);
    .data : {
        *(.data .data.*)
    } :load

    .bss : {
        *(.bss .bss.*)
        *(COMMON)
    } :load

    _image_end = .;

    /DISCARD/ : {
        *(.comment)
        *(.note.GNU-stack)
        *(.note.gnu.property)
        *(.eh_frame)
    }
}
