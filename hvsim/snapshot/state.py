"""Helpers for the classes' __getstate__ / __setstate__ (snapshots, see
hvsim/snapshot/__init__.py): what a snapshot leaves out of an object, host
time stamps carried to a new process, and host addresses recomputed.

Imports nothing from hvsim, so every module that owns saved state can use it.
"""

import ctypes
import time


def transient(obj, **replacements):
    """obj's state with host-side attributes (streams, tracers, debug hooks,
    engine handles) replaced by what a resumed object starts with."""
    state = dict(obj.__dict__)
    for name, value in replacements.items():
        if name in state:
            state[name] = value
    return state


def rebase_host_stamps(state, names, clock=time.monotonic):
    """Host monotonic time stamps <-> their age: the same map (now - x) on
    save and on load, so host durations survive a move to a new process."""
    now = clock()
    for name in names:
        if state.get(name) is not None:
            state[name] = now - state[name]
    return state


def buffer_address(buf):
    """The host address of a writable buffer (mmap, memoryview)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))
