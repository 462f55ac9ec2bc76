"""C struct layouts for Xen's three guest ABIs (x86_64, x86_32 compat, arm64).

A struct is declared once, with Xen's field names and C types; its offsets and
size are computed per ABI with the C alignment rules of that ABI (on i386 a
64-bit member is only 4-byte aligned inside a struct, guest handles and
xen_ulong_t are 4 bytes, ...).  The same declaration generates the guests' C
header (hvsim.abi.cheader), so the hypervisor and the guests cannot drift.

Here: the ABIs (X86_64, X86_32, ARM64; PACKED for firmware tables), the scalar types (u8 ... u64,
xen_ulong, xen_pfn, domid, evtchn_port, guest handles), array(), per_abi()
for members that differ between ABIs, Struct and union(), and MASK32/MASK64
for (uint32_t)/(uint64_t) truncation.  Reading a struct out of guest memory
(nested members by dotted name):

    lay = event_channel.evtchn_status.layout(abi)     # cached per ABI
    dom, port = lay.get(buf, "dom", "port")
    lay.put(buf, status=2, vcpu=0, **{"u.interdomain.dom": 1})
"""

import struct as _struct

MASK32 = 0xFFFFFFFF                  # (uint32_t) and (uint64_t) truncation
MASK64 = 0xFFFFFFFFFFFFFFFF


class Abi:
    """One guest ABI: sizes and in-struct alignments of the scalar C types."""

    def __init__(self, name, ulong, u64_align, handle, packed=False):
        self.name = name
        self.ulong = ulong          # sizeof(xen_ulong_t) == sizeof(unsigned long)
        self.u64_align = u64_align  # alignment of a 64-bit member inside a struct
        self.handle = handle        # sizeof(XEN_GUEST_HANDLE(x))
        self.packed = packed        # #pragma pack(1): every member 1-byte aligned

    def __repr__(self):
        return "Abi(%s)" % self.name


X86_64 = Abi("x86_64", ulong=8, u64_align=8, handle=8)
X86_32 = Abi("x86_32", ulong=4, u64_align=4, handle=4)
ARM64 = Abi("arm64", ulong=8, u64_align=8, handle=8)
ALL_ABIS = (X86_64, X86_32, ARM64)
# firmware tables (ACPI: tools/libacpi/acpi2_0.h is #pragma pack(1)), little-endian
PACKED = Abi("packed", ulong=8, u64_align=1, handle=8, packed=True)


class Scalar:
    """A C scalar type.  size/align may depend on the ABI (callables).
    `c_attr` is a GCC attribute the C header must add (uint64_aligned_t)."""

    def __init__(self, cname, size, code, signed=False, align=None, c_attr=None):
        self.cname = cname
        self._size = size
        self._code = code
        self._align = align
        self.signed = signed
        self.c_attr = c_attr

    def size(self, abi):
        return self._size(abi) if callable(self._size) else self._size

    def align(self, abi):
        if abi.packed:
            return 1
        if self._align is not None:
            return self._align(abi) if callable(self._align) else self._align
        sz = self.size(abi)
        return abi.u64_align if sz == 8 else sz

    def fmt(self, abi):
        code = self._code(abi) if callable(self._code) else self._code
        return code


def _ulong_code(abi):
    return "Q" if abi.ulong == 8 else "I"


u8 = Scalar("uint8_t", 1, "B")
s8 = Scalar("int8_t", 1, "b", signed=True)
char = Scalar("char", 1, "B")
u16 = Scalar("uint16_t", 2, "H")
s16 = Scalar("int16_t", 2, "h", signed=True)
u32 = Scalar("uint32_t", 4, "I")
s32 = Scalar("int32_t", 4, "i", signed=True)
u64 = Scalar("uint64_t", 8, "Q")
s64 = Scalar("int64_t", 8, "q", signed=True)
# unsigned long in the guest: 8 bytes on x86_64/arm64, 4 on i386
# uint64_aligned_t: 8-byte aligned even on i386 (domctl/sysctl, __XEN_TOOLS__)
u64_aligned = Scalar("uint64_t", 8, "Q", align=8, c_attr="__attribute__((aligned(8)))")
xen_ulong = Scalar("xen_ulong_t", lambda a: a.ulong, _ulong_code,
                   align=lambda a: a.ulong)
xen_pfn = Scalar("xen_pfn_t", lambda a: a.ulong, _ulong_code,
                 align=lambda a: a.ulong)
domid = Scalar("domid_t", 2, "H")
evtchn_port = Scalar("evtchn_port_t", 4, "I")
grant_ref = Scalar("grant_ref_t", 4, "I")
grant_handle = Scalar("grant_handle_t", 4, "I")


class Handle(Scalar):
    """XEN_GUEST_HANDLE(type): a guest pointer (x86) or a u64 (arm)."""

    def __init__(self, target):
        super().__init__("XEN_GUEST_HANDLE(%s)" % target,
                         lambda a: a.handle,
                         lambda a: "Q" if a.handle == 8 else "I",
                         align=lambda a: a.handle)
        self.target = target


def handle(target="void"):
    return Handle(target)


class Handle64(Scalar):
    """XEN_GUEST_HANDLE_64(type): always 8 bytes, 8-aligned (domctl/sysctl)."""

    def __init__(self, target):
        super().__init__("XEN_GUEST_HANDLE_64(%s)" % target, 8, "Q", align=8,
                         c_attr="__attribute__((aligned(8)))")
        self.target = target


