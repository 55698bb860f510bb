"""A content store on the local filesystem: ``blobs/<alg>/<hex>`` and ``ingest/``."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

from wharf.content.protocols import Info
from wharf.errors import AlreadyExists, InvalidArgument, NotFound
from wharf.oci.digest import Digest, DigestMismatch

__all__ = ["LocalContentStore", "Writer"]

_CHUNK = 1 << 20
_ALGORITHMS = ("sha256", "sha512")


def fsync_dir(path: Path) -> None:
    """Make a rename or link inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Writer:
    """A streaming ingest into a private file under ``ingest/``.

    Use as a context manager: leaving the block without :meth:`commit` aborts.
    """

    def __init__(self, store: LocalContentStore, algorithm: str) -> None:
        if algorithm not in _ALGORITHMS:
            raise InvalidArgument(
                f"content writer: unsupported algorithm {algorithm!r} (expected sha256/sha512)"
            )
        self._store = store
        self._algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self.path = store.root / "ingest" / uuid.uuid4().hex
        self._file: BinaryIO | None = open(self.path, "xb")  # noqa: SIM115 - closed in commit/abort
        self.size = 0

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()

    def write(self, data: bytes) -> int:
        if self._file is None:
            raise InvalidArgument(f"content writer {self.path.name}: already closed")
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def copy_from(self, stream: IO[bytes], limit: int | None = None) -> None:
        """Copy ``stream`` (or its first ``limit`` bytes) into the writer in chunks."""
        remaining = limit
        while remaining is None or remaining > 0:
            chunk = stream.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
            if not chunk:
                if remaining:
                    raise DigestMismatch(
                        f"content writer: stream ended {remaining} bytes before its size"
                    )
                return
            self.write(chunk)
            if remaining is not None:
                remaining -= len(chunk)

    def digest(self) -> Digest:
        return Digest(self._algorithm, self._hash.hexdigest())

    def commit(self, expected: Digest | None = None, size: int | None = None) -> Info:
        """Verify, fsync and publish the blob.

        Args:
            expected: the digest the bytes must hash to (None: accept what was written).
            size: the size the bytes must have.

        Raises:
            DigestMismatch: the bytes do not match ``expected`` or ``size``.
            AlreadyExists: the blob was stored already (this copy is dropped).
        """
        if self._file is None:
            raise InvalidArgument(f"content writer {self.path.name}: already closed")
        actual = self.digest()
        try:
            if expected is not None and expected != actual:
                raise DigestMismatch(f"blob digest mismatch: expected {expected}, got {actual}")
            if size is not None and size != self.size:
                raise DigestMismatch(
                    f"blob {actual}: size mismatch: expected {size} bytes, got {self.size}"
                )
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            target = self._store.blob_path(actual)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self.path, 0o444)
            try:
                # link(2) fails on an existing name: of two racing ingests one wins.
                os.link(self.path, target)
            except FileExistsError:
                raise AlreadyExists(f"blob {actual} already exists") from None
            fsync_dir(target.parent)
            return Info(actual, self.size)
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop the ingest; idempotent."""
        if self._file is not None:
            self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class LocalContentStore:
    """Blobs under ``root/blobs/<alg>/<hex>``; in-flight ingests under ``root/ingest``.

    Ingests left by a crash are removed when the store is opened.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "ingest").mkdir(parents=True, exist_ok=True)
        for alg in _ALGORITHMS:
            (self.root / "blobs" / alg).mkdir(parents=True, exist_ok=True)
        for stale in (self.root / "ingest").iterdir():
            stale.unlink()

    def blob_path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.encoded

    def writer(self, algorithm: str = "sha256") -> Writer:
        """Start an ingest."""
        return Writer(self, algorithm)

    def ingest(
        self,
        stream: BinaryIO,
        expected: Digest | None = None,
        size: int | None = None,
    ) -> Info:
        """Stream a whole blob in; a blob stored already is not an error.

        Raises:
            DigestMismatch: the bytes do not match ``expected``/``size``.
        """
        algorithm = expected.algorithm if expected is not None else "sha256"
        if expected is not None and self.exists(expected):
            # Drain nothing: the caller's stream is left as is, the blob is known.
            info = self.info(expected)
            if size is not None and info.size != size:
                raise DigestMismatch(f"blob {expected}: stored size {info.size}, expected {size}")
            return info
        with self.writer(algorithm) as writer:
            writer.copy_from(stream, size)
            try:
                return writer.commit(expected, size)
            except AlreadyExists:
                return self.info(writer.digest())

    def ingest_bytes(self, data: bytes, expected: Digest | None = None) -> Info:
        """Store small bytes (manifests, configs)."""
        digest = expected or Digest.from_bytes(data)
        if self.exists(digest):
            return self.info(digest)
        with self.writer(digest.algorithm) as writer:
            writer.write(data)
            try:
                return writer.commit(digest, len(data))
            except AlreadyExists:
                return self.info(digest)

    def exists(self, digest: Digest) -> bool:
        return self.blob_path(digest).is_file()

    def info(self, digest: Digest) -> Info:
        """Raises:
        NotFound: no such blob.
        """
        try:
            return Info(digest, self.blob_path(digest).stat().st_size)
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store") from None

    def open(self, digest: Digest) -> BinaryIO:
        """Open a blob for reading.

        Raises:
            NotFound: no such blob.
        """
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store") from None

    def read_bytes(self, digest: Digest, *, limit: int = 16 << 20) -> bytes:
        """Read a small blob whole (manifests, configs); ``limit`` guards memory.

        Raises:
            NotFound: no such blob.
            InvalidArgument: the blob is larger than ``limit``.
        """
        info = self.info(digest)
        if info.size > limit:
            raise InvalidArgument(f"blob {digest}: {info.size} bytes exceeds {limit} for JSON")
        with self.open(digest) as f:
            return f.read()

    def walk(self) -> Iterator[Info]:
        for alg in _ALGORITHMS:
            for path in sorted((self.root / "blobs" / alg).iterdir()):
                yield Info(Digest(alg, path.name), path.stat().st_size)

    def delete(self, digest: Digest) -> None:
        """Raises:
        NotFound: no such blob.
        """
        try:
            self.blob_path(digest).unlink()
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store") from None
