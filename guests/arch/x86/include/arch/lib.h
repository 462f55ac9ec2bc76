/**
 * @file arch/x86/include/arch/lib.h
 *
 * Inline accessors for x86 instructions: CPUID, MSRs, control and segment
 * registers, port I/O.  The *_safe() variants return the exception the
 * instruction raised (0 if none) instead of crashing.
 */
#ifndef XTF_X86_LIB_H
#define XTF_X86_LIB_H

#include <xtf/compiler.h>
#include <xtf/extable.h>
#include <xtf/types.h>
#include <arch/exinfo.h>
#include <arch/traps.h>

/* CPUID */
static inline void cpuid_count(uint32_t leaf, uint32_t subleaf, uint32_t *eax,
                               uint32_t *ebx, uint32_t *ecx, uint32_t *edx)
{
    asm volatile ("cpuid"
                  : "=a" (*eax), "=b" (*ebx), "=c" (*ecx), "=d" (*edx)
                  : "0" (leaf), "2" (subleaf));
}

static inline void cpuid(uint32_t leaf, uint32_t *eax, uint32_t *ebx,
                         uint32_t *ecx, uint32_t *edx)
{
    cpuid_count(leaf, 0, eax, ebx, ecx, edx);
}

static inline uint32_t cpuid_eax(uint32_t leaf)
{
    uint32_t a, b, c, d;

    cpuid(leaf, &a, &b, &c, &d);
    return a;
}

static inline uint32_t cpuid_ecx(uint32_t leaf)
{
    uint32_t a, b, c, d;

    cpuid(leaf, &a, &b, &c, &d);
    return c;
}

static inline uint32_t cpuid_edx(uint32_t leaf)
{
    uint32_t a, b, c, d;

    cpuid(leaf, &a, &b, &c, &d);
    return d;
}

/* True if the CPU vendor is Intel (else AMD-like rules apply). */
bool cpu_is_intel(void);

/* MSRs */
static inline uint64_t rdmsr(uint32_t idx)
{
    uint32_t lo, hi;

    asm volatile ("rdmsr" : "=a" (lo), "=d" (hi) : "c" (idx));
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t idx, uint64_t val)
{
    asm volatile ("wrmsr"
                  :: "c" (idx), "a" ((uint32_t)val), "d" ((uint32_t)(val >> 32))
                  : "memory");
}

static inline exinfo_t rdmsr_safe(uint32_t idx, uint64_t *val)
{
    uint32_t lo, hi;
    exinfo_t fault;

    asm volatile ("1: rdmsr; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_edi)
                  : "=a" (lo), "=d" (hi), "=D" (fault)
                  : "c" (idx), "0" (0), "1" (0), "2" (0));
    *val = fault ? 0 : ((uint64_t)hi << 32) | lo;
    return fault;
}

static inline exinfo_t wrmsr_safe(uint32_t idx, uint64_t val)
{
    exinfo_t fault;

    asm volatile ("1: wrmsr; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_edi)
                  : "=D" (fault)
                  : "c" (idx), "a" ((uint32_t)val), "d" ((uint32_t)(val >> 32)),
                    "0" (0)
                  : "memory");
    return fault;
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    asm volatile ("rdtsc" : "=a" (lo), "=d" (hi));
    return ((uint64_t)hi << 32) | lo;
}

/* mov to CR4, returning the exception it raised (0: none). */
static inline exinfo_t write_cr4_safe(unsigned long val)
{
    exinfo_t fault;

    asm volatile ("1: mov %[val], %%cr4; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_edi)
                  : "=D" (fault)
                  : [val] "r" (val), "0" (0)
                  : "memory");
    return fault;
}

