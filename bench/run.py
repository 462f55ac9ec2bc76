#!/usr/bin/env python3
"""hvsim benchmarks, each against its baseline measured in the same run.

1. compute: guest instructions per second of a compute-bound guest under
   hvsim, against raw Unicorn running the very same code (same ELF, same
   entry, same page tables) with no hook at all.  Goal: ratio >= 0.9.
   Twice: with the loop's data page executable, and no-execute (as a
   kernel maps its data): only stores to a no-execute page can take
   Unicorn 2.1.4's fast path (see hvsim/arch/holes.py), so the second row
   is 5-8 times faster, on hvsim as on raw Unicorn.
2. hypercall: xen_version(XENVER_version) round trips per second through the
   hypercall page.  Goal: >= 250,000/s.
3. ping-pong: interdomain event-channel round trips per second between two
   domains (guests/tests/ping-pong: send, block, upcall, on both sides),
   measured as the difference between a long and a short run so that boot
   time cancels out.  Goal: >= 50,000/s.
4. grant copy: MB/s moved by GNTTABOP_copy between two domains
   (guests/tests/grant-copy: batches of 4 KiB copies from the other domain's
   grants), long run minus short run.
5. grant map+unmap: map_grant_ref + unmap_grant_ref pairs per second of a
   page another domain granted (guests/tests/shared-ring, maps=N).

The baseline of 4 is the same bytes moved by Python alone (4 KiB slice
copies between two mmaps, what the copy itself costs in the hypervisor's
language); that of 5 is raw Unicorn mapping one page with mem_map_ptr and
unmapping it again (each grant map or unmap changes the mapper's Unicorn
memory map once).

The baselines of 2 and 3 are what trapping into Python costs before any
hypervisor work: raw Unicorn instances running a loop of `in` instructions
with hvsim's own hook and emu_start primitives and an empty Python hook.
For 3 that is two instances, each taking two traps (send, block; the second
stops it) per turn, one emu_start each: a ceiling no Python hypervisor on
Unicorn can pass, whatever its event channel code does.

Every measurement is the best of REPEATS runs (the machine is shared).
Usage: bench/run.py [--quick]
"""

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_MODE_64, UC_PROT_ALL, Uc, x86_const  # noqa: E402

from hvsim.arch import uc as ucx                                       # noqa: E402
from hvsim.arch.x86.cpustate import CpuState                           # noqa: E402
from hvsim.arch.x86.vcpu import X86Vcpu                                # noqa: E402
from hvsim.boot.elf import load_kernel                                 # noqa: E402
from hvsim.boot.pvh import DomainSpec, build_domain                    # noqa: E402
from hvsim.hv.console import ConsoleSink                               # noqa: E402
from hvsim.hv.hypervisor import Hypervisor                             # noqa: E402

ROOT = os.path.dirname(HERE)
PING_PONG = os.path.join(ROOT, "guests", "build", "hvm64", "ping-pong.elf")
GRANT_COPY = os.path.join(ROOT, "guests", "build", "hvm64", "grant-copy.elf")
SHARED_RING = os.path.join(ROOT, "guests", "build", "hvm64", "shared-ring.elf")
COPY_KIB_PER_ROUND = 64                 # grant-copy: 16 pages a round
COMPUTE, HYPERCALL = 1, 2
COMPUTE_INSNS_PER_ITER = 7
REPEATS = 3


def build(workdir, workload, iterations, *defines):
    name = "g%d%s" % (workload, "".join("-" + d for d in defines))
    obj = os.path.join(workdir, name + ".o")
    elf = os.path.join(workdir, name + ".elf")
    subprocess.run(["gcc", "-m64", "-c", "-DWORKLOAD=%d" % workload,
                    "-DITERATIONS=%d" % iterations] + ["-D" + d for d in defines] +
                   [os.path.join(HERE, "guest64.S"), "-o", obj], check=True)
    subprocess.run(["ld", "-T", os.path.join(HERE, "guest.ld"), obj, "-o", elf], check=True)
    return elf


def run_hvsim(elf):
    """Seconds hvsim takes to boot and run the guest to its shutdown."""
    hv = Hypervisor(console=ConsoleSink(stream=None))
    d = build_domain(hv, DomainSpec(1, elf, 64 << 20))
    d.unpause()
    t = time.perf_counter()
    result = hv.run(timeout=600)
    took = time.perf_counter() - t
    if result.reason != "done" or d.crash_report:
        raise SystemExit("benchmark guest did not finish: %s %s" % (result.reason, d.crash_report))
    return took


