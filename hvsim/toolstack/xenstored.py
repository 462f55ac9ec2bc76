"""xenstored: the xenstore daemon every domain talks to through its ring page.

Mirrors Xen's C xenstored (tools/xenstored/): core.c (the tree, READ, WRITE,
MKDIR, RM, DIRECTORY[_PART], GET/SET_PERMS, the message loop and the error
replies), watch.c (WATCH/UNWATCH, the initial fire, who is told of a change),
transaction.c (TRANSACTION_START/END, EAGAIN on conflict), domain.c
(GET_DOMAIN_PATH, INTRODUCE, RELEASE, RESET_WATCHES, the special watches
@introduceDomain and @releaseDomain, quotas, the ring protocol of
public/io/xs_wire.h) and control.c (CONTROL).  docs/misc/xenstore.txt is the
protocol's prose.

A `Connection` is one client: a domain's ring (`attach_ring`), or a local
privileged caller (the toolstack, `local_connection`) that talks through
`request()`.  Nothing here knows how hvsim runs guests: a ring is a writable
buffer holding a `xenstore_domain_interface` and a notify callable."""

import itertools

from ..abi import xs_wire as xs
from ..abi.cstruct import MASK32, X86_64
from ..hv.physmap import PAGE_SHIFT, PAGE_SIZE
from .ring import ring_read, ring_write

# xenstore_lib.h
XS_PERM_NONE = 0x00
XS_PERM_READ = 0x01
XS_PERM_WRITE = 0x02
XS_PERM_OWNER = 0x08
XS_PERM_IGNORE = 0x10
_PERM_CHARS = {"n": XS_PERM_NONE, "r": XS_PERM_READ, "w": XS_PERM_WRITE,
               "b": XS_PERM_READ | XS_PERM_WRITE}
_PERM_LETTER = {v: k for k, v in _PERM_CHARS.items()}
_ALL = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER

# domain.c hard_quotas[] defaults; they bind unprivileged domains only
QUOTAS = {
    "nodes": 1000,                 # ACC_NODES: nodes owned per domain
    "watches": 128,                # ACC_WATCH
    "transactions": 10,            # ACC_TRANS
    "transaction-nodes": 1024,     # ACC_TRANSNODES: nodes accessed per transaction
    "node-permissions": 5,         # ACC_NPERM
    "path-max": xs.XENSTORE_REL_PATH_MAX,   # ACC_PATHLEN, below /local/domain/N/
    "node-size": 2048,             # ACC_NODESZ: header + perms + data + children
}
_NODE_HDR = 16                     # struct node_hdr: generation, num_perms, datalen, childlen
_XS_PERMISSIONS = 8                # struct xs_permissions: id, perms
NO_GENERATION = -1
XENSTORE_FEATURES = xs.XENSTORE_SERVER_FEATURE_ERROR   # what C xenstored offers
_VALID = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-/_@")
_RING = xs.xenstore_domain_interface.layout(X86_64)     # one layout for every ABI
_HDR = xs.xsd_sockmsg.layout(X86_64)
SPECIAL_NODES = ("@introduceDomain", "@releaseDomain")


class XsError(Exception):
    """A request refused with one of xsd_errors[] (the reply is XS_ERROR "<name>")."""

    def __init__(self, name):
        assert name in xs.XSD_ERRORS, name
        super().__init__(name)
        self.name = name


class Node:
    __slots__ = ("data", "perms", "children", "generation")

    def __init__(self, data=b"", perms=((XS_PERM_NONE, 0),), children=(), generation=0):
        self.data = bytes(data)
        self.perms = tuple(perms)          # ((bits, domid), ...): [0] is owner + others
        self.children = list(children)     # names, in creation order
        self.generation = generation

    def copy(self):
        return Node(self.data, self.perms, self.children, self.generation)

    @property
    def owner(self):
        return self.perms[0][1]

    def size(self):
        """What ACC_NODESZ measures (calc_node_acc_size())."""
        return (_NODE_HDR + _XS_PERMISSIONS * len(self.perms) + len(self.data)
                + sum(len(c) + 1 for c in self.children))


def perms_to_strings(perms):
    return [_PERM_LETTER[bits & ~XS_PERM_IGNORE] + str(domid) for bits, domid in perms]


def strings_to_perms(strings):
    """xenstore_strings_to_perms(): 'n', 'r', 'w' or 'b' then a domid."""
    out = []
    for s in strings:
        if not s or s[0] not in _PERM_CHARS or not s[1:].isdigit():
            raise XsError("EINVAL")
        out.append((_PERM_CHARS[s[0]], int(s[1:])))
    return out


