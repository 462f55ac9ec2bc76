"""Host-input fuzzing of the boot path (tests/hostfuzz.py has the harness):
the ELF/PVH loader, the Multiboot2 writer and parser, the LCM reader and
`hvsim lcm check`'s report, the GRUB-syntax boot config parser with the
firmware stage after it.  Each target: its corpus replayed, then hypothesis
inputs built from valid ones mutated field by field (and, where the input
has a grammar or a writer, generated from it)."""

import io
import pathlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

import built
from hostfuzz import Field, clean, corpus, fuzz_settings, mutated, seeds_and_mutants

from hvsim import lcmcheck
from hvsim.abi import multiboot2 as mb2
from hvsim.boot import elf, firmware, launch, lcm, multiboot2, pvh
from hvsim.errors import HostInputError
from hvsim.hv.console import ConsoleSink
from hvsim.hv.hypervisor import Hypervisor

ROOT = pathlib.Path(__file__).resolve().parents[1]


# ---- ELF / PVH --------------------------------------------------------------------------------------
PADDR = 0x100000


def tiny_elf(bits):
    """A small PVH kernel ELF (what a linker writes, in miniature): a PT_LOAD
    of code, a PT_NOTE with Xen's PHYS32_ENTRY note, and sections .text,
    .note.Xen, .symtab, .strtab and .shstrtab."""
    w = bits // 8
    ehsize, phent, shent, syment = (64, 56, 64, 24) if bits == 64 else (52, 32, 40, 16)
    code = b"\xfa\xf4" * 8                                     # cli; hlt
    note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + struct.pack("<I", PADDR)
    strtab = b"\0_start\0data_sym\0"
    shstr = b"\0.text\0.note.Xen\0.symtab\0.strtab\0.shstrtab\0"
    if bits == 64:
        sym = lambda n, v, sz, info, ndx: struct.pack("<IBBHQQ", n, info, 0, ndx, v, sz)
    else:
        sym = lambda n, v, sz, info, ndx: struct.pack("<IIIBBH", n, v, sz, info, 0, ndx)
    symtab = sym(0, 0, 0, 0, 0) + sym(1, PADDR, 16, 0x12, 1) + sym(8, PADDR + 8, 4, 0x11, 1)
    off_code = ehsize + 2 * phent
    off_note = off_code + len(code)
    off_sym = off_note + len(note)
    off_str = off_sym + len(symtab)
    off_shstr = off_str + len(strtab)
    off_sh = (off_shstr + len(shstr) + 7) & ~7
    ident = b"\x7fELF" + bytes((2 if bits == 64 else 1, 1, 1, 0)) + bytes(8)
    machine = 62 if bits == 64 else 3
    hdr = ident + struct.pack("<HHI" + ("QQQ" if bits == 64 else "III") + "IHHHHHH",
                              2, machine, 1, PADDR, ehsize, off_sh, 0, ehsize, phent, 2,
                              shent, 6, 5)
    if bits == 64:
        ph = lambda t, f, off, sz, mem: struct.pack("<IIQQQQQQ", t, f, off, PADDR, PADDR, sz,
                                                    mem, 0x1000)
    else:
        ph = lambda t, f, off, sz, mem: struct.pack("<IIIIIIII", t, off, PADDR, PADDR, sz, mem,
                                                    f, 0x1000)
    phdrs = ph(1, 5, off_code, len(code), 0x2000) + ph(4, 4, off_note, len(note), len(note))
    fmt = "<IIQQQQIIQQ" if bits == 64 else "<IIIIIIIIII"

    def sh(name, type_, flags, addr, off, size, link=0, info=0, align=1, entsize=0):
        return struct.pack(fmt, name, type_, flags, addr, off, size, link, info, align, entsize)
    shdrs = (bytes(shent) + sh(1, 1, 6, PADDR, off_code, len(code), align=16)
             + sh(7, 7, 2, 0, off_note, len(note), align=4)
             + sh(17, 2, 0, 0, off_sym, len(symtab), 4, 1, w, syment)
             + sh(25, 3, 0, 0, off_str, len(strtab)) + sh(33, 3, 0, 0, off_shstr, len(shstr)))
    body = hdr + phdrs + code + note + symtab + strtab + shstr
    return body + bytes(off_sh - len(body)) + shdrs


