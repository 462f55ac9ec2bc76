/**
 * @file arch/x86/include/arch/msr-index.h
 *
 * Architectural MSR indices and bits (Intel SDM vol. 4).  The Xen hypercall
 * MSR comes from xen-abi.h (XEN_HYPERCALL_MSR).
 */
#ifndef XTF_X86_MSR_INDEX_H
#define XTF_X86_MSR_INDEX_H

#define MSR_TSC                 0x00000010
#define MSR_APIC_BASE           0x0000001b
#define  APIC_BASE_BSP          (1u << 8)
#define  APIC_BASE_EXTD         (1u << 10)
#define  APIC_BASE_ENABLE       (1u << 11)
#define  APIC_DEFAULT_BASE      0xfee00000u
#define MSR_MTRRcap             0x000000fe
#define MSR_SYSENTER_CS         0x00000174
#define MSR_SYSENTER_ESP        0x00000175
#define MSR_SYSENTER_EIP        0x00000176
#define MSR_DEBUGCTL            0x000001d9
#define MSR_PAT                 0x00000277
#define MSR_MTRRdefType         0x000002ff
#define  MTRR_DEF_TYPE_ENABLE   (1u << 11)
#define  MTRR_TYPE_WRBACK       6
#define MSR_X2APIC_APICID       0x00000802  /* Only with x2APIC enabled. */

#define MSR_EFER                0xc0000080
#define  EFER_SCE               (1u << 0)
#define  EFER_LME               (1u << 8)
#define  EFER_LMA               (1u << 10)
#define  EFER_NXE               (1u << 11)
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_FMASK               0xc0000084
#define MSR_FS_BASE             0xc0000100
#define MSR_GS_BASE             0xc0000101
#define MSR_SHADOW_GS_BASE      0xc0000102

#endif /* XTF_X86_MSR_INDEX_H */
