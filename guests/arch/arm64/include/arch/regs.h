/**
 * @file arch/arm64/include/arch/regs.h
 *
 * The register frame head.S saves on exception entry (struct cpu_regs).
 */
#ifndef XTF_ARM64_REGS_H
#define XTF_ARM64_REGS_H

#include <arch/traps.h>

#endif /* XTF_ARM64_REGS_H */