_EHDR = {64: [("e_type", 16, 2), ("e_machine", 18, 2), ("e_version", 20, 4), ("e_entry", 24, 8),
              ("e_phoff", 32, 8), ("e_shoff", 40, 8), ("e_flags", 48, 4), ("e_ehsize", 52, 2),
              ("e_phentsize", 54, 2), ("e_phnum", 56, 2), ("e_shentsize", 58, 2),
              ("e_shnum", 60, 2), ("e_shstrndx", 62, 2)],
         32: [("e_type", 16, 2), ("e_machine", 18, 2), ("e_version", 20, 4), ("e_entry", 24, 4),
              ("e_phoff", 28, 4), ("e_shoff", 32, 4), ("e_flags", 36, 4), ("e_ehsize", 40, 2),
              ("e_phentsize", 42, 2), ("e_phnum", 44, 2), ("e_shentsize", 46, 2),
              ("e_shnum", 48, 2), ("e_shstrndx", 50, 2)]}
_PHDR = {64: [("p_type", 0, 4), ("p_flags", 4, 4), ("p_offset", 8, 8), ("p_vaddr", 16, 8),
              ("p_paddr", 24, 8), ("p_filesz", 32, 8), ("p_memsz", 40, 8), ("p_align", 48, 8)],
         32: [("p_type", 0, 4), ("p_offset", 4, 4), ("p_vaddr", 8, 4), ("p_paddr", 12, 4),
              ("p_filesz", 16, 4), ("p_memsz", 20, 4), ("p_flags", 24, 4), ("p_align", 28, 4)]}
_SHDR = {64: [("sh_name", 0, 4), ("sh_type", 4, 4), ("sh_offset", 24, 8), ("sh_size", 32, 8),
              ("sh_link", 40, 4), ("sh_info", 44, 4), ("sh_addralign", 48, 8),
              ("sh_entsize", 56, 8)],
         32: [("sh_name", 0, 4), ("sh_type", 4, 4), ("sh_offset", 16, 4), ("sh_size", 20, 4),
              ("sh_link", 24, 4), ("sh_info", 28, 4), ("sh_addralign", 32, 4),
              ("sh_entsize", 36, 4)]}
_IDENT = [("EI_CLASS", 4, 1), ("EI_DATA", 5, 1), ("EI_VERSION", 6, 1)]
_NOTE = [("n_namesz", 0, 4), ("n_descsz", 4, 4), ("n_type", 8, 4), ("n_desc", 16, 4)]


