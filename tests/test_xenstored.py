"""hvsim's xenstored driven as a guest drives it: protocol bytes (xsd_sockmsg + payload)
written into the req ring of a xenstore_domain_interface page, replies read back
from the rsp ring, free-running indices and all (public/io/xs_wire.h)."""

import struct

import pytest

from hvsim.abi import xs_wire as xs
from hvsim.abi.cstruct import X86_64
from hvsim.toolstack.xenstored import Xenstored
from test_toolstack import Built, needs_guests

RING = xs.xenstore_domain_interface.layout(X86_64)
SIZE = xs.XENSTORE_RING_SIZE


class GuestRing:
    """The guest side of one domain's xenstore page (what Linux's xenbus_comms.c does)."""

    def __init__(self, xsd, domid, privileged=False, start_index=0):
        self.xsd, self.domid = xsd, domid
        self.page = bytearray(4096)
        for f in ("req_cons", "req_prod", "rsp_cons", "rsp_prod"):
            RING.put(self.page, **{f: start_index})
        self.notified = 0
        self.conn = xsd.attach_ring(domid, self.page, self._notify, privileged)
        self.req_id = 0
        self.pending = bytearray()

    def _notify(self):
        self.notified += 1

    def get(self, f):
        return RING.get(self.page, f)

    def put_bytes(self, data, kick=True):
        """Copy into the req ring (as much as fits), advance req_prod, notify."""
        cons, prod = self.get("req_cons"), self.get("req_prod")
        room = SIZE - ((prod - cons) & 0xFFFFFFFF)
        data = data[:room]
        base = RING.fields["req"].offset
        for i, b in enumerate(data):
            self.page[base + (prod + i) % SIZE] = b
        RING.put(self.page, req_prod=(prod + len(data)) & 0xFFFFFFFF)
        if kick:
            self.xsd.kick(self.domid)
        return len(data)

    def take_bytes(self, limit=None):
        """Consume what the rsp ring holds, advance rsp_cons, notify."""
        cons, prod = self.get("rsp_cons"), self.get("rsp_prod")
        n = (prod - cons) & 0xFFFFFFFF
        if limit is not None:
            n = min(n, limit)
        base = RING.fields["rsp"].offset
        out = bytes(self.page[base + (cons + i) % SIZE] for i in range(n))
        RING.put(self.page, rsp_cons=(cons + n) & 0xFFFFFFFF)
        self.xsd.kick(self.domid)
        self.pending += out
        return out

    def messages(self):
        """Every whole message received so far: [(type, req_id, tx_id, payload)]."""
        self.take_bytes()
        out = []
        while len(self.pending) >= 16:
            t, r, tx, n = struct.unpack_from("<IIII", self.pending)
            if len(self.pending) < 16 + n:
                break
            out.append((t, r, tx, bytes(self.pending[16:16 + n])))
            del self.pending[:16 + n]
        return out

    @staticmethod
    def encode(type_, payload, req_id=0, tx_id=0):
        return struct.pack("<IIII", type_, req_id, tx_id, len(payload)) + payload

    def call(self, type_, *args, tx=0, raw=None):
        """One request; returns (reply type, payload); watch events are kept in self.events."""
        self.req_id += 1
        payload = raw if raw is not None else b"".join(a.encode() + b"\0" for a in args)
        msg, sent = self.encode(type_, payload, self.req_id, tx), 0
        while sent < len(msg):                     # a long request goes a ring at a time
            sent += self.put_bytes(msg[sent:])
        reply = None
        self.events = getattr(self, "events", [])
        for _ in range(16):                        # a long reply comes a ring at a time
            for t, r, txid, p in self.messages():
                if t == xs.XS_WATCH_EVENT:
                    self.events.append(tuple(p.split(b"\0")[:2]))
                else:
                    assert r == self.req_id and txid == tx
                    reply = (t, p)
            if reply:
                return reply
        raise AssertionError("no reply")

    def ok(self, type_, *args, **kw):
        t, p = self.call(type_, *args, **kw)
        assert t == type_, p
        return p

    def err(self, type_, *args, **kw):
        t, p = self.call(type_, *args, **kw)
        assert t == xs.XS_ERROR, (t, p)
        return p.rstrip(b"\0").decode()

    def write(self, path, value, tx=0):
        return self.call(xs.XS_WRITE, raw=path.encode() + b"\0" + value.encode(), tx=tx)


@pytest.fixture
def xsd():
    return Xenstored()


@pytest.fixture
def dom0(xsd):
    return GuestRing(xsd, 0, privileged=True)


