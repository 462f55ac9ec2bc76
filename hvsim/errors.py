"""The error kinds hvsim reports to its user.

* HostInputError: bad input from the host side (an ELF, boot config, MBI,
  LCM, command-line value).  Raised before anything boots; printed as one
  line naming the file, the field, what is wrong, and how to fix it.
* A guest's bad request is an errno returned to the guest (hvsim.abi.errno),
  and a guest's fatal act crashes its domain with a report: neither is a
  Python exception that reaches the user.
"""


class HvsimError(Exception):
    """Base class of errors shown to the user as one line (exit code 2)."""


class HostInputError(HvsimError):
    def __init__(self, file, field, problem, fix=None):
        self.file = file
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(str(self))

    def __str__(self):
        where = "%s: %s" % (self.file, self.field) if self.field else str(self.file)
        text = "%s: %s" % (where, self.problem)
        if self.fix:
            text += " (%s)" % self.fix
        return text


def read_input(path, problem, fix=None, where=None):
    """The bytes of a host input file.  If it cannot be read: a HostInputError
    at `where` ((file, field); default the file itself) whose problem is
    `problem` with the OS's reason in place of its %s."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        file, field = where or (path, None)
        raise HostInputError(file, field, problem % e.strerror, fix) from None


class ConfigError(HvsimError):
    """A bad command-line value or option combination."""


class InternalError(Exception):
    """A Python exception raised while hvsim served a domain (a hypercall,
    an emulated port or MMIO access, a timer, the loader): a bug in hvsim,
    never the guest's fault.  `what` says what hvsim was doing, `__cause__`
    holds the exception.  The hypervisor crashes that domain only, counts
    the error, and the run exits with EXIT_INTERNAL (hv.internal_error)."""

    def __init__(self, what, exc):
        super().__init__("%s: %s" % (what, exception_line(exc)))
        self.what = what
        self.__cause__ = exc


def exception_line(exc):
    """'TypeError: message' (the type alone when the message is empty)."""
    text = str(exc)
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


def raised_at(exc):
    """Where `exc` was raised: 'hvsim/hv/version.py:57 in do_xen_version'
    (the innermost frame; paths relative to the directory above hvsim/)."""
    import os
    tb = exc.__traceback__
    if tb is None:
        return "unknown location"
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = code.co_filename
    if path.startswith(top + os.sep):
        path = path[len(top) + 1:]
    return "%s:%d in %s" % (path, tb.tb_lineno, code.co_name)
