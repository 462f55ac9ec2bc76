"""Arithmetic the boot modules share."""

from ..hv.physmap import PAGE_SIZE


def round_up(x, align=PAGE_SIZE):
    """`x` rounded up to a multiple of `align` (default: the page size)."""
    return (x + align - 1) // align * align