@pytest.fixture
def dom1(xsd, dom0):
    d = GuestRing(xsd, 1)
    dom0.ok(xs.XS_MKDIR, "/local/domain/1")
    dom0.ok(xs.XS_SET_PERMS, "/local/domain/1", "n0", "r1")
    dom0.ok(xs.XS_MKDIR, "/local/domain/1/data")
    dom0.ok(xs.XS_SET_PERMS, "/local/domain/1/data", "n1")
    return d


@pytest.fixture
def dom2(xsd, dom0):
    d = GuestRing(xsd, 2)
    dom0.ok(xs.XS_MKDIR, "/local/domain/2/data")
    dom0.ok(xs.XS_SET_PERMS, "/local/domain/2/data", "n2")
    return d


# -- basic operations ------------------------------------------------------------------------

def test_read_write_directory_rm(dom0):
    assert dom0.ok(xs.XS_WRITE, raw=b"/a/b/c\0hello") == b"OK\0"
    assert dom0.ok(xs.XS_READ, "/a/b/c") == b"hello"
    assert dom0.ok(xs.XS_READ, "/a/b") == b""               # parents made on the way
    assert dom0.ok(xs.XS_DIRECTORY, "/a") == b"b\0"
    dom0.ok(xs.XS_MKDIR, "/a/d")
    assert dom0.ok(xs.XS_DIRECTORY, "/a") == b"b\0d\0"
    assert dom0.ok(xs.XS_DIRECTORY, "/a/d") == b""
    assert dom0.ok(xs.XS_RM, "/a/b") == b"OK\0"
    assert dom0.err(xs.XS_READ, "/a/b/c") == "ENOENT"
    assert dom0.ok(xs.XS_RM, "/a/b") == b"OK\0"             # gone, parent there: fine
    assert dom0.err(xs.XS_RM, "/x/y") == "ENOENT"           # parent missing
    assert dom0.err(xs.XS_RM, "/") == "EINVAL"
    assert dom0.ok(xs.XS_DIRECTORY, "/") == b"tool\0a\0"


def test_binary_data_and_empty_write(dom0):
    dom0.ok(xs.XS_WRITE, raw=b"/bin\0a\0b\xff")
    assert dom0.ok(xs.XS_READ, "/bin") == b"a\0b\xff"
    dom0.ok(xs.XS_WRITE, raw=b"/bin\0")
    assert dom0.ok(xs.XS_READ, "/bin") == b""


@pytest.mark.parametrize("path", ["", "/a//b", "/a/", "/a b", "@foo", "/a\xe9"])
def test_bad_paths_are_einval(dom0, path):
    assert dom0.err(xs.XS_READ, raw=path.encode("latin-1") + b"\0") == "EINVAL"


def test_malformed_payloads(dom0):
    assert dom0.err(xs.XS_READ, raw=b"/a") == "EINVAL"              # no nul
    assert dom0.err(xs.XS_READ, raw=b"/a\0/b\0") == "EINVAL"        # two strings
    assert dom0.err(xs.XS_WATCH, raw=b"/a\0") == "EINVAL"
    assert dom0.err(xs.XS_WRITE, raw=b"") == "EINVAL"
    assert dom0.err(xs.XS_TRANSACTION_END, "X") == "EINVAL"


def test_unknown_and_unimplemented_types_are_enosys(dom0, dom1):
    for t in (xs.XS_WATCH_EVENT, xs.XS_ERROR, 20, xs.XS_GET_FEATURE, xs.XS_SET_QUOTA,
              xs.XS_TYPE_COUNT, 0x1234):
        assert dom0.err(t, raw=b"") == "ENOSYS"
        assert dom1.err(t, raw=b"") == "ENOSYS"


def test_relative_paths_and_domain_path(dom1):
    assert dom1.ok(xs.XS_GET_DOMAIN_PATH, "1") == b"/local/domain/1\0"
    assert dom1.ok(xs.XS_GET_DOMAIN_PATH, "7") == b"/local/domain/7\0"
    dom1.ok(xs.XS_WRITE, raw=b"data/x\0v")
    assert dom1.ok(xs.XS_READ, "/local/domain/1/data/x") == b"v"


def test_directory_part(dom0):
    for i in range(3):
        dom0.ok(xs.XS_MKDIR, "/dp/child%d" % i)
    gen, _, rest = dom0.ok(xs.XS_DIRECTORY_PART, "/dp", "0").partition(b"\0")
    assert gen.isdigit() and rest == b"child0\0child1\0child2\0\0"
    gen2, _, rest = dom0.ok(xs.XS_DIRECTORY_PART, "/dp", "7").partition(b"\0")
    assert gen2 == gen and rest == b"child1\0child2\0\0"
    assert dom0.ok(xs.XS_DIRECTORY_PART, "/dp", "99") == gen + b"\0\0"
    dom0.ok(xs.XS_MKDIR, "/dp/child3")                      # the generation tells of change
    assert dom0.ok(xs.XS_DIRECTORY_PART, "/dp", "0").partition(b"\0")[0] != gen


