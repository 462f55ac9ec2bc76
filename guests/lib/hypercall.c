/**
 * @file lib/hypercall.c
 *
 * Hypercall helpers that are more than one line.
 */
#include <xtf.h>

long hypercall_shutdown(unsigned int reason)
{
    struct sched_shutdown s = { .reason = reason };

    return hypercall_sched_op(SCHEDOP_shutdown, &s);
}

long hvm_get_param(unsigned int idx, uint64_t *value)
{
    struct xen_hvm_param p = { .domid = DOMID_SELF, .index = idx };
    long rc = hypercall_hvm_op(HVMOP_get_param, &p);

    if ( !rc )
        *value = p.value;
    return rc;
}

long hvm_set_param(unsigned int idx, uint64_t value)
{
    struct xen_hvm_param p = { .domid = DOMID_SELF, .index = idx,
                               .value = value };

    return hypercall_hvm_op(HVMOP_set_param, &p);
}

#define E(name) [name] = #name
static const char *const errno_names[] = {
    E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG),
    E(ENOEXEC), E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES),
    E(EFAULT), E(EBUSY), E(EEXIST), E(EXDEV), E(ENODEV), E(ENOTDIR),
    E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE), E(ENOSPC), E(EROFS),
    E(EMLINK), E(EDOM), E(ERANGE), E(EDEADLK), E(ENAMETOOLONG), E(ENOLCK),
    E(ENOSYS), E(ENOTEMPTY), E(ENODATA), E(ETIME), E(EBADMSG), E(EOVERFLOW),
    E(EILSEQ), E(ERESTART), E(ENOTSOCK), E(EMSGSIZE), E(EOPNOTSUPP),
    E(EADDRINUSE), E(EADDRNOTAVAIL), E(ENOBUFS), E(EISCONN), E(ENOTCONN),
    E(ETIMEDOUT), E(ECONNREFUSED),
};
#undef E

const char *xen_errno_name(long err)
{
    if ( err > 0 && err < (long)ARRAY_SIZE(errno_names) )
        return errno_names[err];
    return NULL;
}
