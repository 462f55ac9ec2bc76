"""What a debugger sees of an architecture, shared by the arch debug modules
(hvsim/arch/x86/debug.py, hvsim/arch/arm64/debug.py) and the debuggers
(hvsim/debug: the gdb stub's target description, `hvsim step`'s register
changes).

Owns: `Reg` (one register: gdb's name, width, type, the target-description
feature it belongs to, where the arch module finds its value), `Target`
(an architecture as gdb is told it: its name, the register table in gdb's
numbering, the features in order, and the types the description must
define), the watchpoint kinds (gdb's Z2/Z3/Z4), and `flag_names`.
"""

# watchpoint kinds (gdb's Z2/Z3/Z4)
WATCH_WRITE, WATCH_READ, WATCH_ACCESS = "write", "read", "access"


class RegisterError(Exception):
    """A register write the CPU cannot take (e.g. a selector outside the GDT)."""


class Reg:
    """One register as a debugger sees it: gdb's name, width and type, the
    target-description feature it belongs to, and where its value lives."""

    __slots__ = ("name", "bits", "type", "feature", "kind", "index", "group")

    def __init__(self, name, bits, type_, feature, kind, index=0, group=None):
        self.name, self.bits, self.type, self.feature = name, bits, type_, feature
        self.kind, self.index, self.group = kind, index, group

    @property
    def size(self):
        return self.bits // 8

    def __repr__(self):
        return "Reg(%s)" % self.name


class Target:
    """An architecture as the gdb stub describes it (qXfer target.xml).
    flags: type name -> ((bit or (first, last), field name), ...), gdb
    <flags> types; types: type name -> XML defining it (vectors, unions)."""

    def __init__(self, arch, regs, features, flags, types):
        self.arch = arch
        self.regs = regs
        self.features = features
        self.flags = flags
        self.types = types

    def flag_names(self, reg, value):
        """'ZF PF' for eflags = 0x46: the one-bit fields set in a register
        with a flags type ('' for other registers)."""
        return " ".join(name for bit, name in self.flags.get(reg.type, ())
                        if name and not isinstance(bit, tuple) and value >> bit & 1)