def test_directory_part_splits_a_long_list(dom0):
    names = ["n%04d-%s" % (i, "x" * 40) for i in range(150)]
    for n in names:
        dom0.ok(xs.XS_MKDIR, "/big/" + n)
    assert dom0.err(xs.XS_DIRECTORY, "/big") == "E2BIG"     # > XENSTORE_PAYLOAD_MAX
    got, off = [], 0
    while True:
        part = dom0.ok(xs.XS_DIRECTORY_PART, "/big", str(off))
        assert len(part) <= xs.XENSTORE_PAYLOAD_MAX
        body = part.split(b"\0", 1)[1]
        if body.endswith(b"\0\0") or body == b"\0":
            got += [c.decode() for c in body[:-2].split(b"\0") if c] if body != b"\0" else []
            break
        chunk = [c.decode() for c in body[:-1].split(b"\0")]
        got += chunk
        off += sum(len(c) + 1 for c in chunk)
    assert got == names


# -- permissions --------------------------------------------------------------------------------

def test_guest_reads_its_tree_but_not_others(dom0, dom1, dom2):
    dom0.ok(xs.XS_WRITE, raw=b"/local/domain/1/name\0guest1")
    assert dom1.ok(xs.XS_READ, "/local/domain/1/name") == b"guest1"
    assert dom1.ok(xs.XS_READ, "name") == b"guest1"
    assert dom2.err(xs.XS_READ, "/local/domain/1/name") == "EACCES"
    assert dom1.err(xs.XS_WRITE, raw=b"name\0evil") == "EACCES"          # r1, not w
    assert dom1.err(xs.XS_READ, "/local/domain/1/nothere") == "ENOENT"   # readable parent
    assert dom2.err(xs.XS_READ, "/local/domain/1/nothere") == "EACCES"   # hides existence
    assert dom1.err(xs.XS_READ, "/tool/xenstored") == "EACCES"
    assert dom1.err(xs.XS_WRITE, raw=b"/newtop\0x") == "EACCES"


def test_owner_and_other_semantics(dom0, dom1, dom2):
    dom1.ok(xs.XS_WRITE, raw=b"data/mine\0v")
    assert dom1.ok(xs.XS_GET_PERMS, "data/mine") == b"n1\0"              # owns what it makes
    assert dom0.ok(xs.XS_GET_PERMS, "/local/domain/1") == b"n0\0r1\0"
    assert dom2.err(xs.XS_READ, "/local/domain/1/data/mine") == "EACCES"
    dom1.ok(xs.XS_SET_PERMS, "data/mine", "r1", "b2")                     # others r, d2 rw
    assert dom2.ok(xs.XS_READ, "/local/domain/1/data/mine") == b"v"
    assert dom2.ok(xs.XS_WRITE, raw=b"/local/domain/1/data/mine\0w2") == b"OK\0"
    assert dom1.ok(xs.XS_READ, "data/mine") == b"w2"                      # owner has all
    dom1.ok(xs.XS_SET_PERMS, "data/mine", "w1", "n2")                     # d2 named: n wins
    assert dom2.err(xs.XS_READ, "/local/domain/1/data/mine") == "EACCES"
    assert dom2.err(xs.XS_SET_PERMS, "/local/domain/1/data/mine", "b2") == "EACCES"
    assert dom1.err(xs.XS_SET_PERMS, "data/mine", "n2") == "EPERM"       # may not give away
    assert dom0.ok(xs.XS_SET_PERMS, "/local/domain/1/data/mine", "n2") == b"OK\0"
    assert dom1.err(xs.XS_READ, "data/mine") == "EACCES"


def test_set_perms_parsing(dom0, dom1):
    dom0.ok(xs.XS_MKDIR, "/p")
    assert dom0.err(xs.XS_SET_PERMS, "/p") == "EINVAL"                   # no perms
    assert dom0.err(xs.XS_SET_PERMS, "/p", "x1") == "EINVAL"
    assert dom0.err(xs.XS_SET_PERMS, "/p", "r") == "EINVAL"
    assert dom0.err(xs.XS_SET_PERMS, "/p", "n77") == "ENOENT"            # owner not a domain
    dom0.ok(xs.XS_SET_PERMS, "/p", "n0", "r77", "r1")                    # unknown: ignored
    assert dom1.ok(xs.XS_READ, "/p") == b""
    assert dom0.ok(xs.XS_GET_PERMS, "@introduceDomain") == b"n0\0"


