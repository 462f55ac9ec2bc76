/**
 * @file tests/fuzz-hypercalls/main.c
 *
 * Hypercall fuzzer: `seed=N calls=N` random hypercalls (xorshift64, the seed
 * printed first so a failure replays; `trace=N` prints every call from call
 * N on).  Each call: a number 0..63, or one beyond (64..127 or any 32-bit
 * number); a sub-op biased to the real ones of xen-abi.h; arguments from
 * classes (small, random 32/64-bit, 0, -1, non-canonical, past RAM, a
 * pointer into a 2-page buffer, page-crossing or ending at the last mapped
 * byte); domctl and sysctl get their interface version and a real command
 * most of the time, so they get past their first check; multicall gets a
 * list of random calls (each filtered as a direct one).  On arm64 one call
 * in 16 is an SMCCC call (`hvc #0`) with a random function ID.
 *
 * The buffer's bytes around each pointer into it are refilled before every
 * call (the whole buffer every 256 calls): random words, or random words
 * mixed with boundary values (0, 1, small, page size - 1, 128 MiB, INT_MAX,
 * INT_MIN, -2, -1) as counts, offsets and ids.  No word of it is a pointer
 * into this domain's RAM (code, data, stack): random words have bit 31
 * set (past RAM, or non-canonical as a 64-bit handle); boundary values are
 * below 4096 (page 0 is not mapped, or not RAM on arm64) or at least 128
 * MiB, and the flat hvm32 environment (page 0 is RAM) gets only the large
 * ones.  Nothing points at x86's special pages (console and xenstore rings).
 *
 * Invariants after each call: every register except the ABI's clobbers (the
 * result, the argument registers a debug Xen poisons, which must hold
 * their input or the poison; x16 on arm64) and the stack pointer are
 * unchanged; a stack canary holds; the control state (x86: CR0, CR3, CR4,
 * EFLAGS.IF; arm64: DAIF, SCTLR_EL1, VBAR_EL1) is unchanged; the result is
 * 0, a negative errno in Xen's range or a documented positive result.
 * Every 1024 calls and at the end: the code and rodata checksum, and the
 * domain answers xen_version as at the start.
 *
 * Skipped: only calls that end, stall or remap this domain by design (see
 * skipped()).  The grant_table_op count is kept below 4096 (see
 * fuzz_args()).
 */
#include <xtf.h>
#include <xtf/cmdline.h>

const char test_title[] = "Hypercall fuzzer";

static uint64_t rng;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static unsigned int below(unsigned int n)
{
    return (unsigned int)((uint32_t)next() % n);
}

/* ---- where RAM is ------------------------------------------------------------------------ */
#ifdef __aarch64__
# define RAM_BASE  0x40000000ul                 /* GUEST_RAM0_BASE */
#else
# define RAM_BASE  0ul
#endif
#define RAM_END    (RAM_BASE + 0x8000000ul)     /* the default 128 MiB */

/*
 * The 2-page buffer: the last two pages of RAM, far from the image, so a
 * call that walks an array past it (a huge count) faults at the end of RAM
 * instead of writing into this domain's data.
 */
#define FUZZBUF_SIZE (2 * PAGE_SIZE)
#define fuzzbuf ((uint8_t *)(RAM_END - FUZZBUF_SIZE))

/* ---- the buffer's words ------------------------------------------------------------------- */
static const uint32_t boundary_words[] = {
#ifndef CONFIG_ENV_hvm32                        /* page 0 is not RAM it can reach */
    0, 1, 2, 3, 7, 8, 16, 0xfff,
#endif
    0x08000000, 0x10000000, 0x7fffffff, 0x80000000, 0x80000001,
    0xfffff000, 0xfffffffe, 0xffffffff,
};

/* x86's special pages [0xfeff8000, 0xff000000): the console and xenstore rings. */
static uint32_t not_special(uint32_t w)
{
    return (w & 0xffff8000u) == 0xfeff8000u ? w ^ 0x01000000u : w;
}