def elf_fields(data):
    """The integer fields of a well-formed little-endian ELF: the header,
    every program and section header, the Xen notes, the first symbols."""
    bits = 64 if data[4] == 2 else 32
    fields = [Field(n, o, s) for n, o, s in _IDENT + _EHDR[bits]]
    get = {f.name: f.get(data) for f in fields}
    for i in range(get["e_phnum"]):
        base = get["e_phoff"] + i * get["e_phentsize"]
        fields += [Field("phdr[%d].%s" % (i, n), base + o, s) for n, o, s in _PHDR[bits]]
        p = {n: Field(n, base + o, s).get(data) for n, o, s in _PHDR[bits]}
        if p["p_type"] == 4:
            fields += [Field("note.%s" % n, p["p_offset"] + o, s) for n, o, s in _NOTE]
    for i in range(get["e_shnum"]):
        base = get["e_shoff"] + i * get["e_shentsize"]
        fields += [Field("shdr[%d].%s" % (i, n), base + o, s) for n, o, s in _SHDR[bits]]
        sh = {n: Field(n, base + o, s).get(data) for n, o, s in _SHDR[bits]}
        if sh["sh_type"] == 2 and sh["sh_entsize"]:
            for k in range(min(4, sh["sh_size"] // sh["sh_entsize"])):
                at = sh["sh_offset"] + k * sh["sh_entsize"]
                fields += [Field("sym[%d].st_name" % k, at, 4),
                           Field("sym[%d].st_shndx" % k, at + (6 if bits == 64 else 14), 2)]
    return [f for f in fields if f.offset + f.size <= len(data)]


ELF_SEEDS = [tiny_elf(64), tiny_elf(32)]


def load_and_build(data):
    """The loader, then (if it accepts the image) the PVH domain builder."""
    kernel = elf.load_kernel("fuzz.elf", data)
    hv = Hypervisor(console=ConsoleSink(stream=None))
    spec = pvh.DomainSpec(1, "fuzz.elf", 16 << 20, cmdline="x", kernel_data=data,
                          modules=[pvh.Module(b"m" * 100, "mod")])
    d = pvh.build_domain(hv, spec)
    return kernel, d


def test_tiny_elf_seeds_boot_as_pvh_kernels():
    for data in ELF_SEEDS:
        kernel, d = load_and_build(data)
        assert kernel.entry == PADDR and [s.paddr for s in kernel.segments] == [PADDR]
        assert [name for _, _, name in kernel.symbols] == ["_start", "data_sym"]
        assert d.vcpus[0].arch is not None


@pytest.mark.parametrize("path", corpus("elf"))
def test_elf_corpus(path):
    clean("elf", load_and_build, path.read_bytes(), "fuzz.elf")


@fuzz_settings(600)
@given(seeds_and_mutants(ELF_SEEDS, elf_fields))
def test_fuzz_elf(data):
    clean("elf", load_and_build, data, "fuzz.elf")


def test_fuzz_elf_real_guest():
    """The real guests' ELFs (sections, symbols, notes as the toolchain wrote them)."""
    seeds = [built.guest(env).read_bytes() for env in ("hvm64", "hvm32")]

    @fuzz_settings(40)
    @given(seeds_and_mutants(seeds, elf_fields, 2))
    def run(data):
        clean("elf", lambda d: elf.load_kernel("fuzz.elf", d), data, "fuzz.elf")
    run()


# ---- Multiboot2 ------------------------------------------------------------------------------------
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, (1 << 64) - 1)
text = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
               max_size=40)


def mmap_entries():
    return st.lists(st.builds(multiboot2.MemoryMapEntry, u64, u64, st.integers(0, 6)),
                    max_size=6)


def mbi_args():
    return st.fixed_dictionaries({
        "cmdline": text, "loader_name": text,
        "modules": st.lists(st.tuples(u32, u32, text).map(
            lambda t: (min(t[:2]), max(t[:2]), t[2])), max_size=4),
        "mmap": mmap_entries(), "mem_lower": u32, "mem_upper": u32,
        "load_base_addr": st.none() | u32})


@fuzz_settings(200)
@given(mbi_args())
def test_mbi_writer_and_parser_agree(args):
    """Whatever GRUB's writer writes, the parser reads back (or refuses a
    module outside RAM / overlapping another, in one line)."""
    data = multiboot2.build_mbi(**args)
    info = clean("mbi", multiboot2.parse_mbi, data, "MBI")
    if isinstance(info, HostInputError):
        assert info.field.startswith("module ")
        return
    assert info.cmdline == args["cmdline"] and info.loader_name == args["loader_name"]
    assert [(m.start, m.end, m.string) for m in info.modules] == args["modules"]
    assert info.mmap == args["mmap"]
    assert (info.mem_lower, info.mem_upper) == (args["mem_lower"], args["mem_upper"])
    assert info.load_base_addr == args["load_base_addr"]


_TAG_FIELDS = {
    mb2.MULTIBOOT2_TAG_TYPE_MODULE: [("mod_start", 8), ("mod_end", 12)],
    mb2.MULTIBOOT2_TAG_TYPE_BASIC_MEMINFO: [("mem_lower", 8), ("mem_upper", 12)],
    mb2.MULTIBOOT2_TAG_TYPE_MMAP: [("entry_size", 8), ("entry_version", 12)],
    mb2.MULTIBOOT2_TAG_TYPE_LOAD_BASE_ADDR: [("load_base_addr", 8)],
}


