/**
 * @file lib/report.c
 *
 * Test status (XTF semantics: it only gets worse), counted checks, and the
 * end of the test.
 */
#include <xtf.h>

/* QEMU's isa-debug-exit device: exit status (value << 1) | 1. */
#define QEMU_DEBUG_EXIT_PORT 0xf4

static enum test_status status = STATUS_RUNNING;
static const char *const status_names[] = {
    [STATUS_RUNNING] = "RUNNING",
    [STATUS_SUCCESS] = "SUCCESS",
    [STATUS_SKIP]    = "SKIP",
    [STATUS_ERROR]   = "ERROR",
    [STATUS_FAILURE] = "FAILURE",
};

unsigned int xtf_nr_checks, xtf_nr_failed_checks;

static void set_status(enum test_status s)
{
    if ( s > status )
        status = s;
}

static void report(enum test_status s, const char *fmt, va_list args)
{
    if ( fmt )
        vprintk(fmt, args);
    set_status(s);
}

#define DEFINE_REPORT(name, st)                         \
    void name(const char *fmt, ...)                     \
    {                                                   \
        va_list args;                                   \
                                                        \
        va_start(args, fmt);                            \
        report(st, fmt, args);                          \
        va_end(args);                                   \
    }
DEFINE_REPORT(xtf_success, STATUS_SUCCESS)
DEFINE_REPORT(xtf_skip, STATUS_SKIP)
DEFINE_REPORT(xtf_error, STATUS_ERROR)
DEFINE_REPORT(xtf_failure, STATUS_FAILURE)
#undef DEFINE_REPORT

enum test_status xtf_status(void)
{
    return status;
}

bool xtf_status_reported(void)
{
    return status != STATUS_RUNNING;
}

/* Leave: Xen's SCHEDOP_shutdown, or QEMU's debug-exit device. */
static void __noreturn shutdown(unsigned int reason, unsigned int qemu_code)
{
    if ( xen_present )
        hypercall_shutdown(reason);
#ifndef __aarch64__                     /* no port I/O on Arm */
    else
        outl(qemu_code, QEMU_DEBUG_EXIT_PORT);
#endif
    halt_forever();
}

void xtf_exit(void)
{
    if ( xtf_nr_checks )
        printk("Checks: %u run, %u failed\n", xtf_nr_checks,
               xtf_nr_failed_checks);
    if ( status == STATUS_RUNNING )
    {
        printk("Test did not report a result\n");
        status = STATUS_ERROR;
    }
    printk("Test result: %s\n", status_names[status]);
    shutdown(SHUTDOWN_poweroff, status - STATUS_SUCCESS);
}

void panic(const char *fmt, ...)
{
    va_list args;

    printk("******************************\n");
    printk("PANIC: ");
    va_start(args, fmt);
    vprintk(fmt, args);
    va_end(args);
    printk("******************************\n");
    shutdown(SHUTDOWN_crash, 0x7f);
}

bool xtf_check(bool ok, const char *fmt, ...)
{
    char msg[200];
    va_list args;

    xtf_nr_checks++;
    if ( ok )
        return true;

    va_start(args, fmt);
    vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);
    xtf_nr_failed_checks++;
    xtf_failure("Fail: %s\n", msg);
    return false;
}

bool xtf_check_eq(const char *what, unsigned long long got,
                  unsigned long long exp)
{
    return xtf_check(got == exp, "%s: expected %#llx, got %#llx", what, exp, got);
}

static const char *rc_str(long rc, char *buf, size_t size)
{
    const char *name = rc < 0 ? xen_errno_name(-rc) : NULL;

    if ( name )
        snprintf(buf, size, "-%s", name);
    else
        snprintf(buf, size, "%ld", rc);
    return buf;
}

bool xtf_check_rc(const char *what, long got, long exp)
{
    char g[24], e[24];

    return xtf_check(got == exp, "%s: expected %s, got %s", what,
                     rc_str(exp, e, sizeof(e)), rc_str(got, g, sizeof(g)));
}
