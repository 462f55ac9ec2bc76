/**
 * @file tests/cross-modify/main.c
 *
 * Cross-modifying code between vCPUs, as Linux patches its text at run
 * time (static keys, alternatives: text_poke_bp() and an IPI that has
 * every CPU serialise):
 *
 * - vCPU 1 runs a function in the image's text until it has surely been
 *   translated, then waits;
 * - vCPU 0 rewrites the function's immediate operand (an increment, which
 *   must take effect once, first and in every other round; a store in the
 *   others), runs it itself
 *   (self-modifying code), and tells vCPU 1;
 * - vCPU 1 serialises (CPUID) and must now see the new code, several
 *   times over.
 *
 * Each vCPU of hvsim is its own Unicorn instance with its own translated
 * code: the second vCPU must not keep running what it translated before.
 *
 * Needs two vCPUs (--vcpus 2); with one it ends SKIP.
 */
#include <xtf.h>
#include <xtf/smp.h>

const char test_title[] = "Cross-modifying code between vCPUs";

#define ROUNDS 4

/* patched_fn: mov $imm32, %eax; ret.  The immediate is at +1. */
extern unsigned int patched_fn(void);
extern unsigned char patched_imm[];
asm (".pushsection .text\n"
     ".balign 16\n"
     "patched_fn:\n"
     "    .byte 0xb8\n"
     "patched_imm:\n"
     "    .long 0\n"
     "    ret\n"
     ".popsection\n");

static volatile unsigned int round, seen_round, seen[ROUNDS], done;

static void serialise(void)
{
    unsigned int a = 0, b, c = 0, d;

    asm volatile ("cpuid" : "+a" (a), "=b" (b), "+c" (c), "=d" (d) :: "memory");
}

static void secondary(unsigned int cpu)
{
    for ( unsigned int r = 0; r < ROUNDS; r++ )
    {
        /* Run the current code many times: translated, and chained. */
        for ( unsigned int i = 0; i < 20000; i++ )
            if ( patched_fn() != r )
                break;
        seen_round = r + 1;
        while ( round == r )
            asm volatile ("pause" ::: "memory");
        serialise();
        seen[r] = patched_fn();
    }
    done = 1;
}

void test_main(void)
{
    long rc;

    if ( smp_nr_vcpus() < 2 )
        return xtf_skip("Skip: one vCPU: run with --vcpus 2\n");

    printk("Testing %u rounds of patching code vCPU 1 runs\n", ROUNDS);
    rc = smp_start_vcpu(1, secondary);
    if ( rc )
        return xtf_error("Error: starting vCPU 1: %ld\n", rc);

    for ( unsigned int r = 0; r < ROUNDS; r++ )
    {
        while ( seen_round != r + 1 )
            asm volatile ("pause" ::: "memory");
        if ( !(r & 1) )         /* a read-modify-write of the code: once only */
            asm volatile ("incl %0" : "+m" (*(volatile unsigned int *)patched_imm));
        else
            *(volatile unsigned int *)patched_imm = r + 1;
        xtf_check_eq("vCPU 0 runs its own patch", patched_fn(), r + 1);
        round = r + 1;
    }
    while ( !done )
        asm volatile ("pause" ::: "memory");

    for ( unsigned int r = 0; r < ROUNDS; r++ )
        xtf_check_eq("vCPU 1 after the patch", seen[r], r + 1);
    printk("  vCPU 1 saw %u %u %u %u\n", seen[0], seen[1], seen[2], seen[3]);
    xtf_success(NULL);
}
