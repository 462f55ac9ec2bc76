"""The byte copies of a shared ring whose data area is a power-of-two array
indexed by free-running u32 counters (public/io/ring.h's flex rings:
xen_flex_ring read/write_packet; the console and xenstore rings are two).
Used by both backends (xenconsoled, xenstored): the bytes across the wrap."""


def ring_read(buf, base, size, cons, n):
    """n bytes from the ring at buf[base:base+size], starting at index cons."""
    start = cons & (size - 1)
    first = min(n, size - start)
    return bytes(buf[base + start:base + start + first]) + bytes(buf[base:base + n - first])


def ring_write(buf, base, size, prod, data):
    """data into the ring at buf[base:base+size], starting at index prod
    (the caller has checked there is room)."""
    start = prod & (size - 1)
    first = min(len(data), size - start)
    buf[base + start:base + start + first] = data[:first]
    buf[base:base + len(data) - first] = data[first:]