def handle64(target="void"):
    return Handle64(target)


class Array:
    """type[count]; count may depend on the ABI (a callable)."""

    def __init__(self, elem, count):
        self.elem = elem
        self._count = count

    def count(self, abi):
        return self._count(abi) if callable(self._count) else self._count

    def size(self, abi):
        return _size(self.elem, abi) * self.count(abi)

    def align(self, abi):
        return _align(self.elem, abi)


def array(elem, count):
    return Array(elem, count)


class PerAbi:
    """A member whose type differs between ABIs (None: absent there)."""

    def __init__(self, **by_abi):
        self.by_abi = by_abi

    def resolve(self, abi):
        return self.by_abi.get(abi.name)


def per_abi(**by_abi):
    return PerAbi(**by_abi)


def _size(t, abi):
    return t.size(abi) if not isinstance(t, Struct) else t.layout(abi).size


def _align(t, abi):
    return t.align(abi) if not isinstance(t, Struct) else t.layout(abi).align


class Field:
    __slots__ = ("name", "offset", "type", "size", "fmt", "count")

    def __init__(self, name, offset, ftype, size, fmt, count):
        self.name = name
        self.offset = offset
        self.type = ftype
        self.size = size
        self.fmt = fmt      # struct module code for scalars/scalar arrays, else None
        self.count = count  # array length, or None for a scalar


class Layout:
    """A struct's offsets and size in one ABI, with fast field access.

    Nested members are reachable with dotted names ("time.version",
    "u.interdomain.port")."""

    def __init__(self, struct, abi):
        self.struct = struct
        self.abi = abi
        self.fields = {}
        offset = 0
        align = 1
        for name, ftype in struct.members_for(abi):
            a = _align(ftype, abi)
            sz = _size(ftype, abi)
            align = max(align, a)
            if not struct.is_union:
                offset = (offset + a - 1) // a * a
            here = 0 if struct.is_union else offset
            self._add(name, here, ftype, sz, abi)
            if struct.is_union:
                offset = max(offset, sz)
            else:
                offset += sz
        self.align = align
        self.size = (offset + align - 1) // align * align
        self._cache = {}

    def _add(self, name, off, ftype, sz, abi):
        if isinstance(ftype, Struct):
            self.fields[name] = Field(name, off, ftype, sz, None, None)
            for sub in ftype.layout(abi).fields.values():
                full = "%s.%s" % (name, sub.name)
                self.fields[full] = Field(full, off + sub.offset, sub.type,
                                          sub.size, sub.fmt, sub.count)
        elif isinstance(ftype, Array):
            fmt = None
            count = ftype.count(abi)
            if isinstance(ftype.elem, Scalar):
                fmt = "%d%s" % (count, ftype.elem.fmt(abi))
            self.fields[name] = Field(name, off, ftype, sz, fmt, count)
        else:
            self.fields[name] = Field(name, off, ftype, sz, ftype.fmt(abi), None)

    def offset(self, name):
        return self.fields[name].offset

    def _compiled(self, names):
        """[(offset, struct.Struct, mask or None)] for scalar fields `names`."""
        c = self._cache.get(names)
        if c is None:
            parts = []
            for n in names:
                f = self.fields[n]
                if f.fmt is None or f.count is not None:
                    raise TypeError("%s.%s is not a scalar" % (self.struct.name, n))
                s = _struct.Struct("<" + f.fmt)
                mask = (1 << (8 * s.size)) - 1 if s.format[-1] in "BHIQ" else None
                parts.append((f.offset, s, mask))
            c = self._cache[names] = parts
        return c

    def get(self, buf, *names, base=0):
        """Read scalar fields; one name gives a value, several give a tuple."""
        parts = self._compiled(names)
        if len(parts) == 1:
            off, s, _ = parts[0]
            return s.unpack_from(buf, base + off)[0]
        return tuple(s.unpack_from(buf, base + off)[0] for off, s, _ in parts)

    def put(self, buf, base=0, **values):
        """Write scalar fields (values are masked to the field's width)."""
        for n, v in values.items():
            (off, s, mask), = self._compiled((n,))
            if mask is not None and isinstance(v, int):
                v &= mask
            s.pack_into(buf, base + off, v)

    def get_bytes(self, buf, name, base=0):
        f = self.fields[name]
        return bytes(buf[base + f.offset: base + f.offset + f.size])

    def put_bytes(self, buf, name, data, base=0):
        """Write a char array, NUL-padded (and truncated) to the field size."""
        f = self.fields[name]
        data = bytes(data)[:f.size]
        buf[base + f.offset: base + f.offset + f.size] = data + bytes(f.size - len(data))


class Struct:
    """A C struct (or union) declared with Xen's names."""

    def __init__(self, name, members, union=False, cname=None):
        self.name = name
        self.members = list(members)
        self.is_union = union
        self.cname = cname or ("union " + name if union else "struct " + name)
        self._layouts = {}

    def members_for(self, abi):
        """(name, type) pairs with per-ABI members resolved."""
        for name, ftype in self.members:
            if isinstance(ftype, PerAbi):
                ftype = ftype.resolve(abi)
                if ftype is None:
                    continue
            yield name, ftype

    def layout(self, abi):
        lay = self._layouts.get(abi.name)
        if lay is None:
            lay = self._layouts[abi.name] = Layout(self, abi)
        return lay

    def size(self, abi):
        return self.layout(abi).size

    def align(self, abi):
        return self.layout(abi).align


def union(name, members):
    return Struct(name, members, union=True)
