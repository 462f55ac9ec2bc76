/**
 * @file include/xtf/cmdline.h
 *
 * The kernel command line from hvm_start_info: "key=value" words.
 */
#ifndef XTF_CMDLINE_H
#define XTF_CMDLINE_H

#include <xtf/types.h>

/* The whole command line ("" if there is none). */
const char *cmdline(void);

/* The architecture's source of it (PVH start info, the device tree). */
const char *arch_cmdline(void);

/* The value of key=N (decimal or 0x hex), or @def if absent. */
unsigned long cmdline_ulong(const char *key, unsigned long def);

/* True if the command line has exactly key=value. */
bool cmdline_is(const char *key, const char *value);

#endif /* XTF_CMDLINE_H */
