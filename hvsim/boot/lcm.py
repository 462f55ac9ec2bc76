"""The hypervisor's boot stage: from the Multiboot2 module list to a boot
plan, through the Launch Control Module (LCM) when there is one.

Detection (hyperlaunch, generation C; see shared/reference/xen-abi.md §1.3):
MB2 module 0 is an FDT (magic 0xd00dfeed) and either has /chosen/hypervisor,
which must be compatible "hypervisor,xen" (kind "hyperlaunch": its
xen,domain children are the domains; any other compatible is an error, as
Xen's -ENODATA), or some child of /chosen is compatible "xen,domain" (kind
"dom0less": /chosen is the container).  Anything else is the classic path
(a module 0 that is a device tree but no LCM with a warning): module 0 is
the one domain's kernel, module 1 its ramdisk (more modules are warned about
and unused), the MB2 string of module 0 its command line, dom0_mem= /
dom0_max_vcpus= from Xen's.

The binding (generation C + dom0less): domid, capabilities (DOMAIN_CAPS_*;
unknown bits masked off with a warning), mode (BUILD_MODE_*; hvsim builds
PVH only), memory / mem-min / mem-max (u64 KiB), cpus, #address-cells /
#size-cells; module subnodes "multiboot,kernel" / "multiboot,ramdisk" with
"multiboot,module", located by module-index (alias mb-index) or reg, with
bootargs on the kernel node; static event channels ("xen,evtchn-v1" nodes
with xen,evtchn = <local-port &peer>) as dom0less defines them.

Every problem is a HostInputError "LCM-file: /node/path: property: problem
(fix)".  check_lcm() collects them all (for `hvsim lcm check`); the plan
builders raise the first.  The FDT is read by a small reader of our own
(fdt.py's read_fdt): the `fdt` package guesses property types and lets
garbage through as assorted exceptions, and an LCM is untrusted input.

Entry points: check_lcm() (an LCM blob alone), check_bootinfo() /
check_firmware() (a parsed MBI, or what a firmware stage wrote), and
boot_plan(), which runs the whole chain from a boot config through the
firmware stage (firmware.py) and the MBI parser (multiboot2.py).
"""


from ..abi import bootfdt, hvm
from ..abi.cstruct import X86_64
from ..abi.event_channel import evtchn_2l_nr_channels
from ..abi.xen import DOMID_FIRST_RESERVED
from ..errors import HostInputError
from ..hv.evtchn import DEFAULT_MAX_EVTCHN_PORT
from ..hv.physmap import PAGE_SIZE
from .fdt import _BE32, FDT_MAGIC, is_fdt, read_fdt
from .firmware import DEFAULT_HOST_MEM, boot_config
from .multiboot2 import cmdline_cook, parse_mbi
from .plan import (CAPABILITY_NAMES, KIND_CLASSIC, KIND_DOM0LESS, KIND_HYPERLAUNCH, BootPlan,
                   DomainPlan, ModuleRef, StaticEvtchn, unlimited_evtchns)

HYPERLAUNCH_MODULE_IDX = bootfdt.HYPERLAUNCH_MODULE_IDX
MAX_NR_BOOTMODS = bootfdt.MAX_NR_BOOTMODS
BUILD_MODE_PARAVIRT = bootfdt.BUILD_MODE_PARAVIRT
BUILD_MODE_ENABLE_DM = bootfdt.BUILD_MODE_ENABLE_DM
BUILD_MODE_MASK = BUILD_MODE_PARAVIRT | BUILD_MODE_ENABLE_DM
HVM_MAX_VCPUS = hvm.HVM_MAX_VCPUS
DEFAULT_ADDRESS_CELLS = 2           # libfdt fdt_address_cells() without the property
DEFAULT_SIZE_CELLS = 1              # libfdt fdt_size_cells() without the property
DEFAULT_DOMAIN_MEM = 128 << 20      # as `hvsim run --mem`
COMPAT_HYPERVISOR = "hypervisor,xen"
COMPAT_DOMAIN = "xen,domain"
COMPAT_MODULE = "multiboot,module"
COMPAT_KERNEL = "multiboot,kernel"
COMPAT_RAMDISK = "multiboot,ramdisk"
COMPAT_DEVICE_TREE = "multiboot,device-tree"
COMPAT_EVTCHN = "xen,evtchn-v1"
INDEX_PROPS = ("module-index", "mb-index")     # mb-index: the 2021 design's name
CLASSIC_DOM0_CAPS = (bootfdt.DOMAIN_CAPS_CONTROL | bootfdt.DOMAIN_CAPS_HARDWARE |
                     bootfdt.DOMAIN_CAPS_XENSTORE)