def mbi_fields(data):
    """total_size, every tag's type and size and its fixed fields, the memory
    map entries' fields."""
    fields = [Field("total_size", 0, 4), Field("reserved", 4, 4)]
    off = 8
    while off + 8 <= len(data):
        type_, size = struct.unpack_from("<II", data, off)
        fields += [Field("tag@%#x.type" % off, off, 4), Field("tag@%#x.size" % off, off + 4, 4)]
        fields += [Field("tag@%#x.%s" % (off, n), off + o, 4) for n, o in _TAG_FIELDS.get(type_, ())]
        if type_ == mb2.MULTIBOOT2_TAG_TYPE_MMAP:
            for e in range(off + 16, off + size, 24):
                fields += [Field("mmap@%#x.addr" % e, e, 8), Field("mmap@%#x.len" % e, e + 8, 8),
                           Field("mmap@%#x.type" % e, e + 16, 4)]
        if type_ == 0 or size < 8:
            break
        off += (size + 7) & ~7
    return [f for f in fields if f.offset + f.size <= len(data)]


def firmware_mbi(kernel=True):
    """What hvsim's firmware writes for a boot: module 0 a kernel or an LCM."""
    mem = firmware.HostMemory(64 << 20)
    first = ELF_SEEDS[0] if kernel else LCM_SEEDS[0]
    mem.load(firmware.MODULES_BASE, first)
    end = firmware.MODULES_BASE + len(first)
    mods = [(firmware.MODULES_BASE, end, "dom0 console=hvc0")]
    mem.load(0x2000000, b"ramdisk!" * 64)
    mods.append((0x2000000, 0x2000000 + 512, "initrd"))
    mbi = multiboot2.build_mbi("dom0_mem=16M loglvl=all", firmware.LOADER_NAME, mods, mem.mmap,
                               mem.mem_lower, mem.mem_upper, firmware.HYPERVISOR_LOAD_BASE)
    return mbi, mem


MBI_SOURCES = ("MBI", "Xen command line", "LCM (MB2 module 0)")


def parse_and_plan(memory):
    def run(data):
        info = multiboot2.parse_mbi(data, memory=memory, address=0x3000000)
        return lcm.check_bootinfo(info, memory=memory, host_mem=memory.size)
    return run


@pytest.mark.parametrize("path", corpus("mbi"))
def test_mbi_corpus(path):
    _, mem = firmware_mbi()
    clean("mbi", parse_and_plan(mem), path.read_bytes(), MBI_SOURCES)


@fuzz_settings(500)
@given(st.data())
def test_fuzz_mbi(data):
    """MBIs as the firmware writes them (and GRUB's, tests/data/grub-mbi.bin),
    mutated field by field, parsed and planned as Xen's boot code does."""
    mbi, mem = firmware_mbi(kernel=data.draw(st.booleans()))
    seeds = [mbi, (ROOT / "tests" / "data" / "grub-mbi.bin").read_bytes()]
    blob = data.draw(seeds_and_mutants(seeds, mbi_fields))
    clean("mbi", parse_and_plan(mem), blob, MBI_SOURCES)


# ---- LCM ---------------------------------------------------------------------------------------------
LCM_SEEDS = [p.read_bytes() for p in sorted((ROOT / "tests" / "corpus" / "lcm").glob("seed-*"))]


def fdt_fields(data):
    """The FDT header's ten fields and every 32-bit word of the structure
    block: tokens, property lengths and name offsets, cell values."""
    names = ("magic", "totalsize", "off_dt_struct", "off_dt_strings", "off_mem_rsvmap",
             "version", "last_comp_version", "boot_cpuid_phys", "size_dt_strings",
             "size_dt_struct")
    fields = [Field(n, 4 * i, 4, "big") for i, n in enumerate(names)]
    off, size = struct.unpack_from(">I", data, 8)[0], struct.unpack_from(">I", data, 36)[0]
    fields += [Field("struct@%#x" % o, o, 4, "big") for o in range(off, off + size, 4)]
    return [f for f in fields if f.offset + f.size <= len(data)]


def check_and_report(modules):
    """`hvsim lcm check FILE --modules N`: read the LCM, print its report."""
    def run(data):
        result = lcm.check_lcm(data, "fuzz.dtb", lcm.ModuleTable(count=modules), 1 << 30)
        lcmcheck.report(result, "LCM fuzz.dtb", io.StringIO(), io.StringIO())
        lcmcheck.report_json(result, "LCM fuzz.dtb", io.StringIO())
        for e in result.errors:
            from hostfuzz import check_refusal
            check_refusal(e, "fuzz.dtb")
        return result
    return run