/* Fill @len bytes (a multiple of 8) at 8-aligned @p; @boundary: 1 word in 4 a boundary value. */
static void fill(uint8_t *p, unsigned int len, bool boundary)
{
    uint32_t *w = (uint32_t *)p;

    for ( unsigned int i = 0; i < len / 4; i += 2 )
    {
        uint64_t r = next();

        w[i] = not_special((uint32_t)r | 0x80000000u);
        w[i + 1] = not_special((uint32_t)(r >> 32) | 0x80000000u);
        if ( boundary && !(r & 0x30000) )
            w[i] = boundary_words[(r >> 8) % ARRAY_SIZE(boundary_words)];
        if ( boundary && !(r & 0xc000000000000ull) )
            w[i + 1] = boundary_words[(r >> 40) % ARRAY_SIZE(boundary_words)];
    }
}

#define WINDOW 256

/* Refill the bytes a pointer into the buffer reaches first. */
static void refill_at(unsigned long p, bool boundary)
{
    unsigned long start = p & ~7ul, end;

    if ( start < (unsigned long)fuzzbuf || start >= (unsigned long)fuzzbuf + FUZZBUF_SIZE )
        return;
    end = start + WINDOW;
    if ( end > (unsigned long)fuzzbuf + FUZZBUF_SIZE )
        end = (unsigned long)fuzzbuf + FUZZBUF_SIZE;
    fill((uint8_t *)start, end - start, boundary);
}

/* ---- arguments ---------------------------------------------------------------------------- */
static unsigned long arg(void)
{
    switch ( below(10) )
    {
    case 0: return below(64);                                /* small */
    case 1: return (unsigned long)next();                    /* 64 (or 32) bits */
    case 2: return not_special((uint32_t)next() | 0x80000000u); /* 32 bits, out of RAM */
    case 3: return 0;                                        /* 0 / NULL */
    case 4: return ~0ul;                                     /* -1 */
#if defined(__x86_64__) || defined(__aarch64__)
    case 5: return 0x8000000000000000ul | (next() & 0xffffffffff000ul); /* non-canonical */
#else
    case 5: return 0xfffff000ul;
#endif
    case 6: return RAM_END + 0x8000000ul + (below(1024) << 12); /* past RAM */
    case 7:                                                  /* ends at the last byte of RAM */
        return RAM_END - 8 * (1 + below(8));
    default:                                                 /* into the buffer */
        return (unsigned long)fuzzbuf +
            (below(4) ? PAGE_SIZE - 8 * below(8) : below(2 * PAGE_SIZE - 64));
    }
}

/* Real sub-op numbers of each hypercall (the rest: random ones). */
static const uint8_t subops_max[64] = {
    [__HYPERVISOR_sched_op]         = SCHEDOP_pin_override,
    [__HYPERVISOR_sched_op_compat]  = SCHEDOP_pin_override,
    [__HYPERVISOR_xen_version]      = XENVER_commandline2,
    [__HYPERVISOR_console_io]       = CONSOLEIO_read,
    [__HYPERVISOR_event_channel_op] = EVTCHNOP_reset_cont,
    [__HYPERVISOR_grant_table_op]   = GNTTABOP_cache_flush,
    [__HYPERVISOR_memory_op]        = XENMEM_acquire_resource,
    [__HYPERVISOR_hvm_op]           = HVMOP_altp2m,
    [__HYPERVISOR_vcpu_op]          = VCPUOP_register_vcpu_time_phys_area,
    [__HYPERVISOR_physdev_op]       = 31,   /* PHYSDEVOP_dbgp_op */
    [__HYPERVISOR_vm_assist]        = 1,    /* VMASST_CMD_disable */
};

/*
 * Calls skipped because they end, stall or remap this domain by design:
 * - sched_op(_compat) block, shutdown, poll, remote_shutdown, shutdown_code
 *   (changes the exit code), watchdog (a random timeout kills the domain);
 * - vcpu_op initialise/up/down (own vCPU), send_nmi (no NMI handler);
 * - memory_op ops that take, move or remap its pages: decrease_reservation,
 *   populate_physmap, add_to_physmap(_batch), exchange, remove_from_physmap,
 *   access_op, acquire_resource;
 * - hvm_op set_param (callback, store/console pfns), set_mem_access,
 *   set_evtchn_upcall_vector (a random vector delivers events as exceptions);
 * - event_channel_op close/reset/reset_cont/unmask (the library's ports);
 * - grant_table_op setup_table/set_version/transfer;
 * - console_io write (random bytes on the console the verdict is read from);
 * - domctl and sysctl are made with this domain's or a random domid: a
 *   control domain that runs the fuzzer may pause or destroy itself, so
 *   those commands are skipped too (see domctl_skipped()).
 */
