/**
 * @file include/xtf/hypercall.h
 *
 * Hypercalls through the hypercall page.  The wrappers follow Xen's ABI for
 * the word size the guest is built for; results are negative Xen errno
 * values (-EPERM ...) on error.
 */
#ifndef XTF_HYPERCALL_H
#define XTF_HYPERCALL_H

#include <xtf/xen.h>

#if defined(__aarch64__)
# include <arch/hypercall-arm64.h>
#elif defined(__x86_64__)
# include <arch/hypercall-x86_64.h>
#else
# include <arch/hypercall-x86_32.h>
#endif

#ifndef __aarch64__

/*
 * Calls into the hypercall page with one to three arguments, in the
 * registers the ABI names (_HYPERCALL_ARGn); all are outputs too, since a
 * debug build of Xen clobbers the ones a hypercall consumed.
 */
#define _hypercall_1(type, hcall, a1)                                   \
    ({                                                                  \
        long __res, __ign1;                                             \
        asm volatile ("call hypercall_page + %c[offset]"                \
                      : "=a" (__res), _HYPERCALL_ARG1 (__ign1)          \
                      : [offset] "i" ((hcall) * HYPERCALL_PAGE_SLOT_SIZE), \
                        "1" ((long)(a1))                                \
                      : "memory");                                      \
        (type)__res;                                                    \
    })

#define _hypercall_2(type, hcall, a1, a2)                               \
    ({                                                                  \
        long __res, __ign1, __ign2;                                     \
        asm volatile ("call hypercall_page + %c[offset]"                \
                      : "=a" (__res), _HYPERCALL_ARG1 (__ign1),         \
                        _HYPERCALL_ARG2 (__ign2)                        \
                      : [offset] "i" ((hcall) * HYPERCALL_PAGE_SLOT_SIZE), \
                        "1" ((long)(a1)), "2" ((long)(a2))              \
                      : "memory");                                      \
        (type)__res;                                                    \
    })

#define _hypercall_3(type, hcall, a1, a2, a3)                           \
    ({                                                                  \
        long __res, __ign1, __ign2, __ign3;                             \
        asm volatile ("call hypercall_page + %c[offset]"                \
                      : "=a" (__res), _HYPERCALL_ARG1 (__ign1),         \
                        _HYPERCALL_ARG2 (__ign2), _HYPERCALL_ARG3 (__ign3) \
                      : [offset] "i" ((hcall) * HYPERCALL_PAGE_SLOT_SIZE), \
                        "1" ((long)(a1)), "2" ((long)(a2)),             \
                        "3" ((long)(a3))                                \
                      : "memory");                                      \
        (type)__res;                                                    \
    })

#endif /* !__aarch64__ (arm64: hvc #0xEA1 in arch/hypercall-arm64.h) */

/* Hypercall @nr with five arguments (for numbers without a wrapper). */
static inline long hypercall(unsigned int nr, unsigned long a1,
                             unsigned long a2, unsigned long a3,
                             unsigned long a4, unsigned long a5)
{
    return _hypercall_any(nr, a1, a2, a3, a4, a5);
}

static inline long hypercall_console_io(unsigned int cmd, unsigned int count,
                                        const void *buf)
{
    return _hypercall_3(long, __HYPERVISOR_console_io, cmd, count, buf);
}

static inline long hypercall_xen_version(unsigned int cmd, void *arg)
{
    return _hypercall_2(long, __HYPERVISOR_xen_version, cmd, arg);
}

static inline long hypercall_sched_op(unsigned int cmd, void *arg)
{
    return _hypercall_2(long, __HYPERVISOR_sched_op, cmd, arg);
}

static inline long hypercall_hvm_op(unsigned int cmd, void *arg)
{
    return _hypercall_2(long, __HYPERVISOR_hvm_op, cmd, arg);
}

static inline long hypercall_memory_op(unsigned int cmd, void *arg)
{
    return _hypercall_2(long, __HYPERVISOR_memory_op, cmd, arg);
}

static inline long hypercall_grant_table_op(unsigned int cmd, void *uop,
                                            unsigned int count)
{
    return _hypercall_3(long, __HYPERVISOR_grant_table_op, cmd, uop, count);
}

static inline long hypercall_event_channel_op(unsigned int cmd, void *arg)
{
    return _hypercall_2(long, __HYPERVISOR_event_channel_op, cmd, arg);
}

static inline long hypercall_vm_assist(unsigned int cmd, unsigned int type)
{
    return _hypercall_2(long, __HYPERVISOR_vm_assist, cmd, type);
}

static inline long hypercall_vcpu_op(unsigned int cmd, unsigned int vcpu,
                                     void *arg)
{
    return _hypercall_3(long, __HYPERVISOR_vcpu_op, cmd, vcpu, arg);
}

/*
 * set_timer_op: arm (or, with 0, stop) the calling vCPU's singleshot timer
 * at an absolute system time in ns.  The 32-bit ABI passes it as two
 * halves (lo, hi).
 */
static inline long hypercall_set_timer_op(uint64_t timeout)
{
#if defined(__x86_64__) || defined(__aarch64__)
    return _hypercall_1(long, __HYPERVISOR_set_timer_op, timeout);
#else
    return _hypercall_2(long, __HYPERVISOR_set_timer_op, (uint32_t)timeout,
                        (uint32_t)(timeout >> 32));
#endif
}

/* Shut the domain down (SCHEDOP_shutdown); returns only on error. */
long hypercall_shutdown(unsigned int reason);

/* HVMOP_{get,set}_param on DOMID_SELF. */
long hvm_get_param(unsigned int idx, uint64_t *value);
long hvm_set_param(unsigned int idx, uint64_t value);

#endif /* XTF_HYPERCALL_H */