/* Control and debug registers */
#define DECLARE_CR_ACCESSORS(reg)                                       \
    static inline unsigned long read_##reg(void)                        \
    {                                                                   \
        unsigned long val;                                              \
        asm volatile ("mov %%" #reg ", %0" : "=r" (val));               \
        return val;                                                     \
    }                                                                   \
    static inline void write_##reg(unsigned long val)                   \
    {                                                                   \
        asm volatile ("mov %0, %%" #reg :: "r" (val) : "memory");       \
    }
DECLARE_CR_ACCESSORS(cr0)
DECLARE_CR_ACCESSORS(cr2)
DECLARE_CR_ACCESSORS(cr3)
DECLARE_CR_ACCESSORS(cr4)
DECLARE_CR_ACCESSORS(dr6)
DECLARE_CR_ACCESSORS(dr7)
#undef DECLARE_CR_ACCESSORS

static inline void clts(void)
{
    asm volatile ("clts");
}

static inline unsigned long read_flags(void)
{
    unsigned long flags;

    asm volatile ("pushf; pop %0" : "=rm" (flags));
    return flags;
}

static inline void write_flags(unsigned long flags)
{
    asm volatile ("push %0; popf" :: "g" (flags) : "memory", "cc");
}

/* Segment registers */
#define DECLARE_SEG_ACCESSORS(seg)                                      \
    static inline unsigned int read_##seg(void)                         \
    {                                                                   \
        unsigned int sel;                                               \
        asm volatile ("mov %%" #seg ", %0" : "=r" (sel));               \
        return sel & 0xffff;                                            \
    }                                                                   \
    static inline void write_##seg(unsigned int sel)                    \
    {                                                                   \
        asm volatile ("mov %0, %%" #seg :: "r" (sel) : "memory");       \
    }
DECLARE_SEG_ACCESSORS(cs)
DECLARE_SEG_ACCESSORS(ds)
DECLARE_SEG_ACCESSORS(es)
DECLARE_SEG_ACCESSORS(fs)
DECLARE_SEG_ACCESSORS(gs)
DECLARE_SEG_ACCESSORS(ss)
#undef DECLARE_SEG_ACCESSORS

/* Descriptor tables */
struct desc_ptr {
    uint16_t limit;
    unsigned long base;
} __packed;

static inline void lgdt(const struct desc_ptr *p)
{
    asm volatile ("lgdt %0" :: "m" (*p) : "memory");
}

static inline void lidt(const struct desc_ptr *p)
{
    asm volatile ("lidt %0" :: "m" (*p) : "memory");
}

static inline void ltr(unsigned int sel)
{
    asm volatile ("ltr %w0" :: "rm" (sel) : "memory");
}

static inline unsigned int str(void)
{
    unsigned int sel;

    asm volatile ("str %0" : "=r" (sel));
    return sel & 0xffff;
}

static inline void sgdt(struct desc_ptr *p)
{
    asm volatile ("sgdt %0" : "=m" (*p));
}

static inline void sidt(struct desc_ptr *p)
{
    asm volatile ("sidt %0" : "=m" (*p));
}

/* Paging */
static inline void invlpg(const void *va)
{
    asm volatile ("invlpg (%0)" :: "r" (va) : "memory");
}

/* Port I/O */
static inline void outb(uint8_t val, uint16_t port)
{
    asm volatile ("outb %b0, %w1" :: "a" (val), "Nd" (port));
}

static inline void outl(uint32_t val, uint16_t port)
{
    asm volatile ("outl %0, %w1" :: "a" (val), "Nd" (port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t val;

    asm volatile ("inb %w1, %b0" : "=a" (val) : "Nd" (port));
    return val;
}

/* Interrupts on/off (EFLAGS.IF), and taking one that is pending now:
 * hlt returns at once, after the interrupt, when one is deliverable. */
static inline void local_irq_enable(void)
{
    asm volatile ("sti" ::: "memory");
}

static inline void local_irq_disable(void)
{
    asm volatile ("cli" ::: "memory");
}

static inline void take_pending_irq(void)
{
    asm volatile ("sti; hlt; cli" ::: "memory");
}

static inline void __noreturn halt_forever(void)
{
    for ( ;; )
        asm volatile ("cli; hlt");
}

#endif /* XTF_X86_LIB_H */
