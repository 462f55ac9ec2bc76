/**
 * @file tests/fault-state/main.c
 *
 * Page faults keep their vector, error code and %cr2 whatever the emulator
 * does between two stretches of guest execution.  hvsim stops the guest at
 * every rdmsr/wrmsr/sysret of the image (its exit sites) and Unicorn walks
 * the guest page tables for each of them whenever a run ends; this test
 * makes those walks fault, as Linux does when reset_early_page_tables()
 * drops the identity map its early code ran from, and then checks:
 *
 * - a page fault taken after that has the right vector, error code and %cr2
 *   (not a #DF, not a triple fault, not a stale %cr2);
 * - %cr2 read by a #PF handler after a hypercall that ended the slice;
 * - faults in the middle of `rep movs` and `rep stos` (read and write side,
 *   on a page boundary), fixed up by the handler and resumed, with and
 *   without an IST stack (64-bit);
 * - a #PF inside a #PF handler;
 * - hypercalls given buffers that fault (NULL, non-canonical, unmapped),
 *   each followed by one that ends the slice: hvsim's own page walk of the
 *   bad buffer must leave nothing behind that QEMU later raises as a #PF
 *   the guest did not cause (the spurious #PF of the hypercall fuzzer).
 *
 * On real hardware and on Xen none of this depends on the exit sites.  The
 * page-table parts need paging (not in hvm32).
 */
#include <xtf.h>

const char test_title[] = "Page faults across emulator slice ends: exit sites unmapped, "
                          "rep movs/stos, IST, nested #PF";

/*
 * An rdmsr on a page of its own (never executed): an exit site for hvsim.
 * It is 16 bytes into the page, so that Unicorn's walk of the byte before
 * the site stays on this page.
 */
asm (".pushsection .text.exit_site_page, \"ax\", @progbits\n"
     ".balign 4096\n"
     "exit_site_page:\n"
     ".fill 16, 1, 0x90\n"
     "rdmsr\n"
     "ret\n"
     ".balign 4096\n"
     ".popsection");
extern uint8_t exit_site_page[];

