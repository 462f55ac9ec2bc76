/**
 * @file arch/x86/desc.c
 *
 * The GDT, IDT, TSS and the stacks they point at.
 */
#include <xtf.h>

#ifdef __x86_64__
# define KERN_CODE_FLAGS DESC_FLAGS_64
# define USER_CODE_FLAGS DESC_FLAGS_64
#else
# define KERN_CODE_FLAGS DESC_FLAGS_32
# define USER_CODE_FLAGS DESC_FLAGS_32
#endif

#define FLAT_LIMIT 0xfffff

/* The TSS descriptor is written by arch_setup(): its base is not constant. */
uint64_t gdt[NR_GDT_ENTRIES] __aligned(16) = {
    [GDTE_CS_KERN]   = INIT_DESC(0, FLAT_LIMIT, DESC_P | DESC_DPL(0) | DESC_CODE_RX,
                                 KERN_CODE_FLAGS),
    [GDTE_DS_KERN]   = INIT_DESC(0, FLAT_LIMIT, DESC_P | DESC_DPL(0) | DESC_DATA_RW,
                                 DESC_FLAGS_32),
    [GDTE_CS32_USER] = INIT_DESC(0, FLAT_LIMIT, DESC_P | DESC_DPL(3) | DESC_CODE_RX,
                                 DESC_FLAGS_32),
    [GDTE_DS_USER]   = INIT_DESC(0, FLAT_LIMIT, DESC_P | DESC_DPL(3) | DESC_DATA_RW,
                                 DESC_FLAGS_32),
    [GDTE_CS64_USER] = INIT_DESC(0, FLAT_LIMIT, DESC_P | DESC_DPL(3) | DESC_CODE_RX,
                                 USER_CODE_FLAGS),
    [GDTE_DS_USER2]  = INIT_DESC(0, FLAT_LIMIT, DESC_P | DESC_DPL(3) | DESC_DATA_RW,
                                 DESC_FLAGS_32),
    [GDTE_CS32_KERN] = INIT_DESC(0, FLAT_LIMIT, DESC_P | DESC_DPL(0) | DESC_CODE_RX,
                                 DESC_FLAGS_32),
};

const struct desc_ptr gdt_ptr = {
    .limit = sizeof(gdt) - 1,
    .base = (unsigned long)gdt,
};

struct gate idt[256] __aligned(16);

const struct desc_ptr idt_ptr = {
    .limit = sizeof(idt) - 1,
    .base = (unsigned long)idt,
};

/* 128-byte aligned: a TSS must not straddle a page boundary. */
struct hw_tss tss __aligned(128);

uint8_t tss_stack[STACK_SIZE] __aligned(PAGE_SIZE);
uint8_t user_stack[STACK_SIZE] __aligned(PAGE_SIZE);
#ifdef __x86_64__
uint8_t df_stack[STACK_SIZE] __aligned(PAGE_SIZE);
uint8_t nmi_stack[STACK_SIZE] __aligned(PAGE_SIZE);
#endif

void entry_ret_to_kernel(void);

void set_idt_entry(unsigned int vec, unsigned int type, unsigned long handler,
                   unsigned int dpl, unsigned int ist)
{
    struct gate *g = &idt[vec];

    g->lo = ((handler & 0xffff) |
             ((uint64_t)__KERN_CS << 16) |
             ((uint64_t)(ist & 7) << 32) |
             ((uint64_t)(DESC_P | DESC_DPL(dpl) | type) << 40) |
             ((uint64_t)((handler >> 16) & 0xffff) << 48));
#ifdef __x86_64__
    g->hi = handler >> 32;
#endif
}

/*
 * Defaults: interrupt gates to the entry stubs, ring 0 only, except int3
 * and into (usable from ring 3, as on every OS) and the exec_user() return
 * vector.  In hvm64, #DF and NMI run on their own IST stacks.  (In the
 * 32-bit environments #DF is an interrupt gate too, not a task gate, so it
 * runs on the current stack.)
 */
void reset_idt_entry(unsigned int vec)
{
    unsigned int dpl = 0, ist = 0;
    unsigned long handler = entry_stubs[vec];

    switch ( vec )
    {
    case X86_EXC_BP:
    case X86_EXC_OF:
        dpl = 3;
        break;
    case X86_VEC_RET2KERN:
        dpl = 3;
        handler = (unsigned long)entry_ret_to_kernel;
        break;
#ifdef __x86_64__
    case X86_EXC_DF:
        ist = IST_DF;
        break;
    case X86_EXC_NMI:
        ist = IST_NMI;
        break;
#endif
    }

    set_idt_entry(vec, GATE_INTR, handler, dpl, ist);
}

#define GATE_DPL_MASK     (3ull << 45)
#define GATE_PRESENT_MASK (1ull << 47)
#define GATE_IST_MASK     (7ull << 32)

void idt_set_dpl(unsigned int vec, unsigned int dpl)
{
    idt[vec].lo = (idt[vec].lo & ~GATE_DPL_MASK) | ((uint64_t)(dpl & 3) << 45);
}

void idt_set_present(unsigned int vec, bool present)
{
    if ( present )
        idt[vec].lo |= GATE_PRESENT_MASK;
    else
        idt[vec].lo &= ~GATE_PRESENT_MASK;
}

#ifdef __x86_64__
void idt_set_ist(unsigned int vec, unsigned int ist)
{
    idt[vec].lo = (idt[vec].lo & ~GATE_IST_MASK) | ((uint64_t)(ist & 7) << 32);
}
#endif
