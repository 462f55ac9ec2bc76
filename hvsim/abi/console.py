"""console_io commands (public/xen.h) and the PV console ring (public/io/console.h)."""

from .cstruct import Struct, array, char, u32, u8

CONSOLEIO_write = 0
CONSOLEIO_read = 1

XENCONSOLE_CONNECTED = 0
XENCONSOLE_DISCONNECTED = 1



def xencons_idx(value):
    """XENCONS_RING_IDX arithmetic: the indices are free-running uint32_t."""
    return value & 0xFFFFFFFF


xencons_interface = Struct("xencons_interface", [
    ("in", array(char, 1024)),
    ("out", array(char, 2048)),
    ("in_cons", u32),
    ("in_prod", u32),
    ("out_cons", u32),
    ("out_prod", u32),
    ("connection", u8),
])