def test_new_nodes_inherit_parent_perms(dom0, dom1):
    dom0.ok(xs.XS_WRITE, raw=b"/local/domain/1/device/vif/0/state\x001")
    assert dom0.ok(xs.XS_GET_PERMS, "/local/domain/1/device/vif/0") == b"n0\0r1\0"
    dom1.ok(xs.XS_WRITE, raw=b"data/a/b\0x")
    assert dom0.ok(xs.XS_GET_PERMS, "/local/domain/1/data/a") == b"n1\0"


def test_privileged_only_operations(dom0, dom1):
    for t, args in ((xs.XS_INTRODUCE, ("5", "1", "3")), (xs.XS_RELEASE, ("1",)),
                    (xs.XS_IS_DOMAIN_INTRODUCED, ("1",)), (xs.XS_SET_TARGET, ("1", "2")),
                    (xs.XS_RESUME, ("1",)), (xs.XS_CONTROL, ("check",))):
        assert dom1.err(t, *args) == "EACCES"
    assert dom0.ok(xs.XS_IS_DOMAIN_INTRODUCED, "1") == b"T\0"
    assert dom0.ok(xs.XS_IS_DOMAIN_INTRODUCED, "9") == b"F\0"
    assert dom0.ok(xs.XS_CONTROL, "check") == b"OK\0"
    assert b"nodes" in dom0.ok(xs.XS_CONTROL, "quota")
    assert dom0.err(xs.XS_CONTROL, "no-such-command") == "EINVAL"
    assert dom0.err(xs.XS_RELEASE, "9") == "ENOENT"


def test_set_target_lets_a_domain_act_for_another(xsd, dom0, dom1, dom2):
    dom0.ok(xs.XS_WRITE, raw=b"/local/domain/2/data/x\0y")
    assert dom1.err(xs.XS_READ, "/local/domain/2/data/x") == "EACCES"
    dom0.ok(xs.XS_SET_TARGET, "1", "2")
    assert dom1.ok(xs.XS_READ, "/local/domain/2/data/x") == b"y"


# -- watches ------------------------------------------------------------------------------------

def test_watch_initial_fire_and_child_changes(dom0, dom1):
    dom1.events = []
    assert dom1.ok(xs.XS_WATCH, "data", "tok") == b"OK\0"
    assert dom1.events == [(b"data", b"tok")]                           # relative, as given
    dom1.events = []
    dom0.ok(xs.XS_WRITE, raw=b"/local/domain/1/data/k\0v")
    dom1.call(xs.XS_READ, "data/k")                                     # collects events
    assert (b"data/k", b"tok") in dom1.events
    assert dom1.err(xs.XS_WATCH, "data", "tok") == "EEXIST"
    dom1.ok(xs.XS_UNWATCH, "data", "tok")
    dom1.events = []
    dom0.ok(xs.XS_WRITE, raw=b"/local/domain/1/data/k\0w")
    dom1.call(xs.XS_READ, "data/k")
    assert dom1.events == []
    assert dom1.err(xs.XS_UNWATCH, "data", "tok") == "ENOENT"


def test_watch_fires_for_the_writer_before_its_ack(dom0):
    dom0.ok(xs.XS_WATCH, "/w", "t")
    dom0.req_id += 1
    dom0.put_bytes(dom0.encode(xs.XS_WRITE, b"/w/x\0v", dom0.req_id))
    msgs = dom0.messages()
    assert [m[0] for m in msgs] == [xs.XS_WATCH_EVENT, xs.XS_WRITE]    # send_event, send_ack
    assert msgs[0][3] == b"/w/x\0t\0"


def test_watch_needs_read_permission_and_rm_fires_below(dom0, dom1, dom2):
    dom0.ok(xs.XS_MKDIR, "/local/domain/1/data/sub/leaf")
    dom0.ok(xs.XS_WATCH, "/local/domain/1/data/sub/leaf", "exact")
    dom2.events = []
    dom2.ok(xs.XS_WATCH, "/local/domain/1/data", "spy")                  # allowed, initial fire
    assert dom2.events == [(b"/local/domain/1/data", b"spy")]
    dom2.events, dom0.events = [], []
    dom0.ok(xs.XS_RM, "/local/domain/1/data/sub")
    dom2.call(xs.XS_GET_DOMAIN_PATH, "2")
    assert dom2.events == []                                            # cannot read: not told
    assert (b"/local/domain/1/data/sub/leaf", b"exact") in dom0.events  # exact watch below
    dom0.ok(xs.XS_SET_PERMS, "/local/domain/1/data", "n1", "r2")
    dom2.call(xs.XS_GET_DOMAIN_PATH, "2")
    assert (b"/local/domain/1/data", b"spy") in dom2.events


