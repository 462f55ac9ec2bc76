/**
 * @file tests/exceptions/main.c
 *
 * Exception delivery, checked against the architecture (Intel SDM vol. 3,
 * ch. 6): the vector and error code of exceptions raised at ring 0 and at
 * ring 3, CR2 for page faults, the registers and stack an exception returns
 * to, the stack it is delivered on (TSS ring-0 stack, IST), a fault inside
 * an exception handler, and a double fault.
 *
 * #AC and #XM are in the exceptions-ac-xm test.
 */
#include <xtf.h>
#include <xtf/events.h>

const char test_title[] = "Exceptions: vectors, error codes, CR2, stacks, nesting, #DF";

/*
 * Every probe is a function "unsigned long probe(unsigned long p)" that runs
 * one faulting instruction under an exception table entry and returns the
 * exinfo_t it recorded (0: nothing was raised).  It can run at ring 0 (a
 * call) or ring 3 (exec_user_param()): every page is user accessible.
 */
typedef unsigned long (*probe_t)(unsigned long p);

static void check_ring(const char *what, unsigned int ring, probe_t probe,
                       unsigned long p, exinfo_t exp)
{
    char msg[100];
    exinfo_t got = ring ? exec_user_param(probe, p) : probe(p);

    snprintf(msg, sizeof(msg), "%s at ring %u", what, ring);
    xtf_check_exinfo(msg, got, exp);
}

static void check_both(const char *what, probe_t probe, unsigned long p,
                       exinfo_t ring0, exinfo_t ring3)
{
    check_ring(what, 0, probe, p, ring0);
    check_ring(what, 3, probe, p, ring3);
}

/* Faults report the faulting instruction (extable key 1b), traps the next (2b). */

static unsigned long probe_div0(unsigned long p)
{
    unsigned long fault = 0, a = 1, d = 0;

    asm volatile ("1: div %[div]; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_edi)
                  : "+D" (fault), "+a" (a), "+d" (d)
                  : [div] "r" (p));
    return fault;
}

/* A probe running one instruction: what it raised (EXINFO_SYM), or 0. */
#define FAULT_PROBE(name, insn)                                      \
static unsigned long name(unsigned long p)                           \
{                                                                    \
    unsigned long fault = 0;                                         \
                                                                     \
    asm volatile ("1: " insn "; 2:"                                  \
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)  \
                  : "+a" (fault));                                   \
    return fault;                                                    \
}

FAULT_PROBE(probe_ud2, "ud2")

/* int3 traps (#BP after it), or faults (#GP on it) if the gate's DPL < CPL. */
static unsigned long probe_int3(unsigned long p)
{
    unsigned long fault = 0;

    asm volatile ("1: int3; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  _ASM_EXTABLE_HANDLER(2b, 2b, ex_record_fault_eax)
                  : "+a" (fault));
    return fault;
}

/* int $N: likewise, to the spare vector X86_VEC_AVAIL (a DPL 0 gate). */
static unsigned long probe_int_n(unsigned long p)
{
    unsigned long fault = 0;

    asm volatile ("1: int $%c[vec]; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  _ASM_EXTABLE_HANDLER(2b, 2b, ex_record_fault_eax)
                  : "+a" (fault) : [vec] "i" (X86_VEC_AVAIL));
    return fault;
}

/* icebp (int1): a #DB trap that ignores the gate's DPL. */
static unsigned long probe_icebp(unsigned long p)
{
    unsigned long fault = 0;

    asm volatile ("1: .byte 0xf1; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  _ASM_EXTABLE_HANDLER(2b, 2b, ex_record_fault_eax)
                  : "+a" (fault));
    return fault;
}

/*
 * Single step: popf sets TF, so the instruction after it (nop) is the
 * first one that starts with TF set, and #DB is raised once it completes.
 */
static unsigned long probe_single_step(unsigned long p)
{
    unsigned long fault = 0;

    asm volatile ("pushf; orl $%c[tf], (%%" _ASM_SP "); popf; nop; 2:"
                  _ASM_EXTABLE_HANDLER(2b, 2b, ex_record_trap_eax)
                  : "+a" (fault) : [tf] "i" (X86_EFLAGS_TF) : "cc");
    return fault;
}

#ifdef __x86_64__
/* into is invalid in 64-bit mode. */
FAULT_PROBE(probe_into, ".byte 0xce")
#else
/* into with OF set: #OF, a trap. */
static unsigned long probe_into(unsigned long p)
{
    unsigned long fault = 0, val = 0x7fffffff;

    asm volatile ("add $1, %[val]; into; 2:"
                  _ASM_EXTABLE_HANDLER(2b, 2b, ex_record_fault_eax)
                  : "+a" (fault), [val] "+r" (val) :: "cc");
    return fault;
}

