"""The xenstore tree libxl writes for a new domain, with libxl's permissions.

Mirrors tools/libs/light: libxl_create.c libxl__domain_make() (the domain's
directories and who may read or write them), libxl_dom.c libxl__build_post()
(memory, domid, store, cpu availability, /vm/<uuid>, then XS_INTRODUCE),
libxl_console.c libxl__device_console_add() + libxl_device.c
libxl__device_generic_add() (the PV console's frontend and backend), and
tools/helpers/xen-init-dom0.c for domain 0.  Every write goes through xenstored
as libxl's own privileged connection, inside transactions as libxl does."""

import uuid as _uuid

from ..abi import hvm as h
from ..abi import xs_wire as xs
from .xenstored import DomainInterface, DomainKick, XsError

XENCONSOLE_LIMIT = 1048576        # LIBXL_XENCONSOLE_LIMIT
XENCONSOLE_PROTOCOL = "vt100"     # LIBXL_XENCONSOLE_PROTOCOL
XenbusStateInitialising = 1


class DomainInfo:
    """What libxl knows of a domain when it writes its tree."""

    def __init__(self, domid, name, max_memkb, target_memkb, max_vcpus, store_port, store_gfn,
                 console_port=None, console_gfn=None, backend_domid=0, uuid=None):
        self.domid, self.name = domid, name
        self.max_memkb, self.target_memkb, self.max_vcpus = max_memkb, target_memkb, max_vcpus
        self.store_port, self.store_gfn = store_port, store_gfn
        self.console_port, self.console_gfn = console_port, console_gfn
        self.backend_domid = backend_domid
        # libxl makes a random one; hvsim's is derived from the domain so runs repeat exactly
        self.uuid = uuid or str(_uuid.uuid5(_uuid.NAMESPACE_OID, "hvsim/%d/%s" % (domid, name)))


class Libxl:
    """libxl's xenstore writes, through a local privileged xenstored connection."""

    def __init__(self, xsd):
        self.xsd = xsd
        self.conn = xsd.tool_connection()
        self.t = 0

    def _call(self, type_, *args, raw=None):
        payload = raw if raw is not None else b"".join(a.encode() + b"\0" for a in args)
        rtype, reply = self.xsd.request(self.conn, type_, payload, tx_id=self.t)
        if rtype == xs.XS_ERROR:
            raise XsError(reply.rstrip(b"\0").decode())
        return reply

    def write(self, path, value):
        self._call(xs.XS_WRITE, raw=path.encode() + b"\0" + value.encode())

    def rm(self, path):
        try:
            self._call(xs.XS_RM, path)
        except XsError as e:
            if e.name != "ENOENT":
                raise

    def set_perms(self, path, perms):
        self._call(xs.XS_SET_PERMS, path, *perms)

    def mknod(self, path, perms):
        """libxl__xs_mknod(): mkdir, then the permissions."""
        self._call(xs.XS_MKDIR, path)
        self.set_perms(path, perms)

    def writev(self, base, ents, perms=None):
        """libxl__xs_writev[_perms]()."""
        for key, value in ents:
            self.write(base + "/" + key, value)
            if perms:
                self.set_perms(base + "/" + key, perms)

    def transaction(self, body):
        """xs_transaction_start ... end, again on EAGAIN (the retry_transaction: label)."""
        while True:
            self.t = int(self._call(xs.XS_TRANSACTION_START, "").rstrip(b"\0"))
            try:
                body()
                self.t, t = 0, self.t
                self.xsd.request(self.conn, xs.XS_TRANSACTION_END, b"T\0", tx_id=t)
                return
            except XsError as e:
                self.t, t = 0, self.t
                if e.name != "EAGAIN":
                    self.xsd.request(self.conn, xs.XS_TRANSACTION_END, b"F\0", tx_id=t)
                    raise

    # -- libxl__domain_make() ---------------------------------------------------------------
    def domain_make(self, info):
        d = info.domid
        dom_path, vm_path, libxl_path = "/local/domain/%d" % d, "/vm/" + info.uuid, "/libxl/%d" % d
        noperm, roperm, rwperm = ["n0"], ["n0", "r%d" % d], ["n%d" % d]

        def body():
            for path, perms in ((dom_path, roperm), (vm_path, roperm), (libxl_path, noperm)):
                self.rm(path)
                self.mknod(path, perms)
            self.mknod(libxl_path + "/device", noperm)
            self.write(dom_path + "/vm", vm_path)
            self.write(dom_path + "/name", info.name)           # libxl__domain_rename()
            for sub in ("cpu", "memory", "device", "control"):
                self.mknod(dom_path + "/" + sub, roperm)
            for sub in ("control/shutdown", "control/feature-poweroff", "control/feature-reboot",
                        "control/feature-suspend", "control/sysrq",
                        "device/suspend/event-channel", "data", "drivers", "feature", "attr",
                        "error"):
                self.mknod(dom_path + "/" + sub, rwperm)
            self.write(vm_path + "/uuid", info.uuid)
            self.write(vm_path + "/name", info.name)
            self.write(dom_path + "/control/platform-feature-multiprocessor-suspend", "1")
            self.write(dom_path + "/control/platform-feature-xs_reset_watches", "1")
            self.write(libxl_path + "/type", "pvh")
        self.transaction(body)
        self.write(libxl_path + "/dm-version", "qemu_xen")      # store_libxl_entry()

    # -- libxl__build_post() ----------------------------------------------------------------
    def build_post(self, info):
        d = info.domid
        dom_path = "/local/domain/%d" % d
        ents = [("memory/static-max", str(info.max_memkb)),
                ("memory/target", str(info.target_memkb)),          # no video memory: no fudge
                ("memory/videoram", "0"),
                ("domid", str(d)),
                ("store/port", str(info.store_port)),
                ("store/ring-ref", str(info.store_gfn))]
        ents += [("cpu/%d/availability" % i, "online") for i in range(info.max_vcpus)]
        local_ents = [("platform/acpi", "0"),                     # hvsim builds no ACPI tables
                      ("platform/acpi_s3", "0"), ("platform/acpi_s4", "0"),
                      ("platform/acpi_laptop_slate", "0")]
        vms_ents = [("rtc/timeoffset", ""), ("image/ostype", "hvm"),
                    ("start_time", "0.00")]                       # virtual time: boot is 0

        def body():
            self.writev(dom_path, ents)
            self.writev(dom_path, local_ents)
            self.writev("/vm/" + info.uuid, vms_ents)
        self.transaction(body)

    # -- libxl__device_console_add() for console 0 -------------------------------------------
    def console_add(self, info):
        d, be = info.domid, info.backend_domid
        front = "/local/domain/%d/console" % d
        back = "/local/domain/%d/backend/console/%d/0" % (be, d)
        frontend_perms = ["n%d" % d, "r%d" % be]
        ro_perms = backend_perms = ["n%d" % be, "r%d" % d]
        bents = [("frontend-id", str(d)), ("online", "1"),
                 ("state", str(XenbusStateInitialising)), ("protocol", XENCONSOLE_PROTOCOL)]
        ro_fents = [("limit", str(XENCONSOLE_LIMIT)), ("type", "xenconsoled"),
                    ("output", "pty"), ("tty", ""),
                    ("port", str(info.console_port)), ("ring-ref", str(info.console_gfn))]

        def body():
            self.rm("/libxl/%d/device/console/0" % d)
            self.rm(front)
            self._call(xs.XS_MKDIR, front)
            self.set_perms(front, ro_perms)                       # console 0: read-only
            self.write(front + "/backend", back)
            self.writev(front, [("backend-id", str(be))], frontend_perms)
            self.writev(front, ro_fents, ro_perms)
            self.rm(back)
            self._call(xs.XS_MKDIR, back)
            self.set_perms(back, backend_perms)
            self.write(back + "/frontend", front)
            self.writev(back, bents)
            self.writev("/libxl/%d/device/console/0" % d, bents)
        self.transaction(body)

    # -- xen-init-dom0 ------------------------------------------------------------------------
    def init_dom0(self, info):
        self.write("/local/domain/0/domid", "0")
        self.write("/local/domain/0/name", info.name or "Domain-0")

    def create(self, info):
        """The tree of a new domain (before it is introduced to xenstored)."""
        if info.domid == 0:
            self.init_dom0(info)
        else:
            self.domain_make(info)
            self.build_post(info)
        if info.console_port is not None and info.domid != 0:   # dom0 has Xen's console
            self.console_add(info)


