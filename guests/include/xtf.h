/**
 * @file include/xtf.h
 *
 * Everything a test needs: #include <xtf.h>.
 */
#ifndef XTF_H
#define XTF_H

#include <xtf/compiler.h>
#include <xtf/types.h>
#include <xtf/libc.h>
#include <xtf/console.h>
#include <xtf/report.h>
#include <xtf/test.h>
#include <xtf/xen.h>
#include <xtf/hypercall.h>
#include <xtf/extable.h>

#include <arch/config.h>
#include <arch/processor.h>
#include <arch/lib.h>
#include <arch/page.h>
#include <arch/traps.h>
#ifndef __aarch64__
#include <arch/msr-index.h>
#include <arch/desc.h>
#endif

#endif /* XTF_H */