static bool skipped(unsigned long nr, unsigned long a1)
{
    unsigned int cmd = (unsigned int)a1;

    switch ( nr )
    {
    case __HYPERVISOR_sched_op:
    case __HYPERVISOR_sched_op_compat:
        return cmd == SCHEDOP_block || cmd == SCHEDOP_shutdown ||
            cmd == SCHEDOP_poll || cmd == SCHEDOP_remote_shutdown ||
            cmd == SCHEDOP_shutdown_code || cmd == SCHEDOP_watchdog;
    case __HYPERVISOR_vcpu_op:
        return cmd == VCPUOP_initialise || cmd == VCPUOP_up ||
            cmd == VCPUOP_down || cmd == VCPUOP_send_nmi;
    case __HYPERVISOR_memory_op:
        cmd = a1 & 0x3f;                        /* MEMOP_CMD_MASK */
        return cmd == XENMEM_decrease_reservation ||
            cmd == XENMEM_populate_physmap || cmd == XENMEM_add_to_physmap ||
            cmd == XENMEM_add_to_physmap_batch || cmd == XENMEM_exchange ||
            cmd == XENMEM_remove_from_physmap || cmd == 21 /* access_op */ ||
            cmd == XENMEM_acquire_resource;
    case __HYPERVISOR_hvm_op:
        return cmd == HVMOP_set_param || cmd == HVMOP_set_mem_access ||
            cmd == HVMOP_set_evtchn_upcall_vector;
    case __HYPERVISOR_event_channel_op:
        return cmd == EVTCHNOP_close || cmd == EVTCHNOP_reset ||
            cmd == EVTCHNOP_reset_cont || cmd == EVTCHNOP_unmask;
    case __HYPERVISOR_grant_table_op:
        cmd = a1 & 0xfff;                       /* GNTTABOP_CMD_MASK */
        return cmd == GNTTABOP_setup_table || cmd == GNTTABOP_set_version ||
            cmd == GNTTABOP_transfer;
    case __HYPERVISOR_console_io:
        return cmd == CONSOLEIO_write;
    }
    return false;
}

/* domctl commands that stop, reset or reshape a domain (this one, if privileged). */
static bool domctl_skipped(uint32_t cmd)
{
    switch ( cmd )
    {
    case XEN_DOMCTL_destroydomain: case XEN_DOMCTL_pausedomain:
    case XEN_DOMCTL_max_mem: case XEN_DOMCTL_setvcpucontext:
    case XEN_DOMCTL_max_vcpus: case XEN_DOMCTL_hypercall_init:
    case XEN_DOMCTL_sendtrigger: case XEN_DOMCTL_set_target:
    case XEN_DOMCTL_set_virq_handler: case XEN_DOMCTL_createdomain:
        return true;
    }
    return false;
}

/* A result beside 0 and -errno that Xen documents for the call. */
static bool positive_ok(unsigned long nr, unsigned long a1, long rc)
{
    switch ( nr )
    {
    case __HYPERVISOR_xen_version:          /* version, page size, lengths */
    case __HYPERVISOR_memory_op:            /* reservations, extents done */
        return true;
    case __HYPERVISOR_vcpu_op:
        return (unsigned int)a1 == VCPUOP_is_up && rc == 1;
    case __HYPERVISOR_sched_op:
        return (unsigned int)a1 == SCHEDOP_pin_override;
    }
    return false;
}

