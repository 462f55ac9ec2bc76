/**
 * @file tests/platform/main.c
 *
 * The x86 platform a PVH domU has on Xen (xen/arch/x86/hvm/):
 *
 * - guest-physical space and I/O ports that nothing backs complete through
 *   Xen's null handler: reads return all ones, writes are discarded, and an
 *   instruction fetch from there is #GP(0) (the
 *   addresses of an IO-APIC, an HPET, PCI config ports, the PIT and RTC
 *   included: a PVH domU has none of them);
 * - CR4 as Xen's hvm_set_cr4() has it for this CPUID policy: a bit whose
 *   feature CPUID does not show (VMX, SMX, UMIP, LA57, PCID, SMAP, PKU, CET)
 *   or a reserved bit is #GP(0) and leaves CR4 unchanged; FSGSBASE and
 *   OSXSAVE (shown) set and clear;
 * - a page Xen maps into a hole later (shared_info with add_to_physmap)
 *   replaces the null handler there, and the null handler is back once it
 *   is moved away.
 */
#include <xtf.h>

const char test_title[] = "The PVH platform";

#define IOAPIC_BASE   0xfec00000u
#define HPET_BASE     0xfed00000u
#define HOLE_4G_BELOW 0xf0000000u      /* between RAM and the APIC window */

static volatile uint8_t *mmio8(unsigned long gpa) { return (volatile uint8_t *)gpa; }
static volatile uint16_t *mmio16(unsigned long gpa) { return (volatile uint16_t *)gpa; }
static volatile uint32_t *mmio32(unsigned long gpa) { return (volatile uint32_t *)gpa; }

static void check_hole(const char *what, unsigned long gpa)
{
    xtf_check_eq(what, *mmio32(gpa), 0xffffffffu);
    *mmio32(gpa) = 0x12345678;
    xtf_check(*mmio32(gpa) == 0xffffffffu, "%s: write to %#lx not discarded", what, gpa);
    xtf_check_eq(what, *mmio16(gpa + 2), 0xffffu);
    xtf_check_eq(what, *mmio8(gpa + 5), 0xffu);
}

static void test_unbacked(void)
{
    printk("Testing unbacked guest-physical space and ports\n");

    check_hole("hole below 4 GiB", HOLE_4G_BELOW);
    check_hole("hole, last dword of a page", HOLE_4G_BELOW + 0x1ff8);
    check_hole("IO-APIC (absent)", IOAPIC_BASE);
    check_hole("IO-APIC data window (absent)", IOAPIC_BASE + 0x10);
    check_hole("HPET capabilities (absent)", HPET_BASE);
    check_hole("HPET counter (absent)", HPET_BASE + 0xf0);

    /* A string store into a hole, then a read of a whole range. */
    memset((void *)(unsigned long)(HOLE_4G_BELOW + 0x3000), 0, 64);
    xtf_check_eq("rep stos into a hole", *mmio32(HOLE_4G_BELOW + 0x3020), 0xffffffffu);

    xtf_check_eq("port 0x61 (no PIT/speaker)", inb(0x61), 0xff);
    xtf_check_eq("port 0x71 (no RTC)", inb(0x71), 0xff);
    outl(0x80000000u, 0xcf8);       /* no PCI config space */
    xtf_check_eq("port 0xcfc (no PCI)", inb(0xcfc), 0xff);
    outb(0xff, 0x21);               /* a PIC mask write: discarded */
    xtf_check_eq("port 0x21 (no PIC)", inb(0x21), 0xff);
}

/* A jump into a hole: Xen cannot fetch from MMIO and injects #GP(0) there. */
#define FETCH_HOLE (HOLE_4G_BELOW + 0x5000)
extern char fetch_hole_resume[];
static volatile unsigned long fetch_gp_ip;

static bool fetch_gp_hook(struct cpu_regs *regs)
{
    if ( regs->entry_vector != X86_EXC_GP || regs->ip != FETCH_HOLE )
        return false;
    fetch_gp_ip = regs->ip;
    xtf_check_eq("#GP error code for a fetch from a hole", regs->error_code, 0);
    regs->ip = (unsigned long)fetch_hole_resume;
    return true;
}