def test_set_perms_tells_a_watcher_losing_access(dom0, dom1, dom2):
    dom0.ok(xs.XS_WRITE, raw=b"/local/domain/1/data/shared\0s")
    dom0.ok(xs.XS_SET_PERMS, "/local/domain/1/data/shared", "n1", "r2")
    dom2.ok(xs.XS_WATCH, "/local/domain/1/data/shared", "t")
    dom2.events = []
    dom0.ok(xs.XS_SET_PERMS, "/local/domain/1/data/shared", "n1")
    dom2.call(xs.XS_GET_DOMAIN_PATH, "2")
    assert dom2.events == [(b"/local/domain/1/data/shared", b"t")]


def test_special_watches(xsd, dom0, dom1):
    dom0.ok(xs.XS_WATCH, "@introduceDomain", "i")
    dom0.ok(xs.XS_WATCH, "@releaseDomain", "r")
    dom1.events = []
    dom1.ok(xs.XS_WATCH, "@releaseDomain", "r1")                        # initial fire only
    dom0.events = []
    GuestRing(xsd, 3)
    xsd.release_domain(3)
    dom0.call(xs.XS_GET_DOMAIN_PATH, "0")
    assert (b"@introduceDomain", b"i") in dom0.events
    assert (b"@releaseDomain", b"r") in dom0.events
    dom1.call(xs.XS_GET_DOMAIN_PATH, "1")
    assert dom1.events == [(b"@releaseDomain", b"r1")]                  # n0: not readable


def test_reset_watches(dom0, dom1):
    dom1.ok(xs.XS_WATCH, "data", "t")
    tx = int(dom1.ok(xs.XS_TRANSACTION_START, "").rstrip(b"\0"))
    dom1.ok(xs.XS_RESET_WATCHES, "")
    assert dom1.err(xs.XS_UNWATCH, "data", "t") == "ENOENT"
    assert dom1.err(xs.XS_READ, "data", tx=tx) == "ENOENT"              # transaction gone


# -- transactions -------------------------------------------------------------------------------

def test_transaction_commit_and_isolation(dom0, dom1):
    tx = int(dom1.ok(xs.XS_TRANSACTION_START, "").rstrip(b"\0"))
    assert tx == 1
    dom1.write("data/t", "in-tx", tx=tx)
    assert dom1.ok(xs.XS_READ, "data/t", tx=tx) == b"in-tx"
    assert dom1.err(xs.XS_READ, "data/t") == "ENOENT"                   # not yet visible
    dom0.ok(xs.XS_WATCH, "/local/domain/1/data", "w")
    dom0.events = []
    assert dom1.ok(xs.XS_TRANSACTION_END, "T", tx=tx) == b"OK\0"
    assert dom1.ok(xs.XS_READ, "data/t") == b"in-tx"
    dom0.call(xs.XS_GET_DOMAIN_PATH, "0")
    assert (b"/local/domain/1/data/t", b"w") in dom0.events            # queued, fired on commit
    assert dom1.err(xs.XS_READ, "data/t", tx=tx) == "ENOENT"            # tx id gone


def test_transaction_conflict_is_eagain(dom0, dom1):
    dom1.write("data/c", "0")
    tx = int(dom1.ok(xs.XS_TRANSACTION_START, "").rstrip(b"\0"))
    assert dom1.ok(xs.XS_READ, "data/c", tx=tx) == b"0"
    dom1.write("data/c", "1", tx=tx)
    dom0.ok(xs.XS_WRITE, raw=b"/local/domain/1/data/c\0other")         # someone else writes
    assert dom1.err(xs.XS_TRANSACTION_END, "T", tx=tx) == "EAGAIN"
    assert dom1.ok(xs.XS_READ, "data/c") == b"other"
    tx = int(dom1.ok(xs.XS_TRANSACTION_START, "").rstrip(b"\0"))        # retry wins
    dom1.ok(xs.XS_READ, "data/c", tx=tx)
    dom1.write("data/c", "2", tx=tx)
    assert dom1.ok(xs.XS_TRANSACTION_END, "T", tx=tx) == b"OK\0"
    assert dom1.ok(xs.XS_READ, "data/c") == b"2"


def test_transaction_conflict_on_a_node_read_as_missing(dom0, dom1):
    tx = int(dom1.ok(xs.XS_TRANSACTION_START, "").rstrip(b"\0"))
    assert dom1.err(xs.XS_READ, "data/new", tx=tx) == "ENOENT"
    dom0.ok(xs.XS_WRITE, raw=b"/local/domain/1/data/new\0x")
    dom1.write("data/other", "y", tx=tx)
    assert dom1.err(xs.XS_TRANSACTION_END, "T", tx=tx) == "EAGAIN"
    assert dom1.err(xs.XS_READ, "data/other") == "ENOENT"


