/**
 * @file include/xtf/extable.h
 *
 * Exception tables: "if the instruction at X faults, continue at Y" (or
 * call a handler), so a test can run one instruction and find out which
 * exception it raised.
 *
 *   asm volatile ("1: ud2; 2:"
 *                 _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
 *                 : "=a" (fault) : "0" (0));
 *
 * leaves fault == EXINFO_SYM(UD, 0), or 0 if nothing was raised.
 */
#ifndef XTF_EXTABLE_H
#define XTF_EXTABLE_H

#include <arch/asm_macros.h>

#ifdef __ASSEMBLY__

#define _ASM_EXTABLE_HANDLER(fault, fixup, handler) \
    .pushsection .ex_table, "a";                    \
    _ASM_PTR fault, fixup, handler;                 \
    .popsection

#else /* !__ASSEMBLY__ */

#include <xtf/types.h>

#define _ASM_EXTABLE_HANDLER(fault, fixup, handler)                     \
    "\n\t.pushsection .ex_table, \"a\";\n\t"                          \
    _ASM_PTR " " #fault ", " #fixup ", " #handler ";\n\t"              \
    ".popsection\n\t"

struct cpu_regs;

struct extable_entry {
    unsigned long fault;   /* Address of the instruction that may fault. */
    unsigned long fixup;   /* Where to continue. */
    /* Optional: called instead of the plain jump; true if it handled it. */
    bool (*handler)(struct cpu_regs *regs, const struct extable_entry *ex);
};

const struct extable_entry *search_extable(unsigned long addr);

#endif /* __ASSEMBLY__ */

/* Plain fixup: jump to @fixup. */
#define _ASM_EXTABLE(fault, fixup) _ASM_EXTABLE_HANDLER(fault, fixup, 0)

#endif /* XTF_EXTABLE_H */