def parent_of(name):
    """get_parent(): '/a/b' -> '/a', '/a' -> '/', '@x' -> '/'."""
    slash = name.rfind("/", 1)
    return name[:slash] if slash > 0 else "/"


def is_child(child, parent):
    """watch.c is_child(): child is parent or below it ('/' is above all)."""
    if parent == "/":
        return True
    return child == parent or child.startswith(parent + "/")


def _strings(payload):
    """get_strings(): the nul-terminated strings of a payload (a tail without nul is dropped)."""
    parts = payload.split(b"\0")
    return [p.decode("latin-1") for p in parts[:-1]]


def _onearg(payload):
    """onearg(): exactly one string, its nul the payload's last byte."""
    if not payload or payload.find(b"\0") != len(payload) - 1:
        return None
    return payload[:-1].decode("latin-1")


class BufferRing:
    """A ring page that is a plain buffer (tests; a page xenstored owns)."""

    def __init__(self, buf):
        self.buf = buf

    def view(self):
        return memoryview(self.buf).cast("B")


class Watch:
    __slots__ = ("node", "token", "prefix_len")

    def __init__(self, node, token, prefix_len):
        self.node, self.token, self.prefix_len = node, token, prefix_len


class Transaction:
    """One open transaction: its own view of the nodes it touched."""

    def __init__(self, tx_id):
        self.id = tx_id
        self.nodes = {}          # name -> Node, or None for deleted
        self.accessed = {}       # name -> generation seen first, when first access was a read
        self.touched = set()     # every name accessed (quota transaction-nodes)
        self.modified = set()    # names written or deleted: what a commit stores
        self.nbentry = {}        # domid -> change in owned nodes
        self.node_created = False
        self.watches = []        # (name, exact, perms) fired on commit


class Connection:
    """One client of xenstored: a domain's ring or a local privileged caller."""

    def __init__(self, xsd, domid, privileged):
        self.xsd = xsd
        self.domid = domid
        self.privileged = privileged
        self.target = None                   # XS_SET_TARGET: acts for this domid too
        self.watches = []
        self.transactions = {}
        self.next_tx_id = 1
        self.transaction = None              # the one of the request in hand
        self.out = []                        # queued replies and events (bytes)
        self.out_used = 0                    # bytes of out[0] already in the ring
        self.inbuf = bytearray()
        self.ring = None
        self.notify = None
        self.ignored = False
        self.replies = []                    # local connections: replies kept here

    @property
    def implicit_path(self):
        return "/local/domain/%d" % self.domid

    def queue(self, type_, req_id, tx_id, payload, watch_event=False):
        msg = bytearray(_HDR.size) + payload
        _HDR.put(msg, type=type_, req_id=req_id, tx_id=tx_id, len=len(payload))
        if watch_event and payload[:1] != b"@" and bytes(msg) in self.out:
            return                           # send_event(): an identical event is pending
        self.out.append(bytes(msg))


# ---------------------------------------------------------------------------------------------

