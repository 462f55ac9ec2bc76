"""Guest-physical mappings of a vCPU's Unicorn instance, as a physmap
listener (hvsim/hv/physmap.py), for every arch.

Changing Unicorn's memory map while it executes a translation block (from a
hypercall hook) corrupts the rest of that block, so changes arriving during
emulation are queued, the slice is ended, and they are applied before the
vCPU runs again.  The arch vCPU provides `uc`, `emulating`, `_pending_maps`
and `_apply_mapping(change)`, change = (op, gpa, size, host address) with op
"map", "map-ro" or "unmap".  The TLB and code flushes the hypervisor asks
for after changing guest memory live here too."""

from . import uc as ucx


class QueuedMappings:
    def physmap_map(self, gpa, size, addr, writable=True):
        self._mapping_change(("map" if writable else "map-ro", gpa, size, addr))

    def physmap_unmap(self, gpa, size):
        self._mapping_change(("unmap", gpa, size, 0))

    def _mapping_change(self, change):
        if self.emulating:
            self._pending_maps.append(change)
            ucx.emu_stop(self.uc)
        else:
            self._apply_mapping(change)

    def flush_tlb(self):
        ucx.flush_tlb(self.uc)

    def flush_code(self):
        """Forget translated code after the hypervisor changed guest code
        (Unicorn does not notice host writes to guest memory: X7)."""
        self.uc.ctl_flush_tb()

    def _apply_pending_maps(self):
        pending, self._pending_maps = self._pending_maps, []
        for change in pending:
            self._apply_mapping(change)
