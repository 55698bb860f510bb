"""Layer stream decompression by magic number, and a hashing reader for diff IDs."""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from typing import BinaryIO, Final, Literal

import zstandard

from wharf.errors import DataLoss
from wharf.oci.digest import Digest

__all__ = ["Compression", "HashingReader", "decompressed", "detect"]

Compression = Literal["none", "gzip", "zstd"]

_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"


class _Prefixed(io.RawIOBase):
    """A stream with some bytes already read from it put back in front."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer)
        if self._prefix:
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(view))
        view[: len(data)] = data
        return len(data)


class _Translating(io.RawIOBase):
    """Wraps a decompressor so truncated or corrupt input raises :class:`DataLoss`."""

    def __init__(self, inner: BinaryIO, kind: str) -> None:
        self._inner = inner
        self._kind = kind

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except (EOFError, OSError, zlib.error, zstandard.ZstdError) as exc:
            raise DataLoss(f"layer stream: corrupt or truncated {self._kind} data ({exc})") from exc
        memoryview(buffer)[: len(data)] = data
        return len(data)


def detect(head: bytes) -> Compression:
    """The compression of a stream that starts with ``head``."""
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return "none"


def decompressed(stream: BinaryIO) -> tuple[BinaryIO, Compression]:
    """A reader of the uncompressed bytes of ``stream`` (plain, gzip or zstd, by magic)."""
    head = stream.read(4)
    kind = detect(head)
    raw = io.BufferedReader(_Prefixed(head, stream), 1 << 20)
    if kind == "gzip":
        inner: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    elif kind == "zstd":
        inner = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    else:
        return raw, kind
    return io.BufferedReader(_Translating(inner, kind), 1 << 20), kind


class HashingReader(io.RawIOBase):
    """Counts and hashes the bytes read through it (the diff ID of a layer)."""

    def __init__(self, stream: BinaryIO, algorithm: str = "sha256") -> None:
        self._stream = stream
        self._hash = hashlib.new(algorithm)
        self._algorithm = algorithm
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def drain(self) -> None:
        """Read to the end (a tar's trailing padding counts in its digest)."""
        while self.read(1 << 20):
            pass

    def digest(self) -> Digest:
        return Digest(self._algorithm, self._hash.hexdigest())