class Xenstored:
    """The store, its clients, and the message handlers (wire_funcs[] of core.c)."""

    def __init__(self, quotas=None, log=None):
        self.quotas = dict(QUOTAS, **(quotas or {}))
        self.log_sink = log                  # callable(line) for xenstored's log, or None
        self.generation = 0
        self.nodes = {}
        self.nbentry = {}                    # domid -> nodes it owns
        self.connections = []
        self.domains = {}                    # domid -> Connection of an introduced domain
        self.known_domids = {0}              # domains that exist; perms naming others are ignored
        self.introduce_hook = None           # XS_INTRODUCE: (domid, gfn, port) -> (ring, notify)
        self._setup_structure()

    # -- the tree ---------------------------------------------------------------------------
    def _setup_structure(self):
        """setup_structure(): /, /tool, /tool/xenstored and the two special nodes, owned by dom0."""
        for name, children in (("/", ["tool"]), ("/tool", ["xenstored"]), ("/tool/xenstored", []),
                               ("@releaseDomain", []), ("@introduceDomain", [])):
            self._store(name, Node(children=children))
            self.nbentry[0] = self.nbentry.get(0, 0) + 1

    def _store(self, name, node):
        node.generation = self.generation
        self.generation += 1
        self.nodes[name] = node

    def _read(self, conn, name):
        """read_node(): through the transaction of the request, recording the access."""
        t = conn.transaction if conn else None
        if t is None:
            return self.nodes.get(name)
        if name in t.nodes:
            return t.nodes[name]
        node = self.nodes.get(name)
        self._touch(conn, t, name)
        t.accessed.setdefault(name, node.generation if node else NO_GENERATION)
        t.nodes[name] = node.copy() if node else None
        return t.nodes[name]

    def _touch(self, conn, t, name):
        if name not in t.touched:
            if not conn.privileged and len(t.touched) >= self.quotas["transaction-nodes"]:
                raise XsError("ENOSPC")
            t.touched.add(name)

    def _write(self, conn, name, node):
        """write_node(): size quota, then the main tree or the transaction's view."""
        if not conn.privileged and node.size() > self.quotas["node-size"]:
            raise XsError("ENOSPC")
        t = conn.transaction
        if t is None:
            self._store(name, node)
        else:
            self._touch(conn, t, name)
            t.nodes[name] = node
            t.modified.add(name)

    def _delete(self, conn, name):
        t = conn.transaction
        if t is None:
            self.nodes.pop(name, None)
        else:
            self._touch(conn, t, name)
            t.nodes[name] = None
            t.modified.add(name)

    def _nbentry_add(self, conn, domid, n):
        t = conn.transaction
        table = t.nbentry if t else self.nbentry
        table[domid] = table.get(domid, 0) + n

    def _nbentry_of(self, conn):
        t = conn.transaction
        return self.nbentry.get(conn.domid, 0) + (t.nbentry.get(conn.domid, 0) if t else 0)

    # -- permissions ------------------------------------------------------------------------
    def perm_for(self, conn, perms):
        """perm_for_conn(): tools and owners get all; else the first entry naming the
        caller (or its target); else perms[0], what everybody else gets."""
        if conn.privileged or perms[0][1] in (conn.domid, conn.target):
            return _ALL
        for bits, domid in perms[1:]:
            if not bits & XS_PERM_IGNORE and domid in (conn.domid, conn.target):
                return bits & _ALL
        return perms[0][0] & _ALL

    def _mark_ignored(self, perms):
        """domain_alloc_permrefs(): entries for domains that do not exist are ignored."""
        return [(bits | (0 if domid in self.known_domids else XS_PERM_IGNORE), domid)
                for bits, domid in perms]

    def canonicalize(self, conn, path, allow_special):
        if path is None or not path or not set(path) <= _VALID or \
                (path[0] == "@" and not allow_special):
            raise XsError("EINVAL")
        name = path if path[0] in "/@" else conn.implicit_path + "/" + path
        local_off = 0
        parts = name.split("/")
        if name.startswith("/local/domain/") and len(parts) > 4 and parts[3].isdigit() \
                and len(parts[3]) <= 5:
            local_off = len("/".join(parts[:4])) + 1
        if (name.endswith("/") and name != "/") or "//" in name or \
                (not conn.privileged and len(name) - local_off > self.quotas["path-max"]):
            raise XsError("EINVAL")
        return name

    def _get_node(self, conn, name, perm):
        """get_node() after canonicalize(): the node if the caller has `perm` on it,
        else EACCES or ENOENT as errno_from_parents() lets the caller know."""
        node = self._read(conn, name)
        if node is not None and (self.perm_for(conn, node.perms) & perm) == perm:
            return node
        err = "EACCES" if node is not None else "ENOENT"
        parent = name
        while True:                              # ask_parents()
            parent = parent_of(parent)
            pnode = self._read(conn, parent)
            if pnode is not None or parent == "/":
                break
        if pnode is None or not self.perm_for(conn, pnode.perms) & perm:
            err = "EACCES"
        raise XsError(err)

    def log(self, line):
        if self.log_sink is not None:
            self.log_sink(line)

    def note_domain(self, domid):
        """The hypervisor created `domid`: permission entries naming it now count."""
        self.known_domids.add(domid)

    # -- connections -------------------------------------------------------------------------
    def local_connection(self, domid=0):
        """A privileged client living beside xenstored (libxl's socket connection)."""
        conn = Connection(self, domid, privileged=True)
        self.connections.append(conn)
        return conn

    def tool_connection(self):
        """The one local connection of the built-in toolstack (libxl)."""
        if getattr(self, "_tool", None) is None:
            self._tool = self.local_connection(0)
        return self._tool

    def attach_ring(self, domid, ring, notify, privileged=False):
        """introduce_domain(): serve `domid` through the xenstore_domain_interface in
        `ring` (a writable buffer of a page, or an object whose view() maps it, None
        when it cannot), `notify()` kicking the domain's channel."""
        old = self.domains.get(domid)
        if old is not None:
            self._drop(old)
        conn = Connection(self, domid, privileged)
        conn.ring = ring if hasattr(ring, "view") else BufferRing(ring)
        conn.notify = notify
        buf = conn.ring.view()
        if buf is not None:
            _RING.put(buf, server_features=XENSTORE_FEATURES)
        self.connections.append(conn)
        self.domains[domid] = conn
        self.known_domids.add(domid)
        self.fire_special("@introduceDomain")
        return conn

    def release_domain(self, domid):
        """The domain is gone (domain_cleanup()): drop its connection, tell @releaseDomain."""
        conn = self.domains.pop(domid, None)
        if conn is not None:
            self._drop(conn)
        self.known_domids.discard(domid)
        self.fire_special("@releaseDomain")

    def _drop(self, conn):
        conn.watches.clear()
        conn.transactions.clear()
        conn.out.clear()
        if conn in self.connections:
            self.connections.remove(conn)

    def request(self, conn, type_, payload, tx_id=0, req_id=0):
        """A local connection's request, answered at once: (type, payload)."""
        self.process(conn, type_, req_id, tx_id, bytes(payload))
        msgs, conn.out = conn.out, []
        reply = None
        for msg in msgs:
            hdr = _HDR.get(msg, "type", "req_id", "tx_id", "len")
            if hdr[0] == xs.XS_WATCH_EVENT:
                conn.replies.append(msg)         # events stay for the caller to read
            else:
                reply = (hdr[0], msg[_HDR.size:])
        return reply

    # -- the ring (domain.c readchn/writechn, core.c handle_input/handle_output) ----------------
    def kick(self, domid):
        """The domain notified its xenstore channel: consume requests, write replies."""
        conn = self.domains.get(domid)
        if conn is None or conn.ring is None or conn.ignored:
            return
        buf = conn.ring.view()
        if buf is not None and self._handle_input(conn, buf):
            self._handle_output(conn, buf)

    def _handle_input(self, conn, buf):
        size = xs.XENSTORE_RING_SIZE
        cons, prod = _RING.get(buf, "req_cons"), _RING.get(buf, "req_prod")
        avail = xs.xenstore_idx(prod - cons)
        if avail > size:                          # check_indexes()
            return self._ignore(conn, xs.XENSTORE_ERROR_RINGIDX, buf)
        conn.inbuf += ring_read(buf, _RING.fields["req"].offset, size, cons, avail)
        cons = xs.xenstore_idx(cons + avail)
        if xs.xenstore_idx(prod - _RING.get(buf, "req_cons")):
            _RING.put(buf, req_cons=cons)
            conn.notify()
        while len(conn.inbuf) >= _HDR.size:
            type_, req_id, tx_id, length = _HDR.get(conn.inbuf, "type", "req_id", "tx_id", "len")
            if length > xs.XENSTORE_PAYLOAD_MAX:
                return self._ignore(conn, xs.XENSTORE_ERROR_PROTO, buf)
            if len(conn.inbuf) < _HDR.size + length:
                break                             # the rest comes with a later notification
            payload = bytes(conn.inbuf[_HDR.size:_HDR.size + length])
            del conn.inbuf[:_HDR.size + length]
            self.process(conn, type_, req_id, tx_id, payload)
        return True

    def _handle_output(self, conn, buf):
        size = xs.XENSTORE_RING_SIZE
        base = _RING.fields["rsp"].offset
        wrote = False
        while conn.out:
            cons, prod = _RING.get(buf, "rsp_cons"), _RING.get(buf, "rsp_prod")
            used = xs.xenstore_idx(prod - cons)
            if used > size:
                return self._ignore(conn, xs.XENSTORE_ERROR_RINGIDX, buf)
            msg = conn.out[0]
            n = min(size - used, len(msg) - conn.out_used)
            if n == 0:
                break                              # the guest frees space and notifies again
            ring_write(buf, base, size, prod, msg[conn.out_used:conn.out_used + n])
            _RING.put(buf, rsp_prod=xs.xenstore_idx(prod + n))
            wrote = True
            conn.out_used += n
            if conn.out_used == len(msg):
                conn.out.pop(0)
                conn.out_used = 0
        if wrote:
            conn.notify()
        return True

    def flush_events(self):
        """Write what changes queued for other domains (watch events) into their rings."""
        for conn in list(self.domains.values()):
            buf = conn.ring.view() if conn.out and not conn.ignored else None
            if buf is not None:
                self._handle_output(conn, buf)

    def _ignore(self, conn, err, buf):
        """ignore_connection(): a protocol violation; the domain is not served any more."""
        self.log("xenstored: d%d ignored (error %d)" % (conn.domid, err))
        conn.ignored = True
        conn.watches.clear()
        conn.transactions.clear()
        conn.out.clear()
        if XENSTORE_FEATURES & xs.XENSTORE_SERVER_FEATURE_ERROR:
            _RING.put(buf, error=err)
        conn.notify()
        return False

    # -- message dispatch (process_message()) --------------------------------------------------
    def process(self, conn, type_, req_id, tx_id, payload):
        entry = WIRE_FUNCS.get(type_)
        try:
            if entry is None:
                raise XsError("ENOSYS")
            func, flags = entry
            if flags & _PRIV and not conn.privileged:
                raise XsError("EACCES")
            conn.transaction = None
            if not flags & _NOTID and tx_id:
                conn.transaction = conn.transactions.get(tx_id)
                if conn.transaction is None:
                    raise XsError("ENOENT")
            reply = func(self, conn, payload)
        except XsError as e:
            conn.transaction = None
            conn.queue(xs.XS_ERROR, req_id, tx_id, e.name.encode() + b"\0")
            return
        conn.transaction = None
        after = None
        if isinstance(reply, tuple):
            reply, after = reply
        if len(reply) > xs.XENSTORE_PAYLOAD_MAX:
            conn.queue(xs.XS_ERROR, req_id, tx_id, b"E2BIG\0")
            return
        conn.queue(type_, req_id, tx_id, reply)
        if after is not None:
            after()
        self.flush_events()

    # -- watches (watch.c) ------------------------------------------------------------------
    def _send_event(self, conn, path, token):
        payload = path.encode("latin-1") + b"\0" + token.encode("latin-1") + b"\0"
        if len(payload) > xs.XENSTORE_PAYLOAD_MAX:
            return
        conn.queue(xs.XS_WATCH_EVENT, 0, 0, payload, watch_event=True)

    def _watch_permitted(self, conn, name, node, old_perms):
        if old_perms is not None and self.perm_for(conn, old_perms) & XS_PERM_READ:
            return True
        if node is None:
            node = self.nodes.get(name)
            if node is None:
                return False
        if self.perm_for(conn, node.perms) & XS_PERM_READ:
            return True
        parent = self.nodes.get(parent_of(name))
        return parent is not None and bool(self.perm_for(conn, parent.perms) & XS_PERM_READ)

    def fire_watches(self, conn, name, node, exact, old_perms=None):
        """Tell every watcher of `name` (or of a parent, unless exact) who may read it."""
        if conn is not None and conn.transaction is not None:
            perms = node.perms if node is not None else old_perms
            conn.transaction.watches.append((name, exact, perms))
            return
        for other in list(self.connections):
            if other.ignored or not self._watch_permitted(other, name, node, old_perms):
                continue
            for w in other.watches:
                if (name == w.node) if exact else is_child(name, w.node):
                    self._send_event(other, name[w.prefix_len:], w.token)

    def fire_special(self, name):
        """fire_special_watches(): @introduceDomain / @releaseDomain."""
        self.fire_watches(None, name, self.nodes[name], True)
        self.flush_events()

    # -- node creation and removal (core.c) --------------------------------------------------
    def _create_node(self, conn, name, data):
        """construct_node() + create_node(): missing parents too, inheriting the parent's
        perms; an unprivileged domain owns what it creates."""
        names = [name]
        parent = self._read(conn, parent_of(name))
        while parent is None:
            if names[-1] == "/":
                raise XsError("ENOENT")
            names.append(parent_of(names[-1]))
            parent = self._read(conn, parent_of(names[-1]))
        parent = parent.copy()
        pname = parent_of(names[-1])
        if not conn.privileged:                    # all or nothing, as create_node()'s undo
            if self._nbentry_of(conn) + len(names) - 1 >= self.quotas["nodes"]:
                raise XsError("ENOSPC")
            grown = parent.size() + len(names[-1]) - len(pname.rstrip("/"))
            if grown > self.quotas["node-size"] or \
                    _NODE_HDR + _XS_PERMISSIONS * len(parent.perms) + len(data) > \
                    self.quotas["node-size"]:
                raise XsError("ENOSPC")
        if conn.transaction is not None:
            conn.transaction.node_created = True
        for new in reversed(names):
            parent.children.append(new[new.rfind("/") + 1:])
            self._write(conn, pname, parent)
            perms = list(parent.perms)
            if not conn.privileged:
                perms[0] = (perms[0][0], conn.domid)
            node = Node(data if new == name else b"", perms)
            self._write(conn, new, node)
            self._nbentry_add(conn, node.owner, 1)
            parent, pname = node.copy(), new
        return node

    def _rm_node(self, conn, name):
        """rm_node(): the subtree bottom-up, each node's watchers told (exact below the root)."""
        parent = self._read(conn, parent_of(name))
        if parent is None:
            raise XsError("EINVAL")

        def walk(n):
            node = self._read(conn, n)
            if node is None:
                return
            for child in list(node.children):
                walk(n.rstrip("/") + "/" + child)
            self._delete(conn, n)
            self._nbentry_add(conn, node.owner, -1)
            self.fire_watches(conn, n, node, n != name)
        walk(name)
        parent = parent.copy()
        base = name[name.rfind("/") + 1:]
        if base in parent.children:
            parent.children.remove(base)
        self._write(conn, parent_of(name), parent)

    def dump(self, with_perms=True):
        """The tree as `xenstore-ls -f -p` prints it."""
        lines = []

        def walk(name):
            node = self.nodes[name]
            if name != "/":
                line = "%s = \"%s\"" % (name, _escape(node.data))
                if with_perms:
                    line += "  (%s)" % ",".join(perms_to_strings(node.perms))
                lines.append(line)
            for child in node.children:
                walk(("" if name == "/" else name) + "/" + child)
        walk("/")
        return "\n".join(lines) + "\n"


