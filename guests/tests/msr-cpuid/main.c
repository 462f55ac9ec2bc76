/**
 * @file tests/msr-cpuid/main.c
 *
 * CPUID and MSRs as a PVH domU sees them under Xen:
 *
 * - Xen's CPUID leaves (0x40000000 ...) and the hypervisor bit;
 * - leaves with subleaves answered per subleaf, as Xen's policy does
 *   (leaf 4 ends with a null cache, 0xB echoes the subleaf and gives the
 *   x2APIC ID, 7 and 0xD are empty past their last subleaf);
 * - MSR round trips and the #GP cases: architectural ones (EFER reserved
 *   bits, PAT memory types, non-canonical bases, ring 3 access), and Xen's
 *   policy (the values it presents, unknown MSRs #GP, the hypercall MSR).
 *
 * Without Xen only the architectural part runs, and the test ends SKIP.
 */
#include <xtf.h>

const char test_title[] = "CPUID and MSRs";

static void check_cpuid(const char *what, uint32_t leaf, uint32_t subleaf,
                        uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    uint32_t ga, gb, gc, gd;

    cpuid_count(leaf, subleaf, &ga, &gb, &gc, &gd);
    xtf_check(ga == a && gb == b && gc == c && gd == d,
              "%s (leaf %#x:%u): expected %08x %08x %08x %08x, got %08x %08x %08x %08x",
              what, leaf, subleaf, a, b, c, d, ga, gb, gc, gd);
}

static void test_xen_cpuid(void)
{
    uint32_t base = xen_cpuid_base, a, b, c, d;

    printk("Testing Xen's CPUID leaves\n");

    xtf_check(cpuid_ecx(1) & X86_FEAT_1C_HYPERVISOR, "CPUID.1:ECX.hypervisor clear");

    check_cpuid("signature", base, 0, base + XEN_CPUID_MAX_NUM_LEAVES,
                XEN_CPUID_SIGNATURE_EBX, XEN_CPUID_SIGNATURE_ECX,
                XEN_CPUID_SIGNATURE_EDX);
    check_cpuid("version", base + 1, 0,
                hypercall_xen_version(XENVER_version, NULL), 0, 0, 0);
    check_cpuid("hypercall page", base + 2, 0, 1, XEN_HYPERCALL_MSR, 0, 0);

    cpuid_count(base + 3, 0, &a, &b, &c, &d);
    xtf_check(a & XEN_CPUID_HOST_TSC_RELIABLE,
              "leaf %#x:0 EAX %#x lacks HOST_TSC_RELIABLE", base + 3, a);
    xtf_check_eq("leaf base+3:0 EBX (tsc_mode default)", b, 0);
    xtf_check(c, "leaf %#x:0 ECX: TSC frequency 0 kHz", base + 3);
    check_cpuid("TSC, no subleaf 3", base + 3, 3, 0, 0, 0, 0);

    /* HVM: these flags always; the two APIC virtualisation ones depend on the host. */
    cpuid_count(base + 4, 0, &a, &b, &c, &d);
    xtf_check_eq("leaf base+4:0 EAX (HVM flags, no APIC virtualisation)", a,
                 XEN_HVM_CPUID_IOMMU_MAPPINGS | XEN_HVM_CPUID_VCPU_ID_PRESENT |
                 XEN_HVM_CPUID_DOMID_PRESENT | XEN_HVM_CPUID_UPCALL_VECTOR);
    xtf_check_eq("leaf base+4:0 EBX (vCPU id)", b, 0);
    xtf_check(c && c < DOMID_FIRST_RESERVED, "leaf base+4:0 ECX: domid %u", c);
    xtf_check_eq("leaf base+4:0 EDX", d, 0);
    printk("  domid %u\n", c);
    check_cpuid("HVM, subleaf 1", base + 4, 1, 0, 0, 0, 0);

    check_cpuid("PV-only leaf", base + 5, 0, 0, 0, 0, 0);
    check_cpuid("beyond the last leaf", base + 6, 0, 0, 0, 0, 0);
    check_cpuid("beyond the last leaf", base + 0x10, 0, 0, 0, 0, 0);
    check_cpuid("beyond the last leaf", base + 0xff, 0, 0, 0, 0, 0);
    check_cpuid("second range", base + 0x100, 0, 0, 0, 0, 0);
}