def test_transaction_abort_and_errors(dom0, dom1):
    tx = int(dom1.ok(xs.XS_TRANSACTION_START, "").rstrip(b"\0"))
    dom1.write("data/gone", "x", tx=tx)
    assert dom1.err(xs.XS_TRANSACTION_START, "", tx=tx) == "EBUSY"
    assert dom1.ok(xs.XS_TRANSACTION_END, "F", tx=tx) == b"OK\0"
    assert dom1.err(xs.XS_READ, "data/gone") == "ENOENT"
    assert dom1.err(xs.XS_READ, "data", tx=99) == "ENOENT"
    assert dom1.err(xs.XS_TRANSACTION_END, "T") == "ENOENT"


def test_transaction_rm_and_watch_in_tx(dom0, dom1):
    dom1.write("data/r/x", "1")
    tx = int(dom1.ok(xs.XS_TRANSACTION_START, "").rstrip(b"\0"))
    dom1.ok(xs.XS_RM, "data/r", tx=tx)
    assert dom1.ok(xs.XS_READ, "data/r/x") == b"1"
    assert dom1.ok(xs.XS_WATCH, "data/r", "t", tx=tx) == b"OK\0"        # WATCH ignores tx_id
    dom1.ok(xs.XS_TRANSACTION_END, "T", tx=tx)
    assert dom1.err(xs.XS_READ, "data/r/x") == "ENOENT"
    assert dom1.ok(xs.XS_DIRECTORY, "data") == b""


# -- quotas --------------------------------------------------------------------------------------

def test_quota_nodes(xsd, dom0, dom1):
    xsd.quotas["nodes"] = 5
    for i in range(5):
        dom1.write("data/n%d" % i, "x")
    assert dom1.err(xs.XS_WRITE, raw=b"data/n5\0x") == "ENOSPC"
    assert dom1.err(xs.XS_WRITE, raw=b"data/a/b\0x") == "ENOSPC"        # all or nothing
    assert dom1.err(xs.XS_READ, "data/a") == "ENOENT"
    dom1.ok(xs.XS_RM, "data/n0")
    dom1.write("data/n5", "x")
    for i in range(10):
        dom0.ok(xs.XS_MKDIR, "/tool/many/%d" % i)                     # privileged: no quota


def test_quota_node_size(dom1):
    assert dom1.ok(xs.XS_WRITE, raw=b"data/big\0" + b"x" * 2000) == b"OK\0"
    assert dom1.err(xs.XS_WRITE, raw=b"data/big\0" + b"x" * 2030) == "ENOSPC"


def test_quota_watches_and_transactions(xsd, dom1):
    for i in range(129):
        dom1.ok(xs.XS_WATCH, "data", "t%d" % i)                       # count > 128 refuses
    assert dom1.err(xs.XS_WATCH, "data", "t-last") == "E2BIG"
    for i in range(11):
        dom1.ok(xs.XS_TRANSACTION_START, "")
    assert dom1.err(xs.XS_TRANSACTION_START, "") == "ENOSPC"


def test_quota_perms_and_path_length(dom1):
    dom1.write("data/p", "x")
    assert dom1.err(xs.XS_SET_PERMS, "data/p", "n1", "r0", "r0", "r0", "r0", "r0") == "ENOSPC"
    assert dom1.ok(xs.XS_SET_PERMS, "data/p", "n1", "r0", "r0", "r0", "r0") == b"OK\0"
    long = "data/" + "/".join(["abcdefghijklmnopqrstuvwxyz01234"] * 64)
    assert len(long) > xs.XENSTORE_REL_PATH_MAX
    assert dom1.err(xs.XS_WRITE, raw=long.encode() + b"\0x") == "EINVAL"


# -- the ring -----------------------------------------------------------------------------------

def test_server_features_advertised(dom1):
    assert dom1.get("server_features") == xs.XENSTORE_SERVER_FEATURE_ERROR


def test_split_request_across_notifications(dom0):
    msg = dom0.encode(xs.XS_WRITE, b"/split\0value", req_id=77)
    for i in range(0, len(msg), 5):                # 5 bytes per notification
        dom0.put_bytes(msg[i:i + 5])
        if i + 5 < len(msg):
            assert dom0.messages() == []
    assert dom0.messages() == [(xs.XS_WRITE, 77, 0, b"OK\0")]
    assert dom0.get("req_cons") == dom0.get("req_prod")


def test_several_requests_in_one_notification(dom0):
    batch = b"".join(dom0.encode(xs.XS_GET_DOMAIN_PATH, b"%d\0" % i, req_id=i) for i in range(5))
    dom0.put_bytes(batch)
    assert [(r, p) for _, r, _, p in dom0.messages()] == \
        [(i, b"/local/domain/%d\0" % i) for i in range(5)]


