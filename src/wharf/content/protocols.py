"""The roles of a content store, as small protocols (containerd's Provider/Ingester/Manager)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from wharf.oci.digest import Digest

__all__ = ["Info", "Ingester", "Manager", "Provider", "Store", "WriterLike"]


@dataclass(frozen=True)
class Info:
    """What the store knows of a committed blob."""

    digest: Digest
    size: int


class WriterLike(Protocol):
    """A streaming ingest; see :class:`wharf.content.local.Writer`."""

    def write(self, data: bytes) -> int: ...

    def commit(self, expected: Digest | None = None, size: int | None = None) -> Info: ...

    def abort(self) -> None: ...


class Provider(Protocol):
    """Reads committed blobs."""

    def info(self, digest: Digest) -> Info: ...

    def open(self, digest: Digest) -> BinaryIO: ...

    def read_bytes(self, digest: Digest, *, limit: int = ...) -> bytes: ...


class Ingester(Protocol):
    """Writes new blobs through a verified commit."""

    def writer(self, algorithm: str = "sha256") -> WriterLike: ...


class Manager(Protocol):
    """Lists and deletes blobs."""

    def walk(self) -> Iterator[Info]: ...

    def delete(self, digest: Digest) -> None: ...


class Store(Provider, Ingester, Manager, Protocol):
    """A full content store."""