def _escape(data):
    """sanitise_value() of xenstore-ls: backslash escapes for what is not printable."""
    out = []
    for b in data:
        c = chr(b)
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# The handlers.  Each takes (xsd, conn, payload) and returns the reply payload or raises XsError.

def do_read(x, conn, payload):
    name = x.canonicalize(conn, _onearg(payload), False)
    return x._get_node(conn, name, XS_PERM_READ).data


def send_directory(x, conn, payload):
    name = x.canonicalize(conn, _onearg(payload), False)
    node = x._get_node(conn, name, XS_PERM_READ)
    return b"".join(c.encode("latin-1") + b"\0" for c in node.children)


def send_directory_part(x, conn, payload):
    args = _strings(payload)
    if len(args) != 2 or len(payload) != sum(len(a) + 1 for a in args):
        raise XsError("EINVAL")
    name = x.canonicalize(conn, args[0], False)
    node = x._get_node(conn, name, XS_PERM_READ)
    children = b"".join(c.encode("latin-1") + b"\0" for c in node.children)
    off = _atoi(args[1])
    gen = str(node.generation).encode() + b"\0"
    if off >= len(children):
        return gen + b"\0"
    maxlen = xs.XENSTORE_PAYLOAD_MAX - len(gen) - 1
    length = 0
    while True:
        child = children[off + length:children.index(b"\0", off + length)]
        if length + len(child) >= maxlen:
            break
        length += len(child) + 1
        if off + length == len(children):
            break
    data = gen + children[off:off + length]
    return data + b"\0" if off + length == len(children) else data