EVTCHN_MAX_PORT = evtchn_2l_nr_channels(X86_64) - 1



def fmt_size(n):
    """1.5 GiB, 256 MiB, 12 KiB, 100 bytes."""
    for shift, unit in ((40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return ("%d %s" if v == int(v) else "%.1f %s") % (v, unit)
    return "%d bytes" % n


# ---------------------------------------------------------------------------
# the module list the LCM refers to


class ModuleTable:
    """The MB2 modules an LCM's module-index and reg refer to.

    From an MBI: every module with its range, string and bytes, plus the
    host memory image for reg-located modules no MB2 tag describes.  For
    `hvsim lcm check`: only a count (or nothing), ranges unchecked."""

    def __init__(self, modules=(), names=None, count=None, memory=None, loader_name=""):
        self.modules = list(modules)
        self.names = list(names or [])
        self.count = len(self.modules) if self.modules else count
        self.memory = memory
        self.loader_name = loader_name

    @property
    def known(self):
        return bool(self.modules)

    def label(self, index):
        if index < len(self.names):
            return "module %d (%s)" % (index, self.names[index])
        if index < len(self.modules):
            m = self.modules[index]
            return "module %d [%#x, %#x)" % (index, m.start, m.end)
        return "module %d" % index

    def ref(self, index):
        if not self.known:
            return ModuleRef(index, self.label(index))
        m = self.modules[index]
        return ModuleRef(index, self.label(index), m.data, m.start, m.end, m.string,
                         path=self.names[index] if index < len(self.names) else None)

    def by_range(self, start, size):
        for m in self.modules:
            if m.start == start and m.end - m.start == size:
                return m.index
        return None

    def read(self, start, size):
        """The loaded bytes at [start, start + size), or None (unknown)."""
        return self.memory.read(start, size) if self.memory is not None else None


# ---------------------------------------------------------------------------
# the binding


class _Domain:
    """A domain node while it is being read."""

    def __init__(self, node):
        self.node = node
        self.domid = None
        self.caps = 0
        self.mode = 0
        self.mem = None
        self.mem_min = None
        self.mem_max = None
        self.vcpus = 1
        self.kernel = None
        self.kernel_node = None
        self.ramdisk = None
        self.ramdisk_node = None
        self.cmdline = ""
        self.evtchns = []


class LcmCheck:
    """The outcome of reading an LCM: a plan when there were no errors."""

    def __init__(self, plan, errors, warnings):
        self.plan = plan
        self.errors = errors
        self.warnings = warnings

    def plan_or_raise(self):
        if self.errors:
            raise self.errors[0]
        return self.plan


class _LcmReader:
    def __init__(self, root, source, table, host_mem, hypervisor_cmdline):
        self.root = root
        self.source = source
        self.table = table
        self.host_mem = host_mem
        self.hypervisor_cmdline = hypervisor_cmdline
        self.errors = []
        self.warnings = []
        self.bad = set()            # (path, prop) already reported
        self.used = {}              # MB2 index -> node path using it
        self.phandles = {}

    # -- reporting

    def fail(self, node, prop, problem, fix=None):
        field = node.path + (": " + prop if prop else "")
        self.errors.append(HostInputError(self.source, field, problem, fix))
        self.bad.add((node.path, prop))
        return None

    def warn(self, node, prop, problem):
        self.warnings.append("%s: %s%s: %s" % (self.source, node.path,
                                               ": " + prop if prop else "", problem))

    # -- property decoding

    def cells(self, node, prop, count, what):
        """The big-endian u32 cells of a property; None if absent or malformed."""
        raw = node.prop(prop)
        if raw is None:
            return None
        if len(raw) != 4 * count:
            return self.fail(node, prop, "%d bytes; expected %d cell%s (%s)"
                             % (len(raw), count, "s" if count > 1 else "", what),
                             "write it as %s = <%s>;" % (prop, " ".join(["N"] * count)))
        return [_BE32.unpack_from(raw, 4 * i)[0] for i in range(count)]

    def u32(self, node, prop, what="a u32"):
        v = self.cells(node, prop, 1, what)
        return None if v is None else v[0]

    def u64(self, node, prop, what):
        v = self.cells(node, prop, 2, what)
        return None if v is None else (v[0] << 32) | v[1]

    def string(self, node, prop):
        raw = node.prop(prop)
        if raw is None:
            return None
        if not raw.endswith(b"\0") or b"\0" in raw[:-1]:
            return self.fail(node, prop, "not a single NUL-terminated string",
                             "write it as %s = \"...\";" % prop)
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            return self.fail(node, prop, "not UTF-8 text")

    # -- the whole LCM

    def read(self, kind, container):
        self._phandles()
        nodes = [c for c in container.children if c.is_compatible(COMPAT_DOMAIN)]
        if not nodes:
            self.fail(container, None, "no domain: no child node is compatible %r"
                      % COMPAT_DOMAIN, "describe at least one domain")
            return None
        doms = [self._domain(n, kind) for n in nodes]
        self._domids(doms, kind)
        self._unique_caps(doms)
        self._host_memory(doms)
        for d in doms:
            self._evtchns(d, doms)
        if self.errors:
            return None
        return BootPlan(kind, self.source, self.hypervisor_cmdline,
                        [self._plan(d) for d in doms], self.warnings)

    def _phandles(self):
        for node in self.root.walk():
            for prop in ("phandle", "linux,phandle"):
                if node.prop(prop) is None:
                    continue
                value = self.u32(node, prop, "a phandle")
                if value is None:
                    continue
                other = self.phandles.get(value)
                if other is not None and other is not node:
                    self.fail(node, prop, "phandle %#x is also %s's" % (value, other.path),
                              "phandles must be unique; let dtc assign them with &labels")
                self.phandles[value] = node

    def _plan(self, d):
        return DomainPlan(d.node.path, d.node.name, d.domid, d.caps, d.mode, d.mem,
                          d.mem_min, d.mem_max, d.vcpus, d.kernel, d.cmdline, d.ramdisk,
                          d.evtchns)

    # -- one domain

    def _domain(self, node, kind):
        d = _Domain(node)
        d.domid = self.u32(node, "domid")
        d.caps = self._capabilities(node)
        d.mode = self._mode(node)
        self._memory(d, kind)
        d.vcpus = self._cpus(node, kind)
        self._modules(d)
        return d

    def _capabilities(self, node):
        caps = self.u32(node, "capabilities")
        if caps is None:
            return 0
        unknown = caps & ~bootfdt.DOMAIN_CAPS_MASK
        if unknown:
            self.warn(node, "capabilities", "unknown bits %#x ignored (masked off as Xen "
                      "does; known: %s)" % (unknown, ", ".join(
                          "%s %#x" % (n, b) for b, n in CAPABILITY_NAMES)))
        return caps & bootfdt.DOMAIN_CAPS_MASK

    def _mode(self, node):
        mode = self.u32(node, "mode")
        if mode is None:
            return 0
        if mode & BUILD_MODE_PARAVIRT and mode & BUILD_MODE_ENABLE_DM:
            return self.fail(node, "mode", "%#x sets both BUILD_MODE_PARAVIRT and "
                             "BUILD_MODE_ENABLE_DM, which Xen rejects (-EINVAL)" % mode,
                             "use mode = <0> for PVH")
        if mode & BUILD_MODE_PARAVIRT:
            return self.fail(node, "mode", "%#x asks for a PV domain (BUILD_MODE_PARAVIRT); "
                             "hvsim runs PVH domains only" % mode, "use mode = <0> for PVH")
        if mode & BUILD_MODE_ENABLE_DM:
            return self.fail(node, "mode", "%#x asks for an HVM domain with a device model "
                             "(BUILD_MODE_ENABLE_DM); hvsim runs PVH domains only" % mode,
                             "use mode = <0> for PVH")
        if mode & ~BUILD_MODE_MASK:
            self.warn(node, "mode", "unknown bits %#x ignored (known: BUILD_MODE_PARAVIRT "
                      "0x1, BUILD_MODE_ENABLE_DM 0x2)" % (mode & ~BUILD_MODE_MASK))
        return mode & BUILD_MODE_MASK

    def _kib(self, node, prop):
        """A u64 KiB property as bytes of whole pages (Xen: PFN_DOWN(kb * 1024))."""
        kib = self.u64(node, prop, "a u64 in KiB, e.g. <0x0 0x20000> for 128 MiB")
        if kib is None:
            return None
        pages = kib * 1024 // PAGE_SIZE
        if pages == 0:
            return self.fail(node, prop, "%d KiB is less than one 4 KiB page" % kib,
                             "give the size in KiB, e.g. <0x0 0x20000> for 128 MiB")
        return pages * PAGE_SIZE

    def _memory(self, d, kind):
        node = d.node
        d.mem = self._kib(node, "memory")
        d.mem_min = self._kib(node, "mem-min")
        d.mem_max = self._kib(node, "mem-max")
        if d.mem is None and (node.path, "memory") not in self.bad:
            if kind == KIND_DOM0LESS:
                self.fail(node, "memory", "missing (dom0less requires it)",
                          "add memory = <0x0 KiB>; e.g. <0x0 0x20000> for 128 MiB")
            else:
                self.warn(node, "memory", "missing: the domain gets %s"
                          % fmt_size(DEFAULT_DOMAIN_MEM))
                d.mem = DEFAULT_DOMAIN_MEM
        if d.mem is None:
            return
        if d.mem_min is not None and d.mem < d.mem_min:
            self.fail(node, "mem-min", "%s is more than memory (%s)"
                      % (fmt_size(d.mem_min), fmt_size(d.mem)), "keep mem-min <= memory")
        if d.mem_max is not None and d.mem > d.mem_max:
            self.fail(node, "mem-max", "%s is less than memory (%s)"
                      % (fmt_size(d.mem_max), fmt_size(d.mem)), "keep memory <= mem-max")

    def _cpus(self, node, kind):
        cpus = self.u32(node, "cpus")
        if cpus is None:
            if kind == KIND_DOM0LESS and (node.path, "cpus") not in self.bad:
                self.fail(node, "cpus", "missing (dom0less requires it)", "add cpus = <1>;")
            return 1
        if cpus == 0:
            return self.fail(node, "cpus", "0: a domain needs at least one vCPU",
                             "set cpus = <1> or more")
        if cpus > HVM_MAX_VCPUS:
            return self.fail(node, "cpus", "%d is more than HVM_MAX_VCPUS (%d)"
                             % (cpus, HVM_MAX_VCPUS), "use at most %d" % HVM_MAX_VCPUS)
        return cpus

    # -- module subnodes

    def _modules(self, d):
        for child in d.node.children:
            compat = child.compatible
            kinds = [k for k in (COMPAT_KERNEL, COMPAT_RAMDISK, COMPAT_DEVICE_TREE)
                     if k in compat]
            if COMPAT_MODULE not in compat:
                if kinds:
                    self.fail(child, "compatible", "%r without %r" % (kinds[0], COMPAT_MODULE),
                              "write compatible = \"%s\", \"%s\";" % (kinds[0], COMPAT_MODULE))
                    if kinds[0] == COMPAT_KERNEL:
                        d.kernel_node = child       # reported: not "no kernel" as well
                continue
            if len(kinds) != 1:
                self.fail(child, "compatible", "a multiboot,module needs exactly one of %r, "
                          "%r" % (COMPAT_KERNEL, COMPAT_RAMDISK),
                          "write compatible = \"%s\", \"%s\";" % (COMPAT_KERNEL, COMPAT_MODULE))
                continue
            self._module(d, child, kinds[0])
        if d.kernel is None and d.kernel_node is None:
            self.fail(d.node, None, "no kernel: no subnode is compatible %r and %r"
                      % (COMPAT_KERNEL, COMPAT_MODULE),
                      "add kernel { compatible = \"%s\", \"%s\"; module-index = <N>; };"
                      % (COMPAT_KERNEL, COMPAT_MODULE))
        elif d.kernel is not None:
            d.cmdline = self._kernel_cmdline(d)

    def _module(self, d, node, kind):
        if kind == COMPAT_DEVICE_TREE:
            self.warn(node, "compatible", "%r modules are for Arm guests; ignored on x86"
                      % COMPAT_DEVICE_TREE)
            return
        first = d.kernel_node if kind == COMPAT_KERNEL else d.ramdisk_node
        if first is not None:
            self.fail(node, None, "a second %s module (the first is %s)" % (kind, first.path),
                      "give each domain one kernel and at most one ramdisk")
            return
        ref = self._locate(node)
        if kind == COMPAT_KERNEL:
            d.kernel_node, d.kernel = node, ref
        else:
            d.ramdisk_node, d.ramdisk = node, ref

    def _locate(self, node):
        """A module node's ModuleRef, from module-index (or mb-index) or reg."""
        given = [p for p in INDEX_PROPS if node.prop(p) is not None]
        has_reg = node.prop("reg") is not None
        if len(given) > 1:
            return self.fail(node, given[1], "given together with %s" % given[0],
                             "keep module-index only")
        if given and has_reg:
            return self.fail(node, "reg", "given together with %s: a module is located by "
                             "one of them" % given[0], "remove reg or %s" % given[0])
        if given:
            return self._by_index(node, given[0])
        if has_reg:
            return self._by_reg(node)
        return self.fail(node, None, "no location: neither module-index nor reg",
                         "add module-index = <N>; (N: the module's place among the MB2 "
                         "modules, the LCM being 0)")

    def _by_index(self, node, prop):
        index = self.u32(node, prop, "a module index")
        if index is None:
            return None
        count = self.table.count
        if index == HYPERLAUNCH_MODULE_IDX:
            return self.fail(node, prop, "0 is the LCM itself",
                             "the first module after the LCM is module-index = <1>")
        if index >= MAX_NR_BOOTMODS:
            return self.fail(node, prop, "%d: Xen supports at most %d boot modules"
                             % (index, MAX_NR_BOOTMODS), "use an index below %d"
                             % MAX_NR_BOOTMODS)
        if count is not None and index >= count:
            return self.fail(node, prop, "%d but there are only %d MB2 modules (0-%d, the "
                             "LCM being 0)" % (index, count, count - 1),
                             "add a module2 line for it or fix the index")
        if not self._use(node, prop, index):
            return None
        return self.table.ref(index)

    def _use(self, node, prop, index):
        first = self.used.get(index)
        if first is not None:
            self.fail(node, prop, "%s is already used by %s"
                      % (self.table.label(index), first),
                      "each MB2 module backs one domain module: load it twice")
            return False
        self.used[index] = node.path
        return True

    def _by_reg(self, node):
        dom = node.parent
        ac = self._cell_count(dom, "#address-cells", DEFAULT_ADDRESS_CELLS)
        sc = self._cell_count(dom, "#size-cells", DEFAULT_SIZE_CELLS)
        if ac is None or sc is None:
            return None
        cells = self.cells(node, "reg", ac + sc, "#address-cells %d + #size-cells %d of %s"
                           % (ac, sc, dom.path))
        if cells is None:
            return None
        addr = _join_cells(cells[:ac])
        size = _join_cells(cells[ac:])
        label = "reg [%#x, %#x)" % (addr, addr + size)
        if self.table.known:
            return self._reg_module(node, addr, size, label)
        return ModuleRef(None, label, start=addr, end=addr + size)

    def _reg_module(self, node, addr, size, label):
        index = self.table.by_range(addr, size)
        if index == HYPERLAUNCH_MODULE_IDX:
            return self.fail(node, "reg", "%s is module 0, the LCM itself" % label[4:],
                             "point reg at the kernel's module")
        if index is not None:
            return self.table.ref(index) if self._use(node, "reg", index) else None
        data = self.table.read(addr, size)
        if data is None:
            return self.fail(node, "reg", "%s matches no MB2 module and holds no loaded bytes"
                             % label[4:], "use module-index, or the exact range of a module")
        return ModuleRef(None, label, data, addr, addr + size, "")

    def _cell_count(self, node, prop, default):
        value = self.u32(node, prop)
        if value is None:
            return None if (node.path, prop) in self.bad else default
        if value not in (1, 2):
            return self.fail(node, prop, "%d: must be 1 or 2 for module reg" % value,
                             "use <1> (32-bit) or <2> (64-bit)")
        return value

    def _kernel_cmdline(self, d):
        """The MB2 string of the kernel module when not empty, else bootargs."""
        mb2_string = cmdline_cook(d.kernel.string, self.table.loader_name) \
            if d.kernel.string else ""
        bootargs = self.string(d.kernel_node, "bootargs")
        return mb2_string or bootargs or ""

    # -- across domains

    def _domids(self, doms, kind):
        taken = {}
        for d in doms:
            if d.domid is None:
                continue
            if d.domid >= DOMID_FIRST_RESERVED:
                self.fail(d.node, "domid", "%d (%#x) is at or above DOMID_FIRST_RESERVED "
                          "(%#x)" % (d.domid, d.domid, DOMID_FIRST_RESERVED),
                          "use a domid below %#x" % DOMID_FIRST_RESERVED)
            elif d.domid in taken:
                self.fail(d.node, "domid", "%d is already %s's" % (d.domid, taken[d.domid]),
                          "give each domain its own domid")
            else:
                taken[d.domid] = d.node.path
        missing = [d for d in doms if d.domid is None and (d.node.path, "domid") not in self.bad]
        if kind == KIND_DOM0LESS:
            self._allocate_domids(missing, taken)
        elif len(doms) == 1 and missing:
            missing[0].domid = 0        # generation C: the initial domid
        else:
            for d in missing:
                self.fail(d.node, "domid", "missing: with several domains each needs one",
                          "add domid = <N>; (N below %#x, unique)" % DOMID_FIRST_RESERVED)

    @staticmethod
    def _allocate_domids(missing, taken):
        """dom0less: domid_alloc(DOMID_ANY), the lowest free id from 1."""
        next_id = 1
        for d in missing:
            while next_id in taken:
                next_id += 1
            d.domid = next_id
            taken[next_id] = d.node.path

    def _unique_caps(self, doms):
        for bit, name in ((bootfdt.DOMAIN_CAPS_HARDWARE, "hardware"),
                          (bootfdt.DOMAIN_CAPS_XENSTORE, "xenstore")):
            holders = [d for d in doms if d.caps & bit]
            for d in holders[1:]:
                self.fail(d.node, "capabilities", "a second %s domain (%s already has "
                          "DOMAIN_CAPS_%s)" % (name, holders[0].node.path, name.upper()),
                          "there can be only one %s domain" % name)

    def _host_memory(self, doms):
        total = 0
        for d in doms:
            if d.mem is None:
                continue
            total += d.mem
            if d.mem > self.host_mem:
                self.fail(d.node, "memory", "%s is more than the host's %s"
                          % (fmt_size(d.mem), fmt_size(self.host_mem)),
                          "lower it, or give the host more memory")
            elif total > self.host_mem:
                self.fail(d.node, "memory", "%s brings the domains' total to %s, more than "
                          "the host's %s" % (fmt_size(d.mem), fmt_size(total),
                                             fmt_size(self.host_mem)),
                          "lower the domains' memory, or give the host more")
                return

    # -- static event channels

    def _evtchns(self, d, doms):
        owner = {x.node.path: x for x in doms}
        ports = {}
        for node in d.node.children:
            if not node.is_compatible(COMPAT_EVTCHN):
                continue
            ec = self._evtchn(d, node, owner)
            if ec is None:
                continue
            if ec.local_port in ports:
                self.fail(node, "xen,evtchn", "local port %d is also %s's"
                          % (ec.local_port, ports[ec.local_port]),
                          "give each static event channel of a domain its own port")
                continue
            ports[ec.local_port] = node.path
            d.evtchns.append(ec)

    def _evtchn_cells(self, node):
        cells = self.cells(node, "xen,evtchn", 2, "<local-port &peer-node>")
        if cells is None and (node.path, "xen,evtchn") not in self.bad:
            self.fail(node, "xen,evtchn", "missing", "add xen,evtchn = <PORT &peer>;")
        return cells

    def _evtchn(self, d, node, owner):
        cells = self._evtchn_cells(node)
        if cells is None:
            return None
        port, peer_phandle = cells
        peer = self.phandles.get(peer_phandle)
        if peer is None:
            return self.fail(node, "xen,evtchn", "phandle %#x names no node" % peer_phandle,
                             "point it at the other end with &label")
        remote = owner.get(peer.parent.path) if peer.parent else None
        if not peer.is_compatible(COMPAT_EVTCHN) or remote is None:
            return self.fail(node, "xen,evtchn", "its peer %s is not a %r node of a domain"
                             % (peer.path, COMPAT_EVTCHN),
                             "point it at the other domain's event channel node")
        back = self._evtchn_cells(peer)
        if back is None:
            return None
        if self.phandles.get(back[1]) is not node:
            return self.fail(node, "xen,evtchn", "its peer %s does not point back at it"
                             % peer.path, "each end's xen,evtchn names the other end")
        if not self._port_ok(d, node, port) or remote.domid is None:
            return None
        return StaticEvtchn(node.path, port, remote.domid, back[0], peer.path)

    def _port_ok(self, d, node, port):
        unlimited = unlimited_evtchns(d.caps)
        limit = EVTCHN_MAX_PORT if unlimited else DEFAULT_MAX_EVTCHN_PORT
        if not 1 <= port <= limit:
            self.fail(node, "xen,evtchn", "local port %d: must be 1..%d (port 0 is reserved%s)"
                      % (port, limit, "" if unlimited else "; dom0less domUs get %d ports"
                         % (DEFAULT_MAX_EVTCHN_PORT + 1)), "pick a port in that range")
            return False
        return True


def _join_cells(cells):
    value = 0
    for c in cells:
        value = (value << 32) | c
    return value


# ---------------------------------------------------------------------------
# detection and the entry points


def find_container(root, source):
    """(kind, container node) for a hyperlaunch or dom0less LCM, else (None, None)."""
    chosen = root.child("chosen")
    if chosen is None:
        return None, None
    hv = chosen.child("hypervisor")
    if hv is not None:
        if not hv.is_compatible(COMPAT_HYPERVISOR):
            found = hv.compatible or "missing"
            raise HostInputError(source, "/chosen/hypervisor: compatible", "%s does not "
                                 "include %r (Xen: -ENODATA)" % (found, COMPAT_HYPERVISOR),
                                 "write compatible = \"%s\";" % COMPAT_HYPERVISOR)
        return KIND_HYPERLAUNCH, hv
    if any(c.is_compatible(COMPAT_DOMAIN) for c in chosen.children):
        return KIND_DOM0LESS, chosen
    return None, None


def check_lcm(data, source, table=None, host_mem=None, hypervisor_cmdline=""):
    """Read an LCM and collect every problem.  Structure errors in the FDT
    itself, and a blob that is not an LCM at all, raise at once."""
    if not is_fdt(data):
        raise HostInputError(source, "FDT header", "not a device tree blob (no magic %#x)"
                             % FDT_MAGIC, "compile the LCM source with dtc -I dts -O dtb")
    result = _check_fdt(data, source, table or ModuleTable(), host_mem or DEFAULT_HOST_MEM,
                        hypervisor_cmdline)
    if result is None:
        raise HostInputError(source, "/chosen", "not an LCM: no /chosen/hypervisor "
                             "compatible %r and no /chosen child compatible %r"
                             % (COMPAT_HYPERVISOR, COMPAT_DOMAIN),
                             "see firmware/README.md for the layout")
    return result


def _check_fdt(data, source, table, host_mem, hypervisor_cmdline):
    """Read an FDT blob as an LCM: its LcmCheck, or None when it is a device
    tree but not an LCM.  A malformed blob raises."""
    root = read_fdt(data, source)
    kind, container = find_container(root, source)
    if kind is None:
        return None
    reader = _LcmReader(root, source, table, host_mem, hypervisor_cmdline)
    plan = reader.read(kind, container)
    return LcmCheck(plan, reader.errors, reader.warnings)


# -- the classic path


def _xen_size(text):
    """Xen's parse_size_and_unit(): a number with an optional B/K/M/G/T suffix,
    KiB when there is none."""
    shifts = {"B": 0, "K": 10, "M": 20, "G": 30, "T": 40}
    unit = text[-1:].upper()
    shift = shifts.get(unit, 10)
    number = text[:-1] if unit in shifts else text
    return int(number, 0) << shift


def _dom0_mem(value, host_mem):
    """dom0_mem=[min:<amt>,][max:<amt>,][<amt>]; a negative amount is host minus it."""
    mem = mem_min = mem_max = None
    for part in value.split(","):
        key, colon, amount = part.rpartition(":")
        size = _xen_size(amount.lstrip("-"))
        if amount.startswith("-"):
            size = host_mem - size
        if key == "min":
            mem_min = size
        elif key == "max":
            mem_max = size
        elif not colon:
            mem = size
        else:
            raise ValueError(key)
    return mem, mem_min, mem_max


def _dom0_options(cmdline, host_mem):
    """dom0_mem= and dom0_max_vcpus= from Xen's command line."""
    opts = dict(word.partition("=")[::2] for word in cmdline.split() if "=" in word)
    mem, mem_min, mem_max, vcpus = DEFAULT_DOMAIN_MEM, None, None, 1
    try:
        if "dom0_mem" in opts:
            m, mem_min, mem_max = _dom0_mem(opts["dom0_mem"], host_mem)
            mem = m if m is not None else min(DEFAULT_DOMAIN_MEM, mem_max or DEFAULT_DOMAIN_MEM)
            mem = max(mem, mem_min or 0)
    except (ValueError, IndexError):
        raise HostInputError("Xen command line", "dom0_mem", "%r is not [min:S,][max:S,][S]"
                             % opts["dom0_mem"], "use e.g. dom0_mem=512M") from None
    if "dom0_max_vcpus" in opts:
        text = opts["dom0_max_vcpus"].rpartition("-")[2]
        if not text.isdigit() or not 1 <= int(text) <= HVM_MAX_VCPUS:
            raise HostInputError("Xen command line", "dom0_max_vcpus", "%r is not 1..%d"
                                 % (opts["dom0_max_vcpus"], HVM_MAX_VCPUS),
                                 "use e.g. dom0_max_vcpus=2")
        vcpus = int(text)
    mem = max(PAGE_SIZE, mem // PAGE_SIZE * PAGE_SIZE)
    if mem > host_mem:
        raise HostInputError("Xen command line", "dom0_mem", "%s is more than the host's %s"
                             % (fmt_size(mem), fmt_size(host_mem)), "lower dom0_mem")
    return mem, mem_min, mem_max, vcpus


def _classic_plan(info, table, host_mem, source, warnings):
    if not info.modules:
        raise HostInputError(source, "modules", "no MB2 modules: nothing to boot",
                             "add module2 lines: an LCM first, or the dom0 kernel first")
    cmdline = cmdline_cook(info.cmdline, info.loader_name)
    mem, mem_min, mem_max, vcpus = _dom0_options(cmdline, host_mem)
    kernel = table.ref(0)
    ramdisk = table.ref(1) if len(info.modules) > 1 else None
    for m in info.modules[2:]:
        warnings.append("%s: %s: not used (the classic path boots module 0 as the kernel "
                        "and module 1 as its ramdisk)" % (source, table.label(m.index)))
    dom0 = DomainPlan(None, "dom0", 0, CLASSIC_DOM0_CAPS, 0, mem, mem_min, mem_max, vcpus,
                      kernel, cmdline_cook(kernel.string, info.loader_name), ramdisk)
    return BootPlan(KIND_CLASSIC, source, cmdline, [dom0], warnings)


def check_bootinfo(info, module_names=None, memory=None, host_mem=None, source="MBI"):
    """Decide how to boot from a parsed MBI (hvsim.boot.multiboot2.BootInfo)
    and collect every LCM problem (an LcmCheck).

    module_names: a name per module for messages (the firmware's file
    names); memory: the host memory image, for reg-located modules; host_mem:
    bytes of host RAM (default: what the MBI's memory map describes)."""
    table = ModuleTable(info.modules, module_names, memory=memory,
                        loader_name=info.loader_name)
    host_mem = host_mem or info.ram_bytes() or DEFAULT_HOST_MEM
    lcm = info.modules[0].data if info.modules else None
    warnings = []
    if is_fdt(lcm):
        lcm_source = module_names[0] if module_names else "LCM (MB2 module 0)"
        result = _check_fdt(lcm, lcm_source, table, host_mem,
                            cmdline_cook(info.cmdline, info.loader_name))
        if result is not None:
            return result
        warnings.append("%s: module 0 is a device tree but not an LCM (no /chosen/hypervisor, "
                        "no /chosen child compatible %r): booting it as a kernel"
                        % (lcm_source, COMPAT_DOMAIN))
    return LcmCheck(_classic_plan(info, table, host_mem, source, warnings), [], warnings)


def check_firmware(result, host_mem=None):
    """Parse the MBI a firmware stage wrote (hvsim.boot.firmware.FirmwareResult),
    as the hypervisor does after the jump, and check the boot (an LcmCheck)."""
    info = parse_mbi(result.mbi, memory=result.memory, address=result.mbi_addr)
    return check_bootinfo(info, result.module_names, result.memory, host_mem)


def plan_from_firmware(result, host_mem=None):
    """The boot plan for what a firmware stage loaded; raises the first error."""
    return check_firmware(result, host_mem).plan_or_raise()


def boot_plan(config_path, selector=None, host_mem=None):
    """Boot config -> firmware stage -> MBI -> boot plan, in one call.
    Returns (BootPlan, FirmwareResult)."""
    result = boot_config(config_path, selector, host_mem or DEFAULT_HOST_MEM)
    return plan_from_firmware(result, host_mem), result
