"""Host-input fuzzing of snapshot loading (`hvsim resume [--info] FILE`):
anything that is not a snapshot this hvsim wrote is refused in one line
naming the file, whatever its header says.  A snapshot's body is a pickle
and trusted (hvsim/snapshot/__init__.py); what is fuzzed is everything
checked before it is unpickled -- magic, format, header, size, checksum --
and a body whose checksum matches but whose bytes are not a snapshot."""

import json
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostfuzz import CORPUS as ALL_CORPORA, Field, clean, corpus, fuzz_settings, seeds_and_mutants

from hvsim.snapshot import fileformat, machine

PATH = "fuzz.snapshot"
CORPUS = ALL_CORPORA / "snapshot"


def snapshot_file(header, body):
    """The bytes fileformat.write() would write (body size and CRC filled in)."""
    header = dict(header, body_bytes=len(body), body_crc32=zlib.crc32(body))
    hjson = json.dumps(header, sort_keys=True).encode()
    return struct.pack("<8sHI", fileformat.MAGIC, fileformat.FORMAT_VERSION,
                       len(hjson)) + hjson + body


def a_header():
    return dict(fileformat.versions(), format=fileformat.FORMAT_VERSION, compression="zlib",
                created="2026-01-01T00:00:00Z", point="1ms", deterministic=True,
                virtual_ns=1000000, instructions=123, memory_bytes=16 << 20, stored_pages=3,
                domains=[{"domid": 1, "name": "d1", "state": "running"}])


def resume(tmp):
    """What `hvsim resume --info FILE` and `hvsim resume FILE` do with it."""
    def run(data):
        path = tmp / PATH
        path.write_bytes(data)
        header, _ = fileformat.read_header(str(path))
        fileformat.info_lines(str(path), header)
        return machine.load(str(path))
    return run


def prefix_fields(data):
    return [Field("format", 8, 2), Field("header_len", 10, 4)]


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2, 1 << 70), st.text(max_size=8),
                        st.lists(st.integers(), max_size=2), st.dictionaries(
                            st.text(max_size=4), st.integers(), max_size=2))


@st.composite
def mutated_header(draw):
    """A real header with keys dropped or given values of other types; a body
    that is not a snapshot (with its size and checksum right, so that it gets
    that far, unless those two are what was mutated)."""
    body = draw(st.sampled_from([b"", b"not zlib", zlib.compress(b"not a pickle"),
                                 zlib.compress(b"\x80\x05N.")]))     # a pickle of None
    header = dict(a_header(), body_bytes=len(body), body_crc32=zlib.crc32(body))
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(sorted(header) + ["domains.0"]))
        if key == "domains.0":
            header["domains"] = [draw(st.dictionaries(st.sampled_from(["domid", "name", "state"]),
                                                      JSON_VALUES))]
        elif draw(st.booleans()):
            header.pop(key, None)
        else:
            header[key] = draw(JSON_VALUES)
    hjson = json.dumps(header, sort_keys=True).encode()
    return struct.pack("<8sHI", fileformat.MAGIC, fileformat.FORMAT_VERSION,
                       len(hjson)) + hjson + body


SEEDS = [snapshot_file(a_header(), zlib.compress(b"\x80\x05N.")), b"", b"HVSIM", b"\x7fELF",
         fileformat.MAGIC + b"\x01\x00\xff\xff\xff\xff"]


@pytest.mark.parametrize("path", corpus("snapshot"))
def test_snapshot_corpus(path, tmp_path):
    clean("snapshot", resume(tmp_path), path.read_bytes(), str(tmp_path / PATH), field=False)


@fuzz_settings(400)
@given(st.one_of(mutated_header(), seeds_and_mutants(SEEDS, prefix_fields), st.binary()))
def test_fuzz_snapshot(tmp_path_factory, data):
    tmp = tmp_path_factory.getbasetemp()
    e = clean("snapshot", resume(tmp), data, str(tmp / PATH), field=False)
    assert isinstance(e, fileformat.SnapshotError), "accepted a file hvsim did not write"


@pytest.mark.parametrize("name,message", [
    # a header without a key, or with a value of another type, was a KeyError or a
    # TypeError in `hvsim resume --info` (info_lines) and in read_header's size check
    ("crash-header-point-missing", "corrupt snapshot header (point: missing)"),
    ("crash-header-body_bytes-null", "corrupt snapshot header (body_bytes: null is not a number)"),
    ("crash-header-domains-null", "corrupt snapshot header (domains: null is not a list)"),
    ("seed-domain-without-state", "corrupt snapshot header (domains[0].state: missing)"),
    # a version string with a newline made the error two lines
    ("seed-version-with-newline", "written by hvsim 0.1.0\\nTraceback"),
])
def test_snapshot_regressions(tmp_path, name, message):
    e = clean("snapshot", resume(tmp_path), (CORPUS / name).read_bytes(),
              str(tmp_path / PATH), field=False)
    assert isinstance(e, fileformat.SnapshotError) and message in str(e), e
