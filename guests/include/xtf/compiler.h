/**
 * @file include/xtf/compiler.h
 *
 * Compiler attributes and small helpers used everywhere.
 */
#ifndef XTF_COMPILER_H
#define XTF_COMPILER_H

#define __aligned(x)        __attribute__((__aligned__(x)))
#define __packed            __attribute__((__packed__))
#define __noreturn          __attribute__((__noreturn__))
#define __noinline          __attribute__((__noinline__))
#define __used              __attribute__((__used__))
#define __maybe_unused      __attribute__((__unused__))
#define __section(s)        __attribute__((__section__(s)))
#define __printf(f, v)      __attribute__((__format__(__printf__, f, v)))

#define likely(x)           __builtin_expect(!!(x), 1)
#define unlikely(x)         __builtin_expect(!!(x), 0)

#define barrier()           __asm__ __volatile__ ("" ::: "memory")

#define ARRAY_SIZE(a)       (sizeof(a) / sizeof(*(a)))
#define ACCESS_ONCE(x)      (*(volatile typeof(x) *)&(x))

#define BUILD_BUG_ON(cond)  _Static_assert(!(cond), "BUILD_BUG_ON(" #cond ")")

#define STR(x)              #x
#define STRINGIFY(x)        STR(x)

#define min(a, b)           ({ typeof(a) _a = (a); typeof(b) _b = (b); _a < _b ? _a : _b; })
#define max(a, b)           ({ typeof(a) _a = (a); typeof(b) _b = (b); _a > _b ? _a : _b; })

#endif /* XTF_COMPILER_H */