static void test_subleaves(void)
{
    uint32_t a, b, c, d, i, max7;

    printk("Testing CPUID subleaves\n");

    /* Leaf 4: deterministic cache parameters, ending with a type-0 entry. */
    for ( i = 0; i < 32; i++ )
    {
        cpuid_count(4, i, &a, &b, &c, &d);
        if ( !(a & 0x1f) )
            break;
        /* libxc: APIC IDs are 2 x vcpu_id, no SMT: odd cores, no sharing */
        xtf_check((a >> 26) & 1, "leaf 4:%u cores-per-package %u not odd", i, a >> 26);
        xtf_check_eq("leaf 4 threads sharing the cache", (a >> 14) & 0xfff, 0);
    }
    xtf_check(i > 0 && i <= 8, "leaf 4: %u cache subleaves", i);

    /* Leaf 7: subleaves past EAX of subleaf 0 are empty. */
    max7 = cpuid_eax(7);
    check_cpuid("leaf 7 past the last subleaf", 7, max7 + 1, 0, 0, 0, 0);

    /* Leaf 0xB: no topology, the subleaf in ECX[7:0], the x2APIC ID in EDX. */
    check_cpuid("topology subleaf 0", 0xb, 0, 0, 0, 0, 0);
    check_cpuid("topology subleaf 1", 0xb, 1, 0, 0, 1, 0);
    check_cpuid("topology subleaf 5", 0xb, 5, 0, 0, 5, 0);

    /* Leaf 0xD: a component XCR0 may not hold has an empty subleaf. */
    cpuid_count(0xd, 0, &a, &b, &c, &d);
    xtf_check((a & 3) == 3, "leaf 0xd:0 EAX %#x lacks x87/SSE", a);
    for ( i = 2; i < 32; i++ )
        if ( !(a & (1u << i)) )
        {
            uint32_t sa, sb, sc, sd;

            cpuid_count(0xd, i, &sa, &sb, &sc, &sd);
            xtf_check(!sa && !sb, "leaf 0xd:%u: component not in XCR0 has size %u", i, sa);
        }
    if ( !(cpuid_ecx(1) & (1u << 28)) )
        xtf_check(!(a & 4), "leaf 0xd:0 offers YMM without AVX");
}

/* Write @val, read it back, restore the original. */
static void check_round_trip(const char *name, uint32_t msr, uint64_t val)
{
    uint64_t orig, got;
    exinfo_t fault = rdmsr_safe(msr, &orig);
    char what[80];

    snprintf(what, sizeof(what), "rdmsr %s", name);
    if ( !xtf_check_exinfo(what, fault, 0) )
        return;

    snprintf(what, sizeof(what), "wrmsr %s, %#llx", name, (unsigned long long)val);
    if ( !xtf_check_exinfo(what, wrmsr_safe(msr, val), 0) )
        return;
    snprintf(what, sizeof(what), "%s read back", name);
    rdmsr_safe(msr, &got);
    xtf_check_eq(what, got, val);
    wrmsr(msr, orig);
}

/* A write that must #GP and leave the MSR unchanged. */
static void check_write_gp(const char *name, uint32_t msr, uint64_t val)
{
    uint64_t before = 0, after = 0;
    char what[80];

    rdmsr_safe(msr, &before);
    snprintf(what, sizeof(what), "wrmsr %s, %#llx", name, (unsigned long long)val);
    xtf_check_exinfo(what, wrmsr_safe(msr, val), EXINFO_SYM(GP, 0));
    rdmsr_safe(msr, &after);
    snprintf(what, sizeof(what), "%s unchanged by a faulting write", name);
    xtf_check_eq(what, after, before);
}

static void check_read(const char *name, uint32_t msr, uint64_t exp)
{
    uint64_t val;
    char what[80];

    snprintf(what, sizeof(what), "rdmsr %s", name);
    if ( xtf_check_exinfo(what, rdmsr_safe(msr, &val), 0) )
        xtf_check_eq(what, val, exp);
}

