"""The host-input fuzzing harness (tests/test_hostfuzz_*.py): hypothesis
settings, the one outcome check every target shares, structure-aware
mutation of valid inputs, and the corpora in tests/corpus/<target>/.

Every input a host gives hvsim (an ELF, an MBI, an LCM, a boot config, a
snapshot file, a gdb packet) must end in one of two ways: accepted, or
refused with one HostInputError line naming the file (and, for the parsers
that have fields, the field).  Anything else -- another exception, a
multi-line message, an answer that takes longer than HANG_SECONDS -- is a
crash: under HVSIM_FUZZ_SAVE=1 its input is written to the target's corpus
(tests/corpus/<target>/crash-<sha1>), which `make test` replays for good
once the fix is in.

Two profiles, chosen by HVSIM_FUZZ:
* unset (`make test`): derandomized (the same inputs on every run, no
  example database), a few hundred inputs per target, the whole suite of
  targets in about a minute on two cores;
* HVSIM_FUZZ=long (`make fuzz-host`): random, LONG_FACTOR times the inputs,
  failures kept in .hypothesis/ and saved to the corpus.
"""

import contextlib
import hashlib
import os
import pathlib
import signal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.control import current_build_context
from hypothesis.errors import InvalidArgument
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis import strategies as st

from hvsim.errors import HostInputError

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus"
LONG = os.environ.get("HVSIM_FUZZ") == "long"
SAVE = LONG or os.environ.get("HVSIM_FUZZ_SAVE") == "1"
LONG_FACTOR = int(os.environ.get("HVSIM_FUZZ_FACTOR", "50"))
HANG_SECONDS = 10
DATABASE = DirectoryBasedExampleDatabase(str(ROOT / ".hypothesis" / "examples"))


def fuzz_settings(examples):
    """hypothesis settings for a target tried `examples` times in `make test`."""
    return settings(max_examples=examples * (LONG_FACTOR if LONG else 1),
                    derandomize=not LONG, database=DATABASE if LONG else None,
                    deadline=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


# ---- outcomes ------------------------------------------------------------------------------------
class Hang(Exception):
    """The target did not answer within HANG_SECONDS."""


@contextlib.contextmanager
def time_limit(seconds=HANG_SECONDS):
    def on_alarm(signum, frame):
        raise Hang("no answer within %d s" % seconds)
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check_refusal(e, source, field=True):
    """A HostInputError is one line naming `source` (or one of the tuple
    `source`: an input read in a chain names the stage's input, e.g. the Xen
    command line inside an MBI; None: any file) and a field, if `field`."""
    text = str(e)
    sources = source if isinstance(source, tuple) else (source,)
    assert "\n" not in text and "\r" not in text, "a multi-line error: %r" % text
    assert source is None or str(e.file) in map(str, sources), \
        "the error names %r, not %r" % (e.file, source)
    if field:
        assert e.field, "the error names no field: %r" % text
    assert e.problem


def clean(target, fn, data, source, field=True):
    """fn(data) returns (its result) or raises one clean HostInputError
    (returned).  Anything else fails the test, after saving `data` as a crash
    of `target` when SAVE."""
    try:
        with time_limit():
            return fn(data)
    except HostInputError as e:
        check_refusal(e, source, field)
        return e
    except BaseException as e:
        if SAVE and _final_example() and not isinstance(e, (KeyboardInterrupt,
                                                             pytest.skip.Exception)):
            save_crash(target, data)
        raise


def _final_example():
    """True in hypothesis's last run of the (shrunk) failing example."""
    try:
        return current_build_context().is_final
    except InvalidArgument:          # not inside a hypothesis test: a corpus replay
        return False


def save_crash(target, data):
    raw = data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogatepass")
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / ("crash-" + hashlib.sha1(raw).hexdigest()[:16])).write_bytes(raw)


def corpus(target):
    """The files of tests/corpus/<target>/ (seeds and crashes), as pytest params."""
    d = CORPUS / target
    files = sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []
    return [pytest.param(p, id=p.name) for p in files]


# ---- structure-aware mutation ----------------------------------------------------------------------
class Field:
    """A fixed-size integer field of an input: where, how wide, which byte order."""

    __slots__ = ("name", "offset", "size", "order")

    def __init__(self, name, offset, size, order="little"):
        self.name = name
        self.offset = offset
        self.size = size
        self.order = order

    def get(self, buf):
        return int.from_bytes(buf[self.offset:self.offset + self.size], self.order)

    def put(self, buf, value):
        if self.offset + self.size <= len(buf):
            buf[self.offset:self.offset + self.size] = (value % (1 << 8 * self.size)).to_bytes(
                self.size, self.order)

    def __repr__(self):
        return "Field(%s @%#x/%d)" % (self.name, self.offset, self.size)


@st.composite
def field_value(draw, field, buf):
    """A value for a field: a boundary, near the old value, or anything."""
    top = (1 << 8 * field.size) - 1
    old = field.get(buf)
    return draw(st.one_of(
        st.sampled_from([0, 1, 2, 3, 4, 7, 8, 16, 0x7F, 0x80, 0xFF, 0x100, 0x1000, top,
                         top - 1, top >> 1, (top >> 1) + 1, len(buf), len(buf) + 1]),
        st.integers(-64, 64).map(lambda d: old + d),
        st.integers(0, top)))


@st.composite
def mutated(draw, seed, fields, max_edits=4):
    """`seed` with 1..max_edits edits: most set a known field (a header
    field, a length, an offset, a count) to a boundary or nearby value;
    some flip a byte, cut the input short, or insert bytes."""
    buf = bytearray(seed)
    for _ in range(draw(st.integers(1, max_edits))):
        kind = draw(st.sampled_from(("field",) * 6 + ("byte", "truncate", "insert")))
        if kind == "field" and fields:
            f = draw(st.sampled_from(fields))
            f.put(buf, draw(field_value(f, buf)))
        elif kind == "byte" and buf:
            buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del buf[draw(st.integers(0, len(buf))):]
        elif kind == "insert":
            at = draw(st.integers(0, len(buf)))
            buf[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(buf)


def seeds_and_mutants(seeds, fields_of, max_edits=4):
    """A strategy over several seeds: a seed as is, or mutated field by field."""
    seeds = list(seeds)
    return st.sampled_from(seeds).flatmap(
        lambda s: st.one_of(st.just(s), mutated(s, fields_of(s), max_edits)))
