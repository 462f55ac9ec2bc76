"""The DSDT libxl gives a PVH guest (dsdt_pvh): Xen's tools/libacpi builds it
from dsdt_acpi_info.asl (the BIOS region over the acpi_info page) and the
output of `mk_dsdt --dm-version none` (mk_dsdt.c: one Processor object per
possible vCPU whose _MAT/_STA read the MADT through acpi_info, the PRST
online-CPU map, the PRSC hotplug method and the \\_GPE handler), compiled
by iasl.  hvsim writes the same namespace straight as AML (ACPI 6.x,
chapter 20) with the few encoders below, so no ASL compiler is needed.
"""

from ..abi import acpi as a

ROOT = b"\\"


# ---- AML encoding ------------------------------------------------------------------------
def pkg(body):
    """PkgLength + body: the length counts its own encoding bytes."""
    n = len(body)
    if n + 1 < 0x40:
        return bytes([n + 1]) + body
    for nbytes in (2, 3, 4):
        total = n + nbytes
        if total < 1 << (4 + 8 * (nbytes - 1)):
            enc = [((nbytes - 1) << 6) | (total & 0xF)]
            enc += [(total >> (4 + 8 * i)) & 0xFF for i in range(nbytes - 1)]
            return bytes(enc) + body
    raise ValueError("AML package too long")


def nameseg(seg):
    return seg.encode("ascii").ljust(4, b"_")


def name(path):
    """A NameString: '\\_SB.PR00', 'MSU', '_HID'."""
    prefix = b""
    if path.startswith("\\"):
        prefix, path = ROOT, path[1:]
    segs = [nameseg(s) for s in path.split(".")] if path else []
    if len(segs) == 1:
        return prefix + segs[0]
    if len(segs) == 2:
        return prefix + b"\x2E" + segs[0] + segs[1]
    return prefix + b"\x2F" + bytes([len(segs)]) + b"".join(segs)


def integer(v):
    """The smallest integer encoding, as iasl emits it."""
    if v == 0:
        return b"\x00"
    if v == 1:
        return b"\x01"
    if v < 0x100:
        return b"\x0A" + v.to_bytes(1, "little")
    if v < 0x10000:
        return b"\x0B" + v.to_bytes(2, "little")
    if v < 1 << 32:
        return b"\x0C" + v.to_bytes(4, "little")
    return b"\x0E" + v.to_bytes(8, "little")


def string(s):
    return b"\x0D" + s.encode("ascii") + b"\x00"


def local(n):
    return bytes([0x60 + n])


def arg(n):
    return bytes([0x68 + n])


NULL_TARGET = b"\x00"


def scope(path, *terms):
    return b"\x10" + pkg(name(path) + b"".join(terms))


def name_op(path, value):
    return b"\x08" + name(path) + value


def op_region(path, space, offset, length):
    return b"\x5B\x80" + name(path) + bytes([space]) + offset + length


def field(region, flags, *elements):
    """Field(region, flags) { (name, bits) or (None, bits) for Offset()/reserved }."""
    body = b""
    for fname, bits in elements:
        body += (nameseg(fname) if fname else b"\x00") + pkg_bits(bits)
    return b"\x5B\x81" + pkg(name(region) + bytes([flags]) + body)


def pkg_bits(bits):
    """A field element's bit length is PkgLength-encoded (without counting itself)."""
    if bits < 0x40:
        return bytes([bits])
    nbytes = 2 if bits < 1 << 12 else 3
    enc = [((nbytes - 1) << 6) | (bits & 0xF)]
    enc += [(bits >> (4 + 8 * i)) & 0xFF for i in range(nbytes - 1)]
    return bytes(enc)


def method(path, nargs, *terms, serialized=False):
    flags = nargs | (0x08 if serialized else 0)
    return b"\x14" + pkg(name(path) + bytes([flags]) + b"".join(terms))


def if_(predicate, *terms):
    return b"\xA0" + pkg(predicate + b"".join(terms))


def else_(*terms):
    return b"\xA1" + pkg(b"".join(terms))


def return_(value):
    return b"\xA4" + value


def lless(x, y):
    return b"\x95" + x + y


def lequal(x, y):
    return b"\x93" + x + y


def lnotequal(x, y):
    return b"\x92" + lequal(x, y)


def to_buffer(x):
    return b"\x96" + x + NULL_TARGET


def buffer(data):
    return b"\x11" + pkg(integer(len(data)) + bytes(data))


def add(x, y, target):
    return b"\x72" + x + y + target


def subtract(x, y, target):
    return b"\x74" + x + y + target


def and_(x, y, target):
    return b"\x7B" + x + y + target


def shift_right(x, y, target):
    return b"\x7A" + x + y + target


def store(value, target):
    return b"\x70" + value + target


def notify(obj, value):
    return b"\x86" + obj + value


def deref_index(obj, index, target=NULL_TARGET):
    """DerefOf(Index(obj, index))."""
    return b"\x83" + b"\x88" + obj + index + target


