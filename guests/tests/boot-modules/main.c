/**
 * @file tests/boot-modules/main.c
 *
 * The boot modules a PVH kernel finds in its hvm_start_info (Xen's
 * public/arch-x86/hvm/start_info.h, as libxenguest's bootlate_hvm() and
 * Xen's dom0 builder write it): a ramdisk given with `hvsim run --ramdisk`
 * or as an LCM/boot-config module is module 0.
 *
 * For each module the test checks that it lies page-aligned in RAM (an
 * E820 RAM range of the start info's memory map), clear of this kernel's
 * image, of the start info and of the module list, and prints its size,
 * command line and an FNV-1a hash of its bytes, which tests/test_linux_path.py
 * compares with the file it gave.  With no module, nr_modules and
 * modlist_paddr are 0, as Xen leaves them.
 */
#include <xtf.h>
#include <xtf/cmdline.h>
#include <arch/setup.h>

const char test_title[] = "Boot modules in the PVH start info";

extern char _image_start[], _image_end[];

#define FNV_OFFSET 0x811c9dc5u
#define FNV_PRIME  0x01000193u

static uint32_t fnv1a(const uint8_t *p, uint64_t len)
{
    uint32_t h = FNV_OFFSET;

    while ( len-- )
        h = (h ^ *p++) * FNV_PRIME;
    return h;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static bool in_ram(uint64_t addr, uint64_t len)
{
    const struct hvm_memmap_table_entry *mm =
        (const void *)(unsigned long)pvh_start_info->memmap_paddr;
    unsigned int i;

    for ( i = 0; i < pvh_start_info->memmap_entries; i++ )
        if ( mm[i].type == XEN_HVM_MEMMAP_TYPE_RAM && addr >= mm[i].addr &&
             addr + len <= mm[i].addr + mm[i].size )
            return true;
    return false;
}

static void check_module(unsigned int i, const struct hvm_modlist_entry *m)
{
    const char *cmdline = m->cmdline_paddr ? (const char *)(unsigned long)m->cmdline_paddr : "";
    uint64_t image = (unsigned long)_image_start;
    uint64_t image_len = (unsigned long)_image_end - image;

    xtf_check(!(m->paddr & (PAGE_SIZE - 1)), "module %u at %#llx: not page-aligned", i,
              (unsigned long long)m->paddr);
    xtf_check(m->size && in_ram(m->paddr, m->size), "module %u [%#llx, +%#llx): not in RAM", i,
              (unsigned long long)m->paddr, (unsigned long long)m->size);
    xtf_check(!overlaps(m->paddr, m->size, image, image_len),
              "module %u overlaps the kernel image", i);
    xtf_check(!overlaps(m->paddr, m->size, pvh_start_info_pa, sizeof(*pvh_start_info)),
              "module %u overlaps the start info", i);
    xtf_check(!overlaps(m->paddr, m->size, pvh_start_info->modlist_paddr,
                        pvh_start_info->nr_modules * sizeof(*m)),
              "module %u overlaps the module list", i);
    printk("module %u: size %#llx cmdline '%s' fnv1a %#x\n", i, (unsigned long long)m->size,
           cmdline, fnv1a((const void *)(unsigned long)m->paddr, m->size));
}

void test_main(void)
{
    const struct hvm_modlist_entry *mods =
        (const void *)(unsigned long)pvh_start_info->modlist_paddr;
    unsigned int i, nr = pvh_start_info->nr_modules;

    printk("cmdline '%s'\n", cmdline());
    printk("modules: %u\n", nr);
    if ( !nr )
        xtf_check_eq("modlist_paddr without modules", pvh_start_info->modlist_paddr, 0);
    for ( i = 0; i < nr; i++ )
        check_module(i, &mods[i]);

    xtf_success(NULL);
}
