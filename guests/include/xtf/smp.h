/**
 * @file include/xtf/smp.h
 *
 * Several vCPUs: per-vCPU state, and bringing up secondary vCPUs with
 * VCPUOP_initialise (a vcpu_hvm_context in this environment's mode: 64-bit
 * in hvm64, 32-bit protected mode with the same paging elsewhere) and
 * VCPUOP_up.  Each secondary vCPU runs on its own stack, loads the shared
 * GDT and IDT (head.S, ap_start), calls fn(cpu), then takes itself down
 * with VCPUOP_down.
 *
 * Which vCPU code runs on is told by its stack (the boot stack is vCPU 0's),
 * so it costs no hypercall or CPUID.
 */
#ifndef XTF_SMP_H
#define XTF_SMP_H

#include <xtf/types.h>
#include <xen-abi.h>

/* vCPUs the library can run (stacks, vcpu_info areas). */
#define XTF_MAX_VCPUS 8

struct xtf_cpu {
    struct vcpu_info *vcpu_info;      /* Where Xen writes our vcpu_info. */
    void (*fn)(unsigned int cpu);     /* Secondary vCPUs: what to run. */
    volatile unsigned int block_armed;/* Inside block_while_eq(). */
    volatile unsigned int upcalls;    /* Upcalls taken. */
    volatile unsigned int events;     /* Ports handled by the upcall. */
    bool upcall_vector;               /* Per-vCPU vector: EOI the LAPIC. */
};

extern struct xtf_cpu xtf_cpus[XTF_MAX_VCPUS];

/* smp_processor_id() (and, on x86, the secondary vCPUs' stacks). */
#include <arch/smp.h>

static inline struct xtf_cpu *this_cpu(void)
{
    return &xtf_cpus[smp_processor_id()];
}

/* vCPUs of this domain (VCPUOP_is_up until -ENOENT, at most XTF_MAX_VCPUS). */
unsigned int smp_nr_vcpus(void);

#ifndef __aarch64__
/*
 * Fill @ctx to start vCPU @cpu (1 .. XTF_MAX_VCPUS-1) at fn(cpu), and
 * remember fn.  The caller issues VCPUOP_initialise / VCPUOP_up.
 */
void smp_prepare_vcpu(unsigned int cpu, void (*fn)(unsigned int cpu),
                      struct vcpu_hvm_context *ctx);
#endif

/* Start vCPU @cpu at fn(cpu): smp_prepare_vcpu() + VCPUOP_initialise +
 * VCPUOP_up on x86, PSCI CPU_ON on arm64.  0 or the first error. */
long smp_start_vcpu(unsigned int cpu, void (*fn)(unsigned int cpu));

/* head.S: where a secondary vCPU starts (its id in %rdi / %edi / x0). */
void ap_start(void);

#endif /* XTF_SMP_H */
