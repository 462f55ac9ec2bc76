/**
 * @file arch/x86/include/arch/desc.h
 *
 * GDT, IDT and TSS.
 *
 * The GDT is laid out so that SYSCALL/SYSRET and SYSENTER/SYSEXIT find the
 * selectors they derive from MSR_STAR / MSR_SYSENTER_CS (Linux's layout):
 *
 *   0x08  __KERN_CS     ring 0 code (64-bit in hvm64)   SYSCALL CS, SYSENTER CS
 *   0x10  __KERN_DS     ring 0 data                      SYSCALL/SYSENTER SS
 *   0x18  __USER_CS32   ring 3 32-bit code               SYSRET(32)/SYSEXIT(32) CS
 *   0x20  __USER_DS     ring 3 data                      SYSRET SS, SYSEXIT(32) SS
 *   0x28  __USER_CS64   ring 3 code (64-bit in hvm64)    SYSRET(64)/SYSEXIT(64) CS
 *   0x30  __USER_DS2    ring 3 data                      SYSEXIT(64) SS
 *   0x38  __KERN_CS32   ring 0 32-bit code (compat mode in hvm64)
 *   0x40  TSS           (16 bytes in hvm64)
 *   0x50+ free for tests (GDTE_AVAIL0 ...)
 */
#ifndef XTF_X86_DESC_H
#define XTF_X86_DESC_H

#define GDTE_CS_KERN    1
#define GDTE_DS_KERN    2
#define GDTE_CS32_USER  3
#define GDTE_DS_USER    4
#define GDTE_CS64_USER  5
#define GDTE_DS_USER2   6
#define GDTE_CS32_KERN  7
#define GDTE_TSS        8
#define GDTE_AVAIL0     10
#define GDTE_AVAIL1     11
#define GDTE_AVAIL2     12
#define GDTE_AVAIL3     13
#define NR_GDT_ENTRIES  16

#define GDT_SEL(idx, rpl) (((idx) << 3) | (rpl))

#define __KERN_CS       GDT_SEL(GDTE_CS_KERN, 0)
#define __KERN_DS       GDT_SEL(GDTE_DS_KERN, 0)
#define __USER_CS32     GDT_SEL(GDTE_CS32_USER, 3)
#define __USER_DS       GDT_SEL(GDTE_DS_USER, 3)
#define __USER_CS64     GDT_SEL(GDTE_CS64_USER, 3)
#define __USER_DS2      GDT_SEL(GDTE_DS_USER2, 3)
#define __KERN_CS32     GDT_SEL(GDTE_CS32_KERN, 0)
#define TSS_SEL         GDT_SEL(GDTE_TSS, 0)

/* The code segment exec_user() runs at by default. */
#ifdef __x86_64__
# define __USER_CS      __USER_CS64
#else
# define __USER_CS      __USER_CS32
#endif

/* Descriptor access bytes (P, DPL, S, type) and flag nibbles (G, D/B, L). */
#define DESC_P          0x80
#define DESC_DPL(d)     ((d) << 5)
#define DESC_S          0x10    /* Code/data, not system. */
#define DESC_CODE_RX    0x1b    /* S | code | readable | accessed */
#define DESC_DATA_RW    0x13    /* S | data | writable | accessed */
#define DESC_TSS_AVAIL  0x09
#define DESC_FLAGS_32   0xc     /* 4k granularity, 32-bit. */
#define DESC_FLAGS_64   0xa     /* 4k granularity, long mode code. */

/* IST stacks (hvm64). */
#define IST_DF          1
#define IST_NMI         2
#define IST_AVAIL       3       /* Free for tests. */

/* Size of every stack (boot, TSS, user, IST). */
#define STACK_SIZE      0x2000

/* IDT gate types. */
#define GATE_INTR       0xe
#define GATE_TRAP       0xf

#ifndef __ASSEMBLY__

#include <xtf/types.h>
#include <arch/lib.h>

/* A code/data/system descriptor (a constant expression). */
#define INIT_DESC(base, limit, access, flags)                   \
    (((uint64_t)(limit) & 0xffff) |                             \
     (((uint64_t)(base) & 0xffffff) << 16) |                    \
     ((uint64_t)(access) << 40) |                               \
     ((((uint64_t)(limit) >> 16) & 0xf) << 48) |                \
     ((uint64_t)(flags) << 52) |                                \
     (((uint64_t)(base) >> 24 & 0xff) << 56))

struct gate {
    uint64_t lo;
#ifdef __x86_64__
    uint64_t hi;
#endif
};

#ifdef __x86_64__
struct hw_tss {
    uint32_t _rsvd0;
    uint64_t rsp0, rsp1, rsp2;
    uint64_t _rsvd1;
    uint64_t ist[7];            /* ist[0] is IST1. */
    uint64_t _rsvd2;
    uint16_t _rsvd3, iopb;
} __packed;
#else
struct hw_tss {
    uint16_t link, _r0;
    uint32_t esp0;
    uint16_t ss0, _r1;
    uint32_t esp1;
    uint16_t ss1, _r2;
    uint32_t esp2;
    uint16_t ss2, _r3;
    uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint16_t es, _r4, cs, _r5, ss, _r6, ds, _r7, fs, _r8, gs, _r9, ldtr, _r10;
    uint16_t trace, iopb;
} __packed;
#endif
_Static_assert(sizeof(struct hw_tss) == 0x68, "TSS is 104 bytes");

extern uint64_t gdt[NR_GDT_ENTRIES];
extern struct gate idt[256];
extern struct hw_tss tss;
extern const struct desc_ptr gdt_ptr, idt_ptr;

/* Entry stub for each vector (arch/x86/entry_*.S). */
extern const unsigned long entry_stubs[256];

/* (Re)write IDT entry @vec: a gate of @type to @handler in __KERN_CS. */
void set_idt_entry(unsigned int vec, unsigned int type, unsigned long handler,
                   unsigned int dpl, unsigned int ist);

/* Restore IDT entry @vec to the framework default. */
void reset_idt_entry(unsigned int vec);

void idt_set_dpl(unsigned int vec, unsigned int dpl);
void idt_set_present(unsigned int vec, bool present);
#ifdef __x86_64__
void idt_set_ist(unsigned int vec, unsigned int ist);
#endif

/* Stacks (each STACK_SIZE bytes; the symbols are the bottom). */
extern uint8_t boot_stack[], tss_stack[], user_stack[];
#ifdef __x86_64__
extern uint8_t df_stack[], nmi_stack[];
#endif

#endif /* !__ASSEMBLY__ */

#endif /* XTF_X86_DESC_H */
