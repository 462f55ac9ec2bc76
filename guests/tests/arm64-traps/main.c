/**
 * @file tests/arm64-traps/main.c
 *
 * What Xen on Arm does at EL2 for an EL1 guest: the hypercall ABI
 * (`hvc #0xEA1`, x16 = number, x0..x4 = arguments, x0 = result, x16 and
 * the consumed arguments clobbered by a debug Xen), any other hvc
 * immediate an undefined instruction, PSCI/SMCCC over `hvc #0`, and the
 * synchronous exceptions the guest takes itself (svc, brk, udf) with
 * ESR_EL1 and ELR_EL1 as the architecture defines them.
 */
#include <xtf.h>

const char test_title[] = "arm64 traps: hypercall ABI, PSCI, synchronous exceptions";

#define EC(esr)  ((esr) >> 26)
#define ISS(esr) ((esr) & 0x1ffffff)
#define ESR_IL   (1UL << 25)

static volatile unsigned long seen_esr, seen_elr, seen_count;
static unsigned long elr_skip;

void do_sync_exception(struct cpu_regs *regs)
{
    seen_esr = regs->esr;
    seen_elr = regs->elr;
    seen_count++;
    regs->elr += elr_skip;
}

static long smccc(unsigned long fid, unsigned long a1, unsigned long a2,
                  unsigned long a3)
{
    register unsigned long x0 asm("x0") = fid;
    register unsigned long x1 asm("x1") = a1;
    register unsigned long x2 asm("x2") = a2;
    register unsigned long x3 asm("x3") = a3;

    asm volatile ("hvc #0" : "+r" (x0), "+r" (x1), "+r" (x2), "+r" (x3)
                  :: "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12",
                     "x13", "x14", "x15", "x16", "x17", "memory");
    return x0;
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
    xtf_check(smccc(0x84000000, 0, 0, 0) == 0x10001, "PSCI_VERSION: %#lx, expected 1.1",
              smccc(0x84000000, 0, 0, 0));
    xtf_check(smccc(0x8400000a, 0xc4000003, 0, 0) == 0, "PSCI_FEATURES(CPU_ON64) not supported");
    xtf_check(smccc(0x8400000a, 0x84000005, 0, 0) == -1, "PSCI_FEATURES(MIGRATE) supported");
    xtf_check(smccc(0x82000000, 0, 0, 0) == -1, "an unknown SMCCC function did not return -1");
    xtf_check(smccc(0xc4000004, 0, 0, 0) == 0, "AFFINITY_INFO(vCPU 0) is not ON");
    xtf_check(smccc(0xc4000003, 0, 0x40080000, 0) == -4, "CPU_ON(vCPU 0) is not ALREADY_ON");
    xtf_check(smccc(0xc4000003, 7, 0x40080000, 0) == -2,
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

void test_main(void)
{
    test_hypercall_abi();
    test_bad_hvc();
    test_psci();
    test_exceptions();

    if ( xtf_status() == STATUS_RUNNING )
        xtf_success(NULL);
}