static uint8_t src[2 * PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t dst[2 * PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t test_page[PAGE_SIZE] __aligned(PAGE_SIZE);
static uint8_t other_page[PAGE_SIZE] __aligned(PAGE_SIZE);

static void __maybe_unused set_present(const void *va, bool present)
{
    intpte_t *pte = l1e_of(va);

    if ( present )
        *pte |= _PAGE_PRESENT;
    else
        *pte &= ~_PAGE_PRESENT;
    invlpg(va);
}

/* End the slice: hvsim runs Unicorn again afterwards. */
static void end_slice(void)
{
    hypercall_sched_op(SCHEDOP_yield, NULL);
}

/* What the #PF hook saw (the first fault of a probe). */
static struct {
    unsigned int faults, vector, error_code;
    unsigned long cr2, cx, frame_top;
    bool fix;                   /* map the page and retry the instruction */
    bool yield;                 /* end the slice before reading %cr2 */
} pf;

static bool pf_hook(struct cpu_regs *regs)
{
    unsigned long cr2;

    if ( regs->entry_vector != X86_EXC_PF && regs->entry_vector != X86_EXC_DF )
        return false;
    if ( pf.yield )
        end_slice();
    cr2 = read_cr2();
    if ( pf.faults++ == 0 )
    {
        pf.vector = regs->entry_vector;
        pf.error_code = regs->error_code;
        pf.cr2 = cr2;
        pf.cx = regs->cx;
        pf.frame_top = (unsigned long)regs + sizeof(*regs);
    }
    if ( pf.fix && regs->entry_vector == X86_EXC_PF && pf.faults < 4 )
    {
        set_present((void *)(cr2 & PAGE_MASK), true);
        return true;
    }
    return false;
}

static void pf_reset(bool fix, bool yield)
{
    memset(&pf, 0, sizeof(pf));
    pf.fix = fix;
    pf.yield = yield;
}

static void check_pf(const char *what, unsigned int faults, const void *va,
                     unsigned int pfec)
{
    char msg[120];

    snprintf(msg, sizeof(msg), "%s: number of faults", what);
    xtf_check_eq(msg, pf.faults, faults);
    snprintf(msg, sizeof(msg), "%s: vector", what);
    xtf_check_eq(msg, pf.vector, X86_EXC_PF);
    snprintf(msg, sizeof(msg), "%s: error code", what);
    xtf_check_eq(msg, pf.error_code, pfec);
    snprintf(msg, sizeof(msg), "%s: %%cr2", what);
    xtf_check_eq(msg, pf.cr2, (unsigned long)va);
}

static unsigned long probe_read(unsigned long addr)
{
    unsigned long fault = 0, val;

    asm volatile ("1: mov (%[ptr]), %[val]; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault), [val] "=r" (val) : [ptr] "S" (addr) : "memory");
    return fault;
}

static unsigned long probe_write(unsigned long addr)
{
    unsigned long fault = 0;

    asm volatile ("1: movb $0, (%[ptr]); 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault) : [ptr] "S" (addr) : "memory");
    return fault;
}

/*
 * Faults after slice ends whose page walks of the exit site faulted: each
 * one must be an ordinary #PF (two leaked faults make QEMU's next one a
 * #DF, three a silent triple fault).
 */
static void __maybe_unused test_after_slice_ends(void)
{
    unsigned int i;

    printk("Testing page faults after slice ends\n");
    xtf_exception_hook = pf_hook;
    for ( i = 0; i < 3; i++ )
    {
        end_slice();
        end_slice();
        set_present(test_page, false);
        pf_reset(false, false);
        xtf_check_exinfo("read, not present, after slice ends",
                         probe_read((unsigned long)test_page), EXINFO_SYM(PF, 0));
        check_pf("read, not present, after slice ends", 1, test_page, 0);
        pf_reset(false, false);
        xtf_check_exinfo("write, not present, after slice ends",
                         probe_write((unsigned long)test_page),
                         EXINFO_SYM(PF, X86_PFEC_WRITE));
        check_pf("write, not present, after slice ends", 1, test_page, X86_PFEC_WRITE);
        set_present(test_page, true);
    }

    /* The handler ends the slice before it reads %cr2. */
    set_present(test_page, false);
    pf_reset(false, true);
    xtf_check_exinfo("read, handler yields before reading %cr2",
                     probe_read((unsigned long)test_page), EXINFO_SYM(PF, 0));
    check_pf("read, handler yields before reading %cr2", 1, test_page, 0);
    set_present(test_page, true);
    xtf_exception_hook = NULL;
}

/*
 * rep movs/stos faulting on the second page of a two-page buffer: the
 * handler maps it, the instruction resumes with the count left and ends
 * with every byte copied.
 */
static unsigned long rep_movsb(void *to, const void *from, unsigned long n)
{
    asm volatile ("rep movsb" : "+D" (to), "+S" (from), "+c" (n) :: "memory");
    return n;
}

static unsigned long rep_stos(void *to, unsigned long val, unsigned long n)
{
    asm volatile ("rep stos %[val], (%[to])"
                  : [to] "+D" (to), "+c" (n) : [val] "a" (val) : "memory");
    return n;
}

static void check_rep(const char *what, const void *page, unsigned int pfec,
                      unsigned long cx_at_fault, unsigned long frame_top)
{
    char msg[120];

    check_pf(what, 1, page, pfec);
    snprintf(msg, sizeof(msg), "%s: count left at the fault", what);
    xtf_check_eq(msg, pf.cx, cx_at_fault);
    if ( frame_top )
    {
        snprintf(msg, sizeof(msg), "%s: frame at the top of the IST stack", what);
        xtf_check_eq(msg, pf.frame_top, frame_top);
    }
}

static void fill_src(unsigned int seed)
{
    unsigned int i;

    for ( i = 0; i < sizeof(src); i++ )
        src[i] = (uint8_t)(i * 7 + seed);
    memset(dst, 0, sizeof(dst));
}

static void rep_faults(const char *how, unsigned long ist_top)
{
    char what[120];
    unsigned long left;
    unsigned int i;
    bool ok;

    printk("Testing faults inside rep movs/stos (%s)\n", how);

    /* Write side: the second destination page is not present. */
    fill_src(1);
    end_slice();
    set_present(dst + PAGE_SIZE, false);
    pf_reset(true, false);
    left = rep_movsb(dst, src, sizeof(src));
    snprintf(what, sizeof(what), "rep movsb, destination not present (%s)", how);
    check_rep(what, dst + PAGE_SIZE, X86_PFEC_WRITE, PAGE_SIZE, ist_top);
    xtf_check_eq(what, left, 0);
    xtf_check(memcmp(dst, src, sizeof(src)) == 0, "rep movsb copied everything");

    /* Read side: the second source page is not present. */
    fill_src(2);
    end_slice();
    set_present(src + PAGE_SIZE, false);
    pf_reset(true, true);
    left = rep_movsb(dst, src, sizeof(src));
    snprintf(what, sizeof(what), "rep movsb, source not present (%s)", how);
    check_rep(what, src + PAGE_SIZE, 0, PAGE_SIZE, ist_top);
    xtf_check_eq(what, left, 0);
    xtf_check(memcmp(dst, src, sizeof(src)) == 0, "rep movsb copied everything");

    /* rep stos with a word-sized store. */
    memset(dst, 0, sizeof(dst));
    end_slice();
    set_present(dst + PAGE_SIZE, false);
    pf_reset(true, false);
    left = rep_stos(dst, ~0ul, sizeof(dst) / sizeof(long));
    snprintf(what, sizeof(what), "rep stos, destination not present (%s)", how);
    check_rep(what, dst + PAGE_SIZE, X86_PFEC_WRITE, PAGE_SIZE / sizeof(long), ist_top);
    xtf_check_eq(what, left, 0);
    for ( ok = true, i = 0; i < sizeof(dst); i++ )
        ok &= dst[i] == 0xff;
    xtf_check(ok, "rep stos stored everything");
}

static void __maybe_unused test_rep(void)
{
    xtf_exception_hook = pf_hook;
    rep_faults("current stack", 0);
#ifdef __x86_64__
    {
        static uint8_t ist_stack[STACK_SIZE] __aligned(16);
        unsigned long ist_top = (unsigned long)ist_stack + STACK_SIZE;

        tss.ist[IST_AVAIL - 1] = ist_top;
        idt_set_ist(X86_EXC_PF, IST_AVAIL);
        rep_faults("IST stack", ist_top);
        reset_idt_entry(X86_EXC_PF);
        tss.ist[IST_AVAIL - 1] = 0;
    }
#endif
    xtf_exception_hook = NULL;
}

/*
 * A #PF handler that faults itself: the inner fault is an ordinary #PF
 * (the outer one was delivered), with its own %cr2.
 */
static exinfo_t inner_fault;
static unsigned long inner_cr2, outer_cr2;
static unsigned int outer_faults;

static bool nested_hook(struct cpu_regs *regs)
{
    if ( regs->entry_vector != X86_EXC_PF || outer_faults++ )
        return false;
    outer_cr2 = read_cr2();
    end_slice();
    inner_fault = probe_read((unsigned long)other_page);
    inner_cr2 = read_cr2();
    return false;
}

static void __maybe_unused test_nested(void)
{
    printk("Testing a #PF inside a #PF handler\n");
    set_present(test_page, false);
    set_present(other_page, false);
    xtf_exception_hook = nested_hook;
    outer_faults = 0;
    end_slice();
    xtf_check_exinfo("outer #PF", probe_write((unsigned long)test_page),
                     EXINFO_SYM(PF, X86_PFEC_WRITE));
    xtf_exception_hook = NULL;
    xtf_check_eq("outer #PF: %cr2", outer_cr2, (unsigned long)test_page);
    xtf_check_exinfo("inner #PF", inner_fault, EXINFO_SYM(PF, 0));
    xtf_check_eq("inner #PF: %cr2", inner_cr2, (unsigned long)other_page);
    set_present(test_page, true);
    set_present(other_page, true);
}

/*
 * Bad buffers: each call must fail with -EFAULT and nothing else may
 * happen, also after the slice ends.
 */
static unsigned int stray_faults;

static bool stray_hook(struct cpu_regs *regs)
{
    if ( regs->entry_vector < X86_NR_RESERVED_VECTORS )
    {
        printk("  unexpected %s at %p, %%cr2 %p\n", regs->entry_vector == X86_EXC_PF
               ? "#PF" : "exception", (void *)regs->ip, (void *)read_cr2());
        stray_faults++;
    }
    return false;
}

static void test_bad_buffers(void)
{
    static const unsigned long bad[] = {
        0,                                  /* NULL */
#ifdef __x86_64__
        0x8000000000000000ul,               /* non-canonical */
        0x00007ffffffff000ul,               /* canonical, not mapped */
#endif
        0xfffff000ul,                       /* past RAM */
        (unsigned long)test_page,           /* made not present below */
    };
    unsigned int i, round;
    long rc;
    char msg[80];

    printk("Testing hypercalls with bad buffers, each followed by a slice end\n");
#if CONFIG_PAGING_LEVELS > 0
    set_present(test_page, false);
#endif
    xtf_exception_hook = stray_hook;
    for ( round = 0; round < 4; round++ )
        for ( i = 0; i < ARRAY_SIZE(bad); i++ )
        {
            void *p = (void *)bad[i];

            rc = hypercall_xen_version(XENVER_extraversion, p);
            end_slice();
            if ( CONFIG_PAGING_LEVELS > 0 || bad[i] == 0xfffff000ul )
            {
                snprintf(msg, sizeof(msg), "xen_version(extraversion, %p)", p);
                xtf_check_eq(msg, rc, -EFAULT);
                hypercall_console_io(CONSOLEIO_write, 16, p);
                end_slice();
            }
            hypercall_memory_op(XENMEM_decrease_reservation, p);
            end_slice();
            hypercall_event_channel_op(EVTCHNOP_status, p);
            end_slice();
        }
    xtf_exception_hook = NULL;
    xtf_check_eq("exceptions the guest did not cause", stray_faults, 0);
#if CONFIG_PAGING_LEVELS > 0
    set_present(test_page, true);
#endif
}

void test_main(void)
{
    test_bad_buffers();

#if CONFIG_PAGING_LEVELS > 0
    if ( !l1e_of(exit_site_page) || !l1e_of(dst + sizeof(dst)) )
        return xtf_error("Error: the test's pages are beyond the 4K-page identity map\n");

    /* From here on, every page walk of the exit site faults. */
    set_present(exit_site_page, false);

    test_after_slice_ends();
    test_rep();
    test_nested();

    set_present(exit_site_page, true);
#endif
    xtf_success(NULL);
}
