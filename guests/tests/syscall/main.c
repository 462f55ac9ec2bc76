/**
 * @file tests/syscall/main.c
 *
 * Fast system calls between ring 3 and ring 0 (Intel SDM vol. 2, SYSCALL,
 * SYSRET, SYSENTER, SYSEXIT):
 *
 * - hvm64: SYSCALL/SYSRET (STAR/LSTAR/FMASK, RCX/R11, flag masking, the
 *   selectors, SYSRET to 64-bit and to compatibility mode, the #UD and #GP
 *   cases), SYSENTER/SYSEXIT from 64-bit and compatibility mode, back with
 *   SYSEXIT with and without REX.W.
 * - 32-bit: SYSENTER/SYSEXIT, and SYSCALL (#UD on Intel outside 64-bit mode;
 *   AMD's legacy-mode SYSCALL/SYSRET otherwise).
 *
 * The kernel entry points record what they see (k_*) and return at once;
 * the user side records its own state (u_*).
 */
#include <xtf.h>

const char test_title[] = "SYSCALL/SYSRET and SYSENTER/SYSEXIT";

/* Seen at ring 0 by the entry points (written from assembly). */
unsigned long k_cx, k_dx, k_r11, k_sp, k_flags;
uint16_t k_cs, k_ss;
/* Seen at ring 3. */
unsigned long u_ret, u_sp, u_sp_after, u_flags, u_flags_after;
uint16_t u_cs, u_ss;

/* How the entry points return (see the assembly). */
unsigned long sysret_to_compat, sysexit_to_compat;

uint8_t kernel_stack[STACK_SIZE] __aligned(16);
#define KERNEL_STACK_TOP ((unsigned long)kernel_stack + STACK_SIZE)

/* The flags SYSCALL clears (MSR_FMASK) in these tests. */
#define FMASK (X86_EFLAGS_TF | X86_EFLAGS_IF | X86_EFLAGS_DF | X86_EFLAGS_AC)

/* Flags SYSENTER clears. */
#define SYSENTER_CLEARS (X86_EFLAGS_IF | X86_EFLAGS_VM | X86_EFLAGS_RF)

static bool intel;

static void reset_records(void)
{
    k_cx = k_dx = k_r11 = k_sp = k_flags = k_cs = k_ss = 0;
    u_ret = u_sp = u_sp_after = u_flags = u_flags_after = u_cs = u_ss = 0;
}

/* The user side's (%ss << 16 | %cs), as compat_report returns it. */
#define CS_SS(cs, ss) ((unsigned long)(ss) << 16 | (cs))

/*
 * Probes for SYSEXIT and SYSENTER in this build's mode: %edx/%rdx points at
 * the recovery label and %ecx/%rcx at the stack, so that a SYSEXIT that
 * does not fault lands there; a fault is recorded and skipped.
 */
#ifdef __x86_64__
#define SYS_PROBE_SETUP "lea 2f(%%rip), %%rdx; mov %%rsp, %%rcx;"
#define SYSEXIT_INSN    "sysexitq"
#else
#define SYS_PROBE_SETUP "mov $2f, %%edx; mov %%esp, %%ecx;"
#define SYSEXIT_INSN    "sysexit"
#endif