def run_ping_pong(rounds):
    """Seconds two ping-pong domains take for `rounds` round trips (and boot)."""
    return run_pair(PING_PONG, "rounds=%d" % rounds)


def run_grant_copy(rounds):
    """Seconds grant-copy takes to pull `rounds` x 64 KiB in 4 KiB copies (and boot)."""
    return run_pair(GRANT_COPY, "rounds=%d chunk=4096" % rounds)


def run_grant_maps(maps):
    """Seconds shared-ring takes with `maps` extra map+unmap pairs (and the rest)."""
    return run_pair(SHARED_RING, "maps=%d" % maps)


def run_pair(elf, cmdline):
    """Seconds two domains running `elf` take to finish, both with SUCCESS."""
    hv = Hypervisor(console=ConsoleSink(stream=None))
    doms = [build_domain(hv, DomainSpec(domid, elf, 32 << 20, cmdline=cmdline))
            for domid in (1, 2)]
    for d in doms:
        d.unpause()
    t = time.perf_counter()
    result = hv.run(timeout=600)
    took = time.perf_counter() - t
    for d in doms:
        last = [l for l in d.console.transcript if l.strip()][-1:]
        if result.reason != "done" or last != ["Test result: SUCCESS"]:
            raise SystemExit("%s d%d did not succeed: %s %s" % (
                os.path.basename(elf), d.domid, result.reason, last))
    return took


def run_raw_unicorn(elf):
    """The same image on a bare Unicorn: no hooks, stop at workload_done."""
    k = load_kernel(elf)
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(0, 64 << 20, UC_PROT_ALL)
    for s in k.segments:
        uc.mem_write(s.paddr, s.data)
    pvh_entry_state(uc, k.entry)
    done = next(addr for addr, _, name in k.symbols if name == "workload_done")
    t = time.perf_counter()
    uc.emu_start(k.entry, done)
    return time.perf_counter() - t


def pvh_entry_state(uc, entry):
    """Give a bare Unicorn the state hvsim gives vCPU0 at the PVH entry (32-bit
    flat protected mode, paging off), with X86Vcpu.reset_pvh itself, run on an
    X86Vcpu holding only the engine parts it uses (uc, st, _rflags): no hooks,
    no domain."""
    cpu = X86Vcpu.__new__(X86Vcpu)
    cpu.uc, cpu.st, cpu._rflags = uc, CpuState(uc), ctypes.c_uint64()
    cpu.reset_pvh(entry, 0)


def _trap_loop_engine(on_trap):
    """A raw Unicorn running `1: in $0x10,%al; in $0x11,%al; jmp 1b` in its
    64-bit flat mode, with `on_trap(uc, port)` as a raw IN hook (what hvsim's
    hypercall traps use)."""
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(0x1000, 0x1000, UC_PROT_ALL)
    uc.mem_write(0x1000, bytes((0xE4, 0x10, 0xE4, 0x11, 0xEB, 0xFA)))
    hooks = ucx.RawHooks(uc)

    def hook(uch, port, size, ud):
        on_trap(uc, port)
        return 0
    hooks.add(UC_HOOK_INSN, ucx.CB_X86_IN, hook, insn=x86_const.UC_X86_INS_IN)
    uc.hvsim_bench_hooks = hooks            # keep the callbacks alive
    return uc


def run_raw_traps(calls):
    """Seconds for `calls` empty IN traps into Python in one emu_start."""
    left = [calls]

    def on_trap(uc, port):
        left[0] -= 1
        if not left[0]:
            ucx.emu_stop(uc)
    uc = _trap_loop_engine(on_trap)
    t = time.perf_counter()
    ucx.emu_start(uc, 0x1000)
    return time.perf_counter() - t


def run_raw_ping_pong(rounds):
    """Seconds for `rounds` turns of two raw Unicorn instances, each run by
    one emu_start per turn that takes two traps and is stopped by the second."""
    def on_trap(uc, port):
        if port == 0x11:
            ucx.emu_stop(uc)
    engines = [_trap_loop_engine(on_trap) for _ in range(2)]
    t = time.perf_counter()
    for _ in range(rounds):
        for uc in engines:
            ucx.emu_start(uc, 0x1000)
    return time.perf_counter() - t