/* ---- the call, with every register set and checked ---------------------------------------- */
/*
 * fuzz_call(r): load every general register from r[] (the hypercall number
 * and arguments where the ABI wants them, random values in the others),
 * call fuzz_target (a hypercall page slot, or a raw vmcall/hvc stub), store
 * every register back into r[]; r[SP_BEFORE] and r[SP_AFTER] are the
 * stack pointer just before the call and just after it returned.
 *
 * Every instruction here makes at most one memory access or leaves the
 * registers it addresses with unchanged (no xchg with memory, no ldp into
 * its own base): when hvsim stops a vCPU asynchronously (its ticker, after
 * a grace period without a hook call), Unicorn can end the run after such
 * an instruction's first access and restart it from its beginning; an
 * `xchg %eax,(%esp)` then swapped twice and the results went nowhere
 * (README: Reliability, "asynchronous stops").
 */
#if defined(__aarch64__)
# define NR_GPRS     31                 /* x0..x30 */
# define SP_BEFORE   31
# define SP_AFTER    32
# define R_NR        16
# define R_RESULT    0
# define KIND        33                 /* 0: hvc #0xea1 (a hypercall), 1: hvc #0 (SMCCC) */
# define CLOBBER     0xdeadbeeful
static const uint8_t arg_reg[5] = { 0, 1, 2, 3, 4 };

asm (".macro fz_load\n\t"
     "ldp x2, x3, [x0, #16]; ldp x4, x5, [x0, #32]; ldp x6, x7, [x0, #48]\n\t"
     "ldp x8, x9, [x0, #64]; ldp x10, x11, [x0, #80]; ldp x12, x13, [x0, #96]\n\t"
     "ldp x14, x15, [x0, #112]; ldp x16, x17, [x0, #128]; ldp x18, x19, [x0, #144]\n\t"
     "ldp x20, x21, [x0, #160]; ldp x22, x23, [x0, #176]; ldp x24, x25, [x0, #192]\n\t"
     "ldp x26, x27, [x0, #208]; ldp x28, x29, [x0, #224]; ldr x30, [x0, #240]\n\t"
     "ldr x1, [x0, #8]; ldr x0, [x0]\n\t"
     ".endm\n"
     ".pushsection .text\n"
     ".globl fuzz_call\n"
     "fuzz_call:\n\t"
     "stp x29, x30, [sp, #-112]!\n\t"
     "stp x19, x20, [sp, #16]; stp x21, x22, [sp, #32]; stp x23, x24, [sp, #48]\n\t"
     "stp x25, x26, [sp, #64]; stp x27, x28, [sp, #80]; str x0, [sp, #96]\n\t"
     "mov x1, sp; str x1, [x0, #8 * 31]\n\t"
     "ldr x1, [x0, #8 * 33]\n\t"
     "cbnz x1, 1f\n\t"
     "fz_load\n\t"
     "hvc #0xea1\n\t"
     "b 2f\n"
     "1:\n\t"
     "fz_load\n\t"
     "hvc #0\n"
     "2:\n\t"
     "str x1, [sp, #104]; ldr x1, [sp, #96]\n\t"
     "str x0, [x1]; ldr x0, [sp, #104]; str x0, [x1, #8]\n\t"
     "stp x2, x3, [x1, #16]; stp x4, x5, [x1, #32]; stp x6, x7, [x1, #48]\n\t"
     "stp x8, x9, [x1, #64]; stp x10, x11, [x1, #80]; stp x12, x13, [x1, #96]\n\t"
     "stp x14, x15, [x1, #112]; stp x16, x17, [x1, #128]; stp x18, x19, [x1, #144]\n\t"
     "stp x20, x21, [x1, #160]; stp x22, x23, [x1, #176]; stp x24, x25, [x1, #192]\n\t"
     "stp x26, x27, [x1, #208]; stp x28, x29, [x1, #224]; str x30, [x1, #240]\n\t"
     "mov x0, sp; str x0, [x1, #8 * 32]\n\t"
     "ldp x19, x20, [sp, #16]; ldp x21, x22, [sp, #32]; ldp x23, x24, [sp, #48]\n\t"
     "ldp x25, x26, [sp, #64]; ldp x27, x28, [sp, #80]\n\t"
     "ldp x29, x30, [sp], #112\n\t"
     "ret\n"
     ".popsection\n");

