/**
 * @file arch/x86/include/arch/exinfo.h
 *
 * One exception, packed in an int: which vector, which error code.
 *
 * - bits 15:0  error code
 * - bits 23:16 vector
 * - bit  31    set, so that #DE with error code 0 differs from "none" (0)
 */
#ifndef XTF_X86_EXINFO_H
#define XTF_X86_EXINFO_H

#include <arch/processor.h>

typedef unsigned int exinfo_t;

#define EXINFO_EXPECTED (1u << 31)

#define EXINFO(vec, ec) \
    (EXINFO_EXPECTED | (((vec) & 0xffu) << 16) | ((ec) & 0xffffu))

#define EXINFO_SYM(exc, ec) EXINFO(X86_EXC_ ## exc, ec)

static inline unsigned int exinfo_vec(exinfo_t info)
{
    return (info >> 16) & 0xff;
}

static inline unsigned int exinfo_ec(exinfo_t info)
{
    return info & 0xffff;
}

/* "#GP[0010]", "#UD", "none" ... into @buf (at least 16 bytes). */
const char *exinfo_str(exinfo_t info, char *buf, unsigned int size);

#endif /* XTF_X86_EXINFO_H */
