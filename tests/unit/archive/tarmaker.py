"""Build layer tars for tests (also used to regenerate the corpus: ``python tarmaker.py``)."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import zstandard


@dataclass
class E:
    """One tar entry: name, type (file/dir/sym/link/chr/fifo), payload and attributes."""

    name: str
    kind: str = "file"
    data: bytes = b""
    link: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 1_600_000_000
    xattrs: dict[str, str] = field(default_factory=dict)
    size: int | None = None


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "sym": tarfile.SYMTYPE,
    "link": tarfile.LNKTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def make_tar(entries: list[E], compression: str = "none") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = _TYPES[e.kind]
            info.mode, info.uid, info.gid, info.mtime = e.mode, e.uid, e.gid, e.mtime
            info.linkname = e.link
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e.xattrs.items()}
            if e.kind == "file":
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
            else:
                tar.addfile(info)
    data = out.getvalue()
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def _noise() -> bytes:
    """64 KiB that do not compress, the same on every run."""
    return b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(2048))


def _huge_size() -> bytes:
    data = bytearray(make_tar([E("big", data=b"x" * 10)]))
    # Rewrite the size field (offset 124 of the ustar header after the pax header) to 8 GiB - 1.
    header = data.find(b"big")
    start = header - header % 512
    data[start + 124 : start + 136] = b"%011o\x00" % ((8 << 30) - 1)
    checksum = sum(data[start : start + 148]) + 8 * 32 + sum(data[start + 156 : start + 512])
    data[start + 148 : start + 156] = b"%06o\x00 " % checksum
    return bytes(data)


def corpus() -> dict[str, bytes]:
    """Nasty layers, each of which must be refused with a clear error."""
    return {
        "dotdot.tar": make_tar([E("../escape", data=b"x")]),
        "dotdot-nested.tar": make_tar([E("a/../../escape", data=b"x")]),
        "absolute.tar": make_tar([E("/etc/escape", data=b"x")]),
        "symlink-then-write.tar": make_tar(
            [E("evil", "sym", link="/tmp"), E("evil/escape", data=b"x")]
        ),
        "symlink-relative-then-write.tar": make_tar(
            [E("d", "dir", mode=0o755), E("d/up", "sym", link="../.."), E("d/up/escape")]
        ),
        "hardlink-outside.tar": make_tar([E("passwd", "link", link="../../etc/passwd")]),
        "hardlink-absolute.tar": make_tar([E("passwd", "link", link="/etc/passwd")]),
        "hardlink-through-symlink.tar": make_tar(
            [E("s", "sym", link="/etc"), E("passwd", "link", link="s/passwd")]
        ),
        "device.tar": make_tar([E("dev/sda", "chr", mode=0o600)]),
        "block-device.tar": make_tar([E("dev/sdb", "blk", mode=0o600)]),
        "duplicate.tar": make_tar([E("a", data=b"1"), E("a", data=b"2")]),
        "truncated.tar.gz": make_tar([E("f", data=_noise())], "gzip")[:20_000],
        "truncated.tar": make_tar([E("f", data=_noise())])[:5000],
        "corrupt.tar.zst": make_tar([E("f", data=b"z" * 1000)], "zstd")[:-8] + b"\xff" * 8,
        "huge-size.tar": _huge_size(),
        "whiteout-slash.tar": make_tar([E("a/.wh.", data=b"")]),
        "garbage.tar": b"\x00\x01not a tar at all" * 40,
    }


if __name__ == "__main__":
    target = Path(__file__).parent / "corpus"
    target.mkdir(exist_ok=True)
    for name, data in corpus().items():
        (target / name).write_bytes(data)