static void check_absent(const char *name, uint32_t msr)
{
    uint64_t val;
    char what[80];

    snprintf(what, sizeof(what), "rdmsr %s", name);
    xtf_check_exinfo(what, rdmsr_safe(msr, &val), EXINFO_SYM(GP, 0));
    snprintf(what, sizeof(what), "wrmsr %s", name);
    xtf_check_exinfo(what, wrmsr_safe(msr, 0), EXINFO_SYM(GP, 0));
}

static void test_architectural_msrs(void)
{
    uint64_t efer = rdmsr(MSR_EFER);
    /* PAT entries are 0 UC, 1 WC, 4 WT, 5 WP, 6 WB, 7 UC-; 2, 3, 8+ are reserved. */
    const uint64_t pat = 0x0007040600070406ull, pat2 = 0x0105040607000106ull;

    printk("Testing architectural MSRs\n");

    check_round_trip("EFER", MSR_EFER, efer);
    if ( cpuid_edx(0x80000001) & X86_FEAT_E1D_LM )
        check_round_trip("EFER (SCE toggled)", MSR_EFER, efer ^ EFER_SCE);
#if CONFIG_PAGING_LEVELS >= 3
    if ( cpuid_edx(0x80000001) & X86_FEAT_E1D_NX )
        check_round_trip("EFER (NXE toggled)", MSR_EFER, efer ^ EFER_NXE);
#endif
    check_write_gp("EFER (reserved bit 2)", MSR_EFER, efer | (1u << 2));
    check_write_gp("EFER (reserved bit 63)", MSR_EFER, efer | (1ull << 63));

    check_round_trip("SYSENTER_CS", MSR_SYSENTER_CS, __KERN_CS);
    check_round_trip("SYSENTER_ESP", MSR_SYSENTER_ESP, 0x12345678);
    check_round_trip("SYSENTER_EIP", MSR_SYSENTER_EIP, 0x9abcdef0);

    check_round_trip("PAT", MSR_PAT, pat);
    check_round_trip("PAT", MSR_PAT, pat2);
    check_write_gp("PAT (type 2 in entry 1)", MSR_PAT, (pat & ~0xff00ull) | 2ull << 8);
    check_write_gp("PAT (type 3 in entry 7)", MSR_PAT, pat | 3ull << 56);
    check_write_gp("PAT (type 8 in entry 0)", MSR_PAT, (pat & ~0xffull) | 8);

#ifdef __x86_64__
    check_round_trip("STAR", MSR_STAR, 0x0023001000000000ull | 0x12345678);
    check_round_trip("LSTAR", MSR_LSTAR, 0xffff800012345678ull);
    check_round_trip("CSTAR", MSR_CSTAR, 0x00007fff12345678ull);
    check_round_trip("FMASK", MSR_FMASK, X86_EFLAGS_IF | X86_EFLAGS_TF);
    check_round_trip("FS_BASE", MSR_FS_BASE, 0xffff888000001000ull);
    check_round_trip("GS_BASE", MSR_GS_BASE, 0x00007f0000002000ull);
    check_round_trip("SHADOW_GS_BASE", MSR_SHADOW_GS_BASE, 0xffffc90000003000ull);
    check_write_gp("LSTAR (non-canonical)", MSR_LSTAR, 0x0000800000000000ull);
    check_write_gp("FS_BASE (non-canonical)", MSR_FS_BASE, 0x8000000000000000ull);
    check_write_gp("GS_BASE (non-canonical)", MSR_GS_BASE, 0x0001000000000000ull);

    {
        /* FS_BASE is what %fs-relative accesses use. */
        static unsigned long fs_var = 0x600d;
        unsigned long val;

        wrmsr(MSR_FS_BASE, (unsigned long)&fs_var);
        asm volatile ("mov %%fs:0, %0" : "=r" (val));
        xtf_check_eq("%fs:0 with FS_BASE = &var", val, fs_var);
        wrmsr(MSR_FS_BASE, 0);
    }
#endif

    {
        uint64_t t1 = rdmsr(MSR_TSC), t2 = rdtsc(), t3 = rdmsr(MSR_TSC);

        xtf_check(t1 < t2 && t2 < t3, "TSC not advancing: %#llx %#llx %#llx",
                  (unsigned long long)t1, (unsigned long long)t2,
                  (unsigned long long)t3);
    }
}