static void __attribute__((noinline)) test_fetch_from_hole(void)
{
    xtf_exception_hook = fetch_gp_hook;
    asm volatile ("jmp *%[target]; fetch_hole_resume:"
                  :: [target] "r" ((unsigned long)FETCH_HOLE) : "memory");
    xtf_exception_hook = NULL;
    xtf_check_eq("#GP(0) at the hole's address", fetch_gp_ip, FETCH_HOLE);
}

static uint8_t spare_page[XEN_PAGE_SIZE] __aligned(XEN_PAGE_SIZE);

/* shared_info put on a gfn that was a hole, then moved on. */
static void test_hole_then_mapped(void)
{
    unsigned long gfn = (HOLE_4G_BELOW >> XEN_PAGE_SHIFT) + 0x10;
    volatile struct shared_info *si = (void *)(gfn << XEN_PAGE_SHIFT);
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_shared_info, .idx = 0, .gpfn = gfn,
    };

    printk("Testing a hole that Xen maps a page into\n");

    xtf_check_eq("hole before add_to_physmap", *mmio32(gfn << XEN_PAGE_SHIFT), 0xffffffffu);
    if ( !xtf_check_rc("add_to_physmap(shared_info) on a hole",
                       hypercall_memory_op(XENMEM_add_to_physmap, &xatp), 0) )
        return;
    si->evtchn_mask[0] = 0x5a5a;
    xtf_check_eq("shared_info in the former hole", si->evtchn_mask[0], 0x5a5a);
    xtf_check(si->wc_sec != 0xffffffffu, "shared_info wc_sec reads all ones");

    /* Move it on to a RAM page: the gfn becomes a hole again. */
    xatp.gpfn = (unsigned long)spare_page >> XEN_PAGE_SHIFT;
    xtf_check_rc("add_to_physmap(shared_info) back",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), 0);
    xtf_check_eq("hole after the page moved away", *mmio32(gfn << XEN_PAGE_SHIFT),
                 0xffffffffu);
}

struct cr4_bit {
    const char *name;
    unsigned int bit, leaf, reg, feat;     /* reg: 1 EBX, 2 ECX, 3 EDX; feat: its bit */
};

static bool cpuid_shows(const struct cr4_bit *b)
{
    uint32_t r[4];

    if ( !b->leaf )
        return false;                      /* reserved */
    cpuid_count(b->leaf, 0, &r[0], &r[1], &r[2], &r[3]);
    return r[b->reg] & (1u << b->feat);
}

static void test_cr4(void)
{
    static const struct cr4_bit bits[] = {
        { "VME", 0, 1, 3, 1 },       { "UMIP", 11, 7, 2, 2 },
        { "LA57", 12, 7, 2, 16 },    { "VMXE", 13, 1, 2, 5 },
        { "SMXE", 14, 1, 2, 6 },     { "bit 15", 15, 0, 0, 0 },
        { "FSGSBASE", 16, 7, 1, 0 }, { "PCIDE", 17, 1, 2, 17 },
        { "OSXSAVE", 18, 1, 2, 26 }, { "bit 19 (KL)", 19, 0, 0, 0 },
        { "SMAP", 21, 7, 1, 20 },    { "PKE", 22, 7, 2, 3 },
        { "CET", 23, 7, 2, 7 },      { "bit 31", 31, 0, 0, 0 },
    };
    unsigned long cr4 = read_cr4();
    char what[64];

    printk("Testing CR4 against the CPUID policy\n");
    for ( unsigned int i = 0; i < ARRAY_SIZE(bits); i++ )
    {
        const struct cr4_bit *b = &bits[i];
        unsigned long val = cr4 | (1ul << b->bit);

        snprintf(what, sizeof(what), "CR4.%s %s", b->name,
                 cpuid_shows(b) ? "(shown)" : "(not shown)");
        if ( cpuid_shows(b) )
        {
            if ( xtf_check_exinfo(what, write_cr4_safe(val), 0) )
            {
                xtf_check(read_cr4() == val, "%s: CR4 %#lx after setting", what, read_cr4());
                xtf_check_exinfo(what, write_cr4_safe(cr4), 0);
            }
        }
        else
        {
            xtf_check_exinfo(what, write_cr4_safe(val), EXINFO_SYM(GP, 0));
            xtf_check(read_cr4() == cr4, "%s: CR4 %#lx after a refused write", what,
                      read_cr4());
        }
    }
}

void test_main(void)
{
    test_unbacked();
    test_fetch_from_hole();
    test_cr4();
    test_hole_then_mapped();

    xtf_success(NULL);
}