LCM_PROPS = ["domid", "capabilities", "mode", "memory", "mem-min", "mem-max", "cpus",
             "module-index", "mb-index", "reg", "#address-cells", "#size-cells", "bootargs",
             "compatible", "xen,evtchn", "phandle", "linux,phandle"]
LCM_STRINGS = ["hypervisor,xen", "xen,domain", "multiboot,module", "multiboot,kernel",
               "multiboot,ramdisk", "multiboot,device-tree", "xen,evtchn-v1", "x" * 300]
# (empty, non-ASCII, control characters, no NUL: bytes, below)
U32_EDGES = st.one_of(st.sampled_from([0, 1, 2, 3, 4, 7, 0x10, 0x1F, 0x20, 0x7FF0, 0x7FF1,
                                       0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF]),
                      st.integers(0, 0xFFFFFFFF))


def lcm_value():
    """A property value as dtc would write one, or not: cells, strings, bytes."""
    return st.one_of(st.lists(U32_EDGES, max_size=4),
                     st.lists(st.sampled_from(LCM_STRINGS), min_size=1, max_size=3),
                     st.binary(max_size=9), st.sampled_from([b"\0", b"a\nb\0", b"\xff\0",
                                                             b"a\0b\0", b"abc",
                                                             "caf\u00e9\0".encode()]))


