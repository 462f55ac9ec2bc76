"""Find the instructions Unicorn cannot trap by itself.

RDMSR/WRMSR have no Unicorn hook and unknown MSRs are silently ignored, and
SYSRET runs natively with AMD semantics, so hvsim scans the guest's
executable segments for their opcode bytes (0f 32, 0f 30, [REX.W] 0f 07)
and registers an *exit* at each one (Unicorn stops before executing
an instruction that starts at an exit address; one lookup per translated
instruction, nothing at run time).  A position only stops the guest if an
instruction really starts there, and then it is rdmsr/wrmsr, so false
positives cost nothing.  Sites are registered at both the segment's virtual
and physical address, because a kernel runs its early code at the physical
address before it enables paging.

The same scan finds the *interrupt-window* sites: sti, popf and iret, the
instructions that can set EFLAGS.IF.  Their exits are loaded only while an
upcall waits for the guest to enable interrupts (X86Vcpu.set_interrupt_window),
so that it is delivered right after them as Xen's interrupt-window exiting
does; the rest of the time they cost nothing either.

Not covered (documented limitation): these instructions in code created at
run time, and prefixed rdmsr/wrmsr encodings; Unicorn then handles them.
"""

WRMSR = b"\x0f\x30"
RDMSR = b"\x0f\x32"
SYSRET = b"\x0f\x07"


def _find_all(data, pat):
    """Every offset where `pat` (bytes, or one byte value) occurs in `data`."""
    i = data.find(pat)
    while i >= 0:
        yield i
        i = data.find(pat, i + 1)


def find_sites(data):
    """Offsets where rdmsr, wrmsr or sysret may start in `data` (a REX
    prefix before 0f 07 makes the REX byte the instruction start)."""
    out = set()
    for pat in (WRMSR, RDMSR, SYSRET):
        for i in _find_all(data, pat):
            out.add(i)
            if pat == SYSRET and i and 0x40 <= data[i - 1] <= 0x4F:
                out.add(i - 1)
    return sorted(out)


STI = 0xFB
POPF = 0x9D
IRET = 0xCF
OPERAND_PREFIXES = (0x66, 0x48)        # popfw / iretd..iretq


def find_window_sites(data):
    """Offsets where sti, popf or iret may start (with an operand-size or
    REX.W prefix, the prefix is the start)."""
    out = set()
    for op in (STI, POPF, IRET):
        for i in _find_all(data, op):
            out.add(i)
            if op != STI and i and data[i - 1] in OPERAND_PREFIXES:
                out.add(i - 1)
    return sorted(out)


def _addresses(segments, finder):
    addrs = set()
    for vaddr, paddr, data, executable in segments:
        if not executable:
            continue
        for off in finder(data):
            addrs.add(vaddr + off)
            addrs.add(paddr + off)
    return sorted(addrs)


def exit_addresses(segments):
    """segments: iterable of (vaddr, paddr, data, executable)."""
    return _addresses(segments, find_sites)


def window_addresses(segments):
    """The interrupt-window sites of the same segments."""
    return _addresses(segments, find_window_sites)
