"""hvsim/arch/codewatch.py's arithmetic: the code pages it watches and how a
RAM mapping is cut around them (the behaviour itself is checked by the
cross-modify and preempt-rmw guests in test_guests_events.py and by the
2-vCPU Linux boots)."""

from hvsim.arch.codewatch import CHUNK, PAGE, CodeWatch, _changed_pages, page_ranges


def test_page_ranges_widen_to_pages_and_merge():
    assert page_ranges([]) == []
    assert page_ranges([(0x1000a0, 0x1000a6)]) == [(0x100000, 0x101000)]
    # touching or overlapping once widened: one range
    assert page_ranges([(0x3000, 0x3800), (0x1000, 0x1010), (0x3900, 0x4001)]) == \
        [(0x1000, 0x2000), (0x3000, 0x5000)]
    assert page_ranges([(0x1000, 0x2000), (0x2000, 0x2001)]) == [(0x1000, 0x3000)]
    # KernelImage.code's (begin, end, delta): the delta plays no part here
    assert page_ranges([(0x1000a0, 0x1000a6, 0xffffffff80000000)]) == [(0x100000, 0x101000)]


def _pieces(ranges, gpa, size):
    watch = CodeWatch.__new__(CodeWatch)       # the arithmetic alone: no vCPU
    watch.ranges = page_ranges(ranges)
    return list(watch.pieces(gpa, size))


def test_pieces_cover_the_mapping_exactly():
    code = [(0x200000, 0x300000), (0x500000, 0x501000)]
    got = _pieces(code, 0, 0x1000000)
    assert got == [(0, 0x200000, False), (0x200000, 0x100000, True),
                   (0x300000, 0x200000, False), (0x500000, 0x1000, True),
                   (0x501000, 0xAFF000, False)]
    # contiguous, in order, nothing lost
    pos = 0
    for gpa, size, _ in got:
        assert gpa == pos
        pos += size
    assert pos == 0x1000000


def test_pieces_of_mappings_inside_beside_and_without_code():
    code = [(0x200000, 0x300000)]
    assert _pieces(code, 0x250000, 0x1000) == [(0x250000, 0x1000, True)]
    assert _pieces(code, 0x300000, 0x1000) == [(0x300000, 0x1000, False)]
    assert _pieces(code, 0x1ff000, 0x2000) == [(0x1ff000, 0x1000, False),
                                               (0x200000, 0x1000, True)]
    assert _pieces([], 0x1000, 0x5000) == [(0x1000, 0x5000, False)]


def test_changed_pages_finds_every_changed_page_and_only_those():
    ranges = [(0x100000, 0x100000 + 3 * CHUNK), (0x900000, 0x902000)]
    old = [bytes(3 * CHUNK), bytes(0x2000)]
    assert _changed_pages(ranges, old, list(old)) == []
    first = bytearray(old[0])
    for off in (0, CHUNK - 1, CHUNK + 5 * PAGE + 17, 3 * CHUNK - 1):   # chunk and page edges
        first[off] ^= 0xFF
    second = bytearray(old[1])
    second[PAGE] = 1
    got = _changed_pages(ranges, old, [bytes(first), bytes(second)])
    assert got == [0x100000, 0x100000 + CHUNK - PAGE, 0x100000 + CHUNK + 5 * PAGE,
                   0x100000 + 3 * CHUNK - PAGE, 0x901000]
    assert _changed_pages(ranges, old, [bytes(first), None]) is None    # unreadable: all


def test_delta_of_a_page():
    watch = CodeWatch.__new__(CodeWatch)
    watch._deltas = [(0x1000a0, 0x1000a6, 0), (0x200000, 0x300000, 0xffffffff80000000)]
    assert watch._delta(0x100000) == 0                 # the page holding a short range
    assert watch._delta(0x2ff000) == 0xffffffff80000000
    assert watch._delta(0x300000) is None
