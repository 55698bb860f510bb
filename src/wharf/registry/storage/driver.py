"""The storage driver seam: a small path-keyed blob store (distribution's ``storagedriver``).

Paths are ``/``-separated keys built only by :mod:`wharf.registry.storage.layout` from
validated names and digests. A driver promises: :meth:`StorageDriver.put_content` and
:meth:`StorageDriver.move` replace the target atomically (readers see the old or the new
bytes, never a mix), so several registry processes can share one store. An S3-compatible
driver implements the same methods; :meth:`StorageDriver.local_path` lets the filesystem
driver serve blobs with ``sendfile``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

__all__ = ["FileInfo", "FileWriter", "StorageDriver"]


@dataclass(frozen=True)
class FileInfo:
    """What :meth:`StorageDriver.stat` reports.

    Attributes:
        path: the key.
        size: bytes (0 for directories).
        mtime: last modification, seconds since the epoch.
        is_dir: a prefix with children rather than a file.
    """

    path: str
    size: int
    mtime: float
    is_dir: bool


class FileWriter(Protocol):
    """An append-only writer of one key; bytes are durable once :meth:`close` returns."""

    @property
    def size(self) -> int:
        """Bytes in the file so far, including what was there when it was opened."""
        ...

    def write(self, data: bytes | bytearray) -> None:
        """Append ``data``."""
        ...

    def close(self) -> None:
        """Flush and release the writer."""
        ...


class StorageDriver(Protocol):
    """Path-keyed storage. Missing keys raise :class:`wharf.errors.NotFound`."""

    def get_content(self, path: str) -> bytes:
        """The whole content of a (small) key."""
        ...

    def put_content(self, path: str, data: bytes) -> None:
        """Write a key atomically, creating parents."""
        ...

    def stat(self, path: str) -> FileInfo:
        """Size and time of a key or prefix."""
        ...

    def list(self, path: str) -> list[str]:
        """The names of the direct children of a prefix, unsorted."""
        ...

    def move(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` atomically, replacing ``dst``."""
        ...

    def delete(self, path: str) -> None:
        """Remove a key or a whole prefix; a missing path raises NotFound."""
        ...

    def touch(self, path: str) -> None:
        """Set a key's mtime to now (the garbage collector's grace clock)."""
        ...

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        """A binary file object positioned at ``offset``."""
        ...

    def writer(self, path: str, *, append: bool) -> FileWriter:
        """A writer that appends (``append=True``) or truncates."""
        ...

    def local_path(self, path: str) -> Path | None:
        """A local filesystem path to the key's bytes, or None for remote drivers."""
        ...
