/**
 * @file tests/arm64-traps/main.c
 *
 * What Xen on Arm does at EL2 for an EL1 guest: the hypercall ABI
 * (`hvc #0xEA1`, x16 = number, x0..x4 = arguments, x0 = result, x16 and
 * the consumed arguments clobbered by a debug Xen), any other hvc
 * immediate an undefined instruction, PSCI/SMCCC over `hvc #0`, and the
 * synchronous exceptions the guest takes itself (svc, brk, udf, a data
 * abort; from EL1 and EL0) with ESR_EL1, FAR_EL1 and ELR_EL1 as the
 * architecture defines them; hypercall buffers at virtual addresses once
 * the guest has turned its own MMU on.
 */
#include <xtf.h>
#include <arch/smccc.h>
#include <arch/el0.h>

const char test_title[] = "arm64 traps: hypercall ABI, PSCI, synchronous exceptions";

#define EC(esr)  ((esr) >> 26)
#define ISS(esr) ((esr) & 0x1ffffff)
#define ESR_IL   (1UL << 25)

static volatile unsigned long seen_esr, seen_elr, seen_far, seen_count;
static volatile bool seen_from_el0;
static unsigned long elr_skip;

void do_sync_exception(struct cpu_regs *regs)
{
    seen_esr = regs->esr;
    seen_elr = regs->elr;
    seen_far = regs->far;
    seen_count++;
    seen_from_el0 = el0_return(regs);
    if ( !seen_from_el0 )
        regs->elr += elr_skip;
}

static void test_hypercall_abi(void)
{
    printk("Testing the hypercall ABI\n");

    /* (register variables hold only at the asm: no call in between) */
    register unsigned long x16 asm("x16") = __HYPERVISOR_xen_version;
    register unsigned long x0 asm("x0") = XENVER_version;
    register unsigned long x1 asm("x1") = 0;

    asm volatile ("hvc #0xea1" : "+r" (x0), "+r" (x1), "+r" (x16) :: "memory");
    unsigned long res = x0, nr = x16, arg2 = x1;

    xtf_check(res == ((xen_major << 16) | xen_minor),
              "xen_version: x0 = %#lx, expected %#x", res, (xen_major << 16) | xen_minor);
    xtf_check(nr == 0xdeadbeef, "x16 after a hypercall: %#lx, expected 0xdeadbeef", nr);
    xtf_check(arg2 == 0xdeadbeef, "x1 (consumed) after a hypercall: %#lx", arg2);
    xtf_check_rc("hypercall 63", hypercall(63, 0, 0, 0, 0, 0), -ENOSYS);

    static char caps[XEN_CAPABILITIES_INFO_LEN];
    xtf_check_rc("XENVER_capabilities", hypercall_xen_version(XENVER_capabilities, caps), 0);
    xtf_check(!strcmp(caps, "xen-3.0-aarch64 "), "capabilities \"%s\", expected Xen on Arm's", caps);
}

static void test_bad_hvc(void)
{
    unsigned long after, count = seen_count;

    printk("Testing hvc with another immediate\n");
    elr_skip = 0;
    asm volatile ("adr %0, 1f; hvc #1; 1:" : "=&r" (after) :: "memory");
    xtf_check(seen_count == count + 1, "hvc #1 raised no exception");
    xtf_check(seen_esr == ESR_IL, "hvc #1: ESR %#lx, expected an undefined instruction (%#lx)",
              seen_esr, ESR_IL);
    xtf_check(seen_elr == after, "hvc #1: ELR %#lx, expected the next instruction %#lx",
              seen_elr, after);
}

static void test_psci(void)
{
    printk("Testing PSCI\n");
    xtf_check(smccc(PSCI_VERSION, 0, 0, 0) == 0x10001, "PSCI_VERSION: %#lx, expected 1.1",
              smccc(PSCI_VERSION, 0, 0, 0));
    xtf_check(smccc(PSCI_FEATURES, PSCI_CPU_ON64, 0, 0) == 0, "PSCI_FEATURES(CPU_ON64) not supported");
    xtf_check(smccc(PSCI_FEATURES, PSCI_MIGRATE, 0, 0) == -1, "PSCI_FEATURES(MIGRATE) supported");
    xtf_check(smccc(0x82000000, 0, 0, 0) == -1, "an unknown SMCCC function did not return -1");
    xtf_check(smccc(PSCI_AFFINITY_INFO64, 0, 0, 0) == 0, "AFFINITY_INFO(vCPU 0) is not ON");
    xtf_check(smccc(PSCI_CPU_ON64, 0, 0x40080000, 0) == -4, "CPU_ON(vCPU 0) is not ALREADY_ON");
    xtf_check(smccc(PSCI_CPU_ON64, 7, 0x40080000, 0) == -2,
              "CPU_ON of a vCPU the domain lacks is not INVALID_PARAMETERS");
}

static void test_exceptions(void)
{
    unsigned long at, count;

    printk("Testing synchronous exceptions from EL1\n");
    count = seen_count;
    elr_skip = 0;
    asm volatile ("adr %0, 1f; svc #5; 1:" : "=&r" (at) :: "memory");
    xtf_check(seen_count == count + 1 && EC(seen_esr) == 0x15 && ISS(seen_esr) == 5 &&
              seen_elr == at, "svc #5: ESR %#lx ELR %#lx (expected EC 0x15 ISS 5 ELR %#lx)",
              seen_esr, seen_elr, at);

    elr_skip = 4;
    asm volatile ("adr %0, 1f; 1: brk #7" : "=&r" (at) :: "memory");
    xtf_check(seen_count == count + 2 && EC(seen_esr) == 0x3c && ISS(seen_esr) == 7 &&
              seen_elr == at, "brk #7: ESR %#lx ELR %#lx (expected EC 0x3c ISS 7 ELR %#lx)",
              seen_esr, seen_elr, at);

    asm volatile ("adr %0, 1f; 1: udf #0" : "=&r" (at) :: "memory");
    xtf_check(seen_count == count + 3 && EC(seen_esr) == 0 && seen_elr == at,
              "udf: ESR %#lx ELR %#lx (expected EC 0 ELR %#lx)", seen_esr, seen_elr, at);
    elr_skip = 0;
}