/* rdmsr/wrmsr are ring 0 only: #GP(0) at ring 3, whatever the MSR. */
static unsigned long user_rdmsr(unsigned long msr)
{
    uint64_t val;

    return rdmsr_safe(msr, &val);
}

static unsigned long user_wrmsr(unsigned long msr)
{
    return wrmsr_safe(msr, 0);
}

static void test_ring3(void)
{
    printk("Testing MSR access from ring 3\n");
    xtf_check_exinfo("rdmsr EFER at ring 3", exec_user_param(user_rdmsr, MSR_EFER),
                     EXINFO_SYM(GP, 0));
    xtf_check_exinfo("wrmsr SYSENTER_CS at ring 3",
                     exec_user_param(user_wrmsr, MSR_SYSENTER_CS), EXINFO_SYM(GP, 0));
    xtf_check_exinfo("rdmsr TSC at ring 3", exec_user_param(user_rdmsr, MSR_TSC),
                     EXINFO_SYM(GP, 0));
}

/* What Xen presents to a PVH domU, and its #GP for everything else. */
static void test_xen_msrs(void)
{
    uint32_t hcall_msr = XEN_HYPERCALL_MSR;

    printk("Testing Xen's MSRs\n");

    check_read("APIC_BASE (vCPU 0)", MSR_APIC_BASE,
               APIC_DEFAULT_BASE | APIC_BASE_BSP | APIC_BASE_ENABLE);
    check_read("DEBUGCTL", MSR_DEBUGCTL, 0);
    /*
     * libxenguest (xg_dom_x86.c) gives every vCPU of a domain without a
     * device model MTRR_TYPE_WRBACK | MTRR_DEF_TYPE_ENABLE (E, bit 11; not
     * FE, bit 10: there are no fixed-range MTRRs), and Xen reads back the
     * E/FE bits as set: 0x806.
     */
    check_read("MTRRdefType", MSR_MTRRdefType,
               MTRR_DEF_TYPE_ENABLE | MTRR_TYPE_WRBACK);
    check_write_gp("MTRRcap (read only)", MSR_MTRRcap, 0);

    /* The hypercall page MSR: reads 0; only page index 0 exists. */
    check_read("hypercall page MSR", hcall_msr, 0);
    check_write_gp("hypercall page MSR, page index 1", hcall_msr,
                   (unsigned long)hypercall_page | 1);
    xtf_check_exinfo("hypercall page MSR, rewritten",
                     wrmsr_safe(hcall_msr, (unsigned long)hypercall_page), 0);
    check_absent("hypercall MSR base+1", hcall_msr + 1);

    /*
     * IA32_UCODE_REV (0x8b): Intel's "write 0, CPUID, read" works (the
     * revision in bits 63:32); any other value is #GP (guest_wrmsr()).
     */
    if ( cpu_is_intel() )
    {
        uint64_t rev = 0;

        xtf_check_exinfo("wrmsr UCODE_REV, 0", wrmsr_safe(0x8b, 0), 0);
        cpuid_eax(1);
        xtf_check_exinfo("rdmsr UCODE_REV", rdmsr_safe(0x8b, &rev), 0);
        xtf_check_eq("UCODE_REV bits 31:0", rev & 0xffffffffu, 0);
        check_write_gp("UCODE_REV, 1", 0x8b, 1);
    }

    /* IA32_FEATURE_CONTROL (0x3a), Intel: locked, nothing enabled; not writable. */
    if ( cpu_is_intel() )
    {
        check_read("FEATURE_CONTROL", 0x3a, 1);
        check_write_gp("FEATURE_CONTROL", 0x3a, 1);
    }

    check_absent("0x0000dead", 0x0000dead);
    check_absent("0xc0011234", 0xc0011234);
    check_absent("x2APIC ID (x2APIC not enabled)", MSR_X2APIC_APICID);
}

void test_main(void)
{
    test_architectural_msrs();
    test_ring3();

    if ( !xen_present )
    {
        xtf_skip("Skip: Xen not present: not testing Xen's CPUID leaves and MSRs\n");
        return;
    }

    test_xen_cpuid();
    test_subleaves();
    test_xen_msrs();

    xtf_success(NULL);
}
