"""Snapshots: the whole system in a file, and a run resumed from it.

`hvsim run/boot --snapshot-at POINT --snapshot-file FILE` saves, at the first
slice boundary at or after POINT, everything a run is made of:
* every domain (all of them, including those that ended): its guest memory,
  vCPUs, event channels (2-level and FIFO), timers, runstates, console line
  buffer and transcript, HVM parameters, shared_info, life-cycle state;
* every vCPU's CPU: QEMU's whole CPUX86State as Unicorn's own context holds
  it (general, segment (with hidden caches), control and debug registers,
  descriptor tables, hflags/hflags2 incl. CPL, EFER, STAR/LSTAR/CSTAR/FMASK,
  FS/GS/kernel GS base, SYSENTER_*, TSC_AUX, PAT, the x87/MMX/SSE state and
  MXCSR, QEMU's lazy flags and exception-in-flight state) plus hvsim's own
  models (MSRs, CPUID, hypercall page, exit sites); an arm64 vCPU's is QEMU's
  CPUARMState (general, FP/SIMD and EL1 system registers, PSTATE), its
  generic timers and vGIC being the hypervisor side's (hv/arm/);
* the hypervisor: virtual clock, scheduler position (round-robin cursor,
  last vCPU run, armed timers in order), XSM policy, global VIRQ handlers,
  launch state, and what the run reports at its end.
`hvsim resume FILE` loads it into a new process and carries on.  In
deterministic mode the consoles and traces of [run to the snapshot] followed
by [resume] are byte-identical to one uninterrupted run: the snapshot is
taken where the uninterrupted run is between slices, so it never changes
how the run is sliced.

How.  The hypervisor's object graph is pickled.  Host-side things are not
state: output streams, tracers, debuggers and debug hooks are dropped by the
classes' __getstate__ and re-attached by whoever resumes.  Unicorn instances
are recreated (X86Vcpu/Arm64Vcpu.__setstate__: a new engine with its hooks); once the
graph is complete, `machine.load` maps guest memory into each and only then
loads the saved CPU context and exit sites (Unicorn's mem_unmap clobbers
QEMU's exception state, so the order matters).  Guest memory (mmap buffers,
and memoryviews into them) and ABI/struct-layout singletons are pickled by
reference through persistent ids: each buffer's pages that are not all zero
are stored once, beside the graph.

The modules (this package imports none of them itself):
* `fileformat.py`: the file format (magic, versions, header with the
  machine's architecture, checks) and SnapshotError;
* `state.py`: helpers for the classes' __getstate__/__setstate__, which
  import nothing from hvsim (the hypervisor and vCPU modules use them);
  QEMU's CPU state itself is saved by hvsim/arch/x86/cpustate.py;
* `machine.py`: save and load the whole system (the pickler, guest memory);
* `point.py`: --snapshot-at POINT and the request a run arms.
Snapshots are trusted input, like any pickle: loading one can run code, so
only resume files you (or someone you trust) wrote.
"""
