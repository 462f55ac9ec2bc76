/**
 * @file include/xtf/console.h
 *
 * printk(): the guest console.  Lines go to Xen's console (console_io
 * hypercall) when running under Xen, else to the debug port 0xE9 (QEMU's
 * debugcon), like XTF.
 */
#ifndef XTF_CONSOLE_H
#define XTF_CONSOLE_H

#include <xtf/compiler.h>
#include <xtf/types.h>

void printk(const char *fmt, ...) __printf(1, 2);
void vprintk(const char *fmt, va_list args) __printf(1, 0);

/* Write raw text to the console. */
void console_write(const char *buf, size_t len);

#endif /* XTF_CONSOLE_H */