@st.composite
def lcm_edits(draw):
    """A seed LCM edited as a device tree: a property set to another value
    (another width, type, or a boundary), removed, a node removed or added."""
    import fdt
    tree = fdt.parse_dtb(draw(st.sampled_from(LCM_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        nodes = [tree.get_node(path) for path, _, _ in tree.walk()]
        node = draw(st.sampled_from(nodes))
        kind = draw(st.sampled_from(("set", "set", "set", "remove", "drop", "add")))
        if kind == "set":
            name = draw(st.sampled_from(LCM_PROPS + [p.name for p in node.props]))
            value = draw(lcm_value())
            if isinstance(value, list) and value and isinstance(value[0], str):
                prop = fdt.PropStrings(name, *value)
            elif isinstance(value, list):
                prop = fdt.PropWords(name, *value) if value else fdt.Property(name)
            else:
                prop = fdt.PropBytes(name, data=value)
            if node.exist_property(name):
                node.remove_property(name)
            node.append(prop)
        elif kind == "remove" and node.props:
            node.remove_property(draw(st.sampled_from([p.name for p in node.props])))
        elif kind == "drop" and node.parent is not None:
            node.parent.remove_subnode(node.name)
        elif kind == "add":
            name = draw(st.sampled_from(["kernel", "ramdisk", "ev", "dom9", "hypervisor"]))
            if not node.exist_subnode(name):
                child = fdt.Node(name)
                child.append(fdt.PropStrings("compatible", *draw(st.lists(
                    st.sampled_from(LCM_STRINGS), min_size=1, max_size=2))))
                node.append(child)
    return tree.to_dtb(version=17)


@fuzz_settings(200)
@given(lcm_edits(), st.sampled_from([None, 1, 3, 8]))
def test_fuzz_lcm_properties(data, modules):
    clean("lcm", check_and_report(modules), data, "fuzz.dtb")


@pytest.mark.parametrize("path", corpus("lcm"))
def test_lcm_corpus(path):
    clean("lcm", check_and_report(8), path.read_bytes(), "fuzz.dtb")


@fuzz_settings(800)
@given(seeds_and_mutants(LCM_SEEDS, fdt_fields), st.sampled_from([None, 1, 3, 8]))
def test_fuzz_lcm(data, modules):
    clean("lcm", check_and_report(modules), data, "fuzz.dtb")


# ---- boot configs (GRUB syntax), through the firmware stage to the plan --------------------------------
BOOTCFG_DIR = ROOT / "tests" / "corpus" / "bootcfg"
BOOTCFG_SEEDS = sorted(BOOTCFG_DIR.glob("seed-*.cfg"))
# words of the grub.cfg language and of what the entries load, for token-level edits
GRUB_WORDS = ["menuentry", "multiboot2", "module2", "--nounzip", "set", "default=0",
              "default=7", "default=second", "timeout=x", "timeout=-1", "{", "}", ";", "\n",
              "insmod", "boot", "if", "fi", "submenu", "linux", "source", "$x", "${x}", "${",
              "$", "\\", "\\\n", "'", '"', "#", "x=1", "--id", "--class", "--users",
              "(hd0,1)/xen", "/boot/xen.gz", "../elf/seed-tiny64.elf", "../lcm/seed-one.dtb",
              "../lcm/seed-dom0less.dtb", "../lcm/seed-demo3.dtb", "../mbi/seed-grub.mbi",
              "../elf", "missing.elf", "'a b'", '"a $x b"', "dom0_mem=8M", "dom0_mem=max:-1G",
              "dom0_mem=min:9999999T", "dom0_mem=", "dom0_mem=:,:", "dom0_max_vcpus=0",
              "dom0_max_vcpus=1-4", "\0", "\x1b[31m", "\u00e9", "\ufeff"]


@st.composite
def grub_config(draw):
    """A seed config edited token by token: words replaced, inserted or
    deleted, lines dropped or repeated."""
    path = draw(st.sampled_from(BOOTCFG_SEEDS))
    words = path.read_text().replace("\n", " \n ").split(" ")
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(("replace", "insert", "delete", "text")))
        at = draw(st.integers(0, len(words)))
        if kind == "delete" and at < len(words):
            del words[at]
        elif kind == "text":
            words.insert(at, draw(st.text(max_size=8)))
        else:
            word = draw(st.sampled_from(GRUB_WORDS))
            words[at:at + (kind == "replace")] = [word]
    return path, " ".join(words).encode("utf-8", "surrogatepass")


def boot_to_plan(path):
    """`hvsim boot boot.cfg` up to the start of the domains: parse, choose the
    entry, load the modules, write and read the MBI, read the LCM (or take
    the classic path), print `hvsim lcm check`'s report, and build every
    domain of a plan without errors (paused)."""
    def run(raw):
        fw = firmware.boot_config(str(path), None, 1 << 30, raw)
        result = lcm.check_firmware(fw, 1 << 30)
        lcmcheck.report(result, "boot config", io.StringIO(), io.StringIO())
        if not result.errors:
            launch.build_plan(Hypervisor(console=ConsoleSink(stream=None)), result.plan)
        return result
    return run


@pytest.mark.parametrize("path", corpus("bootcfg"))
def test_bootcfg_corpus(path):
    clean("bootcfg", boot_to_plan(path), path.read_bytes(), None)


def test_bootcfg_seeds_plan():
    for path in BOOTCFG_SEEDS:
        result = boot_to_plan(path)(path.read_bytes())
        assert not result.errors and result.plan.domains, path


@fuzz_settings(400)
@given(grub_config())
def test_fuzz_bootcfg(case):
    path, raw = case
    clean("bootcfg", boot_to_plan(path), raw, None)


@pytest.mark.parametrize("name,message", [
    # the entry point was the note's bytes, which reached the vCPU's RIP (a TypeError)
    ("crash-note-phys32-entry-descsz-0.elf",
     "fuzz.elf: Xen ELF note 18: a 0-byte descriptor; a numeric note has 1, 2, 4 or 8"),
    # pyelftools' own parser errors (construct's) escaped the loader
    ("crash-note-name-unterminated.elf", "fuzz.elf: ELF: malformed ELF: "),
    # an offset past 2**63 reached io.BytesIO.seek (an OverflowError)
    ("crash-phoff-huge.elf", "fuzz.elf: e_phoff: the program headers [0x8000000000000040, "),
    ("crash-note-offset-huge.elf", "fuzz.elf: program header 1: the segment's file bytes "),
])
def test_elf_regressions(name, message):
    """Crashes the fuzzer found, refused in one line now (the symbols are
    only for `hvsim step`: a .symtab that is not SHT_SYMTAB is no symbols)."""
    e = clean("elf", load_and_build, (ROOT / "tests/corpus/elf" / name).read_bytes(), "fuzz.elf")
    assert isinstance(e, HostInputError) and str(e).startswith(message), e


def test_symtab_of_another_type_is_no_symbols():
    # it was an AttributeError ('NullSection' object has no attribute 'iter_symbols')
    data = (ROOT / "tests/corpus/elf/crash-symtab-not-sht-symtab.elf").read_bytes()
    assert elf.load_kernel("fuzz.elf", data).symbols == []