def _writable_or_missing(x, conn, name):
    """get_node(XS_PERM_WRITE): the node, None when it does not exist (and the
    caller may know that), XsError for anything else."""
    try:
        return x._get_node(conn, name, XS_PERM_WRITE)
    except XsError as e:
        if e.name != "ENOENT":
            raise
        return None


def do_write(x, conn, payload):
    args = _strings(payload)
    if not args:
        raise XsError("EINVAL")
    data = payload[len(args[0].encode("latin-1")) + 1:]
    name = x.canonicalize(conn, args[0], False)
    node = _writable_or_missing(x, conn, name)
    if node is None:
        node = x._create_node(conn, name, data)
    else:
        node = node.copy()
        node.data = data
        x._write(conn, name, node)
    x.fire_watches(conn, name, node, False)
    return b"OK\0"


def do_mkdir(x, conn, payload):
    name = x.canonicalize(conn, _onearg(payload), False)
    if _writable_or_missing(x, conn, name) is None:     # if it exists, fine
        node = x._create_node(conn, name, b"")
        x.fire_watches(conn, name, node, False)
    return b"OK\0"


def do_rm(x, conn, payload):
    name = x.canonicalize(conn, _onearg(payload), False)
    try:
        x._get_node(conn, name, XS_PERM_WRITE)
    except XsError as e:
        if e.name == "ENOENT" and x._read(conn, parent_of(name)) is not None:
            return b"OK\0"                   # gone already, and its parent exists
        raise
    if name == "/":
        raise XsError("EINVAL")
    x._rm_node(conn, name)
    return b"OK\0"


