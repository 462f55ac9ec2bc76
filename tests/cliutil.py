"""Reading back what an `hvsim` command wrote.  stdout holds only the guests'
consoles (and what was asked for on it: --json, --trace -, --list, ...);
every line hvsim writes itself (Xen's "(XEN)" lines, crash and timeout
reports, "hvsim: ..." messages, the summary table of run, boot and resume) is on
stderr; `hvsim test` writes its result table on stdout, as xtf-runner does."""

SUMMARY_HEADER = "domain "


def summary_table(stderr):
    """The summary table's lines (header first) from a command's stderr;
    [] if it has none."""
    lines = stderr.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith(SUMMARY_HEADER)), None)
    if start is None:
        return []
    table = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("d") or len(line.split()) < 6:
            break
        table.append(line)
    return table


def summary(stderr):
    """{domain: (ended, verdict)} from the summary table on stderr."""
    rows = {}
    for line in summary_table(stderr)[1:]:
        parts = line.split()
        rows[parts[0]] = (parts[-4], parts[-3])
    return rows


def xen_lines(stderr):
    """Xen's own lines ("(XEN) ...") from a command's stderr."""
    return [l for l in stderr.splitlines() if l.startswith("(XEN) ")]


def hvsim_lines(stderr):
    """hvsim's messages ("hvsim: ...") from a command's stderr."""
    return [l for l in stderr.splitlines() if l.startswith("hvsim: ")]
