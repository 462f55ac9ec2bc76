/**
 * @file tests/trap-runs/main.c
 *
 * Instructions hvsim traps, back to back with nothing between them, as
 * guests write them (GRUB's TSC read is `cpuid; rdtsc`; polling loops read
 * a port twice): cpuid then rdtsc, rdtsc then rdtsc, rdtsc then cpuid, and
 * in then in, many times over, so that slices end (time-slice ends, timer
 * deadlines, deterministic slice budgets) at the first of a pair again and
 * again.
 *
 * The second of each pair must still be Xen's answer: the TSC the guest
 * has always seen (never the host's: Unicorn runs an instruction's own
 * behaviour, not hvsim's hook, once a stop has been asked for in the same
 * translated block), Xen's CPUID leaves, and all ones from a port nothing
 * backs (no PIT in a PVH domain: port 0x61).
 */
#include <xtf.h>

const char test_title[] = "Trapped instructions back to back";

#define ROUNDS      40000
#define TSC_STEP    (1ull << 36)   /* more than ~30 s between two reads: not ours */
#define PORT        0x61

static unsigned long bad_tsc, bad_cpuid, bad_port;
static uint64_t last_tsc, worst_step;

static void check_tsc(uint64_t tsc)
{
    if ( tsc < last_tsc || tsc - last_tsc > TSC_STEP )
    {
        if ( !bad_tsc++ )
            printk("  first bad TSC: %#llx after %#llx\n", (unsigned long long)tsc, (unsigned long long)last_tsc);
    }
    else if ( tsc - last_tsc > worst_step )
        worst_step = tsc - last_tsc;
    last_tsc = tsc;
}

static void check_sig(uint32_t b, uint32_t c, uint32_t d)
{
    if ( b != XEN_CPUID_SIGNATURE_EBX || c != XEN_CPUID_SIGNATURE_ECX ||
         d != XEN_CPUID_SIGNATURE_EDX )
    {
        if ( !bad_cpuid++ )
            printk("  first bad CPUID signature: %08x %08x %08x\n", b, c, d);
    }
}

static void cpuid_then_rdtsc(void)
{
    uint32_t a, b, c = 0, d, lo, hi;

    asm volatile ("mov %[base], %%eax; cpuid; rdtsc; mov %%eax, %[lo]; mov %%edx, %[hi]; "
                  "mov %[base], %%eax; xor %%ecx, %%ecx; cpuid"
                  : "=&a" (a), "=&b" (b), "+c" (c), "=&d" (d), [lo] "=&r" (lo), [hi] "=&r" (hi)
                  : [base] "r" (xen_cpuid_base));
    check_tsc(((uint64_t)hi << 32) | lo);
    check_sig(b, c, d);
}

static void rdtsc_then_rdtsc(void)
{
    uint32_t lo1, hi1, lo2, hi2;

    asm volatile ("rdtsc; mov %%eax, %[lo]; mov %%edx, %[hi]; rdtsc"
                  : "=a" (lo2), "=d" (hi2), [lo] "=&r" (lo1), [hi] "=&r" (hi1));
    check_tsc(((uint64_t)hi1 << 32) | lo1);
    check_tsc(((uint64_t)hi2 << 32) | lo2);
}

static void rdtsc_then_cpuid(void)
{
    uint32_t a, b, c = 0, d, lo, hi;

    asm volatile ("rdtsc; mov %%eax, %[lo]; mov %%edx, %[hi]; mov %[base], %%eax; cpuid"
                  : "=&a" (a), "=&b" (b), "+c" (c), "=&d" (d), [lo] "=&r" (lo), [hi] "=&r" (hi)
                  : [base] "r" (xen_cpuid_base));
    check_tsc(((uint64_t)hi << 32) | lo);
    check_sig(b, c, d);
}

static void in_then_in(void)
{
    uint8_t v1, v2;

    asm volatile ("inb %w[port], %%al; mov %%al, %[v1]; inb %w[port], %%al"
                  : "=a" (v2), [v1] "=&r" (v1) : [port] "Nd" (PORT));
    if ( v1 != 0xff || v2 != 0xff )
    {
        if ( !bad_port++ )
            printk("  first bad read of port %#x: %#x %#x\n", PORT, v1, v2);
    }
}

void test_main(void)
{
    if ( !xen_cpuid_base )
        return xtf_skip("Skip: not under Xen\n");

    printk("Testing %u rounds of cpuid+rdtsc, rdtsc+rdtsc, rdtsc+cpuid, in+in\n", ROUNDS);
    last_tsc = rdtsc();
    for ( unsigned int i = 0; i < ROUNDS; i++ )
    {
        cpuid_then_rdtsc();
        rdtsc_then_rdtsc();
        rdtsc_then_cpuid();
        in_then_in();
    }
    printk("  largest step between TSC reads: %llu ticks\n", (unsigned long long)worst_step);

    xtf_check(bad_tsc == 0, "%lu TSC reads not the guest's TSC", bad_tsc);
    xtf_check(bad_cpuid == 0, "%lu CPUID reads without Xen's signature", bad_cpuid);
    xtf_check(bad_port == 0, "%lu port %#x reads not all ones", bad_port, PORT);
    xtf_success(NULL);
}