def do_get_perms(x, conn, payload):
    name = x.canonicalize(conn, _onearg(payload), True)
    node = x._get_node(conn, name, XS_PERM_READ)
    return b"".join(s.encode() + b"\0" for s in perms_to_strings(node.perms))


def do_set_perms(x, conn, payload):
    args = _strings(payload)
    if len(args) < 2:
        raise XsError("EINVAL")
    if not conn.privileged and len(args) - 1 > x.quotas["node-permissions"]:
        raise XsError("ENOSPC")
    perms = x._mark_ignored(strings_to_perms(args[1:]))
    if perms[0][0] & XS_PERM_IGNORE:
        raise XsError("ENOENT")
    name = x.canonicalize(conn, args[0], True)
    node = x._get_node(conn, name, XS_PERM_WRITE | XS_PERM_OWNER).copy()
    if not conn.privileged and perms[0][1] != node.owner:
        raise XsError("EPERM")               # unprivileged domains may not give nodes away
    old = node.perms
    x._nbentry_add(conn, node.owner, -1)
    node.perms = tuple(perms)
    x._nbentry_add(conn, node.owner, 1)
    x._write(conn, name, node)
    x.fire_watches(conn, name, node, False, old)
    return b"OK\0"


def do_watch(x, conn, payload):
    args = _strings(payload)
    if len(args) != 2:
        raise XsError("EINVAL")
    path, token = args
    relative = not path.startswith("/") and not path.startswith("@")
    name = x.canonicalize(conn, path, True)
    if any(w.node == name and w.token == token for w in conn.watches):
        raise XsError("EEXIST")
    if not conn.privileged and len(conn.watches) > x.quotas["watches"]:
        raise XsError("E2BIG")
    w = Watch(name, token, len(conn.implicit_path) + 1 if relative else 0)
    conn.watches.append(w)
    # fired once up front, after the reply: "simplifies clients and restart"
    return b"OK\0", lambda: x._send_event(conn, name[w.prefix_len:], token)


