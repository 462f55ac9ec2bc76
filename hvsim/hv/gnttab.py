"""Grant tables (Xen's xen/common/grant_table.c, with x86's HVM p2m side from
xen/arch/x86/mm.c create/replace_grant_p2m_mapping).

Each domain has a grant table: shared frames the guest writes grant entries
into (v1: 8-byte entries, v2: 16-byte entries plus separate status frames),
which it maps into its physmap with XENMEM_add_to_physmap; an active entry
per pinned grant (who holds it, how many read and write pins); and a
maptrack table of the mappings *it* holds of other domains' grants, indexed
by handle (per-vCPU free lists, as Xen hands them out).

map_grant_ref puts the granted page into the mapper's physmap at host_addr
(an overlay every vCPU of the mapper sees; read-only when GNTMAP_readonly);
unmap_grant_ref takes it out again, leaving the gfn empty as Xen does.
GTF_reading / GTF_writing are kept in the granter's entry (v1) or status
entry (v2) while pinned.  copy moves bytes between grant references or the
caller's own gfns, swap_grant_ref swaps two entries, set_version switches
layouts keeping the 8 reserved entries.  An HVM guest may only call the ops
hvm_grant_table_op() lets through; the rest are -ENOSYS.
"""

import struct

from ..abi import errno, grant_table as g
from ..abi.cstruct import MASK32
from ..abi.errno import HypercallError
from ..abi.memory import XENMAPIDX_grant_table_status
from ..abi.xen import DOMID_SELF
from ..snapshot.state import buffer_address
from .guest_access import copy_from_guest, copy_to_guest, get_struct, put_field, put_struct
from .physmap import PAGE_SHIFT, PAGE_SIZE, RAM, host_pages
from .xsm import TARGET

