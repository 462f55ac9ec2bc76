"""Verdicts and exit codes: xtf-runner's rules, shared by every command that
runs guests (`hvsim run/boot/resume/step/test`).

A guest's verdict is the 'Test result:' of its last console line (SUCCESS,
SKIP, ERROR, FAILURE, in the order they get worse); a crash, no result line,
or still running when the run ends (a timeout) is CRASH.  A command exits
with its worst verdict's code, as xtf-runner does; the other codes say why
no verdict was given.
"""

from .toolstack.xenconsoled import verdict_transcript

# xtf-runner's exit codes and the order in which verdicts get worse
VERDICTS = ("SUCCESS", "SKIP", "ERROR", "FAILURE", "CRASH")
EXIT_CODES = {"SUCCESS": 0, "SKIP": 3, "ERROR": 4, "FAILURE": 5, "CRASH": 6}
EXIT_USAGE = 2
EXIT_INTERNAL = 70              # an internal error (a bug in hvsim): sysexits' EX_SOFTWARE
EXIT_INTERRUPTED = 130          # as a shell reports a process killed by SIGINT
EXIT_BROKEN_PIPE = 141          # as a shell reports a process killed by SIGPIPE


def verdict_of(domain):
    """xtf-runner's rule: the last console line's 'Test result:' (the PV
    console's, as xtf-runner reads `xl console`, else console_io's); a crash,
    or not having finished when the run ended (a timeout, Ctrl-C, no way to
    go on), is CRASH whatever was printed.  A domain that shut down before
    the run was cut short keeps its verdict."""
    if not domain.finished or domain.crash_report is not None:
        return "CRASH"
    lines = [l for l in verdict_transcript(domain) if l.strip()]
    if not lines or "Test result:" not in lines[-1]:
        return "CRASH"
    for v in VERDICTS[:4]:
        if v in lines[-1]:
            return v
    return "CRASH"


def worst(verdicts):
    return max(verdicts, key=VERDICTS.index) if verdicts else "CRASH"