def sleep(ms):
    return b"\x5B\x22" + ms


def processor(path, proc_id, pblk_addr, pblk_len, *terms):
    return b"\x5B\x83" + pkg(name(path) + bytes([proc_id]) + pblk_addr.to_bytes(4, "little")
                             + bytes([pblk_len]) + b"".join(terms))


def call(path, *args):
    return name(path) + b"".join(args)


# ---- the PVH DSDT ---------------------------------------------------------------------------
SYSTEM_MEMORY, SYSTEM_IO = 0, 1
BYTE_ACC_NOLOCK_PRESERVE = 0x01
PROCESSOR_PBLK = 0xB010
PROCESSOR_PBLK_LEN = 6


def _acpi_info_scope():
    """dsdt_acpi_info.asl: the BIOS region over struct acpi_info."""
    return scope("\\_SB",
                 op_region("BIOS", SYSTEM_MEMORY, integer(a.ACPI_INFO_PHYSICAL_ADDRESS),
                           integer(40)),
                 field("BIOS", BYTE_ACC_NOLOCK_PRESERVE,
                       ("UAR1", 1), ("UAR2", 1), ("LTP1", 1), ("HPET", 1), (None, 12),
                       ("NCPU", 16), ("PMIN", 32), ("PLEN", 32), ("MSUA", 32), ("MAPA", 32),
                       ("VGIA", 32), ("LMIN", 32), ("HMIN", 32), ("LLEN", 32), ("HLEN", 32)))


def _processor(cpu):
    pr = "PR%02X" % cpu
    mat = return_(call("PMAT", integer(cpu), name("MAT"))) if cpu else \
        return_(to_buffer(name("MAT")))
    sta = if_(name("FLG"), return_(integer(0xF)))
    if cpu:
        sta = if_(lless(integer(cpu), name("\\_SB.NCPU")), sta)
    return processor(
        pr, cpu, PROCESSOR_PBLK, PROCESSOR_PBLK_LEN,
        name_op("_HID", string("ACPI0007")),
        name_op("_UID", integer(cpu)),
        op_region("MATR", SYSTEM_MEMORY, add(name("\\_SB.MAPA"), integer(cpu * 8), NULL_TARGET),
                  integer(8)),
        field("MATR", BYTE_ACC_NOLOCK_PRESERVE, ("MAT", 64)),
        field("MATR", BYTE_ACC_NOLOCK_PRESERVE, (None, 32), ("FLG", 1)),
        method("_MAT", 0, mat),
        method("_STA", 0, sta, return_(integer(0))),
        method("_EJ0", 1, sleep(integer(0xC8))))


def _prsc(max_cpus):
    """PRSC: compare the PRST online-CPU map with each MADT entry's flag and
    notify the processor objects that changed (the CPU hotplug GPE)."""
    terms = [store(to_buffer(name("PRS")), local(0))]
    for cpu in range(max_cpus):
        pr = "\\_SB.PR%02X" % cpu
        if cpu & 7 == 0:
            terms.append(store(deref_index(local(0), integer(cpu // 8)), local(1)))
        else:
            terms.append(shift_right(local(1), integer(1), local(1)))
        terms.append(and_(local(1), integer(1), local(2)))
        terms.append(if_(lnotequal(local(2), name(pr + ".FLG")),
                         store(local(2), name(pr + ".FLG")),
                         if_(lequal(local(2), integer(1)),
                             notify(name("PR%02X" % cpu), integer(1)),
                             subtract(name("\\_SB.MSU"), integer(1), name("\\_SB.MSU"))),
                         else_(notify(name("PR%02X" % cpu), integer(3)),
                               add(name("\\_SB.MSU"), integer(1), name("\\_SB.MSU")))))
    terms.append(return_(integer(1)))
    return method("PRSC", 0, *terms)


def dsdt_aml(max_cpus=a.HVM_MAX_VCPUS):
    """The body (AML after the table header) of libxl's dsdt_pvh."""
    sb = scope(
        "\\_SB",
        op_region("MSUM", SYSTEM_MEMORY, name("\\_SB.MSUA"), integer(1)),
        field("MSUM", BYTE_ACC_NOLOCK_PRESERVE, ("MSU", 8)),
        method("PMAT", 2, if_(lless(arg(0), name("NCPU")), return_(to_buffer(arg(1)))),
               return_(buffer([0, 8, 0xFF, 0xFF, 0, 0, 0, 0]))),
        *[_processor(cpu) for cpu in range(max_cpus)],
        op_region("PRST", SYSTEM_IO, integer(a.XEN_ACPI_CPU_MAP),
                  integer(a.XEN_ACPI_CPU_MAP_LEN)),
        field("PRST", BYTE_ACC_NOLOCK_PRESERVE, ("PRS", max_cpus)),
        _prsc(max_cpus))
    gpe = scope("\\_GPE", method("_E%02d" % a.XEN_ACPI_GPE0_CPUHP_BIT, 0, call("\\_SB.PRSC")))
    return _acpi_info_scope() + sb + gpe
