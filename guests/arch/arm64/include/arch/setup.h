/**
 * @file arch/arm64/include/arch/setup.h
 */
#ifndef XTF_ARM64_SETUP_H
#define XTF_ARM64_SETUP_H

#include <xtf/compiler.h>
#include <xtf/types.h>

/* Physical address of the device tree, saved by head.S from x0. */
extern uint64_t arm64_dtb_pa;

void __noreturn xtf_main(void);

/* The value of property @prop of the top-level device tree node @node, or NULL. */
const char *fdt_top_prop(const char *node, const char *prop);

/* Exception vectors and Xen's version. */
void arch_setup(void);

#endif /* XTF_ARM64_SETUP_H */
