/**
 * @file arch/x86/include/arch/page.h
 *
 * Paging.  Every paging environment identity maps the low 4 GiB, user
 * accessible (so exec_user() code can run anywhere), with 4 KiB pages for
 * the lowest region (l1_identmap, where the image lives; page 0 is left
 * unmapped to catch NULL pointers) and superpages above:
 *
 *   hvm32pse  l2_identmap[1024] -> l1_identmap (0-4 MiB), then 4 MiB pages
 *   hvm32pae  pae_l3_identmap[4] -> l2_identmap[4 * 512] -> l1 (0-2 MiB),
 *             then 2 MiB pages
 *   hvm64     l4_identmap[0] -> l3_identmap[0..3] -> the same l2/l1 tables
 */
#ifndef XTF_X86_PAGE_H
#define XTF_X86_PAGE_H

#include <arch/config.h>

#ifdef __ASSEMBLY__
# define _AC(x, sfx) x
#else
# define _AC(x, sfx) x ## sfx
#endif

#define PAGE_SHIFT      12
#define PAGE_SIZE       (_AC(1, UL) << PAGE_SHIFT)
#define PAGE_MASK       (~(PAGE_SIZE - 1))

#define _PAGE_PRESENT   0x001
#define _PAGE_RW        0x002
#define _PAGE_USER      0x004
#define _PAGE_PWT       0x008
#define _PAGE_PCD       0x010
#define _PAGE_ACCESSED  0x020
#define _PAGE_DIRTY     0x040
#define _PAGE_PSE       0x080
#define _PAGE_GLOBAL    0x100
#define _PAGE_NX        (_AC(1, ULL) << 63)   /* PAE / long mode with EFER.NXE */

/* A leaf mapping, and an entry pointing at a next-level table. */
#define PAGE_COMMON     (_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | \
                         _PAGE_ACCESSED | _PAGE_DIRTY)
#define PAGE_TABLE      (_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED)

#if CONFIG_PAGING_LEVELS == 2
# define PTE_SIZE        4
# define L1_PT_SHIFT     12
# define L2_PT_SHIFT     22
# define L1_PT_ENTRIES   1024
# define L2_PT_ENTRIES   1024
#elif CONFIG_PAGING_LEVELS >= 3
# define PTE_SIZE        8
# define L1_PT_SHIFT     12
# define L2_PT_SHIFT     21
# define L3_PT_SHIFT     30
# define L4_PT_SHIFT     39
# define L1_PT_ENTRIES   512
# define L2_PT_ENTRIES   512
# if CONFIG_PAGING_LEVELS == 3
#  define L3_PT_ENTRIES  4
# else
#  define L3_PT_ENTRIES  512
# endif
# define L4_PT_ENTRIES   512
#endif

#if CONFIG_PAGING_LEVELS > 0
/* The low region mapped with 4 KiB pages by l1_identmap. */
# define L1_IDENTMAP_END (_AC(1, UL) << L2_PT_SHIFT)
/* Number of l2 entries needed to map 4 GiB. */
# define L2_IDENTMAP_ENTRIES (_AC(1, ULL) << (32 - L2_PT_SHIFT))
#endif

#ifndef __ASSEMBLY__

#include <xtf/types.h>

#if CONFIG_PAGING_LEVELS == 2
typedef uint32_t intpte_t;
#else
typedef uint64_t intpte_t;
#endif

#if CONFIG_PAGING_LEVELS > 0
extern intpte_t l1_identmap[L1_PT_ENTRIES];
extern intpte_t l2_identmap[L2_IDENTMAP_ENTRIES];
#endif
#if CONFIG_PAGING_LEVELS == 3
extern intpte_t pae_l3_identmap[4];
#endif
#if CONFIG_PAGING_LEVELS == 4
extern intpte_t l3_identmap[L3_PT_ENTRIES];
extern intpte_t l4_identmap[L4_PT_ENTRIES];
#endif

/*
 * The l1 entry mapping @va, if @va lies in the 4 KiB-mapped low region;
 * NULL otherwise (and always without paging).  Flush with invlpg() after
 * changing it.
 */
intpte_t *l1e_of(const void *va);

/* MAXPHYADDR, from CPUID 0x80000008 (36 if the leaf is missing). */
unsigned int cpu_maxphysaddr(void);

#endif /* !__ASSEMBLY__ */

#endif /* XTF_X86_PAGE_H */