DEFAULT_MAX_GRANT_FRAMES = 64           # opt_max_grant_frames / libxl's default
DEFAULT_MAX_MAPTRACK_FRAMES = 1024      # opt_max_maptrack_frames
INITIAL_NR_GRANT_FRAMES = 1
MAPTRACK_PER_PAGE = PAGE_SIZE // 16     # sizeof(struct grant_mapping)
MAPTRACK_TAIL = MASK32
GRANT_STATUS_PER_PAGE = PAGE_SIZE // 2  # grant_status_t
ENTRIES_PER_FRAME = {1: PAGE_SIZE // 8, 2: PAGE_SIZE // 16}
MAX_GFN = (1 << (48 - PAGE_SHIFT)) - 1  # the p2m's reach (hap paddr bits)

PIN_HSTW, PIN_HSTR = 1, 1 << 8          # GNTPIN_hstw_inc, GNTPIN_hstr_inc
PIN_HSTW_MASK, PIN_HSTR_MASK = 0xFF, 0xFF00
PIN_OVERFLOW = 0x80808080

GTF_access = g.GTF_reading | g.GTF_writing

# hvm_grant_table_op(): what an HVM guest may call
HVM_OPS = (g.GNTTABOP_query_size, g.GNTTABOP_setup_table, g.GNTTABOP_set_version,
           g.GNTTABOP_get_version, g.GNTTABOP_copy, g.GNTTABOP_map_grant_ref,
           g.GNTTABOP_unmap_grant_ref, g.GNTTABOP_swap_grant_ref)
GNTTABOP_CMD_MASK = (1 << 12) - 1

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def grant_to_status_frames(nr):
    return -(-nr * ENTRIES_PER_FRAME[2] // GRANT_STATUS_PER_PAGE)


def status_to_grant_frames(nr):
    return -(-nr * GRANT_STATUS_PER_PAGE // ENTRIES_PER_FRAME[2])


class GrantError(Exception):
    """A per-op failure: its GNTST_* status."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


class Frame:
    """One Xen-owned page of the table (shared or status), with its machine
    frame.  Host addresses are never kept: they change when a snapshot is
    loaded."""

    __slots__ = ("buf", "mfn")

    def __init__(self, hv):
        self.buf, addr = host_pages(PAGE_SIZE)
        self.mfn = machine_frame(hv, addr)

    @property
    def addr(self):
        return buffer_address(self.buf)


class Active:
    """struct active_grant_entry: a pinned grant."""

    __slots__ = ("pin", "domid", "page", "start", "length", "is_sub_page", "trans")

    def __init__(self):
        self.pin = 0
        self.domid = 0
        self.page = None                # (buffer, mfn) of the granted page
        self.start = 0
        self.length = PAGE_SIZE
        self.is_sub_page = False
        self.trans = None               # (domain, gref) a transitive grant pins


class Mapping:
    """struct grant_mapping: one maptrack entry (a free one links the free list)."""

    __slots__ = ("ref", "flags", "rd", "vcpu", "gfn")

    def __init__(self, ref, vcpu):
        self.ref = ref
        self.flags = 0
        self.rd = None                  # the granting Domain
        self.vcpu = vcpu
        self.gfn = None


def machine_frame(hv, addr):
    """A machine frame number for a host page, handed out in order of first
    use (deterministic, unlike host addresses)."""
    frames = hv.__dict__.setdefault("machine_frames", {})
    mfn = frames.get(addr)
    if mfn is None:
        mfn = frames[addr] = 0x100000 + len(frames)
    return mfn


def page_of(d, gfn, writable):
    """get_paged_frame(): (buffer, mfn) of the page d has at gfn."""
    kind = d.physmap.gfn_type(gfn)
    if kind is None or kind.startswith("gntmap") or (writable and gfn in d.physmap.readonly):
        raise GrantError(g.GNTST_bad_page)
    view = d.physmap.view(gfn << PAGE_SHIFT, PAGE_SIZE)
    return view, machine_frame(d.hv, buffer_address(view))


def keep_mapped_page(d, gfn):
    """d's RAM page at gfn is about to go (given back, replaced): where
    another domain has it pinned (mapped, or in a copy), that domain keeps
    it, as Xen's page reference keeps the page alive, so it is given a copy
    of the page and the gfn's host memory can be reused."""
    page = d.physmap.view(gfn << PAGE_SHIFT, PAGE_SIZE)
    if page is None:
        return
    addr = buffer_address(page)
    copy = None
    for e in d.hv.all_domains:
        for act in e.grant_table.active.values():
            if act.page is not None and buffer_address(act.page[0]) == addr:
                if copy is None:
                    copy, _ = host_pages(PAGE_SIZE)
                    copy[:] = page
                act.page = (memoryview(copy), act.page[1])
    if copy is None:
        return
    for e in d.hv.all_domains:
        pm = e.physmap
        for mgfn, (_, a, name) in list(pm.overlays.items()):
            if a == addr and name.startswith("gntmap"):
                pm.overlay(mgfn, copy, buffer_address(copy), name,
                           writable=mgfn not in pm.readonly)


class GrantTable:
    def __init__(self, d, max_grant_frames=DEFAULT_MAX_GRANT_FRAMES,
                 max_maptrack_frames=DEFAULT_MAX_MAPTRACK_FRAMES):
        self.d = d
        self.version = 1
        self.max_grant_frames = max_grant_frames
        self.max_maptrack_frames = max_maptrack_frames
        self.shared = []
        self.status = []
        self.active = {}                # ref -> Active, pinned entries only
        self.maptrack = []              # handle -> Mapping
        self.heads = {}                 # vcpu id -> [head, tail] of its free list
        self.grow(0)

    # -- frames ------------------------------------------------------------------------
    @property
    def nr_entries(self):
        return len(self.shared) * ENTRIES_PER_FRAME[self.version]

    def grow(self, nr):
        """gnttab_grow_table(): at least INITIAL_NR_GRANT_FRAMES, status frames in v2."""
        nr = max(nr, INITIAL_NR_GRANT_FRAMES)
        while len(self.shared) < nr:
            self.shared.append(Frame(self.d.hv))
        if self.version == 2:
            self._populate_status(nr)

    def _populate_status(self, nr):
        while len(self.status) < grant_to_status_frames(nr):
            self.status.append(Frame(self.d.hv))

    def _frame_name(self, status, idx):
        return "grant-status:%d" % idx if status else "grant:%d" % idx

    def frame_gfn(self, status, idx):
        """Where the frame is in the domain's physmap (its M2P entry), or None."""
        return self.d.physmap.overlay_gfn(self._frame_name(status, idx))

    def map_frame(self, idx, gfn):
        """gnttab_map_frame(): XENMAPSPACE_grant_table, growing the table to
        reach idx; the frame leaves the gfn it was at."""
        status = self.version == 2 and bool(idx & XENMAPIDX_grant_table_status)
        if status:
            idx &= ~XENMAPIDX_grant_table_status
            if idx >= len(self.status):
                nr = status_to_grant_frames(idx + 1)
                if nr <= self.max_grant_frames:
                    self.grow(nr)
                if idx >= len(self.status):
                    return -errno.EINVAL
            frame = self.status[idx]
        else:
            if idx >= len(self.shared):
                if idx + 1 <= self.max_grant_frames:
                    self.grow(idx + 1)
                if idx >= len(self.shared):
                    return -errno.EINVAL
            frame = self.shared[idx]
        pm = self.d.physmap
        if pm.gfn_type(gfn) is not None and pm.gfn_type(gfn).startswith("gntmap"):
            self.d.crash("grant frame mapped over a grant mapping at gfn %#x" % gfn)
            return -errno.EINVAL
        old = self.frame_gfn(status, idx)
        if old is not None:
            pm.remove_overlay(old)
        if pm.gfn_type(gfn) == RAM:
            pass                          # the RAM page there is freed (guest_remove_page)
        pm.overlay(gfn, frame.buf, frame.addr, self._frame_name(status, idx))
        return 0

    def _unmap_status_frames(self):
        for i in range(len(self.status)):
            gfn = self.frame_gfn(True, i)
            if gfn is not None:
                self.d.physmap.remove_overlay(gfn)
        self.status = []

    def seed(self, ref, domid, gfn):
        """xc_dom_gnttab_seed(): the toolstack grants a reserved entry (v1)."""
        buf, off = self._entry(ref)
        struct.pack_into("<HHI", buf, off, g.GTF_permit_access, domid, gfn)

    # -- entries -----------------------------------------------------------------------
    def _entry(self, ref):
        """(buffer, offset) of shared entry ref (current version)."""
        per = ENTRIES_PER_FRAME[self.version]
        return self.shared[ref // per].buf, (ref % per) * (PAGE_SIZE // per)

    def header(self, ref):
        buf, off = self._entry(ref)
        return _U16.unpack_from(buf, off)[0], _U16.unpack_from(buf, off + 2)[0]

    def _status_loc(self, ref):
        if self.version == 1:
            return self._entry(ref)
        return self.status[ref // GRANT_STATUS_PER_PAGE].buf, (ref % GRANT_STATUS_PER_PAGE) * 2

    def set_status_flags(self, ref, flags):
        buf, off = self._status_loc(ref)
        _U16.pack_into(buf, off, _U16.unpack_from(buf, off)[0] | flags)

    def clear_status_flags(self, ref, flags):
        buf, off = self._status_loc(ref)
        _U16.pack_into(buf, off, _U16.unpack_from(buf, off)[0] & ~flags & 0xFFFF)

    def frame_of(self, ref):
        """The entry's frame: v1 frame, v2 full_page.frame (also sub_page.frame)."""
        buf, off = self._entry(ref)
        if self.version == 1:
            return _U32.unpack_from(buf, off + 4)[0]
        return _U64.unpack_from(buf, off + 8)[0]

    def sub_page(self, ref):
        buf, off = self._entry(ref)
        return _U16.unpack_from(buf, off + 4)[0], _U16.unpack_from(buf, off + 6)[0]

    def transitive(self, ref):
        buf, off = self._entry(ref)
        return _U16.unpack_from(buf, off + 4)[0], _U32.unpack_from(buf, off + 8)[0]

    def set_status(self, ref, act, readonly, mapflag, ldomid):
        """_set_status_v1/_v2: check the entry grants ldomid (the right kind of
        access) and mark it GTF_reading (and GTF_writing)."""
        flags, domid = self.header(ref)
        mask = g.GTF_type_mask | (g.GTF_sub_page if mapflag else 0)
        types = (g.GTF_permit_access,) if self.version == 1 else \
            (g.GTF_permit_access, g.GTF_transitive)
        if not act.pin and ((flags & mask) not in types or domid != ldomid):
            raise GrantError(g.GNTST_general_error)
        if not readonly and flags & g.GTF_readonly:
            raise GrantError(g.GNTST_general_error)
        self.set_status_flags(ref, g.GTF_reading | (0 if readonly else g.GTF_writing))

    def unpin_flags(self, ref, act, readonly):
        """What map/copy undo clears once the last (write) pin is gone."""
        clear = 0
        if not readonly and not act.pin & PIN_HSTW_MASK:
            clear |= g.GTF_writing
        if not act.pin:
            clear |= g.GTF_reading
        if clear:
            self.clear_status_flags(ref, clear)
        if not act.pin:
            self.active.pop(ref, None)

    def acquire(self, ref):
        act = self.active.get(ref)
        if act is None:
            act = self.active[ref] = Active()
        return act

    # -- maptrack handles ---------------------------------------------------------------
    def get_handle(self, vcpu_id):
        """get_maptrack_handle(): from the vCPU's free list (one entry always
        stays on it), else a new maptrack page."""
        fl = self.heads.get(vcpu_id)
        if fl is not None:
            head = fl[0]
            nxt = self.maptrack[head].ref
            if nxt != MAPTRACK_TAIL:
                fl[0] = nxt
                return head
        if len(self.maptrack) // MAPTRACK_PER_PAGE >= self.max_maptrack_frames:
            return None
        handle = len(self.maptrack)
        for i in range(MAPTRACK_PER_PAGE):
            self.maptrack.append(Mapping(handle + i + 1, vcpu_id))
        if fl is None:
            fl = self.heads[vcpu_id] = [MAPTRACK_TAIL, handle + MAPTRACK_PER_PAGE - 1]
        self.maptrack[handle + MAPTRACK_PER_PAGE - 1].ref = fl[0]
        fl[0] = handle + 1
        return handle

    def put_handle(self, handle):
        """put_maptrack_handle(): to the tail of its vCPU's free list."""
        mt = self.maptrack[handle]
        mt.ref = MAPTRACK_TAIL
        mt.flags = 0
        mt.rd = None
        fl = self.heads[mt.vcpu]
        prev_tail, fl[1] = fl[1], handle
        self.maptrack[prev_tail].ref = handle

    # -- destruction -----------------------------------------------------------------------
    def release_mappings(self):
        """gnttab_release_mappings(): a dying domain's maps stop pinning grants."""
        for mt in self.maptrack:
            if mt.flags & g.GNTMAP_host_map and mt.rd is not None:
                rgt = mt.rd.grant_table
                act = rgt.active.get(mt.ref)
                if act is not None:
                    readonly = bool(mt.flags & g.GNTMAP_readonly)
                    act.pin -= PIN_HSTR if readonly else PIN_HSTW
                    rgt.unpin_flags(mt.ref, act, readonly)
                mt.flags = 0
                mt.rd = None

    def pinned(self, first=0):
        return any(act.pin for ref, act in self.active.items() if ref >= first)


# ---- map / unmap ---------------------------------------------------------------------------
def map_grant_ref(v, op):
    """One gnttab_map_grant_ref: returns (status, handle, dev_bus_addr)."""
    ld = v.domain
    flags = op["flags"]
    if not flags & (g.GNTMAP_device_map | g.GNTMAP_host_map):
        return g.GNTST_bad_gntref, None, None
    if flags & (g.GNTMAP_device_map | g.GNTMAP_application_map | g.GNTMAP_contains_pte):
        return g.GNTST_general_error, None, None      # no device mappings in HVM
    rd = v.hv.domains.get(op["dom"])                  # by id: DOMID_SELF is no domain here
    if rd is None:
        return g.GNTST_bad_domain, None, None
    lgt = ld.grant_table
    handle = lgt.get_handle(v.vcpu_id)
    if handle is None:
        return g.GNTST_no_device_space, None, None
    try:
        page = _pin_for_map(ld, rd, op["ref"], flags)
    except GrantError as e:
        lgt.put_handle(handle)
        return e.status, None, None
    status = _create_p2m_mapping(ld, rd, op, page)
    if status != g.GNTST_okay:
        _unpin(rd, op["ref"], flags)
        lgt.put_handle(handle)
        return status, None, None
    mt = lgt.maptrack[handle]
    mt.ref, mt.rd, mt.flags, mt.gfn = op["ref"], rd, flags, op["host_addr"] >> PAGE_SHIFT
    return g.GNTST_okay, handle, page[1] << PAGE_SHIFT


def _pin_for_map(ld, rd, ref, flags):
    rgt = rd.grant_table
    readonly = bool(flags & g.GNTMAP_readonly)
    if ref >= rgt.nr_entries:
        raise GrantError(g.GNTST_bad_gntref)
    act = rgt.acquire(ref)
    if act.pin and (act.domid != ld.domid or act.pin & PIN_OVERFLOW or act.is_sub_page):
        raise GrantError(g.GNTST_general_error)
    if not act.pin or (not readonly and not act.pin & PIN_HSTW_MASK):
        try:
            rgt.set_status(ref, act, readonly, True, ld.domid)
            if not act.pin:
                act.page = page_of(rd, rgt.frame_of(ref), not readonly)
                act.domid = ld.domid
                act.start, act.length, act.is_sub_page, act.trans = 0, PAGE_SIZE, False, None
        except GrantError:
            rgt.unpin_flags(ref, act, readonly)
            raise
    act.pin += PIN_HSTR if readonly else PIN_HSTW
    return act.page


def _unpin(rd, ref, flags):
    rgt = rd.grant_table
    act = rgt.active[ref]
    readonly = bool(flags & g.GNTMAP_readonly)
    act.pin -= PIN_HSTR if readonly else PIN_HSTW
    rgt.unpin_flags(ref, act, readonly)


def _create_p2m_mapping(ld, rd, op, page):
    """create_grant_p2m_mapping(): the granted page at gfn host_addr >> 12."""
    if op["flags"] & ~g.GNTMAP_readonly != g.GNTMAP_host_map:
        return g.GNTST_general_error
    gfn = op["host_addr"] >> PAGE_SHIFT
    if gfn > MAX_GFN:
        return g.GNTST_general_error
    pm = ld.physmap
    kind = pm.gfn_type(gfn)
    if kind is not None and kind.startswith("gntmap"):
        ld.crash("grant mapping over the grant mapping at gfn %#x" % gfn)
        return g.GNTST_general_error
    if kind == RAM:
        ld.unmapped_pages += 1                    # still the domain's, mapped nowhere
    name = "gntmap:d%d:%d" % (rd.domid, op["ref"])
    pm.overlay(gfn, page[0], buffer_address(page[0]), name,
               writable=not op["flags"] & g.GNTMAP_readonly)
    return g.GNTST_okay


def unmap_grant_ref(v, op):
    """One gnttab_unmap_grant_ref: returns its status."""
    ld = v.domain
    lgt = ld.grant_table
    handle = op["handle"]
    if handle >= len(lgt.maptrack) or not lgt.maptrack[handle].flags:
        return g.GNTST_bad_handle
    mt = lgt.maptrack[handle]
    rd, flags = mt.rd, mt.flags
    act = rd.grant_table.active.get(mt.ref)
    if op["dev_bus_addr"] and op["dev_bus_addr"] != act.page[1] << PAGE_SHIFT:
        return g.GNTST_general_error
    if not op["host_addr"]:
        return g.GNTST_okay                       # nothing asked to be undone
    gfn = op["host_addr"] >> PAGE_SHIFT
    ov = ld.physmap.overlays.get(gfn)
    if ov is None or not ov[2].startswith("gntmap") or ov[1] != buffer_address(act.page[0]):
        return g.GNTST_general_error              # replace_grant_p2m_mapping: not this map
    ref = mt.ref
    ld.physmap.remove_overlay(gfn)
    lgt.put_handle(handle)
    _unpin(rd, ref, flags)
    return g.GNTST_okay


# ---- copy --------------------------------------------------------------------------------
class CopyBuf:
    """struct gnttab_copy_buf: one side of a copy, claimed."""

    __slots__ = ("domain", "page", "offset", "length", "grant")

    def __init__(self, domain):
        self.domain = domain
        self.page = None
        self.offset, self.length = 0, PAGE_SIZE
        self.grant = None               # (ref, readonly) to release


def _copy_domain(v, domid, is_gref):
    """gnttab_copy_lock_domain(): only DOMID_SELF may be named by frame."""
    if domid != DOMID_SELF and not is_gref:
        raise GrantError(g.GNTST_permission_denied)
    d = v.domain if domid == DOMID_SELF else v.hv.domains.get(domid)
    if d is None:
        raise GrantError(g.GNTST_bad_domain)
    return CopyBuf(d)


def acquire_for_copy(rd, ref, ldomid, readonly, allow_transitive):
    """acquire_grant_for_copy(): pin ref of rd for ldomid; returns
    (page, start, length)."""
    rgt = rd.grant_table
    if ref >= rgt.nr_entries:
        raise GrantError(g.GNTST_bad_gntref)
    act = rgt.acquire(ref)
    if act.pin and (act.domid != ldomid or act.pin & PIN_OVERFLOW):
        _drop_if_idle(rgt, ref, act)
        raise GrantError(g.GNTST_general_error)
    flags, _ = rgt.header(ref)
    old_pin = act.pin
    fresh = not old_pin or (not readonly and not old_pin & PIN_HSTW_MASK)
    if rgt.version == 2 and flags & g.GTF_type_mask == g.GTF_transitive:
        if fresh:
            _guarded_set_status(rgt, ref, act, readonly, ldomid)
        try:
            if not allow_transitive:
                raise GrantError(g.GNTST_general_error)
            trans_domid, trans_ref = rgt.transitive(ref)
            td = rd.hv.domains.get(trans_domid)
            if trans_domid == rd.domid or td is None:
                raise GrantError(g.GNTST_general_error)
            page, start, length = acquire_for_copy(td, trans_ref, rd.domid, readonly, False)
        except GrantError:
            rgt.unpin_flags(ref, act, readonly)
            raise
        if not old_pin:
            act.domid, act.page, act.start, act.length = ldomid, page, start, length
            act.is_sub_page, act.trans = True, (td, trans_ref)
    elif fresh:
        _guarded_set_status(rgt, ref, act, readonly, ldomid)
        try:
            if rgt.version == 2 and flags & g.GTF_sub_page:
                start, length = rgt.sub_page(ref)
                sub = True
            else:
                start, length, sub = 0, PAGE_SIZE, False
            page = page_of(rd, rgt.frame_of(ref), not readonly)
        except GrantError:
            rgt.unpin_flags(ref, act, readonly)
            raise
        if not act.pin:
            act.domid, act.page, act.start, act.length = ldomid, page, start, length
            act.is_sub_page, act.trans = sub, None
    act.pin += PIN_HSTR if readonly else PIN_HSTW
    return act.page, act.start, act.length


def _guarded_set_status(rgt, ref, act, readonly, ldomid):
    try:
        rgt.set_status(ref, act, readonly, False, ldomid)
    except GrantError:
        _drop_if_idle(rgt, ref, act)
        raise


def _drop_if_idle(rgt, ref, act):
    if not act.pin:
        rgt.active.pop(ref, None)


def release_for_copy(rd, ref, readonly):
    """release_grant_for_copy(), down a transitive chain too."""
    rgt = rd.grant_table
    act = rgt.active[ref]
    trans = act.trans
    act.pin -= PIN_HSTR if readonly else PIN_HSTW
    rgt.unpin_flags(ref, act, readonly)
    if trans is not None:
        release_for_copy(trans[0], trans[1], readonly)


def _claim(v, buf, ptr, is_gref, readonly):
    if is_gref:
        buf.page, buf.offset, buf.length = acquire_for_copy(
            buf.domain, ptr["ref"], v.domain.domid, readonly, True)
        buf.grant = (ptr["ref"], readonly)
    else:
        buf.page = page_of(buf.domain, ptr["gmfn"], not readonly)


def _release(buf):
    if buf is not None and buf.grant is not None:
        release_for_copy(buf.domain, *buf.grant)
        buf.grant = None


def copy_one(v, op):
    """gnttab_copy_one(): the status of one copy."""
    src = dest = None
    try:
        src = _copy_domain(v, op["source"]["domid"], op["flags"] & g.GNTCOPY_source_gref)
        dest = _copy_domain(v, op["dest"]["domid"], op["flags"] & g.GNTCOPY_dest_gref)
        _claim(v, src, op["source"], op["flags"] & g.GNTCOPY_source_gref, True)
        _claim(v, dest, op["dest"], op["flags"] & g.GNTCOPY_dest_gref, False)
        so, do, n = op["source"]["offset"], op["dest"]["offset"], op["len"]
        if so + n > PAGE_SIZE or do + n > PAGE_SIZE:
            raise GrantError(g.GNTST_bad_copy_arg)
        if so < src.offset or so + n > src.offset + src.length or \
                do < dest.offset or do + n > dest.offset + dest.length:
            raise GrantError(g.GNTST_general_error)
        dest.page[0][do:do + n] = src.page[0][so:so + n]
        return g.GNTST_okay
    except GrantError as e:
        return e.status
    finally:
        _release(src)
        _release(dest)


# ---- table set-up ------------------------------------------------------------------------
def _lookup(v, domid):
    """rcu_lock_domain_by_any_id() + XSM TARGET, as GNTST_* statuses."""
    d = v.domain if domid == DOMID_SELF else v.hv.domains.get(domid)
    if d is None:
        raise GrantError(g.GNTST_bad_domain)
    if not v.hv.xsm.allowed(TARGET, v.domain, d):
        raise GrantError(g.GNTST_permission_denied)
    return d


def setup_table(v, arg, count):
    if count != 1:
        return -errno.EINVAL
    lay, buf = get_struct(v, g.gnttab_setup_table, arg)
    nr, frame_list = lay.get(buf, "nr_frames", "frame_list")
    status = g.GNTST_okay
    try:
        d = _lookup(v, lay.get(buf, "dom"))
        gt = d.grant_table
        if nr > gt.max_grant_frames:
            raise GrantError(g.GNTST_general_error)
        gt.grow(nr)
        size = v.hcall_abi.ulong                   # xen_pfn_t
        invalid = (1 << (8 * size)) - 1            # INVALID_GFN: a frame nowhere in the physmap
        for i in range(nr):
            gfn = gt.frame_gfn(False, i)
            try:
                copy_to_guest(v, frame_list + i * size,
                              (invalid if gfn is None else gfn).to_bytes(size, "little"))
            except HypercallError:
                status = g.GNTST_bad_virt_addr
    except GrantError as e:
        status = e.status
    put_field(v, lay, arg, buf, status=status)
    return 0


def query_size(v, arg, count):
    if count != 1:
        return -errno.EINVAL
    lay, buf = get_struct(v, g.gnttab_query_size, arg)
    try:
        gt = _lookup(v, lay.get(buf, "dom")).grant_table
        lay.put(buf, nr_frames=len(gt.shared), max_nr_frames=gt.max_grant_frames,
                status=g.GNTST_okay)
    except GrantError as e:
        lay.put(buf, status=e.status)
    put_struct(v, lay, arg, buf)
    return 0


def get_version(v, arg):
    lay, buf = get_struct(v, g.gnttab_get_version, arg)
    d = v.hv.domain_by_any_id(v.domain, lay.get(buf, "dom"))
    if not v.hv.xsm.allowed(TARGET, v.domain, d):
        return -errno.EPERM
    put_field(v, lay, arg, buf, version=d.grant_table.version)
    return 0


def set_version(v, arg):
    lay, buf = get_struct(v, g.gnttab_set_version, arg)
    gt = v.domain.grant_table
    rc = _switch_version(gt, lay.get(buf, "version"))
    lay.put(buf, version=gt.version)
    put_struct(v, lay, arg, buf)
    return rc


def _switch_version(gt, version):
    """gnttab_set_version(): only with no grant beyond the reserved ones in
    use; the 8 reserved entries are carried over, the rest cleared."""
    if version not in (1, 2):
        return -errno.EINVAL
    if gt.version == version:
        return 0
    if gt.pinned(g.GNTTAB_NR_RESERVED_ENTRIES):
        return -errno.EBUSY
    reserved = []
    for ref in range(g.GNTTAB_NR_RESERVED_ENTRIES):
        flags, domid = gt.header(ref)
        kind = flags & g.GTF_type_mask
        frame = gt.frame_of(ref)
        if gt.version == 2:
            if (kind == g.GTF_permit_access and frame >> 32) or kind == g.GTF_transitive:
                return -errno.ERANGE
            if kind != g.GTF_permit_access:
                flags = domid = frame = 0
            else:
                buf, off = gt._status_loc(ref)
                flags |= _U16.unpack_from(buf, off)[0]
        reserved.append((flags, domid, frame))
    if version == 2:
        gt._populate_status(len(gt.shared))
    else:
        gt._unmap_status_frames()
    for f in gt.shared:
        f.buf[:] = bytes(PAGE_SIZE)
    gt.version = version
    for ref, (flags, domid, frame) in enumerate(reserved):
        buf, off = gt._entry(ref)
        if version == 1:
            struct.pack_into("<HHI", buf, off, flags, domid, frame & MASK32)
        else:
            struct.pack_into("<HHIQ", buf, off, flags & ~GTF_access & 0xFFFF, domid, 0, frame)
            sbuf, soff = gt._status_loc(ref)
            _U16.pack_into(sbuf, soff, flags & GTF_access)
    return 0


def swap_grant_ref(d, ref_a, ref_b):
    gt = d.grant_table
    if ref_a >= gt.nr_entries or ref_b >= gt.nr_entries:
        return g.GNTST_bad_gntref
    if ref_a == ref_b:
        return g.GNTST_okay
    for ref in (ref_a, ref_b):
        act = gt.active.get(ref)
        if act is not None and act.pin:
            return g.GNTST_eagain
    (abuf, aoff), (bbuf, boff) = gt._entry(ref_a), gt._entry(ref_b)
    n = PAGE_SIZE // ENTRIES_PER_FRAME[gt.version]
    a, b = bytes(abuf[aoff:aoff + n]), bytes(bbuf[boff:boff + n])
    abuf[aoff:aoff + n], bbuf[boff:boff + n] = b, a
    if gt.version == 2:
        (sa, oa), (sb, ob) = gt._status_loc(ref_a), gt._status_loc(ref_b)
        va, vb = _U16.unpack_from(sa, oa)[0], _U16.unpack_from(sb, ob)[0]
        _U16.pack_into(sa, oa, vb)
        _U16.pack_into(sb, ob, va)
    return g.GNTST_okay


# ---- the hypercall -----------------------------------------------------------------------
def _each(v, struct_, arg, count):
    """The ops of a batch: (address, layout, buffer) each.  The array is read
    at once; if that faults, op by op, so the ops before a bad one are done
    (as Xen copies each in turn)."""
    lay = struct_.layout(v.hcall_abi)
    size = lay.size
    try:
        whole = copy_from_guest(v, arg, size * count)
    except HypercallError:
        whole = None
    for i in range(count):
        ptr = arg + i * size
        if whole is not None:
            yield ptr, lay, bytearray(whole[i * size:(i + 1) * size])
        else:
            yield ptr, lay, bytearray(copy_from_guest(v, ptr, size))


def _map_batch(v, arg, count):
    for ptr, lay, buf in _each(v, g.gnttab_map_grant_ref, arg, count):
        op = dict(zip(("host_addr", "flags", "ref", "dom"),
                      lay.get(buf, "host_addr", "flags", "ref", "dom")))
        status, handle, bus = map_grant_ref(v, op)
        lay.put(buf, status=status)
        if status == g.GNTST_okay:
            lay.put(buf, handle=handle, dev_bus_addr=bus)
        put_struct(v, lay, ptr, buf)
    return 0


def _unmap_batch(v, arg, count):
    for ptr, lay, buf in _each(v, g.gnttab_unmap_grant_ref, arg, count):
        op = dict(zip(("host_addr", "dev_bus_addr", "handle"),
                      lay.get(buf, "host_addr", "dev_bus_addr", "handle")))
        put_field(v, lay, ptr, buf, status=unmap_grant_ref(v, op))
    return 0


def _copy_batch(v, arg, count):
    for ptr, lay, buf in _each(v, g.gnttab_copy, arg, count):
        op = {"flags": lay.get(buf, "flags"), "len": lay.get(buf, "len")}
        for side in ("source", "dest"):
            ref, gmfn, domid, offset = lay.get(buf, side + ".u.ref", side + ".u.gmfn",
                                               side + ".domid", side + ".offset")
            op[side] = {"ref": ref, "gmfn": gmfn, "domid": domid, "offset": offset}
        put_field(v, lay, ptr, buf, status=copy_one(v, op))
    return 0


def _swap_batch(v, arg, count):
    for ptr, lay, buf in _each(v, g.gnttab_swap_grant_ref, arg, count):
        ref_a, ref_b = lay.get(buf, "ref_a", "ref_b")
        put_field(v, lay, ptr, buf, status=swap_grant_ref(v.domain, ref_a, ref_b))
    return 0


def do_grant_table_op(v, cmd, arg, count, *_):
    """hvm_grant_table_op() then do_grant_table_op()."""
    cmd &= MASK32
    count &= MASK32
    if cmd not in HVM_OPS:
        return -errno.ENOSYS
    if count >= 1 << 31:
        return -errno.EINVAL
    if cmd == g.GNTTABOP_map_grant_ref:
        return _map_batch(v, arg, count)
    if cmd == g.GNTTABOP_unmap_grant_ref:
        return _unmap_batch(v, arg, count)
    if cmd == g.GNTTABOP_setup_table:
        return setup_table(v, arg, count)
    if cmd == g.GNTTABOP_copy:
        return _copy_batch(v, arg, count)
    if cmd == g.GNTTABOP_query_size:
        return query_size(v, arg, count)
    if cmd == g.GNTTABOP_set_version:
        return set_version(v, arg)
    if cmd == g.GNTTABOP_get_version:
        return get_version(v, arg)
    return _swap_batch(v, arg, count)