def do_unwatch(x, conn, payload):
    args = _strings(payload)
    if len(args) != 2:
        raise XsError("EINVAL")
    name = x.canonicalize(conn, args[0], True)
    for w in conn.watches:
        if w.node == name and w.token == args[1]:
            conn.watches.remove(w)
            return b"OK\0"
    raise XsError("ENOENT")


def do_transaction_start(x, conn, payload):
    if conn.transaction is not None:
        raise XsError("EBUSY")
    if not conn.privileged and len(conn.transactions) > x.quotas["transactions"]:
        raise XsError("ENOSPC")
    while conn.next_tx_id in conn.transactions or conn.next_tx_id == 0:
        conn.next_tx_id = (conn.next_tx_id + 1) & MASK32
    t = Transaction(conn.next_tx_id)
    conn.next_tx_id = (conn.next_tx_id + 1) & MASK32
    conn.transactions[t.id] = t
    return str(t.id).encode() + b"\0"


def do_transaction_end(x, conn, payload):
    arg = _onearg(payload)
    if arg not in ("T", "F"):
        raise XsError("EINVAL")
    t = conn.transaction
    if t is None:
        raise XsError("ENOENT")
    del conn.transactions[t.id]
    conn.transaction = None
    if arg == "F":
        return b"OK\0"
    for name, gen in t.accessed.items():          # finalize_transaction(): conflicts?
        node = x.nodes.get(name)
        if (node.generation if node else NO_GENERATION) != gen:
            raise XsError("EAGAIN")
    if t.node_created and not conn.privileged and \
            x.nbentry.get(conn.domid, 0) + t.nbentry.get(conn.domid, 0) > x.quotas["nodes"]:
        raise XsError("ENOSPC")
    for name in sorted(t.modified):
        node = t.nodes[name]
        if node is None:
            x.nodes.pop(name, None)
        else:
            x._store(name, node.copy())
    for domid, n in t.nbentry.items():
        x.nbentry[domid] = x.nbentry.get(domid, 0) + n
    for name, exact, perms in t.watches:
        x.fire_watches(None, name, x.nodes.get(name), exact, perms)
    return b"OK\0"


def do_get_domain_path(x, conn, payload):
    arg = _onearg(payload)
    if arg is None:
        raise XsError("EINVAL")
    return ("/local/domain/%d" % (_atoi(arg) & MASK32)).encode() + b"\0"


def do_reset_watches(x, conn, payload):
    conn.watches.clear()
    conn.transactions.clear()
    return b"OK\0"


def do_introduce(x, conn, payload):
    args = _strings(payload)
    if len(args) < 3:
        raise XsError("EINVAL")
    domid, gfn, port = _atoi(args[0]), _atoi(args[1]), _atoi(args[2])
    if port <= 0 or domid < 0 or domid >= 0x7FF0:
        raise XsError("EINVAL")
    if domid in x.domains:
        return b"OK\0"                           # re-introduction: the channel is the same
    if x.introduce_hook is None:
        raise XsError("EINVAL")
    ring, notify = x.introduce_hook(domid, gfn, port)   # raises XsError when it cannot map
    x.attach_ring(domid, ring, notify)
    return b"OK\0"