@pytest.mark.parametrize("start", [1000, 0xFFFFFFF0])
def test_ring_wrap_and_index_wrap(xsd, start):
    d = GuestRing(xsd, 0, privileged=True, start_index=start)
    for i in range(40):                            # many times around the 1 KiB rings
        d.ok(xs.XS_WRITE, raw=b"/wrap/k\0" + (b"%03d" % i) * 30)
        assert d.ok(xs.XS_READ, "/wrap/k") == (b"%03d" % i) * 30
    assert d.get("req_prod") == d.get("req_cons")
    assert d.get("rsp_prod") == d.get("rsp_cons")


def test_big_reply_written_in_pieces_as_the_guest_consumes(dom0):
    value = bytes(range(256)) * 12                 # 3072 bytes: three rings' worth
    dom0.ok(xs.XS_WRITE, raw=b"/big\0" + value)
    dom0.req_id += 1
    dom0.put_bytes(dom0.encode(xs.XS_READ, b"/big\0", dom0.req_id))
    assert (dom0.get("rsp_prod") - dom0.get("rsp_cons")) == SIZE      # ring full
    got = b""
    while len(got) < 16 + len(value):
        chunk = dom0.take_bytes(limit=300)         # the guest frees 300 bytes at a time
        assert chunk
        got += chunk
    assert got[16:] == value and struct.unpack_from("<IIII", got)[3] == len(value)


def test_request_larger_than_ring_arrives_in_pieces(dom0):
    value = b"v" * 3000
    msg = dom0.encode(xs.XS_WRITE, b"/large\0" + value, req_id=5)
    sent = 0
    while sent < len(msg):
        sent += dom0.put_bytes(msg[sent:])         # xenstored frees the ring each time
    assert dom0.messages() == [(xs.XS_WRITE, 5, 0, b"OK\0")]
    assert dom0.ok(xs.XS_READ, "/large") == value


def test_oversized_payload_ignores_the_connection(xsd, dom1):
    dom1.put_bytes(struct.pack("<IIII", xs.XS_READ, 1, 0, xs.XENSTORE_PAYLOAD_MAX + 1))
    assert dom1.get("error") == xs.XENSTORE_ERROR_PROTO
    dom1.put_bytes(dom1.encode(xs.XS_READ, b"data\0", 2))
    assert dom1.messages() == []                  # no longer served


def test_bad_ring_indexes_ignore_the_connection(dom1):
    RING.put(dom1.page, req_prod=dom1.get("req_cons") + SIZE + 1)
    dom1.xsd.kick(1)
    assert dom1.get("error") == xs.XENSTORE_ERROR_RINGIDX


def test_notifications(dom0):
    before = dom0.notified
    dom0.ok(xs.XS_READ, "/tool")
    assert dom0.notified > before                 # consumed requests, wrote a reply


def test_introduce_through_a_hook(xsd, dom0):
    pages = {}

    def hook(domid, gfn, port):
        pages[domid] = bytearray(4096)
        return pages[domid], lambda: None
    xsd.introduce_hook = hook
    dom0.ok(xs.XS_WATCH, "@introduceDomain", "i")
    dom0.events = []
    assert dom0.err(xs.XS_INTRODUCE, "5", "100", "0") == "EINVAL"
    assert dom0.ok(xs.XS_INTRODUCE, "5", "100", "3") == b"OK\0"
    assert 5 in xsd.domains and dom0.events[-1] == (b"@introduceDomain", b"i")
    assert dom0.ok(xs.XS_IS_DOMAIN_INTRODUCED, "5") == b"T\0"
    assert dom0.ok(xs.XS_RELEASE, "5") == b"OK\0"
    assert dom0.ok(xs.XS_IS_DOMAIN_INTRODUCED, "5") == b"F\0"


def test_local_connection_and_dump(xsd):
    tool = xsd.local_connection()
    assert xsd.request(tool, xs.XS_WRITE, b"/local/domain/1/name\0d1") == (xs.XS_WRITE, b"OK\0")
    assert xsd.request(tool, xs.XS_READ, b"/local/domain/1/name\0") == (xs.XS_READ, b"d1")
    text = xsd.dump()
    assert '/local/domain/1/name = "d1"  (n0)' in text
    assert text.splitlines()[0] == '/tool = ""  (n0)'


# -- the tree libxl writes -----------------------------------------------------------------------

