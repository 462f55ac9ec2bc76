"""Software walk of the guest's own page tables, in every x86 paging mode.

Used wherever the hypervisor touches guest *linear* addresses: hypercall
buffers (Xen's copy_{to,from}_guest on HVM go through the guest's paging),
exception frames pushed during IDT delivery, descriptor-table reads, and
the debugger (`peek`/`poke`: no accessed/dirty side effects, no protection
checks, stopping at the first page that does not translate).  The walk
follows the SDM (and QEMU's mmu_translate, so that a fault we raise matches
what the CPU itself would raise): no paging, 32-bit with PSE/PSE-36, PAE,
and 4-level long mode; present, writable (CR0.WP), user, NX (EFER.NXE) and
SMEP checks; reserved-bit checks against MAXPHYADDR; accessed and dirty bits
are set as the hardware sets them.

A fault raises `PageFault(linear, error_code)` with the architectural #PF
error code; a page-table entry pointing outside guest RAM raises
`BadPhysical` (the hypervisor turns both into -EFAULT for hypercalls)."""

import ctypes

from ..uc import uclib_gil

from .defns import (CR0_PE, CR0_PG, CR0_WP, CR4_PAE, CR4_PSE, CR4_SMEP, EFER_LMA, EFER_NXE,
                    MASK32, MASK64, canonical)

_PROT_READ, _PROT_WRITE = 1, 2


def _uc_vmem_translate(uch, la, prot, out):
    """uc_vmem_translate(): 0 on success (C entry point, no Python wrapper)."""
    if uch is None:
        return 1
    return uclib_gil.uc_vmem_translate(uch, la, prot, ctypes.byref(out))

PHYS_BITS = 40                       # what our CPUID leaf 0x80000008 reports

PG_P = 1 << 0
PG_RW = 1 << 1
PG_US = 1 << 2
PG_A = 1 << 5
PG_D = 1 << 6
PG_PS = 1 << 7
PG_NX = 1 << 63

PFEC_PRESENT = 1 << 0
PFEC_WRITE = 1 << 1
PFEC_USER = 1 << 2
PFEC_RSVD = 1 << 3
PFEC_INSN = 1 << 4


ADDR_MASK = ((1 << PHYS_BITS) - 1) & ~0xFFF
RSVD_HIGH = ((1 << 52) - 1) & ~((1 << PHYS_BITS) - 1)   # bits MAXPHYADDR..51

ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH = 0, 1, 2


class PageFault(Exception):
    def __init__(self, linear, error_code):
        super().__init__("#PF at %#x (error %#x)" % (linear, error_code))
        self.linear = linear
        self.error_code = error_code


class BadPhysical(Exception):
    def __init__(self, gpa):
        super().__init__("guest physical address %#x is not RAM" % gpa)
        self.gpa = gpa


