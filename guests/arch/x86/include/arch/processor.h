/**
 * @file arch/x86/include/arch/processor.h
 *
 * Architectural constants (Intel SDM vol. 3): exceptions, flags, control
 * registers, page-fault error codes.  Usable from assembly.
 */
#ifndef XTF_X86_PROCESSOR_H
#define XTF_X86_PROCESSOR_H

/* Exception vectors. */
#define X86_EXC_DE  0   /* Divide error. */
#define X86_EXC_DB  1   /* Debug. */
#define X86_EXC_NMI 2
#define X86_EXC_BP  3   /* Breakpoint (int3). */
#define X86_EXC_OF  4   /* Overflow (into). */
#define X86_EXC_BR  5   /* BOUND range exceeded. */
#define X86_EXC_UD  6   /* Invalid opcode. */
#define X86_EXC_NM  7   /* Device not available. */
#define X86_EXC_DF  8   /* Double fault. */
#define X86_EXC_CSO 9   /* Coprocessor segment overrun (legacy). */
#define X86_EXC_TS  10  /* Invalid TSS. */
#define X86_EXC_NP  11  /* Segment not present. */
#define X86_EXC_SS  12  /* Stack-segment fault. */
#define X86_EXC_GP  13  /* General protection. */
#define X86_EXC_PF  14  /* Page fault. */
#define X86_EXC_SPV 15  /* Reserved (PIC spurious vector). */
#define X86_EXC_MF  16  /* x87 floating point error. */
#define X86_EXC_AC  17  /* Alignment check. */
#define X86_EXC_MC  18  /* Machine check. */
#define X86_EXC_XM  19  /* SIMD floating point exception. */
#define X86_EXC_VE  20  /* Virtualisation exception. */
#define X86_EXC_CP  21  /* Control-flow protection. */
#define X86_NR_RESERVED_VECTORS 32

/* Vectors that push an error code. */
#define X86_EXC_HAVE_EC                                                 \
    ((1u << X86_EXC_DF) | (1u << X86_EXC_TS) | (1u << X86_EXC_NP) |    \
     (1u << X86_EXC_SS) | (1u << X86_EXC_GP) | (1u << X86_EXC_PF) |    \
     (1u << X86_EXC_AC) | (1u << X86_EXC_CP))

/* Software vectors used by the framework. */
#define X86_VEC_RET2KERN 0x20   /* exec_user(): return to ring 0. */
#define X86_VEC_AVAIL    0x21   /* First vector free for tests. */

/* Segment selector / error code bits. */
#define X86_SEL_RPL_MASK 3
#define X86_SEL_TI       4
#define X86_EC_EXT       1      /* Event external to the program. */
#define X86_EC_IDT       2      /* Selector index refers to the IDT. */
#define X86_EC_TI        4      /* ... to the LDT. */

/* EFLAGS. */
#define X86_EFLAGS_CF    (1u << 0)
#define X86_EFLAGS_MBS   (1u << 1)   /* Must be set. */
#define X86_EFLAGS_PF    (1u << 2)
#define X86_EFLAGS_AF    (1u << 4)
#define X86_EFLAGS_ZF    (1u << 6)
#define X86_EFLAGS_SF    (1u << 7)
#define X86_EFLAGS_TF    (1u << 8)
#define X86_EFLAGS_IF    (1u << 9)
#define X86_EFLAGS_DF    (1u << 10)
#define X86_EFLAGS_OF    (1u << 11)
#define X86_EFLAGS_IOPL  (3u << 12)
#define X86_EFLAGS_NT    (1u << 14)
#define X86_EFLAGS_RF    (1u << 16)
#define X86_EFLAGS_VM    (1u << 17)
#define X86_EFLAGS_AC    (1u << 18)
#define X86_EFLAGS_VIF   (1u << 19)
#define X86_EFLAGS_VIP   (1u << 20)
#define X86_EFLAGS_ID    (1u << 21)

/* CR0. */
#define X86_CR0_PE       (1u << 0)
#define X86_CR0_MP       (1u << 1)
#define X86_CR0_EM       (1u << 2)
#define X86_CR0_TS       (1u << 3)
#define X86_CR0_ET       (1u << 4)
#define X86_CR0_NE       (1u << 5)
#define X86_CR0_WP       (1u << 16)
#define X86_CR0_AM       (1u << 18)
#define X86_CR0_NW       (1u << 29)
#define X86_CR0_CD       (1u << 30)
#define X86_CR0_PG       (1u << 31)

/* CR4. */
#define X86_CR4_VME        (1u << 0)
#define X86_CR4_PVI        (1u << 1)
#define X86_CR4_TSD        (1u << 2)
#define X86_CR4_DE         (1u << 3)
#define X86_CR4_PSE        (1u << 4)
#define X86_CR4_PAE        (1u << 5)
#define X86_CR4_MCE        (1u << 6)
#define X86_CR4_PGE        (1u << 7)
#define X86_CR4_PCE        (1u << 8)
#define X86_CR4_OSFXSR     (1u << 9)
#define X86_CR4_OSXMMEXCPT (1u << 10)
#define X86_CR4_UMIP       (1u << 11)
#define X86_CR4_SMEP       (1u << 20)
#define X86_CR4_SMAP       (1u << 21)

/* DR6. */
#define X86_DR6_BS       (1u << 14)  /* Single step. */
#define X86_DR6_DEFAULT  0xffff0ff0u /* Reserved bits that read as 1. */

/* Page-fault error code. */
#define X86_PFEC_PRESENT (1u << 0)
#define X86_PFEC_WRITE   (1u << 1)
#define X86_PFEC_USER    (1u << 2)
#define X86_PFEC_RSVD    (1u << 3)
#define X86_PFEC_INSN    (1u << 4)

/* x87 control word exception masks. */
#define X86_FCW_IM       (1u << 0)
#define X86_FCW_ZM       (1u << 2)

/* MXCSR exception masks and flags. */
#define X86_MXCSR_ZE     (1u << 2)
#define X86_MXCSR_ZM     (1u << 9)
#define X86_MXCSR_DEFAULT 0x1f80u

/* CPUID bits. */
#define X86_FEAT_1D_FPU    (1u << 0)
#define X86_FEAT_1D_PSE    (1u << 3)
#define X86_FEAT_1D_PAE    (1u << 6)
#define X86_FEAT_1D_APIC   (1u << 9)
#define X86_FEAT_1D_SEP    (1u << 11)
#define X86_FEAT_1D_FXSR   (1u << 24)
#define X86_FEAT_1D_SSE    (1u << 25)
#define X86_FEAT_1C_X2APIC     (1u << 21)
#define X86_FEAT_1C_TSC_DEADLINE (1u << 24)
#define X86_FEAT_1C_HYPERVISOR (1u << 31)
#define X86_FEAT_E1D_SYSCALL (1u << 11)
#define X86_FEAT_E1D_NX      (1u << 20)
#define X86_FEAT_E1D_LM      (1u << 29)

#endif /* XTF_X86_PROCESSOR_H */
