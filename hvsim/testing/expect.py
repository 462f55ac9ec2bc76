"""Expectations files: the verdict each test is known to give, and why.

`hvsim test --expect FILE` compares every test's verdict with FILE: a test
giving its expected verdict (a known SKIP or FAILURE with its reason) is
reported as expected, and the exit code reflects only the surprises.  The
format is tab-separated text, one test per line:

    # comment
    NAME<TAB>VERDICT<TAB>REASON

NAME is a test's name as `hvsim test --list` prints it (test-hvm64-xsa-195
for XTF, hvm64-example for the project's guests) or a shell pattern
(test-*-xsa-195); an exact name wins over a pattern, else the first matching
pattern.  VERDICT is SUCCESS, SKIP, ERROR, FAILURE or CRASH; every verdict
but SUCCESS needs its REASON.  A test no line names is expected to succeed.
tests/xtf-expected.tsv is the one for XTF: the verdicts Xen gives.
"""

import dataclasses
import fnmatch

from ..errors import ConfigError
from ..verdict import VERDICTS



@dataclasses.dataclass(frozen=True)
class Expectation:
    """A test's expected verdict, why, and where the file says so."""
    verdict: str = "SUCCESS"
    reason: str = ""
    where: str = ""


UNLISTED = Expectation()


class Expectations:
    """The lines of one expectations file, looked up by test name."""

    def __init__(self, exact=None, patterns=None, path=None):
        self.exact = exact or {}
        self.patterns = patterns or []
        self.path = path

    @classmethod
    def load(cls, path):
        """Read FILE; ConfigError (file:line: problem) for a malformed line."""
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ConfigError("--expect %s: cannot read: %s" % (path, e.strerror or e)) from None
        return cls.parse(text, path)

    @classmethod
    def parse(cls, text, path="<expectations>"):
        exact, patterns = {}, []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            where = "%s:%d" % (path, number)
            name, exp = _parse_line(line, where)
            if any(c in name for c in "*?["):
                patterns.append((name, exp))
            elif name in exact:
                raise ConfigError("%s: %s is already expected at %s"
                                  % (where, name, exact[name].where))
            else:
                exact[name] = exp
        return cls(exact, patterns, path)

    def get(self, name):
        """The Expectation for a test name (UNLISTED: SUCCESS)."""
        if name in self.exact:
            return self.exact[name]
        return next((exp for pattern, exp in self.patterns if fnmatch.fnmatchcase(name, pattern)),
                    UNLISTED)


def _parse_line(line, where):
    """(name, Expectation) for one NAME<TAB>VERDICT<TAB>REASON line."""
    fields = [f.strip() for f in line.split("\t")]
    if len(fields) < 2 or not fields[0]:
        raise ConfigError("%s: expected NAME<TAB>VERDICT<TAB>REASON, got %r" % (where, line))
    name, verdict = fields[0], fields[1]
    reason = " ".join(f for f in fields[2:] if f)
    if verdict not in VERDICTS:
        raise ConfigError("%s: %s: verdict %r is none of %s"
                          % (where, name, verdict, ", ".join(VERDICTS)))
    if verdict != "SUCCESS" and not reason:
        raise ConfigError("%s: %s: an expected %s needs its reason" % (where, name, verdict))
    return name, Expectation(verdict, reason, where)
