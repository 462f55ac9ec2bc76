/**
 * @file lib/console.c
 *
 * The console: Xen's console_io hypercall when Xen is there, else the
 * debug port 0xE9 (XEN_HVM_DEBUGCONS_IOPORT; QEMU's -debugcon); and the PV
 * console ring too once a test asks for it (lib/pv_console.c).
 */
#include <xtf.h>
#include <xtf/pv_console.h>

void console_write(const char *buf, size_t len)
{
    size_t i;

    if ( xen_present )
    {
        hypercall_console_io(CONSOLEIO_write, len, buf);
#ifndef __aarch64__                     /* the PV console needs event channel upcalls */
        if ( pv_console_mirrored() )
            pv_console_write(buf, len);
#endif
        return;
    }

#ifndef __aarch64__                     /* no port I/O on Arm */
    for ( i = 0; i < len; i++ )
        outb(buf[i], XEN_HVM_DEBUGCONS_IOPORT);
#else
    (void)i;
#endif
}

void vprintk(const char *fmt, va_list args)
{
    char buf[256];
    int len = vsnprintf(buf, sizeof(buf), fmt, args);

    console_write(buf, min((size_t)len, sizeof(buf) - 1));
}

void printk(const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    vprintk(fmt, args);
    va_end(args);
}
