/**
 * @file tests/sipi/main.c
 *
 * Starting a vCPU the way Linux starts its APs on a PVH domU (native
 * INIT/SIPI through the local APIC, smp_ops.cpu_up untouched by
 * arch/x86/xen/smp_hvm.c), as Xen's vlapic_init_sipi_one() and
 * hvm_vcpu_reset_state() answer it:
 *
 * - INIT then STARTUP with vector 0x08 starts vCPU 1 in real mode at
 *   0800:0000 (CS.base 0x8000), EDX 0xf00, CR0 = ET only;
 * - a STARTUP for a vCPU that is initialised (here: down after cli; hlt)
 *   is ignored;
 * - INIT makes it startable again.
 *
 * Needs two vCPUs (--vcpus 2); with one it ends SKIP.
 */
#include <xtf.h>
#include <xtf/smp.h>

const char test_title[] = "INIT/SIPI vCPU start";

#define APIC_BASE_GPA   0xfee00000u
#define APIC_ICR        0x300
#define APIC_ICR2       0x310
#define ICR_INIT        0x500
#define ICR_STARTUP     0x600
#define ICR_ASSERT      (1u << 14)
#define ICR_LEVEL       (1u << 15)
#define TRAMPOLINE      0x8000u             /* below 1 MiB: SIPI vector 0x08 */
#define AP_APIC_ID      2                   /* vCPU 1: 2 x vcpu_id */

/* The real-mode stub vCPU 1 runs: record CS, EDX and CR0, count, stop. */
struct stub_data {
    uint32_t edx;
    uint32_t cs;
    uint32_t cr0;
    uint32_t count;
};
extern const char sipi_stub[], sipi_stub_data[], sipi_stub_end[];
asm (".pushsection .text\n"
     ".code16\n"
     "sipi_stub:\n"
     "    mov %cs, %ax\n"
     "    mov %ax, %ds\n"
     "    mov %edx, sipi_stub_data - sipi_stub\n"
     "    mov %ax, sipi_stub_data - sipi_stub + 4\n"
     "    mov %cr0, %eax\n"
     "    mov %eax, sipi_stub_data - sipi_stub + 8\n"
     "    lock incl sipi_stub_data - sipi_stub + 12\n"
     "1:  cli\n"
     "    hlt\n"
     "    jmp 1b\n"
     ".balign 16\n"
     "sipi_stub_data: .fill 16, 1, 0\n"
     "sipi_stub_end:\n"
#ifdef __x86_64__
     ".code64\n"
#else
     ".code32\n"
#endif
     ".popsection\n");

static volatile struct stub_data *data;
static uint32_t tsc_khz;

static void wait_us(unsigned int us)
{
    uint64_t end = rdtsc() + (uint64_t)(tsc_khz / 1000) * us;

    while ( rdtsc() < end )
        asm volatile ("pause" ::: "memory");
}

static void icr(uint32_t low)
{
    volatile uint32_t *apic = (volatile uint32_t *)(unsigned long)APIC_BASE_GPA;

    apic[APIC_ICR2 / 4] = AP_APIC_ID << 24;
    apic[APIC_ICR / 4] = low;
}

static void init_ipi(void)
{
    icr(ICR_INIT | ICR_LEVEL | ICR_ASSERT);
    icr(ICR_INIT | ICR_LEVEL);              /* de-assert: nothing to do */
}

/* Wait (a bounded while) for the stub's count to reach n. */
static bool wait_count(uint32_t n)
{
    for ( unsigned int i = 0; i < 200; i++ )
    {
        if ( data->count >= n )
            return true;
        wait_us(100);
    }
    return data->count >= n;
}

void test_main(void)
{
    if ( smp_nr_vcpus() < 2 )
        return xtf_skip("Skip: one vCPU: run with --vcpus 2\n");

    tsc_khz = cpuid_ecx(xen_cpuid_base + 3);
    memcpy((void *)(unsigned long)TRAMPOLINE, sipi_stub, sipi_stub_end - sipi_stub);
    data = (void *)(unsigned long)(TRAMPOLINE + (sipi_stub_data - sipi_stub));

    printk("Testing INIT, STARTUP 0x%02x\n", TRAMPOLINE >> 12);
    init_ipi();
    icr(ICR_STARTUP | (TRAMPOLINE >> 12));
    if ( !xtf_check(wait_count(1), "vCPU 1 did not run the real-mode stub") )
        return;
    xtf_check_eq("CS after STARTUP", data->cs, TRAMPOLINE >> 4);
    xtf_check_eq("EDX after STARTUP", data->edx, 0xf00);
    xtf_check_eq("CR0 after STARTUP (ET only)", data->cr0, 0x10);
    printk("  vCPU 1 ran at %04x:0000, EDX %#x, CR0 %#x\n", data->cs, data->edx, data->cr0);

    printk("Testing STARTUP for an initialised vCPU\n");
    icr(ICR_STARTUP | (TRAMPOLINE >> 12));
    wait_count(2);
    xtf_check_eq("stub runs after a second STARTUP (ignored)", data->count, 1);

    printk("Testing INIT, STARTUP again\n");
    init_ipi();
    icr(ICR_STARTUP | (TRAMPOLINE >> 12));
    xtf_check(wait_count(2), "vCPU 1 not restarted after INIT");
    xtf_check_eq("stub runs", data->count, 2);

    xtf_success(NULL);
}
