/**
 * @file tests/preempt-rmw/main.c
 *
 * Two vCPUs hammer shared memory with read-modify-write instructions in
 * loops that make no hypercall, port access, CPUID or RDTSC, so that in
 * hvsim's fast (host time) mode only the scheduler's asynchronous
 * preemption can end their slices, many times over:
 *
 * - each vCPU increments a counter of its own with a plain `inc` (memory
 *   operand) and a shared one with `lock inc`, `lock xadd` and `add`;
 * - both take a cmpxchg spinlock (its failures counted) around a
 *   non-atomic counter and a doubly-linked list they push to and pop from,
 *   like Linux's free lists;
 * - the vCPUs start together and wait for each other by spinning on
 *   shared flags.
 *
 * Every count must come out exact and the list intact: an instruction that
 * ran twice (Unicorn 2.1.4 restarts the instruction in progress when a
 * stop requested from another thread lands between its store and its end,
 * unicorn-engine/unicorn#1355) or not at all shows as a wrong total, a
 * spinlock that looked busy when it was taken, or a broken list.
 *
 * Needs two vCPUs (--vcpus 2); with one it ends SKIP.
 */
#include <xtf.h>
#include <xtf/smp.h>

const char test_title[] = "Read-modify-write across preemption";

#define ITERATIONS  300000
#define NODES       64

#ifdef __x86_64__
# define SFX "q"
#else
# define SFX "l"
#endif

struct node {
    struct node *next, *prev;
    unsigned int owner;
};

static struct node head = { &head, &head, ~0u };
static struct node nodes[2][NODES];

static volatile unsigned long own[2];          /* `inc`, one per vCPU */
static volatile unsigned long shared_inc;      /* `lock inc`, both */
static volatile unsigned long shared_xadd;     /* `lock xadd`, both */
static volatile unsigned long locked_count;    /* `add` under the lock */
static volatile unsigned long lock;
static unsigned long long xadd_sum[2];              /* what each vCPU's xadds returned */
static unsigned long lock_misses[2];
static volatile unsigned int started, finished;

static void spin_lock(unsigned int cpu)
{
    unsigned long old;

    for ( ;; )
    {
        old = 0;
        asm volatile ("lock cmpxchg %[new], %[lock]"
                      : "+a" (old), [lock] "+m" (lock)
                      : [new] "r" (1ul + cpu) : "memory");
        if ( old == 0 )
            return;
        lock_misses[cpu]++;
        while ( lock )
            asm volatile ("pause" ::: "memory");
    }
}

static void spin_unlock(unsigned int cpu)
{
    if ( lock != 1ul + cpu )
        xtf_failure("Fail: vCPU %u: lock held by %lu at unlock\n", cpu, lock);
    asm volatile ("mov" SFX " $0, %0" : "=m" (lock) :: "memory");
}

static void list_add(struct node *n)
{
    n->next = head.next;
    n->prev = &head;
    head.next->prev = n;
    head.next = n;
}

static void list_del(struct node *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
}

static void hammer(unsigned int cpu)
{
    unsigned long one = 1;
    unsigned long long sum = 0;
    unsigned int i, k = 0;

    asm volatile ("lock incl %0" : "+m" (started));
    while ( started < 2 )
        asm volatile ("pause" ::: "memory");

    for ( i = 0; i < ITERATIONS; i++ )
    {
        unsigned long prev = one;

        asm volatile ("inc" SFX " %0" : "+m" (own[cpu]));
        asm volatile ("lock inc" SFX " %0" : "+m" (shared_inc));
        asm volatile ("lock xadd" SFX " %0, %1" : "+r" (prev), "+m" (shared_xadd) :: "memory");
        sum += prev;

        if ( (i & 7) == 0 )
        {
            struct node *n = &nodes[cpu][k++ % NODES];

            spin_lock(cpu);
            asm volatile ("add" SFX " $1, %0" : "+m" (locked_count));
            if ( n->next )
                list_del(n);
            else
                list_add(n);
            spin_unlock(cpu);
        }
    }
    xadd_sum[cpu] = sum;

    asm volatile ("lock incl %0" : "+m" (finished));
}

static void secondary(unsigned int cpu)
{
    hammer(cpu);
}

void test_main(void)
{
    unsigned long n = 0;
    unsigned long long expect_sum;
    struct node *p;
    long rc;

    if ( smp_nr_vcpus() < 2 )
        return xtf_skip("Skip: one vCPU: run with --vcpus 2\n");

    printk("Testing %u iterations on 2 vCPUs\n", ITERATIONS);
    rc = smp_start_vcpu(1, secondary);
    if ( rc )
        return xtf_error("Error: starting vCPU 1: %ld\n", rc);
    hammer(0);
    while ( finished < 2 )
        asm volatile ("pause" ::: "memory");

    xtf_check_eq("vCPU 0 inc", own[0], ITERATIONS);
    xtf_check_eq("vCPU 1 inc", own[1], ITERATIONS);
    xtf_check_eq("lock inc", shared_inc, 2ul * ITERATIONS);
    xtf_check_eq("lock xadd", shared_xadd, 2ul * ITERATIONS);
    /* The xadds returned 0 .. 2N-1 between them, each once. */
    expect_sum = (2ull * ITERATIONS) * (2ull * ITERATIONS - 1) / 2;
    xtf_check_eq("lock xadd results", xadd_sum[0] + xadd_sum[1], expect_sum);
    xtf_check_eq("add under the lock", locked_count, 2ul * ((ITERATIONS + 7) / 8));
    xtf_check_eq("lock free", lock, 0);

    for ( p = head.next; p != &head && n <= 2 * NODES; p = p->next )
    {
        if ( p->next->prev != p )
            break;
        n++;
    }
    xtf_check(p == &head, "list broken");
    printk("  list of %lu nodes intact, %lu + %lu lock misses\n",
           n, lock_misses[0], lock_misses[1]);
    xtf_check(lock_misses[0] + lock_misses[1] < ITERATIONS, "every lock attempt missed");
    xtf_success(NULL);
}
