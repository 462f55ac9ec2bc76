/*
 * Boot page tables: identity map of the low 4 GiB, user accessible.  See
 * arch/page.h for the layout.  Entries are written as two .longs in the PAE
 * and long mode tables, so the same source assembles as ELF32 and ELF64.
 */
#include <arch/asm_macros.h>
#include <arch/config.h>
#include <arch/page.h>

#if CONFIG_PAGING_LEVELS > 0

#if PTE_SIZE == 4
# define PTE(val) .long (val)
#else
# define PTE(val) .long (val), 0
#endif

        .data
        .balign PAGE_SIZE

/* 4 KiB pages for the lowest L1_IDENTMAP_END; page 0 is not mapped. */
GLOBAL(l1_identmap)
        PTE(0)
        .set    i, 1
        .rept   L1_PT_ENTRIES - 1
        PTE((i << PAGE_SHIFT) + PAGE_COMMON)
        .set    i, i + 1
        .endr

/* The rest of the 4 GiB with superpages. */
GLOBAL(l2_identmap)
        PTE(l1_identmap + PAGE_TABLE)
        .set    i, 1
        .rept   L2_IDENTMAP_ENTRIES - 1
        PTE((i << L2_PT_SHIFT) + PAGE_COMMON + _PAGE_PSE)
        .set    i, i + 1
        .endr

#if CONFIG_PAGING_LEVELS == 3
/* PDPTEs have only P (and cache) bits: RW/US are reserved here. */
        .balign 32
GLOBAL(pae_l3_identmap)
        .set    i, 0
        .rept   4
        PTE(l2_identmap + i * PAGE_SIZE + _PAGE_PRESENT)
        .set    i, i + 1
        .endr
#endif

#if CONFIG_PAGING_LEVELS == 4
        .balign PAGE_SIZE
GLOBAL(l3_identmap)
        .set    i, 0
        .rept   4
        PTE(l2_identmap + i * PAGE_SIZE + PAGE_TABLE)
        .set    i, i + 1
        .endr
        .fill   L3_PT_ENTRIES - 4, 8, 0

GLOBAL(l4_identmap)
        PTE(l3_identmap + PAGE_TABLE)
        .fill   L4_PT_ENTRIES - 1, 8, 0
#endif

#endif /* CONFIG_PAGING_LEVELS > 0 */
