/**
 * @file tests/irq-window/main.c
 *
 * The interrupt window (Xen's interrupt-window exiting): an upcall that
 * becomes pending while the guest has interrupts disabled is taken at the
 * first instruction boundary where the guest can take an interrupt, and no
 * earlier:
 *
 * - after the instruction in sti's shadow;
 * - after a popf that sets IF;
 * - after an iret to a frame with IF set;
 * - after sti's shadow in code written at run time (not in the loaded image,
 *   where an emulator cannot have found the sti beforehand).
 */
#include <xtf.h>
#include <xtf/events.h>

const char test_title[] = "Interrupt window: upcalls after sti's shadow, popf, iret, "
                          "run-time code";

static xtf_irq_handler_t library_upcall;
static volatile unsigned int upcalls;
static volatile unsigned long upcall_ip;
static evtchn_port_t port;

static void recording_upcall(struct cpu_regs *regs)
{
    if ( upcalls++ == 0 )
        upcall_ip = regs->ip;
    library_upcall(regs);
}

static void ignore_event(evtchn_port_t p, void *data)
{
}

/* Make the upcall pending with interrupts disabled; nothing may arrive yet. */
static void pend_upcall(const char *what)
{
    unsigned int i;

    upcalls = 0;
    upcall_ip = 0;
    asm volatile ("cli" ::: "memory");
    xtf_check_rc(what, evtchnop_send(port), 0);
    for ( i = 0; i < 5; i++ )
        hypercall_sched_op(SCHEDOP_yield, NULL);     /* new slices, still IF=0 */
    xtf_check(upcalls == 0, "%s: upcall taken with interrupts disabled", what);
}

static void check_taken_at(const char *what, unsigned long expected)
{
    asm volatile ("cli" ::: "memory");
    xtf_check(upcalls == 1, "%s: %u upcalls (expected 1)", what, upcalls);
    xtf_check(upcall_ip == expected, "%s: upcall taken at %p, expected %p", what,
              (void *)upcall_ip, (void *)expected);
}

static void test_sti(void)
{
    unsigned long at;

    pend_upcall("sti");
    asm volatile ("sti; nop; 1: nop; mov $1b, %0" : "=r" (at) :: "memory");
    check_taken_at("after sti's shadow", at);
}

static void test_popf(void)
{
    unsigned long at, flags = read_flags() | X86_EFLAGS_IF;

    pend_upcall("popf");
    asm volatile ("push %1; popf; 1: nop; mov $1b, %0"
                  : "=r" (at) : "r" (flags) : "memory", "cc");
    check_taken_at("after popf", at);
}

static void test_iret(void)
{
    unsigned long at;

    pend_upcall("iret");
    /* An iret to the next instruction, same privilege, IF set in the frame. */
#ifdef __x86_64__
    asm volatile ("mov %%rsp, %%rax; push %[ss]; push %%rax; pushf; orq %[ifl], (%%rsp);"
                  "push %[cs]; push $1f; iretq; 1: nop; mov $1b, %0"
                  : "=r" (at)
                  : [cs] "i" (__KERN_CS), [ss] "i" (__KERN_DS), [ifl] "i" (X86_EFLAGS_IF)
                  : "rax", "memory", "cc");
#else
    asm volatile ("pushf; orl %[ifl], (%%esp); push %[cs]; push $1f; iret; 1: nop; mov $1b, %0"
                  : "=r" (at) : [cs] "i" (__KERN_CS), [ifl] "i" (X86_EFLAGS_IF)
                  : "memory", "cc");
#endif
    check_taken_at("after iret", at);
}

/* sti; nop; nop; ret, written into a buffer at run time. */
static uint8_t code[16] __aligned(16);

static void test_runtime_code(void)
{
    static const uint8_t insns[] = { 0xfb, 0x90, 0x90, 0xc3 };

    memcpy(code, insns, sizeof(insns));
    pend_upcall("run-time code");
    ((void (*)(void))code)();
    check_taken_at("after sti's shadow in run-time code", (unsigned long)code + 2);
}

void test_main(void)
{
    long rc;

    if ( !xtf_check_rc("HVM_PARAM_CALLBACK_IRQ (vector)", evtchn_setup_callback_vector(), 0) )
        return xtf_error("Error: no upcalls\n");
    library_upcall = xtf_irq_handlers[XTF_EVTCHN_VECTOR];
    xtf_irq_handlers[XTF_EVTCHN_VECTOR] = recording_upcall;

    rc = evtchnop_bind_ipi(0);
    if ( rc < 0 )
        return xtf_error("Error: bind_ipi: %ld\n", rc);
    port = rc;
    evtchn_bind_handler(port, 0, ignore_event, NULL);

    printk("Testing the interrupt window after sti, popf, iret, run-time code\n");
    test_sti();
    test_popf();
    test_iret();
    test_runtime_code();

    xtf_success(NULL);
}
