/**
 * @file tests/exceptions-unemulated/main.c
 *
 * Exceptions hvsim's CPU cannot raise: alignment check (#AC), SIMD floating
 * point (#XM), and the I/O-privilege #GP of port I/O at ring 3.
 *
 * - #AC: a misaligned data access at CPL 3 with CR0.AM and EFLAGS.AC set,
 *   error code 0.  Never at CPL 0, never with either bit clear.
 * - #XM: an unmasked SSE exception (divss by zero with MXCSR.ZM clear) with
 *   CR4.OSXMMEXCPT set; #UD instead without CR4.OSXMMEXCPT; nothing (and
 *   MXCSR.ZE set) when masked.
 *
 * - #GP(0): `inb` at ring 3 with IOPL 0 and no I/O bitmap in the TSS.
 *
 * Kept apart from the exceptions test: QEMU TCG, which hvsim's CPU is built
 * on, raises neither #AC nor #XM, and Unicorn removes the I/O permission
 * check (gen_check_io returns at once).  Real hardware under Xen raises all
 * three, so this test is an expected failure until hvsim can.
 */
#include <xtf.h>

const char test_title[] = "Exceptions: #AC, #XM and I/O privilege";

/* A 4-byte load from a misaligned address, with EFLAGS.AC set around it. */
static unsigned long probe_misaligned_load(unsigned long p)
{
    static uint8_t buf[8] __aligned(8);
    unsigned long fault = 0, val;

    asm volatile ("pushf; orl $%c[ac], (%%" _ASM_SP "); popf;"
                  "1: movl 1(%[buf]), %k[val]; 2:"
                  "pushf; andl $~%c[ac], (%%" _ASM_SP "); popf"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault), [val] "=r" (val)
                  : [buf] "r" (buf), [ac] "i" (X86_EFLAGS_AC)
                  : "cc", "memory");
    return fault;
}

/* I/O at ring 3 with IOPL 0 and no I/O bitmap in the TSS: #GP(0). */
static unsigned long probe_inb(unsigned long port)
{
    unsigned long fault = 0;

    asm volatile ("1: inb %w[port], %%al; 2:"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_edi)
                  : "+D" (fault) : [port] "d" (port) : "eax");
    return fault;
}

/* 1.0f / 0.0f with the given MXCSR, then MXCSR back to its default. */
static uint32_t mxcsr_after;

static unsigned long probe_divss(unsigned long mxcsr)
{
    static const uint32_t one = 0x3f800000, zero = 0;
    const uint32_t csr = mxcsr, def = X86_MXCSR_DEFAULT;
    unsigned long fault = 0;

    asm volatile ("ldmxcsr %[csr]; movss %[one], %%xmm0;"
                  "1: divss %[zero], %%xmm0; 2:"
                  "stmxcsr %[after]; ldmxcsr %[def]"
                  _ASM_EXTABLE_HANDLER(1b, 2b, ex_record_fault_eax)
                  : "+a" (fault), [after] "=m" (mxcsr_after)
                  : [csr] "m" (csr), [def] "m" (def), [one] "m" (one),
                    [zero] "m" (zero));
    return fault;
}

static void check(const char *what, unsigned int ring, unsigned long (*probe)(unsigned long),
                  unsigned long p, exinfo_t exp)
{
    char msg[100];
    exinfo_t got = ring ? exec_user_param(probe, p) : probe(p);

    snprintf(msg, sizeof(msg), "%s at ring %u", what, ring);
    xtf_check_exinfo(msg, got, exp);
}

static void test_alignment_check(void)
{
    unsigned long cr0 = read_cr0();

    printk("Testing #AC\n");
    check("misaligned load, no CR0.AM", 3, probe_misaligned_load, 0, 0);

    write_cr0(cr0 | X86_CR0_AM);
    check("misaligned load, CR0.AM", 0, probe_misaligned_load, 0, 0);
    check("misaligned load, CR0.AM", 3, probe_misaligned_load, 0, EXINFO_SYM(AC, 0));
    write_cr0(cr0);
}

static void test_simd_exception(void)
{
    unsigned long cr4 = read_cr4();
    unsigned long unmasked = X86_MXCSR_DEFAULT & ~X86_MXCSR_ZM;

    printk("Testing #XM\n");
    if ( !(cr4 & X86_CR4_OSFXSR) )
    {
        xtf_skip("Skip: no SSE\n");
        return;
    }

    for ( unsigned int ring = 0; ring <= 3; ring += 3 )
    {
        check("divss by 0, masked", ring, probe_divss, X86_MXCSR_DEFAULT, 0);
        xtf_check(mxcsr_after & X86_MXCSR_ZE, "masked divss by 0 left MXCSR.ZE clear");
        check("divss by 0, unmasked", ring, probe_divss, unmasked, EXINFO_SYM(XM, 0));

        write_cr4(cr4 & ~X86_CR4_OSXMMEXCPT);
        check("divss by 0, unmasked, no CR4.OSXMMEXCPT", ring, probe_divss,
              unmasked, EXINFO_SYM(UD, 0));
        write_cr4(cr4);
    }
}

static void test_io_privilege(void)
{
    printk("Testing I/O privilege\n");
    check("inb $0x80", 3, probe_inb, 0x80, EXINFO_SYM(GP, 0));
}

void test_main(void)
{
    test_alignment_check();
    test_simd_exception();
    test_io_privilege();

    xtf_success(NULL);
}