class Walker:
    """Translate linear addresses for one vCPU (reads its live CR0/3/4/EFER)."""

    def __init__(self, st, mem, uc=None):
        self.st = st          # CpuState
        self.mem = mem        # guest physical memory (read_u32/u64, write_u32/u64)
        self.uch = uc._uch if uc is not None else None
        self._pa = ctypes.c_uint64()

    def translate(self, la, access=ACCESS_READ, user=False):
        """Linear -> guest physical for an access by the hypervisor on the
        guest's behalf.  The common case is asked of QEMU's own page walker
        (C, ~1 us, same result, sets accessed/dirty bits like the hardware);
        if QEMU says no, the Python walk below produces the exact fault."""
        if access != ACCESS_FETCH and not user:
            st = self.st
            if not st.cr[0] & CR0_PG:
                return la & MASK32
            pending = st.exception_index
            if not _uc_vmem_translate(self.uch, la, _PROT_WRITE if access == ACCESS_WRITE
                                      else _PROT_READ, self._pa):
                return self._pa.value
            # QEMU's failed probe leaves its #PF pending: raised at the guest's
            # next instruction boundary unless forgotten (its address went to
            # the VMCB, not CR2: cpustate.INTERCEPT_PF)
            st.exception_index = pending
        return self.walk(la, access, user)

    def walk(self, la, access=ACCESS_READ, user=False, set_ad=True):
        """The architectural walk in Python: linear -> guest physical, or a
        PageFault with the #PF error code.  `user`: the access is at CPL 3."""
        st = self.st
        cr0 = st.cr[0]
        if not cr0 & CR0_PG:
            return la & MASK32
        cr4 = st.cr[4]
        efer = st.efer
        if efer & EFER_LMA:
            return self._walk_long(la, access, user, cr0, cr4, efer, set_ad)
        la &= MASK32
        if cr4 & CR4_PAE:
            return self._walk_pae(la, access, user, cr0, cr4, efer, set_ad)
        return self._walk_32(la, access, user, cr0, cr4, set_ad)

    def read(self, la, n, access=ACCESS_READ, user=False):
        """Read n bytes at a linear address (may cross pages)."""
        if (la & 0xFFF) + n <= 0x1000:         # the common case: one page
            pa = self.translate(la, access, user)
            data = self.mem.read(pa, n)
            if data is None:
                raise BadPhysical(pa)
            return data
        out, bad = self._load(self._pages(la, n, lambda a: self.translate(a, access, user)))
        if bad is not None:
            raise BadPhysical(bad)
        return out

    def write(self, la, data, access=ACCESS_WRITE, user=False):
        """Write at a linear address; every page is translated (and may fault)
        before any byte is written."""
        if (la & 0xFFF) + len(data) <= 0x1000:
            pa = self.translate(la, access, user)
            if not self.mem.write(pa, data):
                raise BadPhysical(pa)
            return
        pages = list(self._pages(la, len(data), lambda a: self.translate(a, access, user)))
        bad = self._store(pages, data)
        if bad is not None:
            raise BadPhysical(bad)

    # -- debugger access: no accessed/dirty side effects, no protection checks --
    def peek(self, la, n):
        """Up to n bytes at a linear address: fewer if the range runs into a
        page that does not translate or is not RAM (b'' if the first byte is
        not readable)."""
        return self._load(self._peek_pages(la, n))[0]

    def poke(self, la, data):
        """Write at a linear address, ignoring page protections.  False
        (nothing written) if any byte does not translate."""
        pages = list(self._peek_pages(la, len(data)))
        if sum(chunk for _, chunk in pages) != len(data):
            return False
        return self._store(pages, data) is None

    def _peek_pages(self, la, n):
        """The translatable prefix of [la, la+n), without wrapping around the
        linear address space (nothing past 4 GiB outside long mode)."""
        wrap = self._wrap()
        if la > wrap or n <= 0:
            return iter(())
        return self._pages(la, min(n, wrap + 1 - la), self._peek_translate)

    def _peek_translate(self, la):
        try:
            return self.walk(la, ACCESS_READ, False, set_ad=False)
        except (PageFault, BadPhysical):
            return None

    # -- the page loop -------------------------------------------------------------
    def _wrap(self):
        return MASK64 if self.st.efer & EFER_LMA else MASK32

    def _pages(self, la, n, locate):
        """(guest-physical, length) of each page of [la, la+n), located by
        locate(la); ends early where that returns None."""
        wrap = self._wrap()
        while n:
            chunk = min(n, 0x1000 - (la & 0xFFF))
            pa = locate(la)
            if pa is None:
                return
            yield pa, chunk
            la = (la + chunk) & wrap
            n -= chunk

    def _load(self, pages):
        """(bytes of `pages` up to the first that is not RAM, that page's
        guest-physical address or None)."""
        out = bytearray()
        for pa, chunk in pages:
            data = self.mem.read(pa, chunk)
            if data is None:
                return bytes(out), pa
            out += data
        return bytes(out), None

    def _store(self, pages, data):
        """Write `data` over `pages`; the address of the first page that is not
        RAM (the rest is not written), or None."""
        pos = 0
        for pa, chunk in pages:
            if not self.mem.write(pa, data[pos:pos + chunk]):
                return pa
            pos += chunk
        return None

    # -- helpers ---------------------------------------------------------------
    def _read64(self, pa):
        v = self.mem.read_u64(pa)
        if v is None:
            raise BadPhysical(pa)
        return v

    def _read32(self, pa):
        v = self.mem.read_u32(pa)
        if v is None:
            raise BadPhysical(pa)
        return v

    def _fault(self, la, access, user, present, rsvd=False, nx_ok=False):
        ec = 0
        if present:
            ec |= PFEC_PRESENT
        if access == ACCESS_WRITE:
            ec |= PFEC_WRITE
        if user:
            ec |= PFEC_USER
        if rsvd:
            ec |= PFEC_RSVD | PFEC_PRESENT
        if access == ACCESS_FETCH and nx_ok:
            ec |= PFEC_INSN
        return PageFault(la, ec)

    def _check(self, la, access, user, rw, us, nx, cr0, cr4, efer):
        """Permission check on the combined (AND-ed) rights of all levels."""
        nx_ok = bool((efer & EFER_NXE) and (cr4 & CR4_PAE)) or bool(cr4 & CR4_SMEP)
        if user and not us:
            raise self._fault(la, access, user, True, nx_ok=nx_ok)
        if access == ACCESS_WRITE and not rw and (user or cr0 & CR0_WP):
            raise self._fault(la, access, user, True, nx_ok=nx_ok)
        if access == ACCESS_FETCH:
            if nx and efer & EFER_NXE:
                raise self._fault(la, access, user, True, nx_ok=nx_ok)
            if not user and us and cr4 & CR4_SMEP:
                raise self._fault(la, access, user, True, nx_ok=nx_ok)

    def _set_ad(self, entries, leaf_pa, leaf, access, wide):
        """Set accessed bits on every level, dirty on the leaf for writes."""
        write = self.mem.write_u64 if wide else self.mem.write_u32
        for pa, e in entries:
            if not e & PG_A:
                write(pa, e | PG_A)
        want = PG_A | (PG_D if access == ACCESS_WRITE else 0)
        if leaf & want != want:
            write(leaf_pa, leaf | want)

    # -- 4-level long mode -------------------------------------------------------
    def _walk_long(self, la, access, user, cr0, cr4, efer, set_ad):
        nx_ok = bool(efer & EFER_NXE) or bool(cr4 & CR4_SMEP)
        rsvd = RSVD_HIGH | (0 if efer & EFER_NXE else PG_NX)
        if not canonical(la):
            raise self._fault(la, access, user, False)   # callers check canonical first
        table = self.st.cr[3] & ADDR_MASK
        rw = us = 1
        nx = 0
        entries = []
        for level, shift in ((4, 39), (3, 30), (2, 21), (1, 12)):
            pa = table + 8 * ((la >> shift) & 0x1FF)
            e = self._read64(pa)
            if not e & PG_P:
                raise self._fault(la, access, user, False, nx_ok=nx_ok)
            bad = e & rsvd
            if level in (4, 3) and e & PG_PS:       # no 1 GiB pages in our CPUID
                bad = True
            large = level == 2 and e & PG_PS
            if large:
                span = 1 << shift
                bad = bad or e & (span - 1) & ~0x1FFF      # bits 13..shift-1 (PAT at 12)
            if bad:
                raise self._fault(la, access, user, True, rsvd=True, nx_ok=nx_ok)
            rw &= e >> 1
            us &= e >> 2
            nx |= e >> 63
            if large or level == 1:
                self._check(la, access, user, rw & 1, us & 1, nx & 1, cr0, cr4, efer)
                if set_ad:
                    self._set_ad(entries, pa, e, access, True)
                if large:
                    base = e & ADDR_MASK & ~(span - 1)
                    return base | (la & (span - 1))
                return (e & ADDR_MASK) | (la & 0xFFF)
            entries.append((pa, e))
            table = e & ADDR_MASK
        raise AssertionError("unreachable")

    # -- PAE ----------------------------------------------------------------------
    def _walk_pae(self, la, access, user, cr0, cr4, efer, set_ad):
        nx_ok = bool(efer & EFER_NXE) or bool(cr4 & CR4_SMEP)
        rsvd = RSVD_HIGH | (0 if efer & EFER_NXE else PG_NX)
        pdpte_pa = (self.st.cr[3] & 0xFFFFFFE0) + 8 * (la >> 30)
        pdpte = self._read64(pdpte_pa)
        if not pdpte & PG_P:
            raise self._fault(la, access, user, False, nx_ok=nx_ok)
        if pdpte & (RSVD_HIGH | PG_NX | 0x1E6):            # bits 1,2,5..8 reserved
            raise self._fault(la, access, user, True, rsvd=True, nx_ok=nx_ok)
        pd = pdpte & ADDR_MASK
        pde_pa = pd + 8 * ((la >> 21) & 0x1FF)
        pde = self._read64(pde_pa)
        if not pde & PG_P:
            raise self._fault(la, access, user, False, nx_ok=nx_ok)
        if pde & rsvd or (pde & PG_PS and pde & 0x1FE000):
            raise self._fault(la, access, user, True, rsvd=True, nx_ok=nx_ok)
        if pde & PG_PS:
            self._check(la, access, user, (pde >> 1) & 1, (pde >> 2) & 1, pde >> 63,
                        cr0, cr4, efer)
            if set_ad:
                self._set_ad([], pde_pa, pde, access, True)
            return (pde & ADDR_MASK & ~0x1FFFFF) | (la & 0x1FFFFF)
        pte_pa = (pde & ADDR_MASK) + 8 * ((la >> 12) & 0x1FF)
        pte = self._read64(pte_pa)
        if not pte & PG_P:
            raise self._fault(la, access, user, False, nx_ok=nx_ok)
        if pte & rsvd:
            raise self._fault(la, access, user, True, rsvd=True, nx_ok=nx_ok)
        self._check(la, access, user, (pde & pte) >> 1 & 1, (pde & pte) >> 2 & 1,
                    (pde | pte) >> 63, cr0, cr4, efer)
        if set_ad:
            self._set_ad([(pde_pa, pde)], pte_pa, pte, access, True)
        return (pte & ADDR_MASK) | (la & 0xFFF)

    # -- 32-bit (2-level, PSE, PSE-36) ------------------------------------------------
    def _walk_32(self, la, access, user, cr0, cr4, set_ad):
        nx_ok = bool(cr4 & CR4_SMEP)
        pde_pa = (self.st.cr[3] & 0xFFFFF000) + 4 * (la >> 22)
        pde = self._read32(pde_pa)
        if not pde & PG_P:
            raise self._fault(la, access, user, False, nx_ok=nx_ok)
        if pde & PG_PS and cr4 & CR4_PSE:
            if pde & (1 << 21):                              # PSE-36: bit 21 reserved
                raise self._fault(la, access, user, True, rsvd=True, nx_ok=nx_ok)
            self._check(la, access, user, (pde >> 1) & 1, (pde >> 2) & 1, 0, cr0, cr4, 0)
            if set_ad:
                self._set_ad([], pde_pa, pde, access, False)
            high = ((pde >> 13) & 0xFF) << 32
            return high | (pde & 0xFFC00000) | (la & 0x3FFFFF)
        pte_pa = (pde & 0xFFFFF000) + 4 * ((la >> 12) & 0x3FF)
        pte = self._read32(pte_pa)
        if not pte & PG_P:
            raise self._fault(la, access, user, False, nx_ok=nx_ok)
        self._check(la, access, user, (pde & pte) >> 1 & 1, (pde & pte) >> 2 & 1, 0,
                    cr0, cr4, 0)
        if set_ad:
            self._set_ad([(pde_pa, pde)], pte_pa, pte, access, False)
        return (pte & 0xFFFFF000) | (la & 0xFFF)


def paging_enabled(st):
    return bool(st.cr[0] & CR0_PG) and bool(st.cr[0] & CR0_PE)