/* bound with an index outside [0, 10]: #BR, a fault. */
static unsigned long probe_bound(unsigned long p)
{
    static const int32_t bounds[2] = { 0, 10 };
    unsigned long fault = 0;

    asm volatile ("1: bound %[idx], %[bounds]; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault)
                  : [idx] "r" (p), [bounds] "m" (bounds));
    return fault;
}
#endif

FAULT_PROBE(probe_fnop, "fnop")
FAULT_PROBE(probe_fwait, "fwait")
FAULT_PROBE(probe_sse, "movaps %%xmm0, %%xmm0")

/* x87 divide by zero, unmasked: #MF on the next waiting instruction. */
static unsigned long probe_x87_div0(unsigned long p)
{
    static const uint16_t fcw = 0x37f & ~X86_FCW_ZM;
    unsigned long fault = 0;

    asm volatile ("fninit; fldcw %[fcw]; fldz; fld1; fdiv %%st(1), %%st;"
                  "1: fwait; 2: fninit"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault) : [fcw] "m" (fcw));
    return fault;
}

/* Load a selector into %es (restored afterwards). */
static unsigned long probe_load_es(unsigned long sel)
{
    unsigned long fault = 0;

    asm volatile ("1: mov %k[sel], %%es; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault) : [sel] "r" (sel));
    write_es(__USER_DS);
    return fault;
}

/* Load a selector into %ss (restored afterwards). */
static unsigned long probe_load_ss(unsigned long sel)
{
    unsigned long fault = 0, old;

    asm volatile ("mov %%ss, %k[old]; 1: mov %k[sel], %%ss; 2: mov %k[old], %%ss"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault), [old] "=&r" (old) : [sel] "r" (sel));
    return fault;
}

/* Privileged instructions: fine at ring 0, #GP(0) at ring 3. */
FAULT_PROBE(probe_cli, "cli")
FAULT_PROBE(probe_hlt, "hlt")

