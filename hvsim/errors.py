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
