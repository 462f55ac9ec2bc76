/**
 * @file tests/arm64-psci/main.c
 *
 * PSCI as Xen's vPSCI answers it, with two vCPUs (hvsim run --vcpus 2):
 * CPU_ON starts vCPU 1 at an entry point in EL1h with the MMU off and the
 * context id in x0; it sees its own MPIDR, and CPU_OFF takes it down
 * (AFFINITY_INFO then says OFF, and CPU_ON works again).
 */
#include <xtf.h>
#include <arch/smccc.h>

const char test_title[] = "arm64 PSCI: CPU_ON, CPU_OFF, AFFINITY_INFO on vCPU 1";

uint8_t secondary_stack[4096] __aligned(16);
static volatile unsigned long secondary_runs, secondary_mpidr, secondary_ctx, secondary_el,
    secondary_cntvct;

void secondary_entry(void);
asm (".pushsection .text\n"
     ".globl secondary_entry\n"
     "secondary_entry:\n\t"
     "mov x19, x0\n\t"                              /* the context id */
     "ldr x1, =secondary_stack + 4096\n\t"
     "mov sp, x1\n\t"
     "bl secondary_main\n"
     "1:\tb 1b\n\t"
     ".ltorg\n"
     ".popsection");

void __noreturn secondary_main(void)
{
    unsigned long ctx;

    asm volatile ("mov %0, x19" : "=r" (ctx));
    secondary_ctx = ctx;
    secondary_mpidr = read_sysreg(mpidr_el1);
    secondary_el = read_sysreg(CurrentEL) >> 2;
    secondary_cntvct = read_sysreg(cntvct_el0);
    asm volatile ("dmb ish" ::: "memory");
    secondary_runs++;
    smccc(PSCI_CPU_OFF, 0, 0, 0);
    panic("PSCI CPU_OFF returned on vCPU 1\n");
}

static bool wait_for(unsigned long runs)
{
    for ( int i = 0; i < 100000; i++ )
    {
        if ( secondary_runs == runs &&
             smccc(PSCI_AFFINITY_INFO64, 1, 0, 0) == PSCI_AFFINITY_OFF )
            return true;
        hypercall_sched_op(SCHEDOP_yield, NULL);
    }
    return false;
}

void test_main(void)
{
    xtf_check(smccc(PSCI_AFFINITY_INFO64, 1, 0, 0) == PSCI_AFFINITY_OFF, "vCPU 1 is not OFF at boot");
    xtf_check(smccc(PSCI_AFFINITY_INFO64, 0, 0, 0) == PSCI_AFFINITY_ON, "vCPU 0 is not ON");

    for ( unsigned long run = 1; run <= 2; run++ )
    {
        printk("CPU_ON vCPU 1, round %lu\n", run);
        xtf_check(smccc(PSCI_CPU_ON64, 1, (unsigned long)secondary_entry, 0x1234 + run) == 0,
                  "CPU_ON(vCPU 1) failed");
        if ( !xtf_check(wait_for(run), "vCPU 1 did not run and go OFF (runs %lu)",
                        secondary_runs) )
            break;
        xtf_check(secondary_ctx == 0x1234 + run, "vCPU 1 got context id %#lx",
                  secondary_ctx);
        xtf_check(secondary_mpidr == 0x80000001UL, "vCPU 1's MPIDR_EL1 is %#lx",
                  secondary_mpidr);
        xtf_check(secondary_el == 1, "vCPU 1 started at EL%lu", secondary_el);
        printk("  vCPU 1 read CNTVCT_EL0 = %lu\n", secondary_cntvct);
    }

    if ( xtf_status() == STATUS_RUNNING )
        xtf_success(NULL);
}
