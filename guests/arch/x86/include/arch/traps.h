/**
 * @file arch/x86/include/arch/traps.h
 *
 * Exception handling: the exception-table handlers, a hook for tests that
 * need to see every exception, and running code at ring 3.
 */
#ifndef XTF_X86_TRAPS_H
#define XTF_X86_TRAPS_H

#include <xtf/types.h>
#include <arch/exinfo.h>
#include <arch/regs.h>

struct extable_entry;

/*
 * Exception-table handlers: record the exception as an exinfo_t in the
 * interrupted context's %eax (resp. %edi) and continue at the fixup.
 */
bool ex_record_fault_eax(struct cpu_regs *regs, const struct extable_entry *ex);
bool ex_record_fault_edi(struct cpu_regs *regs, const struct extable_entry *ex);

/*
 * The same for a single-step #DB: record in %eax and clear EFLAGS.TF, so
 * that the fixup is not single-stepped too.
 */
bool ex_record_trap_eax(struct cpu_regs *regs, const struct extable_entry *ex);

/*
 * If set, called first for every exception.  Return true if the hook dealt
 * with it (regs may be edited: the handler returns with iret through them),
 * false to carry on with the exception table.
 */
extern bool (*xtf_exception_hook)(struct cpu_regs *regs);

/*
 * Interrupt handlers: if xtf_irq_handlers[vec] is set (vec >= 32), an
 * interrupt on vec calls it (before the hook and the exception table) and
 * returns with iret through regs.  Used for the event channel upcall.
 */
typedef void (*xtf_irq_handler_t)(struct cpu_regs *regs);
extern xtf_irq_handler_t xtf_irq_handlers[256];

/* The C side of every IDT entry stub. */
void do_exception(struct cpu_regs *regs);

/*
 * Run fn(p1) at ring 3 on the user stack, and return its return value.
 * exec_user_cs/ss choose the segments (e.g. __USER_CS32 for compatibility
 * mode in hvm64: fn must then be 32-bit code), the masks edit the EFLAGS
 * it starts with.
 */
unsigned long exec_user_param(unsigned long (*fn)(unsigned long),
                              unsigned long p1);

static inline unsigned long exec_user(unsigned long (*fn)(void))
{
    return exec_user_param((unsigned long (*)(unsigned long))fn, 0);
}

extern unsigned long exec_user_cs, exec_user_ss;
extern unsigned long exec_user_efl_and_mask, exec_user_efl_or_mask;

/* A counted check (see xtf_check()) that @got is the exception @exp. */
bool xtf_check_exinfo(const char *what, exinfo_t got, exinfo_t exp);

/* "#GP", "#PF" ... */
const char *exception_name(unsigned int vec);

#endif /* XTF_X86_TRAPS_H */