def test_libxl_tree_and_its_permissions(xsd):
    from hvsim.toolstack.xenstore_tree import DomainInfo, Libxl
    info = DomainInfo(3, "guest3", 65536, 65536, 2, store_port=1, store_gfn=0xFEFFC,
                      console_port=2, console_gfn=0xFEFFD)
    xsd.note_domain(3)                               # xc_domain_create() came first
    Libxl(xsd).create(info)
    d3 = GuestRing(xsd, 3)
    assert d3.ok(xs.XS_READ, "name") == b"guest3"
    assert d3.ok(xs.XS_READ, "domid") == b"3"
    assert d3.ok(xs.XS_READ, "memory/target") == b"65536"
    assert d3.ok(xs.XS_READ, "memory/static-max") == b"65536"
    assert d3.ok(xs.XS_READ, "cpu/1/availability") == b"online"
    assert d3.ok(xs.XS_READ, "store/ring-ref") == str(0xFEFFC).encode()
    assert d3.ok(xs.XS_READ, "console/port") == b"2"
    assert d3.ok(xs.XS_READ, "console/type") == b"xenconsoled"
    assert d3.ok(xs.XS_READ, "console/limit") == b"1048576"
    assert d3.ok(xs.XS_READ, "control/platform-feature-xs_reset_watches") == b"1"
    vm = d3.ok(xs.XS_READ, "vm").decode()
    assert d3.ok(xs.XS_READ, vm + "/name") == b"guest3"
    assert d3.ok(xs.XS_GET_PERMS, "/local/domain/3") == b"n0\0r3\0"  # roperm
    assert d3.ok(xs.XS_GET_PERMS, "control/shutdown") == b"n3\0"      # rwperm: the guest's
    assert d3.ok(xs.XS_GET_PERMS, "console") == b"n0\0r3\0"
    assert d3.ok(xs.XS_GET_PERMS, "console/backend-id") == b"n3\0r0\0"
    assert d3.err(xs.XS_WRITE, raw=b"name\0evil") == "EACCES"
    assert d3.err(xs.XS_WRITE, raw=b"console/port\0" + b"9") == "EACCES"
    assert d3.ok(xs.XS_WRITE, raw=b"control/shutdown\0poweroff") == b"OK\0"
    assert d3.ok(xs.XS_WRITE, raw=b"data/x\0y") == b"OK\0"
    assert d3.err(xs.XS_READ, "/libxl/3/type") == "EACCES"
    assert d3.ok(xs.XS_READ, "/local/domain/0/backend/console/3/0/frontend") == \
        b"/local/domain/3/console"
    other = GuestRing(xsd, 4)
    assert other.err(xs.XS_READ, "/local/domain/3/name") == "EACCES"
    text = xsd.dump()
    assert '/local/domain/3/name = "guest3"  (n0,r3)' in text
    assert '/local/domain/3/control/shutdown = "poweroff"  (n3)' in text


@needs_guests
def test_hvsim_domains_are_served_and_released():
    """Two domains built by hvsim's builder: each one's store channel is bound by
    xenstored and its tree written; destroying one tells @releaseDomain."""
    from hvsim.abi import hvm as h
    from hvsim.hv import evtchn
    from hvsim.toolstack import toolstack_of
    b = Built(2)
    xsd = toolstack_of(b.hv).xenstored
    assert sorted(xsd.domains) == [1, 2]
    d2 = b.domains[1]
    port = d2.hvm_params[h.HVM_PARAM_STORE_EVTCHN]
    assert d2.evtchn.channel(port).state == evtchn.ECS_INTERDOMAIN
    assert xsd.nodes["/local/domain/2/domid"].data == b"2"
    watcher = GuestRing(xsd, 0, privileged=True)
    watcher.ok(xs.XS_WATCH, "@releaseDomain", "r")
    watcher.events = []
    d2.kill()
    assert 2 not in xsd.domains and 1 in xsd.domains
    watcher.call(xs.XS_GET_DOMAIN_PATH, "0")
    assert watcher.events == [(b"@releaseDomain", b"r")]


def test_xtf_selftest_reads_its_domid_from_xenstore(xtf_dir):
    """XTF's own xenbus client (common/xenbus.c: the port must be interdomain,
    then XS_READ "domid" through the ring) against the built-in xenstored, as a
    domU and as the second of two domains."""
    import subprocess
    from test_guests import PYTHON, ROOT
    elf = xtf_dir / "tests" / "selftest" / "test-hvm64-selftest"
    for args, domid in (([elf], 1), ([xtf_dir / "tests" / "example" / "test-hvm64-example",
                                      elf], 2)):
        proc = subprocess.run([PYTHON, "-m", "hvsim", "run", "--deterministic"] +
                              [str(a) for a in args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        out = proc.stdout
        assert "Test: Xenstore read" in out and "Found domid %d" % domid in out, out
        assert "Fail:" not in out and proc.returncode == 0, out
