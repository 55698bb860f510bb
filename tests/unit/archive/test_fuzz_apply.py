"""Fuzz the layer applier: any input either applies inside its directory or fails cleanly."""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tarmaker import E, corpus, make_tar

from wharf.archive import apply_layer
from wharf.errors import WharfError

_PARTS = st.sampled_from(["a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", "/", "c d"])
_NAMES = st.lists(_PARTS, min_size=1, max_size=4).map("/".join)
_ENTRIES = st.builds(
    E,
    name=_NAMES,
    kind=st.sampled_from(["file", "dir", "sym", "link", "fifo", "chr"]),
    data=st.binary(max_size=64),
    link=st.one_of(_NAMES, st.sampled_from(["/", "/etc", "../../..", "a"])),
    mode=st.integers(0, 0o7777),
    mtime=st.integers(0, 2**33),
)


def _check(data: bytes, whiteouts: str = "delete") -> None:
    with tempfile.TemporaryDirectory(prefix="images-fuzz-") as tmp:
        sandbox = Path(tmp)
        dest = sandbox / "dest"
        dest.mkdir()
        (sandbox / "sentinel").write_text("x")
        try:
            apply_layer(io.BytesIO(data), dest, whiteouts=whiteouts)  # type: ignore[arg-type]
        except WharfError as exc:
            assert str(exc)
        assert sorted(os.listdir(sandbox)) == ["dest", "sentinel"]
        # Symlinks in the layer point anywhere; nothing may have been written through them.
        for outside in ("/a", "/b", "/c d", "/etc/a", "/etc/b", "/etc/c d", "/tmp/a", "/tmp/b"):
            assert not os.path.lexists(outside), outside
        for dirpath, _, _ in os.walk(dest):
            os.chmod(dirpath, 0o755)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(_ENTRIES, max_size=8), mode=st.sampled_from(["delete", "overlay"]))
# Regressions the fuzzer found: a hardlink to itself; a directory replaced by a file while
# its fd was cached; a whiteout of a parent created implicitly by the same layer.
@example(entries=[E("a", "link", link="a")], mode="delete")
@example(entries=[E("a/a/a"), E("a/a", data=b"x")], mode="delete")
@example(entries=[E("a/a", "dir"), E(".wh.a")], mode="delete")
def test_random_layers_apply_inside_or_fail_cleanly(entries: list[E], mode: str) -> None:
    if mode == "overlay" and os.geteuid() != 0:
        mode = "delete"
    _check(make_tar(entries), mode)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=2048), cut=st.integers(0, 4096))
@example(data=b"", cut=0)
def test_random_bytes_and_truncations_fail_cleanly(data: bytes, cut: int) -> None:
    valid = make_tar([E("d", "dir", mode=0o755), E("d/f", data=b"hello" * 100)], "gzip")
    _check(data)
    _check(valid[:cut])


def test_corpus_through_the_fuzz_checker() -> None:
    for data in corpus().values():
        _check(data)


def _ustar(entries: list[E]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type, info.linkname, info.size = tarfile.REGTYPE, "", len(e.data)
            tar.addfile(info, io.BytesIO(e.data))
    return out.getvalue()


# Three one-block files: headers sit at blocks 0, 2 and 4.
_VALID = _ustar([E("a", data=b"1" * 100), E("b/c", data=b"2" * 100), E("d", data=b"3")])


@settings(max_examples=300, deadline=None)
@given(
    block=st.sampled_from([0, 2, 4]),
    offset=st.integers(0, 511),
    value=st.integers(0, 255),
)
def test_mutated_headers_with_valid_checksums_fail_cleanly(
    block: int, offset: int, value: int
) -> None:
    data = bytearray(_VALID)
    start = block * 512
    data[start + offset] = value
    if not 148 <= offset < 156:
        header = data[start : start + 512]
        header[148:156] = b" " * 8
        data[start + 148 : start + 156] = b"%06o\x00 " % sum(header)
    _check(bytes(data))
