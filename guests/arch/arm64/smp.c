/**
 * @file arch/arm64/smp.c
 *
 * Secondary vCPUs on arm64 (include/xtf/smp.h): PSCI CPU_ON starts one at
 * ap_start (head.S) with its id as the context id, on its own stack.
 */
#include <xtf.h>
#include <xtf/smp.h>
#include <arch/smccc.h>
#include <xtf/events.h>

struct xtf_cpu xtf_cpus[XTF_MAX_VCPUS];
uint8_t xtf_vcpu_stacks[XTF_MAX_VCPUS][STACK_SIZE] __aligned(PAGE_SIZE);

unsigned int smp_nr_vcpus(void)
{
    unsigned int n = 1;

    while ( n < XTF_MAX_VCPUS && smccc(PSCI_AFFINITY_INFO64, vcpu_mpidr(n), 0, 0) >= 0 )
        n++;
    return n;
}

long smp_start_vcpu(unsigned int cpu, void (*fn)(unsigned int cpu))
{
    if ( cpu == 0 || cpu >= XTF_MAX_VCPUS )
        panic("smp_start_vcpu(%u): no such secondary vCPU\n", cpu);
    xtf_cpus[cpu].fn = fn;
    asm volatile ("dmb ish" ::: "memory");
    return smccc(PSCI_CPU_ON64, vcpu_mpidr(cpu), (unsigned long)ap_start, cpu);
}

/* head.S's ap_start calls this on the vCPU's stack. */
void __noreturn ap_main(unsigned int cpu);
void __noreturn ap_main(unsigned int cpu)
{
    if ( cpu != smp_processor_id() )
        panic("vCPU %u started as vCPU %u\n", smp_processor_id(), cpu);
    /* As Linux on Arm does for each CPU it brings up: Xen on Arm has a
     * shared_info vcpu_info for vCPU 0 only (XEN_LEGACY_MAX_VCPUS 1), so a
     * secondary registers its own; PPI 31 is banked, each enables its own. */
    if ( shared_info && !xtf_cpus[cpu].vcpu_info && register_vcpu_info(cpu) )
        panic("vCPU %u: VCPUOP_register_vcpu_info failed\n", cpu);
    if ( xtf_irq_handlers[XTF_EVTCHN_VECTOR] )
        evtchn_enable_upcall_here();
    xtf_cpus[cpu].fn(cpu);
    smccc(PSCI_CPU_OFF, 0, 0, 0);
    panic("PSCI CPU_OFF returned on vCPU %u\n", cpu);
}
