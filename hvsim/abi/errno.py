"""Xen's errno values (public/errno.h).  Hypercalls return them negated."""

EPERM = 1
ENOENT = 2
ESRCH = 3
EINTR = 4          # Xen-internal, never returned to guests
EIO = 5
ENXIO = 6
E2BIG = 7
ENOEXEC = 8
EBADF = 9
ECHILD = 10
EAGAIN = 11
EWOULDBLOCK = 11
ENOMEM = 12
EACCES = 13
EFAULT = 14
EBUSY = 16
EEXIST = 17
EXDEV = 18
ENODEV = 19
ENOTDIR = 20
EISDIR = 21
EINVAL = 22
ENFILE = 23
EMFILE = 24
ENOSPC = 28
EROFS = 30
EMLINK = 31
EDOM = 33
ERANGE = 34
EDEADLK = 35
EDEADLOCK = 35
ENAMETOOLONG = 36
ENOLCK = 37
ENOSYS = 38
ENOTEMPTY = 39
ENODATA = 61
ETIME = 62
EBADMSG = 74
EOVERFLOW = 75
EILSEQ = 84
ERESTART = 85      # Xen-internal, never returned to guests
ENOTSOCK = 88
EMSGSIZE = 90
EOPNOTSUPP = 95
EADDRINUSE = 98
EADDRNOTAVAIL = 99
ENOBUFS = 105
EISCONN = 106
ENOTCONN = 107
ETIMEDOUT = 110
ECONNREFUSED = 111


class HypercallError(Exception):
    """Raised inside a hypercall handler to return -errno to the guest."""

    def __init__(self, errno):
        super().__init__(errno)
        self.errno = errno


def name(errno):
    """'ENOSYS' for 38 (first name wins for aliases)."""
    for k, v in globals().items():
        if k.startswith("E") and k.isupper() and v == errno:
            return k
    return "E%d" % errno
