/**
 * @file arch/x86/setup.c
 *
 * arch_setup(): everything between head.S and the test.
 */
#include <xtf.h>
#include <arch/setup.h>
#include <xtf/cmdline.h>
#include <xtf/ctl.h>

uint32_t pvh_start_info_pa;
const struct hvm_start_info *pvh_start_info;

bool xen_present;
uint32_t xen_cpuid_base;
unsigned int xen_major, xen_minor;

static void setup_tss(void)
{
    unsigned long base = (unsigned long)&tss;

#ifdef __x86_64__
    tss.rsp0 = (unsigned long)tss_stack + STACK_SIZE;
    tss.ist[IST_DF - 1] = (unsigned long)df_stack + STACK_SIZE;
    tss.ist[IST_NMI - 1] = (unsigned long)nmi_stack + STACK_SIZE;
    gdt[GDTE_TSS + 1] = base >> 32;     /* A 16-byte system descriptor. */
#else
    tss.esp0 = (unsigned long)tss_stack + STACK_SIZE;
    tss.ss0 = __KERN_DS;
#endif
    tss.iopb = sizeof(tss);             /* No I/O bitmap: ring 3 I/O faults. */
    gdt[GDTE_TSS] = INIT_DESC(base, sizeof(tss) - 1, DESC_P | DESC_TSS_AVAIL, 0);
    ltr(TSS_SEL);
}

static void setup_idt(void)
{
    unsigned int vec;

    for ( vec = 0; vec < ARRAY_SIZE(idt); vec++ )
        reset_idt_entry(vec);
    lidt(&idt_ptr);
}

/*
 * x87 with native error reporting (CR0.NE: #MF rather than FERR#), and SSE
 * with unmasked SIMD exceptions reported as #XM, if the CPU has them.
 */
static void setup_fpu(void)
{
    uint32_t edx = cpuid_edx(1);
    unsigned long cr0 = read_cr0();

    cr0 |= X86_CR0_MP | X86_CR0_NE;
    cr0 &= ~(X86_CR0_EM | X86_CR0_TS);
    write_cr0(cr0);
    asm volatile ("fninit");

    if ( (edx & X86_FEAT_1D_FXSR) && (edx & X86_FEAT_1D_SSE) )
        write_cr4(read_cr4() | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT);
}

/* Xen's leaves may sit at any 0x100 boundary (e.g. behind Viridian's). */
static void detect_xen(void)
{
    uint32_t base, eax, ebx, ecx, edx;

    for ( base = XEN_CPUID_FIRST_LEAF; base < XEN_CPUID_FIRST_LEAF + 0x10000;
          base += 0x100 )
    {
        cpuid(base, &eax, &ebx, &ecx, &edx);
        if ( ebx == XEN_CPUID_SIGNATURE_EBX && ecx == XEN_CPUID_SIGNATURE_ECX &&
             edx == XEN_CPUID_SIGNATURE_EDX && eax - base >= 2 )
        {
            xen_present = true;
            xen_cpuid_base = base;
            break;
        }
    }
    if ( !xen_present )
        return;

    eax = cpuid_eax(xen_cpuid_base + 1);
    xen_major = eax >> 16;
    xen_minor = eax & 0xffff;

    /* Leaf base+2: EBX is the MSR that installs the hypercall page. */
    cpuid(xen_cpuid_base + 2, &eax, &ebx, &ecx, &edx);
    wrmsr(ebx, (unsigned long)hypercall_page);
}

bool cpu_is_intel(void)
{
    uint32_t eax, ebx, ecx, edx;

    cpuid(0, &eax, &ebx, &ecx, &edx);
    /* "GenuineIntel" */
    return ebx == 0x756e6547 && edx == 0x49656e69 && ecx == 0x6c65746e;
}

unsigned int cpu_maxphysaddr(void)
{
    if ( cpuid_eax(0x80000000) >= 0x80000008 )
        return cpuid_eax(0x80000008) & 0xff;
    return 36;
}

intpte_t *l1e_of(const void *va)
{
#if CONFIG_PAGING_LEVELS > 0
    unsigned long addr = (unsigned long)va;

    if ( addr < L1_IDENTMAP_END )
        return &l1_identmap[addr >> PAGE_SHIFT];
#endif
    return NULL;
}

void arch_setup(void)
{
    pvh_start_info = (const void *)(unsigned long)pvh_start_info_pa;

    setup_tss();
    setup_idt();
    setup_fpu();
    detect_xen();
}

const char *arch_cmdline(void)
{
    if ( !pvh_start_info || !pvh_start_info->cmdline_paddr )
        return "";
    return (const char *)(unsigned long)pvh_start_info->cmdline_paddr;
}

/* Our domid: CPUID leaf base + 4, ECX. */
domid_t self_domid(void)
{
    uint32_t eax, ebx, ecx, edx;

    cpuid_count(xen_cpuid_base + 4, 0, &eax, &ebx, &ecx, &edx);
    return ecx;
}
