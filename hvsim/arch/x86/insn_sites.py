"""Find the instructions Unicorn cannot trap by itself.

RDMSR/WRMSR have no Unicorn hook and unknown MSRs are silently ignored, so
hvsim scans the guest's executable segments for the opcode bytes 0f 32 /
0f 30 and registers an *exit* at each one (Unicorn stops before executing
an instruction that starts at an exit address; one lookup per translated
instruction, nothing at run time).  A position only stops the guest if an
instruction really starts there, and then it is rdmsr/wrmsr, so false
positives cost nothing.  Sites are registered at both the segment's virtual
and physical address, because a kernel runs its early code at the physical
address before it enables paging.

Not covered (documented limitation): MSR instructions in code created at
run time, and the rare prefixed encodings; Unicorn then handles them itself.
"""

WRMSR = b"\x0f\x30"
RDMSR = b"\x0f\x32"


def find_sites(data):
    """Offsets of rdmsr/wrmsr opcode pairs in `data`."""
    out = []
    for pat in (WRMSR, RDMSR):
        i = data.find(pat)
        while i >= 0:
            out.append(i)
            i = data.find(pat, i + 1)
    return sorted(out)


def msr_exit_addresses(segments):
    """segments: iterable of (vaddr, paddr, data, executable)."""
    addrs = set()
    for vaddr, paddr, data, executable in segments:
        if not executable:
            continue
        for off in find_sites(data):
            addrs.add(vaddr + off)
            addrs.add(paddr + off)
    return sorted(addrs)
