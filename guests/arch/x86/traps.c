/**
 * @file arch/x86/traps.c
 *
 * do_exception(): the C side of every IDT entry.  An exception is given to
 * the test's hook if it has one, then to the exception table; anything else
 * is a bug in the test (or in what runs it) and panics.
 */
#include <xtf.h>

bool (*xtf_exception_hook)(struct cpu_regs *regs);
xtf_irq_handler_t xtf_irq_handlers[256];

static const char *const exception_names[X86_NR_RESERVED_VECTORS] = {
    [X86_EXC_DE]  = "#DE", [X86_EXC_DB]  = "#DB", [X86_EXC_NMI] = "NMI",
    [X86_EXC_BP]  = "#BP", [X86_EXC_OF]  = "#OF", [X86_EXC_BR]  = "#BR",
    [X86_EXC_UD]  = "#UD", [X86_EXC_NM]  = "#NM", [X86_EXC_DF]  = "#DF",
    [X86_EXC_CSO] = "#CSO", [X86_EXC_TS] = "#TS", [X86_EXC_NP]  = "#NP",
    [X86_EXC_SS]  = "#SS", [X86_EXC_GP]  = "#GP", [X86_EXC_PF]  = "#PF",
    [X86_EXC_MF]  = "#MF", [X86_EXC_AC]  = "#AC", [X86_EXC_MC]  = "#MC",
    [X86_EXC_XM]  = "#XM", [X86_EXC_VE]  = "#VE", [X86_EXC_CP]  = "#CP",
};

const char *exception_name(unsigned int vec)
{
    if ( vec < ARRAY_SIZE(exception_names) && exception_names[vec] )
        return exception_names[vec];
    return vec < X86_NR_RESERVED_VECTORS ? "#??" : "INT";
}

const char *exinfo_str(exinfo_t info, char *buf, unsigned int size)
{
    unsigned int vec = exinfo_vec(info);

    if ( !info )
        snprintf(buf, size, "nothing");
    else if ( vec < X86_NR_RESERVED_VECTORS && ((X86_EXC_HAVE_EC >> vec) & 1) )
        snprintf(buf, size, "%s[%04x]", exception_name(vec), exinfo_ec(info));
    else if ( vec < X86_NR_RESERVED_VECTORS )
        snprintf(buf, size, "%s", exception_name(vec));
    else
        snprintf(buf, size, "vec %#x", vec);
    return buf;
}

bool xtf_check_exinfo(const char *what, exinfo_t got, exinfo_t exp)
{
    char g[32], e[32];

    return xtf_check(got == exp, "%s: expected %s, got %s", what,
                     exinfo_str(exp, e, sizeof(e)), exinfo_str(got, g, sizeof(g)));
}

extern const struct extable_entry __start_ex_table[], __stop_ex_table[];

const struct extable_entry *search_extable(unsigned long addr)
{
    const struct extable_entry *ex;

    for ( ex = __start_ex_table; ex < __stop_ex_table; ex++ )
        if ( ex->fault == addr )
            return ex;
    return NULL;
}

static exinfo_t regs_exinfo(const struct cpu_regs *regs)
{
    return EXINFO(regs->entry_vector, regs->error_code);
}

bool ex_record_fault_eax(struct cpu_regs *regs, const struct extable_entry *ex)
{
    regs->ax = regs_exinfo(regs);
    regs->ip = ex->fixup;
    return true;
}

bool ex_record_fault_edi(struct cpu_regs *regs, const struct extable_entry *ex)
{
    regs->di = regs_exinfo(regs);
    regs->ip = ex->fixup;
    return true;
}

bool ex_record_trap_eax(struct cpu_regs *regs, const struct extable_entry *ex)
{
    regs->flags &= ~X86_EFLAGS_TF;
    return ex_record_fault_eax(regs, ex);
}

void do_exception(struct cpu_regs *regs)
{
    const struct extable_entry *ex;
    char info[32];

    if ( regs->entry_vector >= X86_NR_RESERVED_VECTORS &&
         xtf_irq_handlers[regs->entry_vector & 0xff] )
    {
        xtf_irq_handlers[regs->entry_vector & 0xff](regs);
        return;
    }

    if ( xtf_exception_hook && xtf_exception_hook(regs) )
        return;

    ex = search_extable(regs->ip);
    if ( ex )
    {
        if ( !ex->handler )
        {
            regs->ip = ex->fixup;
            return;
        }
        if ( ex->handler(regs, ex) )
            return;
    }

    if ( regs->entry_vector == X86_EXC_PF )
        printk("Page fault address (%%cr2): %p\n", (void *)read_cr2());
    panic("Unhandled exception %s at %04x:%p, flags %#lx, sp %p\n",
          exinfo_str(regs_exinfo(regs), info, sizeof(info)), regs->cs,
          (void *)regs->ip, regs->flags, (void *)regs_sp(regs));
}