/* ---- EL0 ---------------------------------------------------------------- */
static void test_el0(void)
{
    unsigned long count = seen_count;

    printk("Testing synchronous exceptions from EL0\n");
    RUN_AT_EL0(0x3c0, "mov x1, #0x42; svc #0x11");
    xtf_check(seen_count == count + 1 && EC(seen_esr) == 0x15 && ISS(seen_esr) == 0x11,
              "svc #0x11 from EL0: ESR %#lx (expected EC 0x15 ISS 0x11)", seen_esr);
    xtf_check(seen_from_el0, "svc from EL0 did not arrive at the lower-EL vector");

    RUN_AT_EL0(0x3c0, "nop; hvc #0xea1");
    xtf_check(seen_count == count + 2 && EC(seen_esr) == 0 && seen_from_el0,
              "hvc from EL0: ESR %#lx, expected an undefined instruction at the lower-EL vector",
              seen_esr);
}

/* ---- the guest's own MMU (unicorn-notes A1) ----------------------------- */
static uint64_t l1_table[512] __aligned(4096);
static char alias_buf[64] __aligned(64);

#define ALIAS_OFFSET 0x40000000UL       /* VA 0x80000000.. -> PA 0x40000000.. */
#define BLOCK_NORMAL ((1UL << 10) | (3UL << 8) | 1)     /* AF, inner shareable, AttrIdx 0, block */

static void test_mmu(void)
{
    unsigned long count = seen_count, at;
    volatile unsigned long *unmapped = (volatile unsigned long *)0xc0000008UL;
    char *alias = (char *)((unsigned long)alias_buf + ALIAS_OFFSET);

    printk("Testing hypercalls with the guest's MMU on\n");
    l1_table[1] = 0x40000000UL | BLOCK_NORMAL;
    l1_table[2] = 0x40000000UL | BLOCK_NORMAL;
    write_sysreg(0xff, mair_el1);
    write_sysreg(25 | (1UL << 8) | (1UL << 10) | (3UL << 12) | (1UL << 23) | (2UL << 32), tcr_el1);
    write_sysreg((unsigned long)l1_table, ttbr0_el1);
    asm volatile ("isb; tlbi vmalle1; dsb sy; isb" ::: "memory");
    write_sysreg(read_sysreg(sctlr_el1) | 1 | (1 << 2) | (1 << 12), sctlr_el1);
    asm volatile ("isb" ::: "memory");
    xtf_check(read_sysreg(sctlr_el1) & 1, "the MMU did not turn on");

    memcpy(alias, "through the alias\n", 19);
    xtf_check(!strcmp(alias_buf, "through the alias\n"), "the alias does not map the buffer");
    xtf_check_rc("console_io from an aliased buffer",
                 hypercall_console_io(CONSOLEIO_write, 18, alias), 0);
    memset(alias_buf, 0, sizeof(alias_buf));
    xtf_check_rc("XENVER_extraversion into an aliased buffer",
                 hypercall_xen_version(XENVER_extraversion, alias), 0);
    xtf_check(alias_buf[0] != 0, "XENVER_extraversion wrote nothing through the alias");
    xtf_check_rc("XENVER_extraversion into an unmapped VA",
                 hypercall_xen_version(XENVER_extraversion, (void *)unmapped), -EFAULT);

    elr_skip = 4;
    asm volatile ("adr %0, 1f; 1: ldr xzr, [%1]" : "=&r" (at) : "r" (unmapped) : "memory");
    elr_skip = 0;
    xtf_check(seen_count == count + 1 && EC(seen_esr) == 0x25 && seen_far == (unsigned long)unmapped &&
              seen_elr == at, "load from an unmapped VA: ESR %#lx FAR %#lx ELR %#lx "
              "(expected EC 0x25, FAR %p, ELR %#lx)", seen_esr, seen_far, seen_elr, unmapped, at);
}

static void test_counter(void)
{
    unsigned long frq = read_sysreg(cntfrq_el0), t0, t1, p0;
    volatile unsigned long spin;

    printk("Testing the generic timer's counters\n");
    xtf_check(frq == 62500000, "CNTFRQ_EL0 = %lu", frq);
    t0 = read_sysreg(cntvct_el0);
    p0 = read_sysreg(cntpct_el0);
    for ( spin = 0; spin < 100000; spin++ )
        ;
    t1 = read_sysreg(cntvct_el0);
    xtf_check(t1 > t0, "CNTVCT_EL0 did not advance: %lu -> %lu", t0, t1);
    xtf_check(p0 >= t0, "CNTPCT_EL0 %lu is behind CNTVCT_EL0 %lu", p0, t0);
}

void test_main(void)
{
    test_hypercall_abi();
    test_bad_hvc();
    test_psci();
    test_counter();
    test_exceptions();
    test_el0();
    test_mmu();

    if ( xtf_status() == STATUS_RUNNING )
        xtf_success(NULL);
}