#elif defined(__x86_64__)
enum { RAX, RBX, RCX, RDX, RSI, RDI, RBP, RSP, R8, R9, R10, R11, R12, R13, R14, R15 };
# define NR_GPRS     16
# define SP_BEFORE   16
# define SP_AFTER    17
# define R_NR        RAX
# define R_RESULT    RAX
# define CLOBBER     0xdeadbeefdeadf00dul
static const uint8_t arg_reg[5] = { RDI, RSI, RDX, R10, R8 };
static const char reg_name[][4] = {
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

asm (".pushsection .text\n"
     ".globl fuzz_call\n"
     "fuzz_call:\n\t"
     "push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n\t"
     "push %rdi\n\t"
     "mov %rsp, 16*8(%rdi)\n\t"
     "mov 0*8(%rdi), %rax; mov 1*8(%rdi), %rbx; mov 2*8(%rdi), %rcx\n\t"
     "mov 3*8(%rdi), %rdx; mov 4*8(%rdi), %rsi; mov 6*8(%rdi), %rbp\n\t"
     "mov 8*8(%rdi), %r8; mov 9*8(%rdi), %r9; mov 10*8(%rdi), %r10\n\t"
     "mov 11*8(%rdi), %r11; mov 12*8(%rdi), %r12; mov 13*8(%rdi), %r13\n\t"
     "mov 14*8(%rdi), %r14; mov 15*8(%rdi), %r15; mov 5*8(%rdi), %rdi\n\t"
     "call *fuzz_target(%rip)\n\t"
     "mov %rdi, fuzz_scratch(%rip)\n\t"
     "mov (%rsp), %rdi\n\t"
     "mov %rsp, 17*8(%rdi)\n\t"
     "mov %rax, 0*8(%rdi); mov %rbx, 1*8(%rdi); mov %rcx, 2*8(%rdi)\n\t"
     "mov %rdx, 3*8(%rdi); mov %rsi, 4*8(%rdi); mov %rbp, 6*8(%rdi)\n\t"
     "mov %r8, 8*8(%rdi); mov %r9, 9*8(%rdi); mov %r10, 10*8(%rdi)\n\t"
     "mov %r11, 11*8(%rdi); mov %r12, 12*8(%rdi); mov %r13, 13*8(%rdi)\n\t"
     "mov %r14, 14*8(%rdi); mov %r15, 15*8(%rdi)\n\t"
     "mov fuzz_scratch(%rip), %rax; mov %rax, 5*8(%rdi); pop %rax\n\t"
     "pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n\t"
     "ret\n"
     "fuzz_vmcall: vmcall; ret\n"
     ".popsection\n");

#else /* 32-bit */
enum { EAX, EBX, ECX, EDX, ESI, EDI, EBP };
# define NR_GPRS     7
# define SP_BEFORE   16
# define SP_AFTER    17
# define R_NR        EAX
# define R_RESULT    EAX
# define CLOBBER     0xdeadf00dul
static const uint8_t arg_reg[5] = { EBX, ECX, EDX, ESI, EDI };
static const char reg_name[][4] = { "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp" };

asm (".pushsection .text\n"
     ".globl fuzz_call\n"
     "fuzz_call:\n\t"
     "push %ebx; push %esi; push %edi; push %ebp\n\t"
     "mov 20(%esp), %eax\n\t"
     "push %eax\n\t"
     "mov %esp, 16*4(%eax)\n\t"
     "mov 1*4(%eax), %ebx; mov 2*4(%eax), %ecx; mov 3*4(%eax), %edx\n\t"
     "mov 4*4(%eax), %esi; mov 5*4(%eax), %edi; mov 6*4(%eax), %ebp\n\t"
     "mov 0*4(%eax), %eax\n\t"
     "call *fuzz_target\n\t"
     "mov %eax, fuzz_scratch\n\t"
     "mov (%esp), %eax\n\t"
     "mov %esp, 17*4(%eax)\n\t"
     "mov %ebx, 1*4(%eax); mov %ecx, 2*4(%eax); mov %edx, 3*4(%eax)\n\t"
     "mov %esi, 4*4(%eax); mov %edi, 5*4(%eax); mov %ebp, 6*4(%eax)\n\t"
     "pop %ebx; mov fuzz_scratch, %ebx; mov %ebx, 0*4(%eax)\n\t"
     "pop %ebp; pop %edi; pop %esi; pop %ebx\n\t"
     "ret\n"
     "fuzz_vmcall: vmcall; ret\n"
     ".popsection\n");
#endif

#define NR_SLOTS 34
void fuzz_call(unsigned long *r);

#ifndef __aarch64__
extern const char fuzz_vmcall[];
const void *fuzz_target;
unsigned long fuzz_scratch;
#endif

/* The control state a hypercall must leave alone. */
struct ctrl { unsigned long a, b, c, d; };

static void read_ctrl(struct ctrl *s)
{
#if defined(__aarch64__)
    asm volatile ("mrs %0, daif; mrs %1, sctlr_el1; mrs %2, vbar_el1"
                  : "=r" (s->a), "=r" (s->b), "=r" (s->c));
    s->d = 0;
#else
    unsigned long flags;

    asm volatile ("mov %%cr0, %0; mov %%cr3, %1; mov %%cr4, %2; pushf; pop %3"
                  : "=r" (s->a), "=r" (s->b), "=r" (s->c), "=r" (flags));
    s->d = flags & 0x200;          /* EFLAGS.IF */
#endif
}

/* ---- one call ----------------------------------------------------------------------------- */
struct call {
    unsigned long nr, a[5];
    bool smccc;                         /* arm64: hvc #0 with a1 as the function ID */
};

#ifdef __aarch64__
/* PSCI calls that end, suspend or reset the domain (SMC32 and SMC64 IDs). */
static bool smccc_skipped(uint32_t fid)
{
    switch ( fid & ~0x40000000u )
    {
    case 0x84000001: case 0x84000002:   /* CPU_SUSPEND, CPU_OFF */
    case 0x84000008: case 0x84000009:   /* SYSTEM_OFF, SYSTEM_RESET */
    case 0x8400000e: case 0x84000012:   /* SYSTEM_SUSPEND, SYSTEM_RESET2 */
        return true;
    }
    return false;
}
#endif

static unsigned long pick_nr(void)
{
    if ( below(16) )
        return below(64);
    return below(2) ? 64 + below(64) : (uint32_t)next();
}

/* domctl / sysctl: most of the time, the right interface version and a real command. */
static void control_struct(struct call *c, bool domctl)
{
    uint32_t *w = (uint32_t *)fuzzbuf;

    if ( below(4) == 0 )
        return;
    fill(fuzzbuf, WINDOW, below(2));
    c->a[0] = (unsigned long)fuzzbuf;
    w[0] = below(4) ? below(domctl ? 96 : 32) : w[0];
    w[1] = domctl ? XEN_DOMCTL_INTERFACE_VERSION : XEN_SYSCTL_INTERFACE_VERSION;
    if ( domctl )
    {
        uint16_t *domid = (uint16_t *)&w[2];

        *domid = below(2) ? DOMID_SELF : below(4) ? below(8) : (uint16_t)next();
    }
}

/*
 * multicall: up to 8 entries at the buffer's second page, each a random
 * call that skipped() lets through; nested multicalls are refused by Xen.
 */
static void multicall_list(struct call *c)
{
    struct multicall_entry *e = (struct multicall_entry *)(fuzzbuf + PAGE_SIZE);
    unsigned int n = below(9);

    for ( unsigned int i = 0; i < n; i++ )
    {
        do {
            e[i].op = below(8) ? below(64) : (uint32_t)next();
            for ( unsigned int j = 0; j < 6; j++ )
                e[i].args[j] = arg();
        } while ( skipped(e[i].op, e[i].args[0]) ||
                  e[i].op == __HYPERVISOR_domctl || e[i].op == __HYPERVISOR_sysctl ||
                  e[i].op == __HYPERVISOR_grant_table_op );
    }
    c->a[0] = (unsigned long)e;
    c->a[1] = below(4) ? n : arg();
}

/* Draw one call; false if skipped. */
static bool fuzz_args(struct call *c, unsigned long i)
{
    bool boundary = below(2);

    c->smccc = false;
#ifdef __aarch64__
    if ( below(16) == 0 )
    {
        c->smccc = true;
        c->nr = 0;
        for ( unsigned int j = 0; j < 5; j++ )
            c->a[j] = arg();
        c->a[0] = below(2) ? (0x84000000u | below(32)) | (below(2) << 30) : (uint32_t)next();
        return !smccc_skipped(c->a[0]);
    }
#endif
    c->nr = pick_nr();
    for ( unsigned int j = 0; j < 5; j++ )
        c->a[j] = arg();
    if ( c->nr < 64 && subops_max[c->nr] && below(4) )
        c->a[0] = below(subops_max[c->nr] + 1u);

    if ( i % 256 == 0 )
        fill(fuzzbuf, FUZZBUF_SIZE, below(2));
    else
        for ( unsigned int j = 0; j < 5; j++ )
            refill_at(c->a[j], boundary);

    /*
     * grant_table_op walks @count ops from its pointer, writing each
     * status back: from NULL (RAM without paging, hvm32) a count past
     * ~26,000 reaches this image.  Xen does it too (in continuations);
     * counts below 4096 still cross its 512-op batches.
     */
    if ( c->nr == __HYPERVISOR_grant_table_op )
        c->a[2] &= 0xfff;
    if ( c->nr == __HYPERVISOR_domctl || c->nr == __HYPERVISOR_sysctl )
    {
        control_struct(c, c->nr == __HYPERVISOR_domctl);
        if ( c->nr == __HYPERVISOR_domctl && c->a[0] == (unsigned long)fuzzbuf &&
             domctl_skipped(*(uint32_t *)fuzzbuf) )
            return false;
    }
    if ( c->nr == __HYPERVISOR_multicall )
        multicall_list(c);
    return !skipped(c->nr, c->a[0]);
}

static const char *check_regs(const struct call *c, const unsigned long *in,
                              const unsigned long *out, long rc)
{
    static char why[80];

    if ( out[SP_AFTER] != out[SP_BEFORE] )
        return "stack pointer moved";
    for ( unsigned int n = 0; n < NR_GPRS; n++ )
    {
        bool arg = false;

#ifdef __x86_64__
        if ( n == RSP )
            continue;
#endif
        if ( n == R_RESULT )
            continue;
        for ( unsigned int j = 0; j < 5; j++ )
            arg |= n == arg_reg[j];
#ifdef __aarch64__
        if ( c->smccc && n < 4 )          /* SMCCC results: x0..x3 */
            continue;
        arg |= n == R_NR && !c->smccc;
#endif
#ifdef __x86_64__
        if ( n == RDI && fuzz_target != (const void *)fuzz_vmcall && out[n] == (unsigned long)rc )
            continue;                     /* the page's stub returns %rdi in %rax */
#endif
        if ( out[n] == in[n] || (arg && !c->smccc && out[n] == CLOBBER) )
            continue;
#ifdef __aarch64__
        snprintf(why, sizeof(why), "x%u changed: %#lx -> %#lx", n, in[n], out[n]);
#else
        snprintf(why, sizeof(why), "%%%s changed: %#lx -> %#lx", reg_name[n], in[n], out[n]);
#endif
        return why;
    }
    return NULL;
}

static long make_call(const struct call *c, unsigned long *in, const char **bad)
{
    unsigned long out[NR_SLOTS];
    long rc;

    for ( unsigned int n = 0; n < NR_SLOTS; n++ )
        in[n] = (unsigned long)next();
    in[R_NR] = c->nr;
    for ( unsigned int j = 0; j < 5; j++ )
        in[arg_reg[j]] = c->a[j];
#ifdef __aarch64__
    in[KIND] = c->smccc;
#else
    fuzz_target = (c->nr < 64 && c->nr != __HYPERVISOR_iret)
        ? (const void *)(hypercall_page + c->nr * HYPERCALL_PAGE_SLOT_SIZE)
        : (const void *)fuzz_vmcall;
#endif
    for ( unsigned int n = 0; n < NR_SLOTS; n++ )   /* not memcpy: byte stores are slow */
        out[n] = in[n];
    fuzz_call(out);
    rc = (long)out[R_RESULT];
    *bad = check_regs(c, in, out, rc);
    return rc;
}

static bool result_ok(const struct call *c, long rc)
{
    if ( c->smccc )
        return true;                    /* SMCCC results are any 64-bit value */
    return rc == 0 || (rc < 0 && rc >= -4095) || (rc > 0 && positive_ok(c->nr, c->a[0], rc));
}

/* ---- invariants over the run -------------------------------------------------------------- */
#ifdef __aarch64__
extern const char _start[], __rodata_end[];
# define CODE_START _start
# define CODE_END   __rodata_end
#else
extern const char _image_start[], __stop_ex_table[];
# define CODE_START _image_start
# define CODE_END   __stop_ex_table
#endif

static uint32_t code_sum(void)
{
    uint32_t s = 0;

    for ( const char *p = CODE_START; p < CODE_END; p++ )
        s = (s << 5) + s + (uint8_t)*p;
    return s;
}

#define CANARY 0x5a17c0de

void test_main(void)
{
    volatile unsigned long canary[4] = { CANARY, CANARY, CANARY, CANARY };
    unsigned long seed = cmdline_ulong("seed", 1);
    unsigned long calls = cmdline_ulong("calls", 10000);
    unsigned long trace = cmdline_ulong("trace", ~0ul);  /* print calls from here */
    uint32_t sum = code_sum();
    long version = hypercall_xen_version(XENVER_version, NULL);
    unsigned long done = 0, in[NR_SLOTS];
    struct ctrl ctrl0, ctrl;

    if ( !xen_present )
    {
        xtf_skip("Skip: Xen not present\n");
        return;
    }

#ifdef __aarch64__
    asm volatile ("msr daifset, #2");   /* random event channels must not raise IRQs */
#endif
    read_ctrl(&ctrl0);
    printk("Fuzzing: seed=%lu calls=%lu\n", seed, calls);
    rng = seed ? seed : 0x9e3779b97f4a7c15ull;

    for ( unsigned long i = 0; i < calls; i++ )
    {
        struct call c;
        const char *bad;
        long rc;

        if ( !fuzz_args(&c, i) )
            continue;
        if ( i >= trace )
            printk("call %lu: %s %lu(%#lx, %#lx, %#lx, %#lx, %#lx)\n", i,
                   c.smccc ? "smccc" : "hypercall", c.nr,
                   c.a[0], c.a[1], c.a[2], c.a[3], c.a[4]);
        rc = make_call(&c, in, &bad);
        done++;
        if ( i >= trace )
            printk("  = %ld\n", rc);

        if ( !result_ok(&c, rc) )
            return xtf_failure("Fail: seed=%lu call %lu: hypercall %lu(%#lx, %#lx, %#lx, %#lx, %#lx) = %ld\n",
                               seed, i, c.nr, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4], rc);
        if ( bad )
            return xtf_failure("Fail: seed=%lu call %lu: hypercall %lu(%#lx, %#lx, %#lx, %#lx, %#lx) = %ld: %s\n",
                               seed, i, c.nr, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4], rc, bad);
        if ( canary[0] != CANARY || canary[1] != CANARY ||
             canary[2] != CANARY || canary[3] != CANARY )
            return xtf_failure("Fail: seed=%lu call %lu: stack canary broken after hypercall %lu\n",
                               seed, i, c.nr);
        read_ctrl(&ctrl);
        if ( memcmp(&ctrl, &ctrl0, sizeof(ctrl)) )
            return xtf_failure("Fail: seed=%lu call %lu: control state changed by hypercall %lu: %#lx %#lx %#lx %#lx\n",
                               seed, i, c.nr, ctrl.a, ctrl.b, ctrl.c, ctrl.d);
        if ( i % 1024 == 1023 || i == calls - 1 )
        {
            if ( code_sum() != sum )
                return xtf_failure("Fail: seed=%lu call %lu: code checksum changed (hypercall %lu)\n",
                                   seed, i, c.nr);
            if ( hypercall_xen_version(XENVER_version, NULL) != version )
                return xtf_failure("Fail: seed=%lu call %lu: xen_version no longer answers\n",
                                   seed, i);
        }
    }

    printk("%lu hypercalls made (%lu skipped)\n", done, calls - done);
    xtf_success(NULL);
}