def run_python_copies(rounds):
    """Seconds Python takes to move `rounds` x 64 KiB in 4 KiB slice copies
    between two anonymous mmaps (the grant copy baseline)."""
    import mmap
    src, dst = mmap.mmap(-1, 64 << 10), mmap.mmap(-1, 64 << 10)
    s, d = memoryview(src), memoryview(dst)
    t = time.perf_counter()
    for _ in range(rounds):
        for off in range(0, 64 << 10, 4096):
            d[off:off + 4096] = s[off:off + 4096]
    return time.perf_counter() - t


def run_raw_map_unmap(pairs):
    """Seconds raw Unicorn takes for `pairs` mem_map_ptr + mem_unmap of one page."""
    import mmap
    page = mmap.mmap(-1, 4096)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(0, 1 << 20, UC_PROT_ALL)
    t = time.perf_counter()
    for _ in range(pairs):
        uc.mem_map_ptr(2 << 20, 4096, UC_PROT_ALL, addr)
        uc.mem_unmap(2 << 20, 4096)
    return time.perf_counter() - t


def best(fn, *args):
    return min(fn(*args) for _ in range(REPEATS))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller workloads")
    args = ap.parse_args()
    iters = 10_000_000 if args.quick else 40_000_000
    calls = 100_000 if args.quick else 500_000
    rounds = 20_000 if args.quick else 100_000
    copy_rounds = 100 if args.quick else 500
    maps = 2_000 if args.quick else 10_000
    for guest in (PING_PONG, GRANT_COPY, SHARED_RING):
        if not os.path.exists(guest):
            raise SystemExit("bench: %s is missing: run `make guests` first" % guest)
    with tempfile.TemporaryDirectory() as wd:
        compute = build(wd, COMPUTE, iters)
        compute_nx = build(wd, COMPUTE, iters, "DATA_NX")
        hcall = build(wd, HYPERCALL, calls)
        insns = iters * COMPUTE_INSNS_PER_ITER
        raw = best(run_raw_unicorn, compute)
        hv = best(run_hvsim, compute)
        raw_nx = best(run_raw_unicorn, compute_nx)
        hv_nx = best(run_hvsim, compute_nx)
        hc = best(run_hvsim, hcall)
        pp = best(run_ping_pong, rounds) - best(run_ping_pong, 100)
    gc = best(run_grant_copy, copy_rounds) - best(run_grant_copy, 1)
    gm = best(run_grant_maps, maps) - best(run_grant_maps, 0)
    raw_hc = best(run_raw_traps, calls)
    raw_pp = best(run_raw_ping_pong, rounds)
    raw_gc = best(run_python_copies, copy_rounds - 1)
    raw_gm = best(run_raw_map_unmap, maps)
    copied_mb = (copy_rounds - 1) * COPY_KIB_PER_ROUND / 1024
    print("hvsim benchmarks (best of %d)" % REPEATS)
    print("%-34s %14s %14s %8s %8s" % ("", "hvsim", "baseline", "ratio", "goal"))
    print("%-34s %11.1f M/s %11.1f M/s %8.2f %8s" % (
        "compute: guest instructions", insns / hv / 1e6, insns / raw / 1e6, raw / hv, ">=0.90"))
    print("%-34s %11.1f M/s %11.1f M/s %8.2f %8s" % (
        "compute, data page no-execute", insns / hv_nx / 1e6, insns / raw_nx / 1e6,
        raw_nx / hv_nx, "-"))
    print("%-34s %12.0f/s %12.0f/s %8.2f %8s" % (
        "null hypercall (xen_version)", calls / hc, calls / raw_hc, raw_hc / hc, ">=250k"))
    print("%-34s %12.0f/s %12.0f/s %8.2f %8s" % (
        "interdomain ping-pong round trips", (rounds - 100) / pp, rounds / raw_pp,
        raw_pp / rounds / (pp / (rounds - 100)), ">=50k"))
    print("%-34s %10.1f MB/s %10.1f MB/s %8.2f %8s" % (
        "grant copy between two domains", copied_mb / gc, copied_mb / raw_gc, gc and raw_gc / gc,
        "-"))
    print("%-34s %12.0f/s %12.0f/s %8.2f %8s" % (
        "grant map+unmap pairs", maps / gm, maps / raw_gm, raw_gm / gm, "-"))
    print("  baselines (raw Unicorn %s): compute: same image, no hooks; hypercall: empty\n"
          "  Python IN hook; ping-pong: two instances, two empty traps and one emu_start\n"
          "  each per round trip; grant copy: the same bytes by Python slice copies;\n"
          "  map+unmap: mem_map_ptr + mem_unmap of one page" % __import__("unicorn").__version__)


if __name__ == "__main__":
    main()
