"""hvsim: a full-system hypervisor emulator that behaves like Xen."""

__version__ = "0.1.0"
