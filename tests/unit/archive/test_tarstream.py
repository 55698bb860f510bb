"""The fast tar reader parses what tarfile parses (it replaces tarfile in the applier)."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wharf.archive.tarstream import TarReader
from wharf.errors import DataLoss, InvalidArgument


def _fields(info: tarfile.TarInfo) -> tuple[object, ...]:
    return (
        info.name,
        info.type,
        info.size if info.isreg() else 0,
        info.mode,
        info.uid,
        info.gid,
        int(info.mtime),
        info.linkname,
        info.devmajor,
        info.devminor,
        {k: v for k, v in info.pax_headers.items() if k.startswith("SCHILY.")},
    )


def _both(data: bytes) -> tuple[list[tuple[object, ...]], list[bytes], list[tuple[object, ...]]]:
    expected = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        for info in tar:
            expected.append(_fields(info))
    got, contents = [], []
    reader = TarReader(io.BufferedReader(io.BytesIO(data)))
    for info in reader:
        got.append(_fields(info))
        contents.append(reader.read(1 << 30) if info.isreg() else b"")
    return expected, contents, got


def _archive(fmt: int, entries: list[tuple[str, bytes, int, dict[str, str]]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, data, uid, xattrs in entries:
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.mtime = len(data), uid, 1_700_000_000
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
            tar.addfile(info, io.BytesIO(data))
        for kind, name, link in (
            (tarfile.SYMTYPE, "link", "/target"),
            (tarfile.LNKTYPE, "hard", entries[0][0]),
            (tarfile.DIRTYPE, "d" * 120, ""),
            (tarfile.CHRTYPE, "dev/null", ""),
            (tarfile.FIFOTYPE, "fifo", ""),
        ):
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.devmajor, info.devminor = kind, link, 1, 3
            tar.addfile(info)
    return out.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_formats_parse_like_tarfile(fmt: int) -> None:
    long_name = "a/" + "b" * 150 + "/c.txt" if fmt != tarfile.USTAR_FORMAT else "a/" * 60 + "c"
    entries = [
        ("plain", b"hello", 0, {}),
        (long_name, b"x" * 1000, 1000, {}),
        ("é-utf8", b"", 7, {}),
    ]
    if fmt != tarfile.USTAR_FORMAT:
        entries.append(("biguid", b"", 2**31, {}))
    if fmt == tarfile.PAX_FORMAT:
        entries.append(("xattr", b"v", 0, {"user.k": "value", "security.capability": "\x01"}))
    expected, contents, got = _both(_archive(fmt, entries))
    assert got == expected
    assert contents[0] == b"hello"
    assert contents[1] == b"x" * 1000


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(
        st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=200),
        min_size=1,
        max_size=5,
    ),
    data=st.binary(max_size=2000),
)
def test_random_names_and_sizes_parse_like_tarfile(names: list[str], data: bytes) -> None:
    archive = _archive(tarfile.PAX_FORMAT, [(n, data, 0, {}) for n in names])
    expected, _, got = _both(archive)
    assert got == expected


def test_corrupt_headers_are_data_loss() -> None:
    good = _archive(tarfile.USTAR_FORMAT, [("f", b"data", 0, {})])
    bad = bytearray(good)
    bad[10] ^= 0xFF  # name byte: checksum no longer matches
    with pytest.raises(DataLoss, match="checksum"):
        list(TarReader(io.BufferedReader(io.BytesIO(bytes(bad)))))
    with pytest.raises(DataLoss, match="empty"):
        list(TarReader(io.BufferedReader(io.BytesIO(b""))))
    reader = TarReader(io.BufferedReader(io.BytesIO(good[:600])))
    with pytest.raises(DataLoss, match="end of data"):
        for _ in reader:
            pass


def test_oversized_pax_record_is_refused() -> None:
    huge = {"SCHILY.xattr.user.big": "x" * (2 << 20)}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("f")
        info.pax_headers = huge
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(InvalidArgument, match="too large"):
        list(TarReader(io.BufferedReader(io.BytesIO(out.getvalue()))))