def introduce(toolstack, d):
    """What libxl and xenstored do for a new domain d: libxl writes its tree, then
    XS_INTRODUCE: xenstored binds the store channel (HVM_PARAM_STORE_EVTCHN, offered
    to the backend domain) and serves the ring at HVM_PARAM_STORE_PFN; watchers
    of @introduceDomain hear of it."""
    xsd = toolstack.xenstored
    gfn, port = d.hvm_params[h.HVM_PARAM_STORE_PFN], d.hvm_params[h.HVM_PARAM_STORE_EVTCHN]
    if not gfn or not port:
        return None
    chn = d.evtchn.channel(port)
    backend = chn.remote_domid if chn is not None else 0
    xsd.note_domain(d.domid)
    xsd.note_domain(backend)            # the built-in backends' domid exists for them
    memkb = d.tot_pages * 4
    info = DomainInfo(
        d.domid, d.name, max(d.max_pages * 4, memkb), memkb, max(d.max_vcpus, 1), port,
        gfn, console_port=d.hvm_params[h.HVM_PARAM_CONSOLE_EVTCHN] or None,
        console_gfn=d.hvm_params[h.HVM_PARAM_CONSOLE_PFN], backend_domid=backend,
        uuid=str(_uuid.UUID(bytes=d.handle)) if any(d.handle) else None)
    # the domain's handle is its /vm/<uuid>, as libxl creates it (and init-dom0less
    # sets it with xc_domain_sethandle): XENVER_guest_handle and getdomaininfo say so
    d.handle = _uuid.UUID(info.uuid).bytes
    try:
        Libxl(xsd).create(info)
    except XsError as e:                # libxl would fail the domain's creation
        xsd.log("xenstored: d%d: writing its tree failed: %s" % (d.domid, e.name))
    chan = toolstack.connect_backend(d, port, DomainKick(xsd, d.domid))
    conn = xsd.attach_ring(d.domid, DomainInterface(d, gfn), chan.notify,
                           privileged=d.is_privileged)
    conn.channel = chan
    return conn


def release(toolstack, d):
    """d is destroyed: xenstored lets go of its channel and connection and tells
    the watchers of @releaseDomain (domain_cleanup() on VIRQ_DOM_EXC).  Its nodes
    stay until the toolstack removes them (`--xenstore-dump` shows them)."""
    xsd = toolstack.xenstored
    conn = xsd.domains.get(d.domid)
    if conn is None:
        return
    channel = getattr(conn, "channel", None)
    if channel is not None:
        channel.close()
    xsd.release_domain(d.domid)