def do_release(x, conn, payload):
    arg = _onearg(payload)
    if arg is None:
        raise XsError("EINVAL")
    domid = _atoi(arg)
    if domid not in x.domains:
        raise XsError("ENOENT")
    x._drop(x.domains.pop(domid))
    return b"OK\0"


def do_is_domain_introduced(x, conn, payload):
    arg = _onearg(payload)
    if arg is None:
        raise XsError("EINVAL")
    return b"T\0" if _atoi(arg) in x.domains else b"F\0"


def do_resume(x, conn, payload):
    arg = _onearg(payload)
    if arg is None:
        raise XsError("EINVAL")
    if _atoi(arg) not in x.domains:
        raise XsError("ENOENT")
    return b"OK\0"


def do_set_target(x, conn, payload):
    args = _strings(payload)
    if len(args) < 2:
        raise XsError("EINVAL")
    domid, target = _atoi(args[0]), _atoi(args[1])
    if domid not in x.domains or target not in x.known_domids:
        raise XsError("ENOENT")
    x.domains[domid].target = target
    return b"OK\0"


def do_control(x, conn, payload):
    """control.c: the commands that make sense without a host filesystem."""
    args = _strings(payload)
    if not args:
        raise XsError("EINVAL")
    cmd = args[0]
    if cmd == "check":
        return b"OK\0"
    if cmd == "print":
        if len(args) != 2:
            raise XsError("EINVAL")
        x.log("xenstored: " + args[1])
        return b"OK\0"
    if cmd == "quota":
        lines = "".join("%-17s %d\n" % kv for kv in x.quotas.items())
        return lines.encode() + b"\0"
    if cmd == "help":
        return b"check\nhelp\nprint <string>\nquota\n\0"
    raise XsError("EINVAL")


def _atoi(s):
    """atoi(): leading digits with an optional sign, 0 when there are none."""
    s = s.strip()
    sign = -1 if s[:1] == "-" else 1
    s = s[1:] if s[:1] in "+-" else s
    digits = "".join(itertools.takewhile(str.isdigit, s))
    return sign * int(digits) if digits else 0


_NOTID, _PRIV = 1, 2
WIRE_FUNCS = {
    xs.XS_CONTROL: (do_control, _PRIV),
    xs.XS_DIRECTORY: (send_directory, 0),
    xs.XS_READ: (do_read, 0),
    xs.XS_GET_PERMS: (do_get_perms, 0),
    xs.XS_WATCH: (do_watch, _NOTID),
    xs.XS_UNWATCH: (do_unwatch, _NOTID),
    xs.XS_TRANSACTION_START: (do_transaction_start, 0),
    xs.XS_TRANSACTION_END: (do_transaction_end, 0),
    xs.XS_INTRODUCE: (do_introduce, _PRIV),
    xs.XS_RELEASE: (do_release, _PRIV),
    xs.XS_GET_DOMAIN_PATH: (do_get_domain_path, 0),
    xs.XS_WRITE: (do_write, 0),
    xs.XS_MKDIR: (do_mkdir, 0),
    xs.XS_RM: (do_rm, 0),
    xs.XS_SET_PERMS: (do_set_perms, 0),
    xs.XS_IS_DOMAIN_INTRODUCED: (do_is_domain_introduced, _PRIV),
    xs.XS_RESUME: (do_resume, _PRIV),
    xs.XS_SET_TARGET: (do_set_target, _PRIV),
    xs.XS_RESET_WATCHES: (do_reset_watches, 0),
    xs.XS_DIRECTORY_PART: (send_directory_part, 0),
}


# ---------------------------------------------------------------------------------------------
# The built-in xenstored's end of each hvsim domain (domain.c: struct domain, new_domain()).

class DomainInterface:
    """A domain's store page (HVM_PARAM_STORE_PFN), mapped at each kick as
    xenstored keeps it mapped: None when nothing hvsim can map is there."""

    def __init__(self, domain, gfn):
        self.domain = domain
        self.gpa = gfn << PAGE_SHIFT

    def view(self):
        return self.domain.physmap.view(self.gpa, PAGE_SIZE)


class DomainKick:
    """The callback of a domain's store channel: its notifications kick xenstored."""

    def __init__(self, xsd, domid):
        self.xsd, self.domid = xsd, domid

    def __call__(self):
        self.xsd.kick(self.domid)
