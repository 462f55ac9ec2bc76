"""hvsim/arch/holes.py: the unmapped-access hooks cover exactly the holes of
the memory map (never RAM, where any hook keeps Unicorn 2.1.4 from marking
TLB entries dirty), and follow it as RAM is mapped and unmapped, replacing
only the hooks of holes that changed.  The guests that touch holes (the
local APIC page, MMIO, fetches from nothing) are booted by test_guests.py,
test_vlapic.py and test_cpu_faults.py."""

from hvsim.arch.holes import ADDRESS_END, HoleHooks

HTYPE = 0x70


class Registry:
    """Stands in for arch/uc.py's RawHooks: records the live hooks."""

    def __init__(self):
        self.live = {}
        self.next = 1
        self.added = self.deleted = 0

    def add_callback(self, htype, fp, begin, end):
        assert htype == HTYPE and fp == "cb"
        self.live[self.next] = (begin, end)
        self.next += 1
        self.added += 1
        return self.next - 1

    def delete(self, handle):
        del self.live[handle]
        self.deleted += 1

    def ranges(self):
        """The hooked [start, end) ranges, sorted."""
        return sorted((b, e + 1) for b, e in self.live.values())


def test_holes_start_as_everything_and_follow_mappings():
    reg = Registry()
    h = HoleHooks(reg, HTYPE, "cb")
    assert reg.ranges() == [(0, ADDRESS_END)]
    h.mapped(0, 0x100000)
    h.mapped(0x200000, 0x300000)
    assert reg.ranges() == [(0x100000, 0x200000), (0x300000, ADDRESS_END)]
    h.mapped(0x100000, 0x200000)                     # fills the hole: ranges merge
    assert reg.ranges() == [(0x300000, ADDRESS_END)]
    h.unmapped(0x1000, 0x2000)                       # a page taken out of RAM
    assert reg.ranges() == [(0x1000, 0x2000), (0x300000, ADDRESS_END)]
    assert h.holes() == reg.ranges()


def test_a_mapping_change_replaces_only_the_holes_it_touches():
    reg = Registry()
    h = HoleHooks(reg, HTYPE, "cb")
    h.mapped(0, 0x100000)
    h.mapped(0x200000, 0x300000)
    before = dict(reg.live)
    added, deleted = reg.added, reg.deleted
    h.mapped(0x400000, 0x401000)                     # splits the top hole only
    assert reg.deleted - deleted == 1 and reg.added - added == 2
    kept = [r for k, r in before.items() if k in reg.live]
    assert kept == [(0x100000, 0x1FFFFF)]


def test_no_hook_ever_covers_ram():
    reg = Registry()
    h = HoleHooks(reg, HTYPE, "cb")
    ram = [(0, 0xA0000), (0x100000, 0x8000000), (0xFC000000, 0xFC010000)]
    for s, e in ram:
        h.mapped(s, e)
    h.unmapped(0x7000000, 0x7001000)
    h.mapped(0x7000000, 0x7001000)
    for b, e in reg.ranges():
        for s, t in ram:
            assert e <= s or b >= t, ((b, e), (s, t))
    assert sum(e - b for b, e in reg.ranges()) + sum(e - s for s, e in ram) == ADDRESS_END
