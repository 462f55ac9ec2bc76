/**
 * @file lib/smp.c
 *
 * Secondary vCPUs (include/xtf/smp.h).
 */
#include <xtf.h>
#include <xtf/smp.h>

struct xtf_cpu xtf_cpus[XTF_MAX_VCPUS];
uint8_t xtf_vcpu_stacks[XTF_MAX_VCPUS][STACK_SIZE] __aligned(PAGE_SIZE);

/* vcpu_hvm_x86_32 segment attributes: descriptor bits 40-47 and 52-55. */
#define SEG_AR(access, flags) ((access) | ((flags) << 8))
#define AR_CODE32   SEG_AR(DESC_P | DESC_DPL(0) | DESC_CODE_RX, DESC_FLAGS_32)
#define AR_DATA32   SEG_AR(DESC_P | DESC_DPL(0) | DESC_DATA_RW, DESC_FLAGS_32)
#define AR_TSS_BUSY SEG_AR(DESC_P | DESC_TSS_AVAIL | 2, 0)

unsigned int smp_nr_vcpus(void)
{
    unsigned int n = 1;

    while ( n < XTF_MAX_VCPUS && hypercall_vcpu_op(VCPUOP_is_up, n, NULL) >= 0 )
        n++;
    return n;
}

void smp_prepare_vcpu(unsigned int cpu, void (*fn)(unsigned int cpu),
                      struct vcpu_hvm_context *ctx)
{
    unsigned long stack_top = (unsigned long)xtf_vcpu_stacks[cpu] + STACK_SIZE;
    uint64_t efer = 0;

    if ( cpu == 0 || cpu >= XTF_MAX_VCPUS )
        panic("smp_prepare_vcpu(%u): no such secondary vCPU\n", cpu);

    xtf_cpus[cpu].fn = fn;
    rdmsr_safe(MSR_EFER, &efer);
    memset(ctx, 0, sizeof(*ctx));

#ifdef __x86_64__
    /* Long mode with our page tables: Xen loads flat segments itself. */
    ctx->mode = VCPU_HVM_MODE_64B;
    ctx->cpu_regs.x86_64 = (struct vcpu_hvm_x86_64){
        .rip = (unsigned long)ap_start,
        .rsp = stack_top,
        .rdi = cpu,
        .rflags = X86_EFLAGS_MBS,
        .cr0 = read_cr0(),
        .cr3 = read_cr3(),
        .cr4 = read_cr4(),
        .efer = efer,
    };
#else
    /* Flat 32-bit protected mode, with this vCPU's paging (if any). */
    ctx->mode = VCPU_HVM_MODE_32B;
    ctx->cpu_regs.x86_32 = (struct vcpu_hvm_x86_32){
        .eip = (unsigned long)ap_start,
        .esp = stack_top,
        .edi = cpu,
        .eflags = X86_EFLAGS_MBS,
        .cr0 = read_cr0(),
        .cr3 = read_cr3(),
        .cr4 = read_cr4(),
        .efer = efer,
        .cs_limit = ~0u, .ds_limit = ~0u, .ss_limit = ~0u, .es_limit = ~0u,
        .tr_limit = sizeof(struct hw_tss) - 1,
        .cs_ar = AR_CODE32, .ds_ar = AR_DATA32, .ss_ar = AR_DATA32,
        .es_ar = AR_DATA32, .tr_ar = AR_TSS_BUSY,
    };
#endif
}

long smp_start_vcpu(unsigned int cpu, void (*fn)(unsigned int cpu))
{
    static struct vcpu_hvm_context ctx;
    long rc;

    smp_prepare_vcpu(cpu, fn, &ctx);
    rc = hypercall_vcpu_op(VCPUOP_initialise, cpu, &ctx);
    if ( !rc )
        rc = hypercall_vcpu_op(VCPUOP_up, cpu, NULL);
    return rc;
}

/* head.S's ap_start calls this on the vCPU's own stack, GDT and IDT loaded. */
void __noreturn ap_main(unsigned int cpu);
void __noreturn ap_main(unsigned int cpu)
{
    if ( cpu != smp_processor_id() )
        panic("vCPU %u started on the stack of vCPU %u\n", cpu, smp_processor_id());

    xtf_cpus[cpu].fn(cpu);

    /* Done: offline (a later VCPUOP_up would resume here, and stop again). */
    for ( ;; )
        hypercall_vcpu_op(VCPUOP_down, cpu, NULL);
}