static unsigned long probe_sysexit(unsigned long p)
{
    unsigned long fault = 0;

    asm volatile (SYS_PROBE_SETUP "1: " SYSEXIT_INSN "; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault) :: "ecx", "edx", "memory");
    return fault;
}

static unsigned long probe_sysenter(unsigned long p)
{
    unsigned long fault = 0;

    asm volatile (SYS_PROBE_SETUP "1: sysenter; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault) :: "ecx", "edx", "memory");
    return fault;
}

#ifdef __x86_64__

void syscall_entry64(void);
void syscall_entry_compat(void);
void sysenter_entry64(void);
unsigned long compat_report(void);
unsigned long compat_syscall(void);
unsigned long compat_sysenter(void);

asm (".pushsection .text, \"ax\", @progbits\n\t"
     ".code64\n"

     /* SYSCALL from 64-bit mode: RSP is still the user's. */
     "syscall_entry64:\n\t"
     "mov %rsp, k_sp(%rip)\n\t"
     "mov $kernel_stack + " STRINGIFY(STACK_SIZE) ", %rsp\n\t"
     "mov %rcx, k_cx(%rip)\n\t"
     "mov %r11, k_r11(%rip)\n\t"
     "pushf\n\t"
     "pop k_flags(%rip)\n\t"
     "mov %cs, k_cs(%rip)\n\t"
     "mov %ss, k_ss(%rip)\n\t"
     "mov k_sp(%rip), %rsp\n\t"
     "cmpq $0, sysret_to_compat(%rip)\n\t"
     "jne 1f\n\t"
     "sysretq\n"
     "1: mov $compat_report, %ecx\n\t"     /* SYSRET to compatibility mode. */
     "sysretl\n"

     /* SYSCALL from compatibility mode (CSTAR; AMD only). */
     "syscall_entry_compat:\n\t"
     "mov %rcx, k_cx(%rip)\n\t"
     "mov %cs, k_cs(%rip)\n\t"
     "mov %ss, k_ss(%rip)\n\t"
     "sysretl\n"

     /* SYSENTER: RSP = SYSENTER_ESP. Back to RDX/RCX, 64-bit or compat. */
     "sysenter_entry64:\n\t"
     "mov %rsp, k_sp(%rip)\n\t"
     "mov %rcx, k_cx(%rip)\n\t"
     "mov %rdx, k_dx(%rip)\n\t"
     "pushf\n\t"
     "pop k_flags(%rip)\n\t"
     "mov %cs, k_cs(%rip)\n\t"
     "mov %ss, k_ss(%rip)\n\t"
     "cmpq $0, sysexit_to_compat(%rip)\n\t"
     "jne 1f\n\t"
     "sysexitq\n"
     "1: sysexitl\n\t"

     /* Compatibility mode, ring 3 (exec_user() with __USER_CS32). */
     ".code32\n"
     /* Report (%ss << 16 | %cs) and return to ring 0. */
     "compat_report:\n\t"
     "xor %eax, %eax\n\t"
     "mov %cs, %ax\n\t"
     "xor %edx, %edx\n\t"
     "mov %ss, %dx\n\t"
     "shl $16, %edx\n\t"
     "or %edx, %eax\n\t"
     "int $" STRINGIFY(X86_VEC_RET2KERN) "\n"

     /* SYSCALL from compatibility mode: the exception it raised, or 0. */
     "compat_syscall:\n\t"
     "xor %eax, %eax\n"
     "1: syscall\n"
     "2: ret\n\t"
     _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)

     /* SYSENTER from compatibility mode, back with SYSEXIT (no REX.W). */
     "compat_sysenter:\n\t"
     "mov %esp, %ecx\n\t"
     "mov $1f, %edx\n\t"
     "sysenter\n"
     "1: jmp compat_report\n\t"

     ".code64\n\t"
     ".popsection");

/* SYSCALL from 64-bit ring 3 with DF and AC set (and IF, from exec_user). */
static unsigned long user_syscall64(void)
{
    asm volatile ("lea 1f(%%rip), %%rax; mov %%rax, u_ret(%%rip);"
                  "std; pushf; orl $%c[ac], (%%rsp); popf;"
                  "pushf; pop u_flags(%%rip);"
                  "mov %%rsp, u_sp(%%rip);"
                  "syscall; 1:"
                  "pushf; pop u_flags_after(%%rip);"
                  "cld; pushf; andl $~%c[ac], (%%rsp); popf;"
                  "mov %%cs, u_cs(%%rip); mov %%ss, u_ss(%%rip)"
                  :: [ac] "i" (X86_EFLAGS_AC)
                  : "rax", "rcx", "r11", "memory", "cc");
    return 0;
}

/* SYSENTER from 64-bit ring 3, back to 1: on the same stack. */
static unsigned long user_sysenter64(void)
{
    asm volatile ("lea 1f(%%rip), %%rdx; mov %%rsp, %%rcx;"
                  "mov %%rsp, u_sp(%%rip);"
                  "pushf; pop u_flags(%%rip);"
                  "sysenter; 1:"
                  "pushf; pop u_flags_after(%%rip);"
                  "mov %%rsp, u_sp_after(%%rip);"
                  "mov %%cs, u_cs(%%rip); mov %%ss, u_ss(%%rip)"
                  ::: "rcx", "rdx", "memory", "cc");
    return 0;
}

/* SYSENTER from 64-bit ring 3, back in compatibility mode (compat_report). */
static unsigned long user_sysenter64_to_compat(void)
{
    asm volatile ("mov $compat_report, %%edx; mov %%rsp, %%rcx; sysenter"
                  ::: "rcx", "rdx", "memory");
    return 0;   /* Not reached. */
}

static unsigned long probe_syscall(unsigned long p)
{
    unsigned long fault = 0;

    asm volatile ("1: syscall; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault) :: "rcx", "r11", "memory");
    return fault;
}

/*
 * A SYSRET that does not fault in ring 0 (as Intel's does for a
 * non-canonical %rcx) leaves for ring 3 and faults on the fetch there.
 * Come back to ring 0 at the fixup, and say so.
 */
#define NON_CANONICAL 0x8000000000000000ul  /* As in the extable entry below. */
static bool sysret_left_ring0;

static bool __used ex_sysret_left_ring0(struct cpu_regs *regs,
                                        const struct extable_entry *ex)
{
    sysret_left_ring0 = true;
    regs->ax = 0;
    regs->ip = ex->fixup;
    regs->cs = __KERN_CS;
    regs->ss = __KERN_DS;
    return true;
}

/* SYSRET to @rip, or to 2: (at ring 3, if it does not fault) for 0. */
static unsigned long probe_sysret(unsigned long rip)
{
    unsigned long fault = 0;

    asm volatile ("test %[rip], %[rip]; jnz 3f; lea 2f(%%rip), %[rip]; 3:"
                  "mov %[rip], %%rcx; pushf; pop %%r11;"
                  "1: sysretq; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  _ASM_EXTABLE_HANDLER(0x8000000000000000, 2b, ex_sysret_left_ring0)
                  : "+a" (fault), [rip] "+r" (rip)
                  :: "rcx", "r11", "memory");
    return fault;
}

static void test_syscall_64(void)
{
    unsigned long efer = rdmsr(MSR_EFER);

    printk("Testing SYSCALL/SYSRET (64-bit)\n");

    wrmsr(MSR_EFER, efer & ~EFER_SCE);
    xtf_check_exinfo("syscall with EFER.SCE clear, ring 0", probe_syscall(0),
                     EXINFO_SYM(UD, 0));
    xtf_check_exinfo("syscall with EFER.SCE clear, ring 3",
                     exec_user_param(probe_syscall, 0), EXINFO_SYM(UD, 0));

    wrmsr(MSR_EFER, efer | EFER_SCE);
    /* SYSCALL: CS = STAR[47:32], SS = +8; SYSRET: CS = STAR[63:48] + 16 (64-bit)
       or STAR[63:48] (compat), SS = STAR[63:48] + 8, all RPL 3. */
    wrmsr(MSR_STAR, (uint64_t)(__USER_CS32 & ~3) << 48 | (uint64_t)__KERN_CS << 32);
    wrmsr(MSR_LSTAR, (unsigned long)syscall_entry64);
    wrmsr(MSR_CSTAR, (unsigned long)syscall_entry_compat);
    wrmsr(MSR_FMASK, FMASK);

    reset_records();
    exec_user_efl_or_mask = X86_EFLAGS_IF;
    exec_user(user_syscall64);
    exec_user_efl_or_mask = 0;

    xtf_check_eq("syscall: %rcx = the next instruction", k_cx, u_ret);
    xtf_check_eq("syscall: %r11 = RFLAGS", k_r11, u_flags);
    xtf_check(u_flags & X86_EFLAGS_DF && u_flags & X86_EFLAGS_AC && u_flags & X86_EFLAGS_IF,
              "syscall: the user flags %#lx lack DF, AC or IF", u_flags);
    xtf_check_eq("syscall: RFLAGS masked by FMASK", k_flags,
                 u_flags & ~(FMASK | X86_EFLAGS_RF));
    xtf_check_eq("syscall: %cs", k_cs, __KERN_CS);
    xtf_check_eq("syscall: %ss", k_ss, __KERN_DS);
    xtf_check_eq("syscall: %rsp unchanged", k_sp, u_sp);
    xtf_check_eq("sysret: RFLAGS = %r11", u_flags_after, u_flags);
    xtf_check_eq("sysret: %cs", u_cs, __USER_CS64);
    xtf_check_eq("sysret: %ss", u_ss, __USER_DS);

    reset_records();
    sysret_to_compat = 1;
    xtf_check_eq("sysretl to compatibility mode: %ss:%cs",
                 exec_user(user_syscall64) & 0xffffffff, CS_SS(__USER_CS32, __USER_DS));
    sysret_to_compat = 0;

    /* SYSRET is ring 0 only; Intel checks RCX is canonical before leaving ring 0. */
    xtf_check_exinfo("sysret at ring 3", exec_user_param(probe_sysret, 0),
                     EXINFO_SYM(GP, 0));
    if ( intel )
    {
        sysret_left_ring0 = false;
        xtf_check_exinfo("sysret to a non-canonical %rcx (Intel)",
                         probe_sysret(NON_CANONICAL), EXINFO_SYM(GP, 0));
        xtf_check(!sysret_left_ring0,
                  "sysret to a non-canonical %%rcx left ring 0 (AMD behaviour)");
    }

    /* Intel: SYSCALL outside 64-bit mode is #UD; AMD goes through CSTAR. */
    reset_records();
    exec_user_cs = __USER_CS32;
    xtf_check_exinfo("syscall from compatibility mode", exec_user(compat_syscall),
                     intel ? EXINFO_SYM(UD, 0) : 0);
    exec_user_cs = __USER_CS;
    if ( !intel )
        xtf_check_eq("syscall from compatibility mode: %cs", k_cs, __KERN_CS);

    wrmsr(MSR_EFER, efer);
}

static void test_sysenter_64(void)
{
    printk("Testing SYSENTER/SYSEXIT (64-bit)\n");

    wrmsr(MSR_SYSENTER_CS, __KERN_CS);
    wrmsr(MSR_SYSENTER_ESP, KERNEL_STACK_TOP);
    wrmsr(MSR_SYSENTER_EIP, (unsigned long)sysenter_entry64);

    if ( !intel )
    {
        /* AMD: SYSENTER and SYSEXIT are invalid in long mode. */
        xtf_check_exinfo("sysenter in long mode (AMD)",
                         exec_user_param(probe_sysenter, 0), EXINFO_SYM(UD, 0));
        xtf_check_exinfo("sysexit in long mode (AMD)", probe_sysexit(0),
                         EXINFO_SYM(UD, 0));
        return;
    }

    reset_records();
    exec_user_efl_or_mask = X86_EFLAGS_IF;
    exec_user(user_sysenter64);
    exec_user_efl_or_mask = 0;

    /* SYSENTER: CS = SYSENTER_CS, SS = +8, RSP/RIP from the MSRs. */
    xtf_check_eq("sysenter: %cs", k_cs, __KERN_CS);
    xtf_check_eq("sysenter: %ss", k_ss, __KERN_DS);
    xtf_check_eq("sysenter: %rsp = SYSENTER_ESP", k_sp, KERNEL_STACK_TOP);
    xtf_check_eq("sysenter: RFLAGS (IF, VM, RF cleared)", k_flags,
                 u_flags & ~SYSENTER_CLEARS);
    /* SYSEXIT with REX.W: CS = SYSENTER_CS + 32, SS = + 40, RIP = RDX, RSP = RCX. */
    xtf_check_eq("sysexitq: %cs", u_cs, __USER_CS64);
    xtf_check_eq("sysexitq: %ss", u_ss, __USER_DS2);
    xtf_check_eq("sysexitq: %rsp = %rcx", u_sp_after, u_sp);
    xtf_check(!(u_flags_after & X86_EFLAGS_IF), "sysexit restored EFLAGS.IF");

    /* SYSEXIT without REX.W: compatibility mode, CS = + 16, SS = + 24. */
    sysexit_to_compat = 1;
    xtf_check_eq("sysexitl: %ss:%cs", exec_user(user_sysenter64_to_compat) & 0xffffffff,
                 CS_SS(__USER_CS32, __USER_DS));

    /* SYSENTER from compatibility mode lands in 64-bit mode all the same. */
    reset_records();
    exec_user_cs = __USER_CS32;
    xtf_check_eq("sysenter/sysexitl from compatibility mode: %ss:%cs",
                 exec_user(compat_sysenter) & 0xffffffff, CS_SS(__USER_CS32, __USER_DS));
    exec_user_cs = __USER_CS;
    sysexit_to_compat = 0;
    xtf_check_eq("sysenter from compatibility mode: %cs", k_cs, __KERN_CS);

    /* Ring 0 only, and both #GP(0) with a NULL SYSENTER_CS. */
    xtf_check_exinfo("sysexit at ring 3", exec_user_param(probe_sysexit, 0),
                     EXINFO_SYM(GP, 0));
    wrmsr(MSR_SYSENTER_CS, 0);
    xtf_check_exinfo("sysenter with SYSENTER_CS = 0",
                     exec_user_param(probe_sysenter, 0), EXINFO_SYM(GP, 0));
    xtf_check_exinfo("sysexit with SYSENTER_CS = 0", probe_sysexit(0),
                     EXINFO_SYM(GP, 0));
    wrmsr(MSR_SYSENTER_CS, __KERN_CS);
}

#else /* !__x86_64__ */

void sysenter_entry32(void);
void syscall_entry_legacy(void);

asm (".pushsection .text, \"ax\", @progbits\n"
     /* SYSENTER: ESP = SYSENTER_ESP.  Back to EDX/ECX with SYSEXIT. */
     "sysenter_entry32:\n\t"
     "mov %esp, k_sp\n\t"
     "mov %ecx, k_cx\n\t"
     "mov %edx, k_dx\n\t"
     "pushf\n\t"
     "pop k_flags\n\t"
     "mov %cs, k_cs\n\t"
     "mov %ss, k_ss\n\t"
     "sysexit\n"

     /* AMD's legacy-mode SYSCALL (EIP = STAR[31:0]), back with SYSRET. */
     "syscall_entry_legacy:\n\t"
     "mov %ecx, k_cx\n\t"
     "mov %cs, k_cs\n\t"
     "mov %ss, k_ss\n\t"
     "sysret\n\t"
     ".popsection");

static unsigned long user_sysenter32(void)
{
    asm volatile ("mov $1f, %%edx; mov %%esp, %%ecx;"
                  "mov %%esp, u_sp;"
                  "pushf; pop u_flags;"
                  "sysenter; 1:"
                  "pushf; pop u_flags_after;"
                  "mov %%esp, u_sp_after;"
                  "mov %%cs, u_cs; mov %%ss, u_ss"
                  ::: "ecx", "edx", "memory", "cc");
    return 0;
}

static unsigned long probe_syscall(unsigned long p)
{
    unsigned long fault = 0;

    asm volatile ("1: syscall; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault) :: "ecx", "memory");
    return fault;
}

static void test_sysenter_32(void)
{
    printk("Testing SYSENTER/SYSEXIT (32-bit)\n");

    wrmsr(MSR_SYSENTER_CS, __KERN_CS);
    wrmsr(MSR_SYSENTER_ESP, KERNEL_STACK_TOP);
    wrmsr(MSR_SYSENTER_EIP, (unsigned long)sysenter_entry32);

    reset_records();
    exec_user_efl_or_mask = X86_EFLAGS_IF;
    exec_user(user_sysenter32);
    exec_user_efl_or_mask = 0;

    /* SYSENTER: CS = SYSENTER_CS, SS = +8, ESP/EIP from the MSRs. */
    xtf_check_eq("sysenter: %cs", k_cs, __KERN_CS);
    xtf_check_eq("sysenter: %ss", k_ss, __KERN_DS);
    xtf_check_eq("sysenter: %esp = SYSENTER_ESP", k_sp, KERNEL_STACK_TOP);
    xtf_check(u_flags & X86_EFLAGS_IF, "user EFLAGS %#lx lack IF", u_flags);
    xtf_check_eq("sysenter: EFLAGS (IF, VM, RF cleared)", k_flags,
                 u_flags & ~SYSENTER_CLEARS);
    /* SYSEXIT: CS = SYSENTER_CS + 16, SS = + 24, EIP = EDX, ESP = ECX. */
    xtf_check_eq("sysexit: %cs", u_cs, __USER_CS32);
    xtf_check_eq("sysexit: %ss", u_ss, __USER_DS);
    xtf_check_eq("sysexit: %esp = %ecx", u_sp_after, u_sp);
    xtf_check(!(u_flags_after & X86_EFLAGS_IF), "sysexit restored EFLAGS.IF");

    xtf_check_exinfo("sysexit at ring 3", exec_user_param(probe_sysexit, 0),
                     EXINFO_SYM(GP, 0));
    wrmsr(MSR_SYSENTER_CS, 0);
    xtf_check_exinfo("sysenter with SYSENTER_CS = 0",
                     exec_user_param(probe_sysenter, 0), EXINFO_SYM(GP, 0));
    xtf_check_exinfo("sysexit with SYSENTER_CS = 0", probe_sysexit(0),
                     EXINFO_SYM(GP, 0));
    wrmsr(MSR_SYSENTER_CS, __KERN_CS);
}

static void test_syscall_32(void)
{
    uint64_t efer;
    exinfo_t fault;

    printk("Testing SYSCALL (32-bit)\n");

    if ( !(cpuid_edx(0x80000001) & X86_FEAT_E1D_LM) )
    {
        printk("  No long mode: SYSCALL is not available\n");
        return;
    }

    efer = rdmsr(MSR_EFER);
    xtf_check_exinfo("syscall with EFER.SCE clear, ring 3",
                     exec_user_param(probe_syscall, 0), EXINFO_SYM(UD, 0));

    /* AMD legacy mode: CS = STAR[47:32], EIP = STAR[31:0]; SYSRET to STAR[63:48]. */
    wrmsr(MSR_STAR, (uint64_t)(__USER_CS32 & ~3) << 48 |
          (uint64_t)__KERN_CS << 32 | (unsigned long)syscall_entry_legacy);

    fault = wrmsr_safe(MSR_EFER, efer | EFER_SCE);
    if ( fault )
    {
        printk("  EFER.SCE cannot be set outside long mode\n");
        return;
    }

    reset_records();
    fault = exec_user_param(probe_syscall, 0);
    if ( intel )
        xtf_check_exinfo("syscall outside 64-bit mode (Intel)", fault, EXINFO_SYM(UD, 0));
    else
    {
        xtf_check_exinfo("legacy syscall (AMD)", fault, 0);
        xtf_check_eq("legacy syscall (AMD): %cs", k_cs, __KERN_CS);
    }
    wrmsr(MSR_EFER, efer);
}

#endif /* __x86_64__ */

void test_main(void)
{
    intel = cpu_is_intel();
    printk("CPU vendor: %s\n", intel ? "Intel" : "not Intel (AMD rules)");

    if ( !(cpuid_edx(1) & X86_FEAT_1D_SEP) )
    {
        xtf_skip("Skip: no SYSENTER/SYSEXIT\n");
        return;
    }

#ifdef __x86_64__
    test_syscall_64();
    test_sysenter_64();
#else
    test_sysenter_32();
    test_syscall_32();
#endif

    xtf_success(NULL);
}