static unsigned long probe_read_cr0(unsigned long p)
{
    unsigned long fault = 0, val;

    asm volatile ("1: mov %%cr0, %[val]; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault), [val] "=r" (val));
    return fault;
}

static unsigned long __maybe_unused probe_read(unsigned long addr)
{
    unsigned long fault = 0, val;

    asm volatile ("1: mov (%[ptr]), %[val]; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault), [val] "=r" (val) : [ptr] "S" (addr)   /* not %ebp/%rbp: that would be a stack (SS) reference */
                  : "memory");
    return fault;
}

static unsigned long __maybe_unused probe_write(unsigned long addr)
{
    unsigned long fault = 0;

    asm volatile ("1: movb $0, (%[ptr]); 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault) : [ptr] "S" (addr)   /* not %ebp/%rbp: that would be a stack (SS) reference */ : "memory");
    return fault;
}

#ifdef __x86_64__
/* A memory reference based on %rsp is a stack (SS) reference. */
static unsigned long probe_read_stack_offset(unsigned long offset)
{
    unsigned long fault = 0, val;

    asm volatile ("1: mov (%%rsp, %[off]), %[val]; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault), [val] "=r" (val) : [off] "r" (offset));
    return fault;
}
#endif

static void test_simple_exceptions(void)
{
    check_both("div by 0", probe_div0, 0, EXINFO_SYM(DE, 0), EXINFO_SYM(DE, 0));
    check_both("ud2", probe_ud2, 0, EXINFO_SYM(UD, 0), EXINFO_SYM(UD, 0));
    check_both("int3", probe_int3, 0, EXINFO_SYM(BP, 0), EXINFO_SYM(BP, 0));
    check_both("icebp", probe_icebp, 0, EXINFO_SYM(DB, 0), EXINFO_SYM(DB, 0));
    check_both("single step", probe_single_step, 0,
               EXINFO_SYM(DB, 0), EXINFO_SYM(DB, 0));
#ifdef __x86_64__
    check_both("into (invalid in 64-bit mode)", probe_into, 0,
               EXINFO_SYM(UD, 0), EXINFO_SYM(UD, 0));
#else
    check_both("into with OF", probe_into, 0, EXINFO_SYM(OF, 0), EXINFO_SYM(OF, 0));
    check_both("bound, index 20 outside [0, 10]", probe_bound, 20,
               EXINFO_SYM(BR, 0), EXINFO_SYM(BR, 0));
    check_both("bound, index 5 inside [0, 10]", probe_bound, 5, 0, 0);
#endif
}

/* The single-step trap also reports itself in DR6.BS. */
static void test_single_step_dr6(void)
{
    write_dr6(0);
    probe_single_step(0);
    xtf_check(read_dr6() & X86_DR6_BS, "single step: DR6.BS clear (DR6 %#lx)",
              read_dr6());
    write_dr6(0);
}

/*
 * Software interrupts check the gate's DPL against CPL (#GP(vec * 8 + 2):
 * an IDT selector), except icebp.  int3/into gates are DPL 3 here (like every
 * OS); make #BP's DPL 0 to see the check.
 */
static void test_gate_dpl(void)
{
    exinfo_t gp_idt_avail = EXINFO_SYM(GP, X86_VEC_AVAIL * 8 + X86_EC_IDT);
    exinfo_t gp_idt_bp = EXINFO_SYM(GP, X86_EXC_BP * 8 + X86_EC_IDT);

    check_both("int $0x21 (DPL 0 gate)", probe_int_n, 0,
               EXINFO(X86_VEC_AVAIL, 0), gp_idt_avail);

    idt_set_dpl(X86_EXC_BP, 0);
    check_both("int3 (DPL 0 gate)", probe_int3, 0, EXINFO_SYM(BP, 0), gp_idt_bp);
    reset_idt_entry(X86_EXC_BP);

    /* The #DB gate is DPL 0: icebp from ring 3 is delivered all the same. */
    check_ring("icebp (DPL 0 gate)", 3, probe_icebp, 0, EXINFO_SYM(DB, 0));
}

/* #NM: CR0.TS (lazy FPU switching) and CR0.EM (no FPU). */
static void test_device_not_available(void)
{
    unsigned long cr0 = read_cr0(), cr4 = read_cr4();

    write_cr0(cr0 | X86_CR0_TS);
    check_both("x87 with CR0.TS", probe_fnop, 0, EXINFO_SYM(NM, 0), EXINFO_SYM(NM, 0));
    check_both("fwait with CR0.TS and MP", probe_fwait, 0,
               EXINFO_SYM(NM, 0), EXINFO_SYM(NM, 0));
    if ( cr4 & X86_CR4_OSFXSR )
        check_both("SSE with CR0.TS", probe_sse, 0,
                   EXINFO_SYM(NM, 0), EXINFO_SYM(NM, 0));

    write_cr0((cr0 | X86_CR0_TS) & ~X86_CR0_MP);
    check_both("fwait with CR0.TS, no MP", probe_fwait, 0, 0, 0);

    write_cr0(cr0 | X86_CR0_EM);
    check_both("x87 with CR0.EM", probe_fnop, 0, EXINFO_SYM(NM, 0), EXINFO_SYM(NM, 0));
    if ( cr4 & X86_CR4_OSFXSR )
        check_both("SSE with CR0.EM", probe_sse, 0,
                   EXINFO_SYM(UD, 0), EXINFO_SYM(UD, 0));
    write_cr0(cr0);

    if ( cr4 & X86_CR4_OSFXSR )
    {
        write_cr4(cr4 & ~X86_CR4_OSFXSR);
        check_both("SSE without CR4.OSFXSR", probe_sse, 0,
                   EXINFO_SYM(UD, 0), EXINFO_SYM(UD, 0));
        write_cr4(cr4);
        check_both("SSE", probe_sse, 0, 0, 0);
    }
    check_both("x87", probe_fnop, 0, 0, 0);
}

static void test_x87_error(void)
{
    xtf_check(read_cr0() & X86_CR0_NE, "CR0.NE is clear");
    check_both("x87 divide by 0, unmasked", probe_x87_div0, 0,
               EXINFO_SYM(MF, 0), EXINFO_SYM(MF, 0));
}

/*
 * Segment loads: #GP(selector) for a selector beyond the GDT limit, a system
 * descriptor, or a DPL < CPL; #NP(selector) for a not-present data segment,
 * #SS(selector) for a not-present stack segment.  The error code is the
 * selector without its RPL.
 */
#define SEL_BEYOND_GDT GDT_SEL(NR_GDT_ENTRIES + 1, 0)
#define SEL_NP_KERN    GDT_SEL(GDTE_AVAIL0, 0)
#define SEL_NP_USER    GDT_SEL(GDTE_AVAIL1, 3)

static void test_segment_loads(void)
{
    gdt[GDTE_AVAIL0] = INIT_DESC(0, 0xfffff, DESC_DPL(0) | DESC_DATA_RW, DESC_FLAGS_32);
    gdt[GDTE_AVAIL1] = INIT_DESC(0, 0xfffff, DESC_DPL(3) | DESC_DATA_RW, DESC_FLAGS_32);

    check_both("load %es beyond the GDT limit", probe_load_es, SEL_BEYOND_GDT | 3,
               EXINFO_SYM(GP, SEL_BEYOND_GDT), EXINFO_SYM(GP, SEL_BEYOND_GDT));
    check_ring("load %es with the TSS", 0, probe_load_es, TSS_SEL,
               EXINFO_SYM(GP, TSS_SEL));
    check_ring("load %es with a DPL 0 segment", 3, probe_load_es, __KERN_DS,
               EXINFO_SYM(GP, __KERN_DS));
    check_ring("load %es with a valid segment", 3, probe_load_es, __USER_DS, 0);

    check_ring("load %es not present", 0, probe_load_es, SEL_NP_KERN,
               EXINFO_SYM(NP, SEL_NP_KERN));
    check_ring("load %es not present", 3, probe_load_es, SEL_NP_USER,
               EXINFO_SYM(NP, SEL_NP_USER & ~3));
    check_ring("load %ss not present", 0, probe_load_ss, SEL_NP_KERN,
               EXINFO_SYM(SS, SEL_NP_KERN));
    check_ring("load %ss not present", 3, probe_load_ss, SEL_NP_USER,
               EXINFO_SYM(SS, SEL_NP_USER & ~3));

    gdt[GDTE_AVAIL0] = gdt[GDTE_AVAIL1] = 0;
}

static void test_privileged_instructions(void)
{
    check_both("cli", probe_cli, 0, 0, EXINFO_SYM(GP, 0));
    check_ring("hlt", 3, probe_hlt, 0, EXINFO_SYM(GP, 0));
    check_both("mov from %cr0", probe_read_cr0, 0, 0, EXINFO_SYM(GP, 0));
    /* I/O privilege (#GP for inb at ring 3): see tests/exceptions-unemulated. */

#ifdef __x86_64__
    /* A non-canonical address is #GP(0), or #SS(0) for a stack reference. */
    check_both("read at a non-canonical address", probe_read, 1ul << 63,
               EXINFO_SYM(GP, 0), EXINFO_SYM(GP, 0));
    check_both("%rsp-based read at a non-canonical address",
               probe_read_stack_offset, 1ul << 63,
               EXINFO_SYM(SS, 0), EXINFO_SYM(SS, 0));
#endif
}

#if CONFIG_PAGING_LEVELS > 0
/*
 * Page faults: the error code (P W U RSVD I) and CR2, for each kind of
 * translation failure.  The tests edit the l1 entry of test_page and the
 * page table entries around it, and restore them.
 */
static uint8_t test_page[PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t exec_page[PAGE_SIZE] __aligned(PAGE_SIZE);

/*
 * Call exec_page (it holds "ret").  If the fetch faults, the fault is at
 * exec_page itself, with the return address already pushed: the fixup pops
 * it.  The exception table is keyed on exec_page, so there must be a single
 * copy of this code (noipa: never inlined or cloned).
 */
static __attribute__((noipa)) unsigned long probe_exec(unsigned long p)
{
    unsigned long fault = 0;

    asm volatile ("call %c[page]; jmp 3f;"
                  "2: add $%c[word], %%" _ASM_SP "; 3:"
                  _ASM_EXTABLE_HANDLER(%c[page], 2b, ex_record_fault_eax)
                  : "+a" (fault)
                  : [page] "i" (exec_page), [word] "i" (sizeof(long))
                  : "memory");
    return fault;
}

static void set_pte(intpte_t *pte, intpte_t val, const void *va)
{
    *pte = val;
    invlpg(va);
}

/* A page fault probe at ring @ring, checking the error code and CR2. */
static void check_pf(const char *what, unsigned int ring, probe_t probe,
                     const void *va, unsigned int pfec)
{
    char msg[100];

    write_cr2(0);
    check_ring(what, ring, probe, (unsigned long)va, EXINFO_SYM(PF, pfec));
    snprintf(msg, sizeof(msg), "%s at ring %u: %%cr2", what, ring);
    xtf_check_eq(msg, read_cr2(), (unsigned long)va);
}

/* Both rings: ring 3 sees the same error code with U set. */
static void check_pf_both(const char *what, probe_t probe, const void *va,
                          unsigned int pfec)
{
    check_pf(what, 0, probe, va, pfec);
    check_pf(what, 3, probe, va, pfec | X86_PFEC_USER);
}

static void test_page_faults(void)
{
    intpte_t *pte = l1e_of(test_page), orig = *pte;
    bool nx = (read_cr4() & X86_CR4_PAE) && (rdmsr(MSR_EFER) & EFER_NXE);
    unsigned long cr0 = read_cr0();

    /* Not present. */
    set_pte(pte, orig & ~_PAGE_PRESENT, test_page);
    check_pf_both("read, not present", probe_read, test_page, 0);
    check_pf_both("write, not present", probe_write, test_page, X86_PFEC_WRITE);
    set_pte(pte, orig, test_page);

    /* Read only: ring 0 writes fault only with CR0.WP. */
    set_pte(pte, orig & ~_PAGE_RW, test_page);
    check_both("read, read-only", probe_read, (unsigned long)test_page, 0, 0);
    check_pf_both("write, read-only, CR0.WP", probe_write, test_page,
                  X86_PFEC_PRESENT | X86_PFEC_WRITE);
    write_cr0(cr0 & ~X86_CR0_WP);
    check_ring("write, read-only, no CR0.WP", 0, probe_write,
               (unsigned long)test_page, 0);
    check_pf("write, read-only, no CR0.WP", 3, probe_write, test_page,
             X86_PFEC_PRESENT | X86_PFEC_WRITE | X86_PFEC_USER);
    write_cr0(cr0);
    set_pte(pte, orig, test_page);

    /* Supervisor only. */
    set_pte(pte, orig & ~_PAGE_USER, test_page);
    check_ring("read, supervisor page", 0, probe_read, (unsigned long)test_page, 0);
    check_pf("read, supervisor page", 3, probe_read, test_page,
             X86_PFEC_PRESENT | X86_PFEC_USER);
    check_pf("write, supervisor page", 3, probe_write, test_page,
             X86_PFEC_PRESENT | X86_PFEC_WRITE | X86_PFEC_USER);
    set_pte(pte, orig, test_page);

    /* Instruction fetches.  The I flag is reported only with PAE + NXE. */
    *exec_page = 0xc3; /* ret */
    pte = l1e_of(exec_page);
    orig = *pte;
    check_both("fetch", probe_exec, 0, 0, 0);
    set_pte(pte, orig & ~_PAGE_PRESENT, exec_page);
    check_pf_both("fetch, not present", probe_exec, exec_page,
                  nx ? X86_PFEC_INSN : 0);
#if CONFIG_PAGING_LEVELS >= 3
    if ( nx )
    {
        set_pte(pte, orig | _PAGE_NX, exec_page);
        check_pf_both("fetch, NX", probe_exec, exec_page,
                      X86_PFEC_PRESENT | X86_PFEC_INSN);
    }
    else
        printk("  No NX: skipping the NX fetch tests\n");
#endif
    set_pte(pte, orig, exec_page);
}

/* Reserved bits set in a paging structure entry: RSVD, and P. */
static void test_reserved_bits(void)
{
    unsigned int rsvd = X86_PFEC_PRESENT | X86_PFEC_RSVD;

#if CONFIG_PAGING_LEVELS == 2
    /*
     * A 4 MiB PDE holds physical address bits 39:32 in bits 20:13 (PSE-36);
     * bit 21 is always reserved.  The second PDE maps RAM at 4 MiB.
     */
    intpte_t *pde = &l2_identmap[1], orig = *pde;
    const void *va = (void *)(1ul << L2_PT_SHIFT);

    set_pte(pde, orig | (1u << 21), va);
    check_pf_both("read, PDE bit 21 (reserved)", probe_read, va, rsvd);
    check_pf_both("write, PDE bit 21 (reserved)", probe_write, va,
                  rsvd | X86_PFEC_WRITE);
    set_pte(pde, orig, va);
#else
    /* A physical address bit at or above MAXPHYADDR is reserved. */
    unsigned int maxphys = cpu_maxphysaddr(), bit = 51;
    intpte_t *pte = l1e_of(test_page), orig = *pte;

    printk("  MAXPHYADDR %u\n", maxphys);
    if ( maxphys <= bit )
    {
        set_pte(pte, orig | (1ull << bit), test_page);
        check_pf_both("read, PTE bit 51 (reserved)", probe_read, test_page, rsvd);
        check_pf_both("write, PTE bit 51 (reserved)", probe_write, test_page,
                      rsvd | X86_PFEC_WRITE);
        set_pte(pte, orig, test_page);
    }
    else
        xtf_failure("Fail: MAXPHYADDR %u leaves no reserved address bit\n", maxphys);
#endif

#if CONFIG_PAGING_LEVELS == 4
    {
        /*
         * PS is reserved in a PML4E.  Make the second PML4E a copy of the
         * first one (so 512 GiB aliases 0) with PS set.
         */
        const void *alias = (void *)((1ul << L4_PT_SHIFT) + (unsigned long)test_page);

        l4_identmap[1] = l4_identmap[0];
        write_cr3(read_cr3());
        check_ring("read through the PML4E alias", 0, probe_read,
                   (unsigned long)alias, 0);
        l4_identmap[1] |= _PAGE_PSE;
        write_cr3(read_cr3());
        check_pf_both("read, PML4E.PS (reserved)", probe_read, alias, rsvd);
        l4_identmap[1] = 0;
        write_cr3(read_cr3());
    }
#endif
}

/*
 * A fault that the handler fixes returns to the faulting instruction, which
 * then completes: make test_page not present, and let the #PF handler map it.
 */
static intpte_t *fixup_pte;
static intpte_t fixup_orig;
static unsigned int nr_fixups;

static bool map_page_hook(struct cpu_regs *regs)
{
    if ( regs->entry_vector != X86_EXC_PF || read_cr2() != (unsigned long)test_page )
        return false;
    set_pte(fixup_pte, fixup_orig, test_page);
    nr_fixups++;
    return true;
}

static void test_restart_faulting_instruction(void)
{
    fixup_pte = l1e_of(test_page);
    fixup_orig = *fixup_pte;
    test_page[0] = 0;
    xtf_exception_hook = map_page_hook;

    for ( unsigned int ring = 0; ring <= 3; ring += 3 )
    {
        nr_fixups = 0;
        set_pte(fixup_pte, fixup_orig & ~_PAGE_PRESENT, test_page);
        check_ring("write, not present, the handler maps the page", ring,
                   probe_write, (unsigned long)test_page, 0);
        xtf_check_eq("#PF handler runs then the write completes", nr_fixups, 1);
    }
    xtf_exception_hook = NULL;
}
#endif /* CONFIG_PAGING_LEVELS > 0 */

/*
 * A #GP whose handler itself faults: the inner exception is handled (and
 * returns into the #GP handler), then the #GP completes.  The inner one is a
 * #PF on a not-present page where there is paging, else a #UD.
 */
static exinfo_t nested_fault;
static unsigned long __maybe_unused nested_cr2;

static bool nested_gp_hook(struct cpu_regs *regs)
{
    if ( regs->entry_vector != X86_EXC_GP )
        return false;

#if CONFIG_PAGING_LEVELS > 0
    intpte_t *pte = l1e_of(test_page), orig = *pte;

    set_pte(pte, orig & ~_PAGE_PRESENT, test_page);
    nested_fault = probe_read((unsigned long)test_page);
    nested_cr2 = read_cr2();
    set_pte(pte, orig, test_page);
#else
    nested_fault = probe_ud2(0);
#endif
    return false;   /* On to the exception table: the #GP is recorded. */
}

#if CONFIG_PAGING_LEVELS > 0
/*
 * Mapping shared_info (XENMEM_add_to_physmap) changes the guest's physical
 * memory map under its feet; the CPU keeps no trace of that: the next
 * not-present access is a plain #PF, not a double fault.
 */
static void test_fault_after_physmap_change(void)
{
    intpte_t *pte = l1e_of(test_page), orig = *pte;
    exinfo_t fault;

    if ( !map_shared_info() )
    {
        xtf_failure("Fail: XENMEM_add_to_physmap(shared_info)\n");
        return;
    }
    set_pte(pte, orig & ~_PAGE_PRESENT, test_page);
    fault = probe_read((unsigned long)test_page);
    set_pte(pte, orig, test_page);
    xtf_check_exinfo("#PF right after add_to_physmap", fault, EXINFO_SYM(PF, 0));
}
#endif

static void test_nested_faults(void)
{
    xtf_exception_hook = nested_gp_hook;
    for ( unsigned int ring = 0; ring <= 3; ring += 3 )
    {
        nested_fault = 0;
        check_ring("#GP with a fault in its handler", ring, probe_load_es,
                   SEL_BEYOND_GDT, EXINFO_SYM(GP, SEL_BEYOND_GDT));
#if CONFIG_PAGING_LEVELS > 0
        xtf_check_exinfo("the fault inside the #GP handler", nested_fault,
                         EXINFO_SYM(PF, 0));
        xtf_check_eq("the fault inside the #GP handler: %cr2", nested_cr2,
                     (unsigned long)test_page);
#else
        xtf_check_exinfo("the fault inside the #GP handler", nested_fault,
                         EXINFO_SYM(UD, 0));
#endif
    }
    xtf_exception_hook = NULL;
}

/*
 * iret returns to the interrupted context with every register, the flags
 * and the stack pointer as they were (the handler edits only the ip and
 * %eax, through the exception table).
 */
static void test_iret_preserves_state(void)
{
    unsigned long fault = 0, b = 0xb0b0b0b0, c = 0xc0c0c0c0, d = 0xd0d0d0d0,
        si = 0x51515151, di = 0xd1d1d1d1, sp_before, sp_after;
    const unsigned long b0 = b, c0 = c, d0 = d, si0 = si, di0 = di;
    uint8_t carry;
#ifdef __x86_64__
    register unsigned long r8 asm("r8") = 0x0808080808080808;
    register unsigned long r15 asm("r15") = 0x1515151515151515;
#endif

    asm volatile ("mov %%" _ASM_SP ", %[before]; stc;"
                  "1: ud2; 2: setc %[cf]; mov %%" _ASM_SP ", %[after]"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault), "+b" (b), "+c" (c), "+d" (d), "+S" (si),
                    "+D" (di), [cf] "=qm" (carry),
#ifdef __x86_64__
                    "+r" (r8), "+r" (r15),
#endif
                    [before] "=m" (sp_before), [after] "=m" (sp_after)
                  :: "cc");

#ifdef __x86_64__
    /* Read them back before any call can clobber r8 (a scratch register). */
    unsigned long r8_after = r8, r15_after = r15;
#endif

    xtf_check_exinfo("ud2 with known registers", fault, EXINFO_SYM(UD, 0));
    xtf_check(b == b0 && c == c0 && d == d0 && si == si0 && di == di0,
              "registers changed across the exception: %lx %lx %lx %lx %lx",
              b, c, d, si, di);
#ifdef __x86_64__
    xtf_check(r8_after == 0x0808080808080808 && r15_after == 0x1515151515151515,
              "r8/r15 changed across the exception: %lx %lx", r8_after, r15_after);
#endif
    xtf_check(carry, "EFLAGS.CF lost across the exception");
    xtf_check_eq("stack pointer after the exception", sp_after, sp_before);
}

/*
 * Where exceptions are delivered: at ring 0 on the current stack; from
 * ring 3 on the TSS ring-0 stack (ESP0/RSP0) with the user SS:ESP pushed;
 * through an IST gate (hvm64) on the IST stack.
 */
static struct frame_info {
    unsigned long frame_top;    /* End of the hardware frame. */
    unsigned long sp;           /* The interrupted stack pointer. */
    unsigned int cs, ss, vec;
} seen;
static unsigned long sp_at_fault;

static bool record_frame_hook(struct cpu_regs *regs)
{
    seen.frame_top = (unsigned long)regs + sizeof(*regs);
    seen.sp = regs_sp(regs);
    seen.cs = regs->cs;
    seen.ss = regs->ss;
    seen.vec = regs->entry_vector;
    return false;
}

/* ud2, with the stack pointer just before it saved in sp_at_fault. */
static unsigned long probe_ud2_save_sp(unsigned long p)
{
    unsigned long fault = 0;

    asm volatile ("mov %%" _ASM_SP ", %[sp]; 1: ud2; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault), [sp] "=m" (sp_at_fault));
    return fault;
}

static void test_stacks(void)
{
    unsigned long tss_top = (unsigned long)tss_stack + STACK_SIZE;

    xtf_exception_hook = record_frame_hook;

    check_ring("ud2 (frame)", 0, probe_ud2_save_sp, 0, EXINFO_SYM(UD, 0));
    xtf_check_eq("ring 0 exception: interrupted stack pointer", seen.sp, sp_at_fault);
#ifdef __x86_64__
    /* 64-bit mode aligns the new stack to 16 bytes, even without a switch. */
    xtf_check_eq("ring 0 exception: frame end", seen.frame_top,
                 (sp_at_fault & ~15ul));
#endif
    xtf_check_eq("ring 0 exception: pushed %cs", seen.cs, __KERN_CS);

    check_ring("ud2 (frame)", 3, probe_ud2_save_sp, 0, EXINFO_SYM(UD, 0));
    xtf_check_eq("ring 3 exception: frame at the top of the TSS stack",
                 seen.frame_top, tss_top);
    xtf_check_eq("ring 3 exception: pushed %esp is the user one", seen.sp, sp_at_fault);
    xtf_check_eq("ring 3 exception: pushed %ss", seen.ss, __USER_DS);
    xtf_check_eq("ring 3 exception: pushed %cs", seen.cs, __USER_CS);

#ifdef __x86_64__
    {
        static uint8_t ist_stack[STACK_SIZE] __aligned(16);
        unsigned long ist_top = (unsigned long)ist_stack + STACK_SIZE;
        unsigned int vec = X86_VEC_AVAIL;

        tss.ist[IST_AVAIL - 1] = ist_top;
        idt_set_ist(vec, IST_AVAIL);
        idt_set_dpl(vec, 3);

        check_both("int $0x21 through an IST gate", probe_int_n, 0,
                   EXINFO(vec, 0), EXINFO(vec, 0));
        xtf_check_eq("IST gate from ring 3: frame at the top of the IST stack",
                     seen.frame_top, ist_top);
        xtf_check_eq("IST gate from ring 3: pushed %ss", seen.ss, __USER_DS);

        probe_int_n(0);
        xtf_check_eq("IST gate from ring 0: frame at the top of the IST stack",
                     seen.frame_top, ist_top);
        xtf_check_eq("IST gate from ring 0: pushed %cs", seen.cs, __KERN_CS);

        reset_idt_entry(vec);
        tss.ist[IST_AVAIL - 1] = 0;
    }
#endif

    xtf_exception_hook = NULL;
}

/*
 * Double fault: with the #GP gate not present, delivering a #GP raises #NP
 * (a contributory fault during a contributory fault), which turns into #DF
 * with error code 0.  #DF is an abort (the saved instruction pointer is not
 * architecturally defined), so the handler resumes at df_resume.
 */
static struct frame_info df_seen;
static unsigned long df_error_code;
static unsigned int nr_df;

static bool df_hook(struct cpu_regs *regs)
{
    extern char df_resume[];

    if ( regs->entry_vector != X86_EXC_DF )
        return false;

    nr_df++;
    df_error_code = regs->error_code;
    df_seen.frame_top = (unsigned long)regs + sizeof(*regs);
    df_seen.cs = regs->cs;
    idt_set_present(X86_EXC_GP, true);
    regs->ip = (unsigned long)df_resume;
    return true;
}

/* A #GP (bad selector) that resumes at df_resume (one copy of the label). */
static __attribute__((noipa)) unsigned long probe_gp_for_df(unsigned long sel)
{
    asm volatile ("mov %k[sel], %%es;"
                  ".globl df_resume; df_resume:"
                  :: [sel] "r" (sel) : "memory");
    write_es(__USER_DS);
    return 0;
}

static void test_double_fault(void)
{
    xtf_exception_hook = df_hook;

    for ( unsigned int ring = 0; ring <= 3; ring += 3 )
    {
        char msg[60];

        nr_df = 0;
        df_error_code = ~0ul;
        idt_set_present(X86_EXC_GP, false);
        if ( ring )
            exec_user_param(probe_gp_for_df, SEL_BEYOND_GDT);
        else
            probe_gp_for_df(SEL_BEYOND_GDT);
        idt_set_present(X86_EXC_GP, true);

        snprintf(msg, sizeof(msg), "#GP via a not-present gate at ring %u: #DF", ring);
        if ( !xtf_check_eq(msg, nr_df, 1) )
            continue;
        xtf_check_eq("#DF error code", df_error_code, 0);
        xtf_check_eq("#DF interrupted %cs", df_seen.cs, ring ? __USER_CS : __KERN_CS);
#ifdef __x86_64__
        xtf_check_eq("#DF frame at the top of its IST stack", df_seen.frame_top,
                     (unsigned long)df_stack + STACK_SIZE);
#else
        if ( ring )
            xtf_check_eq("#DF from ring 3: frame at the top of the TSS stack",
                         df_seen.frame_top, (unsigned long)tss_stack + STACK_SIZE);
#endif
    }

    xtf_exception_hook = NULL;
}

static void run(const char *name, void (*fn)(void))
{
    printk("Testing %s\n", name);
    fn();
}

void test_main(void)
{
    run("vectors", test_simple_exceptions);
    run("DR6 after a single step", test_single_step_dr6);
    run("software interrupts and gate DPL", test_gate_dpl);
    run("#NM", test_device_not_available);
    run("#MF", test_x87_error);
    run("segment loads", test_segment_loads);
    run("privileged instructions", test_privileged_instructions);
#if CONFIG_PAGING_LEVELS > 0
    run("page faults", test_page_faults);
    run("reserved bits", test_reserved_bits);
    run("restarting a fixed-up fault", test_restart_faulting_instruction);
    run("a fault after a physmap change", test_fault_after_physmap_change);
#else
    printk("No paging: no #PF tests\n");
#endif
    run("a fault in an exception handler", test_nested_faults);
    run("state across iret", test_iret_preserves_state);
    run("exception stacks", test_stacks);
    run("double fault", test_double_fault);

    xtf_success(NULL);
}
