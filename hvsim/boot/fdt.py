"""A small, strict reader of flattened device trees (FDT / DTB), for the
hyperlaunch LCM and the dom0less bindings.  An LCM is untrusted input: every
malformation is one HostInputError naming the blob and the offset, never
anything else.  (The `fdt` package guesses property types and lets garbage
through as assorted exceptions, so hvsim reads the format itself.)"""

import struct

from ..errors import HostInputError

# libfdt (xen/include/xen/libfdt/fdt.h)
FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE = 0x1
FDT_END_NODE = 0x2
FDT_PROP = 0x3
FDT_NOP = 0x4
FDT_END = 0x9
FDT_FIRST_SUPPORTED_VERSION = 16
FDT_LAST_SUPPORTED_VERSION = 17
FDT_MAX_DEPTH = 64

_BE32 = struct.Struct(">I")
_HEADER = struct.Struct(">10I")


def display(raw):
    """Bytes from a device tree as one line of text: non-printable bytes escaped."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else "\\x%02x" % b for b in raw)


class FdtNode:
    """A device-tree node: name, raw property values, children in order."""

    __slots__ = ("name", "parent", "props", "children")

    def __init__(self, name, parent):
        self.name = name
        self.parent = parent
        self.props = {}             # name -> bytes, in order
        self.children = []

    @property
    def path(self):
        if self.parent is None:
            return "/"
        parent = self.parent.path
        return (parent if parent != "/" else "") + "/" + self.name

    def prop(self, name):
        return self.props.get(name)

    @property
    def compatible(self):
        raw = self.props.get("compatible", b"")
        return [display(s) for s in raw.split(b"\0") if s]

    def is_compatible(self, compat):
        return compat in self.compatible

    def child(self, name):
        for c in self.children:
            if c.name == name:
                return c
        return None

    def walk(self):
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def __repr__(self):
        return "FdtNode(%s)" % self.path


def is_fdt(data):
    return data is not None and len(data) >= 4 and _BE32.unpack_from(data)[0] == FDT_MAGIC


class _FdtReader:
    def __init__(self, data, source):
        self.data = bytes(data)
        self.source = source

    def error(self, where, problem):
        return HostInputError(self.source, where, problem,
                              "this is not a valid device tree blob: recompile the .dts with dtc")

    def read(self):
        start, end, strings, strings_end = self._header()
        root = self._structure(start, end, strings, strings_end)
        return root

    def _header(self):
        n = len(self.data)
        if n < _HEADER.size:
            raise self.error("FDT header", "only %d bytes, the header alone takes %d"
                             % (n, _HEADER.size))
        (magic, totalsize, off_struct, off_strings, off_rsvmap, version, last_comp,
         _cpuid, size_strings, size_struct) = _HEADER.unpack_from(self.data)
        if magic != FDT_MAGIC:
            raise self.error("FDT header", "magic %#x is not %#x" % (magic, FDT_MAGIC))
        if version < FDT_FIRST_SUPPORTED_VERSION or last_comp > FDT_LAST_SUPPORTED_VERSION:
            raise self.error("FDT header", "version %d (last compatible %d) is not supported "
                             "(%d..%d)" % (version, last_comp, FDT_FIRST_SUPPORTED_VERSION,
                                           FDT_LAST_SUPPORTED_VERSION))
        if not _HEADER.size <= totalsize <= n:
            raise self.error("FDT header", "totalsize %d but the blob has %d bytes"
                             % (totalsize, n))
        if version < 17:
            size_struct = totalsize - off_struct
        for name, off, size in (("structure", off_struct, size_struct),
                                ("strings", off_strings, size_strings),
                                ("memory reservation", off_rsvmap, 16)):
            if off < _HEADER.size or off + size > totalsize or size < 0:
                raise self.error("FDT header", "the %s block [%#x, %#x) lies outside the "
                                 "blob's %d bytes" % (name, off, off + size, totalsize))
        if off_struct % 4:
            raise self.error("FDT header", "the structure block at %#x is not 4-byte "
                             "aligned" % off_struct)
        return off_struct, off_struct + size_struct, off_strings, off_strings + size_strings

    def _u32(self, pos, end, what):
        if pos + 4 > end:
            raise self.error("FDT offset %#x" % pos, "the structure block ends inside %s"
                             % what)
        return _BE32.unpack_from(self.data, pos)[0]

    def _cstr(self, pos, end, what):
        nul = self.data.find(b"\0", pos, end)
        if nul < 0:
            raise self.error("FDT offset %#x" % pos, "%s is not NUL-terminated" % what)
        return display(self.data[pos:nul]), nul

    def _structure(self, pos, end, strings, strings_end):
        root, stack = None, []
        while True:
            tok = self._u32(pos, end, "a token (no FDT_END)")
            here, pos = pos, pos + 4
            if tok == FDT_BEGIN_NODE:
                name, nul = self._cstr(pos, end, "a node name")
                pos = (nul + 4) & ~3
                node = self._begin_node(here, name, root, stack)
                root = root or node
            elif tok == FDT_END_NODE:
                if not stack:
                    raise self.error("FDT offset %#x" % here, "FDT_END_NODE without a node")
                stack.pop()
            elif tok == FDT_PROP:
                pos = self._prop(here, pos, end, strings, strings_end, stack)
            elif tok == FDT_END:
                if stack or root is None:
                    raise self.error("FDT offset %#x" % here, "FDT_END inside %s" %
                                     (stack[-1].path if stack else "no root node"))
                return root
            elif tok != FDT_NOP:
                raise self.error("FDT offset %#x" % here, "unknown token %#x" % tok)

    def _begin_node(self, here, name, root, stack):
        if root is not None and not stack:
            raise self.error("FDT offset %#x" % here, "a second root node")
        if len(stack) >= FDT_MAX_DEPTH:
            raise self.error("FDT offset %#x" % here, "nodes nested deeper than %d"
                             % FDT_MAX_DEPTH)
        parent = stack[-1] if stack else None
        node = FdtNode(name, parent)
        if parent is not None:
            if parent.child(name) is not None:
                raise self.error("FDT offset %#x" % here, "%s has two children named %r"
                                 % (parent.path, name))
            parent.children.append(node)
        stack.append(node)
        return node

    def _prop(self, here, pos, end, strings, strings_end, stack):
        length = self._u32(pos, end, "a property header")
        nameoff = self._u32(pos + 4, end, "a property header")
        value_at = pos + 8
        if not stack:
            raise self.error("FDT offset %#x" % here, "a property outside any node")
        if value_at + length > end:
            raise self.error("FDT offset %#x" % here, "a %d-byte property value runs past "
                             "the structure block" % length)
        if strings + nameoff >= strings_end:
            raise self.error("FDT offset %#x" % here, "property name offset %#x is outside "
                             "the strings block" % nameoff)
        name, _ = self._cstr(strings + nameoff, strings_end, "a property name")
        node = stack[-1]
        if name in node.props:
            raise self.error("FDT offset %#x" % here, "%s has two %r properties"
                             % (node.path, name))
        node.props[name] = self.data[value_at:value_at + length]
        return (value_at + length + 3) & ~3


def read_fdt(data, source):
    """Parse an FDT blob into its root FdtNode (HostInputError if malformed)."""
    return _FdtReader(data, source).read()
