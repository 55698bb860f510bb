"""The registry's storage model over a :class:`StorageDriver` (distribution's layout).

Layout under the driver root (``<alg>`` is ``sha256`` or ``sha512``)::

    v2/blobs/<alg>/<hex[:2]>/<hex>/data                      the bytes, shared by all repos
    v2/repositories/<name>/_layers/<alg>/<hex>/link           blob <digest> is in <name>
    v2/repositories/<name>/_manifests/revisions/<alg>/<hex>/link   manifest <digest> is in <name>
    v2/repositories/<name>/_manifests/tags/<tag>/current/link      tag -> manifest digest
    v2/repositories/<name>/_referrers/<alg>/<subject-hex>/<alg>/<hex>/link   referrer index
    v2/repositories/<name>/_uploads/<uuid>/data, startedat     upload sessions

Lifecycle of a blob: an upload appends to ``_uploads/<uuid>/data``; on commit the bytes
are hashed and compared with the client's digest, and only then renamed into
``blobs/`` (atomic) and linked into the repository. Nothing under ``blobs/`` was ever
unverified, so readers never see a partial blob. All state lives in the driver: several
processes may share one root. The only in-process state is a cache of running hashes
of uploads, keyed by upload id and offset, which is rebuilt from the bytes on a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from wharf.errors import InvalidArgument, NotFound
from wharf.oci import Digest
from wharf.registry.errcodes import RegistryError
from wharf.registry.manifests import ParsedManifest, media_type_of
from wharf.registry.storage.driver import FileWriter, StorageDriver

__all__ = ["Manifest", "Store", "UploadHasher"]

_READ_CHUNK = 1 << 20


def _blob_data(d: Digest) -> str:
    return f"v2/blobs/{d.algorithm}/{d.encoded[:2]}/{d.encoded}/data"


def _repo(name: str) -> str:
    return f"v2/repositories/{name}"


def _layer_link(name: str, d: Digest) -> str:
    return f"{_repo(name)}/_layers/{d.algorithm}/{d.encoded}/link"


def _revision_link(name: str, d: Digest) -> str:
    return f"{_repo(name)}/_manifests/revisions/{d.algorithm}/{d.encoded}/link"


def _tag_link(name: str, tag: str) -> str:
    return f"{_repo(name)}/_manifests/tags/{tag}/current/link"


def _referrer_dir(name: str, subject: Digest) -> str:
    return f"{_repo(name)}/_referrers/{subject.algorithm}/{subject.encoded}"


def _upload(name: str, upload_id: str) -> str:
    return f"{_repo(name)}/_uploads/{upload_id}"


@dataclass(frozen=True)
class Manifest:
    """A stored manifest: its exact bytes, digest and media type."""

    data: bytes
    digest: Digest
    media_type: str


class UploadHasher:
    """A running hash of an upload's bytes, valid while ``offset`` equals the file size."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.hash: Any = hashlib.new(algorithm)
        self.offset = 0

    def update(self, data: bytes | bytearray) -> None:
        self.hash.update(data)
        self.offset += len(data)


class Store:
    """Blobs, manifests, tags, uploads and referrers of every repository.

    Args:
        driver: where the bytes live.
    """

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver
        self._hashers: dict[str, UploadHasher] = {}
        self._lock = threading.Lock()

    # -- repositories -------------------------------------------------------------------

    def repository_exists(self, name: str) -> bool:
        try:
            return self.driver.stat(_repo(name)).is_dir
        except NotFound:
            return False

    def catalog(self) -> list[str]:
        """Every repository name holding manifests or blobs, sorted."""
        return sorted(self._walk({"_manifests", "_layers"}))

    def catalog_with_uploads(self) -> list[str]:
        """Repository names including ones holding only upload sessions."""
        return self._walk({"_manifests", "_layers", "_uploads"})

    def _walk(self, markers: set[str]) -> list[str]:
        out: list[str] = []

        def walk(prefix: str, name: str) -> None:
            try:
                children = self.driver.list(prefix)
            except NotFound:
                return
            if markers & set(children):
                out.append(name)
            for child in children:
                if not child.startswith("_"):
                    walk(f"{prefix}/{child}", f"{name}/{child}" if name else child)

        walk("v2/repositories", "")
        return out

    # -- blobs --------------------------------------------------------------------------

    def blob_size(self, digest: Digest) -> int:
        """Size of a committed blob.

        Raises:
            NotFound: no such blob in the store.
        """
        return self.driver.stat(_blob_data(digest)).size

    def blob_key(self, digest: Digest) -> str:
        return _blob_data(digest)

    def repo_blob_size(self, name: str, digest: Digest) -> int:
        """Size of a blob linked into repository ``name`` (layers or manifests).

        Raises:
            RegistryError: ``BLOB_UNKNOWN`` naming the digest and the repository.
        """
        for link in (_layer_link(name, digest), _revision_link(name, digest)):
            try:
                self.driver.stat(link)
            except NotFound:
                continue
            try:
                return self.blob_size(digest)
            except NotFound:
                break
        raise RegistryError("BLOB_UNKNOWN", f"blob {digest} unknown to repository {name!r}")

    def open_blob(self, digest: Digest, offset: int = 0) -> BinaryIO:
        return self.driver.reader(_blob_data(digest), offset)

    def link_blob(self, name: str, digest: Digest) -> None:
        """Make a committed blob part of a repository (also refreshes its GC clock)."""
        self.driver.put_content(_layer_link(name, digest), str(digest).encode())
        self.touch_blob(digest)

    def touch_blob(self, digest: Digest) -> None:
        with contextlib.suppress(NotFound):
            self.driver.touch(_blob_data(digest))

    def unlink_blob(self, name: str, digest: Digest) -> None:
        """Remove a blob from a repository (the bytes go at the next GC).

        Raises:
            RegistryError: ``BLOB_UNKNOWN`` when the repository has no such layer.
        """
        try:
            self.driver.delete(f"{_repo(name)}/_layers/{digest.algorithm}/{digest.encoded}")
        except NotFound as exc:
            raise RegistryError(
                "BLOB_UNKNOWN", f"blob {digest} unknown to repository {name!r}"
            ) from exc

    # -- uploads ------------------------------------------------------------------------

    def start_upload(self, name: str) -> str:
        """Open an upload session in ``name``; returns its id."""
        upload_id = str(uuid.uuid4())
        base = _upload(name, upload_id)
        self.driver.put_content(f"{base}/startedat", f"{time.time():.3f}".encode())
        self.driver.put_content(f"{base}/data", b"")
        return upload_id

    def upload_size(self, name: str, upload_id: str) -> int:
        """Bytes received so far.

        Raises:
            RegistryError: ``BLOB_UPLOAD_UNKNOWN`` naming the session.
        """
        try:
            return self.driver.stat(f"{_upload(name, upload_id)}/data").size
        except (NotFound, InvalidArgument) as exc:
            raise RegistryError(
                "BLOB_UPLOAD_UNKNOWN", f"upload {upload_id!r} unknown to repository {name!r}"
            ) from exc

    def upload_writer(self, name: str, upload_id: str) -> FileWriter:
        self.upload_size(name, upload_id)
        return self.driver.writer(f"{_upload(name, upload_id)}/data", append=True)

    def upload_hasher(self, upload_id: str, algorithm: str, offset: int) -> UploadHasher | None:
        """The cached running hash when it matches ``offset``, else None."""
        with self._lock:
            hasher = self._hashers.get(upload_id)
            if hasher is None and offset == 0:
                hasher = self._hashers[upload_id] = UploadHasher(algorithm)
        if hasher is None or hasher.offset != offset or hasher.algorithm != algorithm:
            return None
        return hasher

    def drop_hasher(self, upload_id: str) -> None:
        with self._lock:
            self._hashers.pop(upload_id, None)

    def commit_upload(self, name: str, upload_id: str, digest: Digest) -> int:
        """Verify an upload against ``digest`` and make it a blob of ``name``.

        On a mismatch the session is removed (its bytes can never become that blob).

        Returns:
            the blob's size.

        Raises:
            RegistryError: ``BLOB_UPLOAD_UNKNOWN`` or ``DIGEST_INVALID``.
        """
        size = self.upload_size(name, upload_id)
        base = _upload(name, upload_id)
        hasher = self.upload_hasher(upload_id, digest.algorithm, size)
        if hasher is None:
            hasher = UploadHasher(digest.algorithm)
            with self.driver.reader(f"{base}/data") as f:
                while chunk := f.read(_READ_CHUNK):
                    hasher.update(chunk)
        self.drop_hasher(upload_id)
        actual = Digest(digest.algorithm, hasher.hash.hexdigest())
        if actual != digest:
            self.cancel_upload(name, upload_id)
            raise RegistryError(
                "DIGEST_INVALID",
                f"upload {upload_id} to {name!r}: content hashes to {actual}, not {digest}",
            )
        try:
            self.driver.stat(_blob_data(digest))
        except NotFound:
            self.driver.move(f"{base}/data", _blob_data(digest))
        self.cancel_upload(name, upload_id)
        self.link_blob(name, digest)
        return size

    def cancel_upload(self, name: str, upload_id: str) -> None:
        """Remove an upload session.

        Raises:
            RegistryError: ``BLOB_UPLOAD_UNKNOWN`` naming the session.
        """
        self.drop_hasher(upload_id)
        try:
            self.driver.delete(_upload(name, upload_id))
        except (NotFound, InvalidArgument) as exc:
            raise RegistryError(
                "BLOB_UPLOAD_UNKNOWN", f"upload {upload_id!r} unknown to repository {name!r}"
            ) from exc

    def uploads(self) -> Iterator[tuple[str, str, float]]:
        """Every upload session as ``(repository, upload id, started-at)``."""
        for name in self.catalog_with_uploads():
            try:
                ids = self.driver.list(f"{_repo(name)}/_uploads")
            except NotFound:
                continue
            for upload_id in ids:
                try:
                    started = float(
                        self.driver.get_content(f"{_upload(name, upload_id)}/startedat")
                    )
                except (NotFound, ValueError):
                    started = 0.0
                yield name, upload_id, started

    # -- manifests and tags -------------------------------------------------------------

    def resolve(self, name: str, reference: Digest | str) -> Digest:
        """The digest a tag points to, or the digest itself if the repository has it.

        Raises:
            RegistryError: ``MANIFEST_UNKNOWN`` (or ``NAME_UNKNOWN`` for a missing
                repository) naming the reference.
        """
        if not self.repository_exists(name):
            raise RegistryError("NAME_UNKNOWN", f"repository {name!r} not known to registry")
        try:
            if isinstance(reference, Digest):
                self.driver.stat(_revision_link(name, reference))
                return reference
            return Digest.parse(self.driver.get_content(_tag_link(name, reference)).decode())
        except NotFound as exc:
            raise RegistryError(
                "MANIFEST_UNKNOWN", f"manifest {reference} unknown to repository {name!r}"
            ) from exc

    def get_manifest(self, name: str, reference: Digest | str) -> Manifest:
        """A manifest of ``name`` by tag or digest.

        Raises:
            RegistryError: ``MANIFEST_UNKNOWN`` / ``NAME_UNKNOWN``.
        """
        digest = self.resolve(name, reference)
        try:
            data = self.driver.get_content(_blob_data(digest))
        except NotFound as exc:
            raise RegistryError(
                "MANIFEST_UNKNOWN", f"manifest {digest} of {name!r} has no stored content"
            ) from exc
        return Manifest(data, digest, media_type_of(data))

    def has_manifest(self, name: str, digest: Digest) -> bool:
        try:
            self.driver.stat(_revision_link(name, digest))
        except NotFound:
            return False
        return True

    def put_manifest(
        self, name: str, data: bytes, digest: Digest, parsed: ParsedManifest, tags: list[str]
    ) -> None:
        """Store a checked manifest, link it, index its subject and point ``tags`` at it."""
        if Digest.from_bytes(data, digest.algorithm) != digest:
            raise RegistryError("DIGEST_INVALID", f"manifest content does not hash to {digest}")
        try:
            self.driver.stat(_blob_data(digest))
        except NotFound:
            self.driver.put_content(_blob_data(digest), data)
        self.touch_blob(digest)
        self.driver.put_content(_revision_link(name, digest), str(digest).encode())
        if parsed.subject is not None:
            self.driver.put_content(
                f"{_referrer_dir(name, parsed.subject.digest)}/"
                f"{digest.algorithm}/{digest.encoded}/link",
                str(digest).encode(),
            )
        for tag in tags:
            self.driver.put_content(_tag_link(name, tag), str(digest).encode())

    def tags(self, name: str) -> list[str]:
        """Tags of a repository in ASCII order.

        Raises:
            RegistryError: ``NAME_UNKNOWN`` for a missing repository.
        """
        if not self.repository_exists(name):
            raise RegistryError("NAME_UNKNOWN", f"repository {name!r} not known to registry")
        try:
            return sorted(self.driver.list(f"{_repo(name)}/_manifests/tags"))
        except NotFound:
            return []

    def tags_of(self, name: str, digest: Digest) -> list[str]:
        out = []
        for tag in self.tags(name):
            try:
                target = self.driver.get_content(_tag_link(name, tag)).decode()
            except NotFound:
                continue
            if target == str(digest):
                out.append(tag)
        return out

    def delete_tag(self, name: str, tag: str) -> Digest:
        """Remove one tag; returns the digest it pointed to.

        Raises:
            RegistryError: ``MANIFEST_UNKNOWN`` naming the tag.
        """
        digest = self.resolve(name, tag)
        try:
            self.driver.delete(f"{_repo(name)}/_manifests/tags/{tag}")
        except NotFound as exc:
            raise RegistryError("MANIFEST_UNKNOWN", f"tag {tag!r} unknown in {name!r}") from exc
        return digest

    def delete_manifest(self, name: str, digest: Digest, subject: Digest | None) -> list[str]:
        """Remove a manifest revision and every tag pointing at it; returns those tags.

        Raises:
            RegistryError: ``MANIFEST_UNKNOWN`` naming the digest.
        """
        self.resolve(name, digest)
        removed = self.tags_of(name, digest)
        for tag in removed:
            with contextlib.suppress(NotFound):
                self.driver.delete(f"{_repo(name)}/_manifests/tags/{tag}")
        if subject is not None:
            with contextlib.suppress(NotFound):
                self.driver.delete(
                    f"{_referrer_dir(name, subject)}/{digest.algorithm}/{digest.encoded}"
                )
        try:
            self.driver.delete(
                f"{_repo(name)}/_manifests/revisions/{digest.algorithm}/{digest.encoded}"
            )
        except NotFound as exc:
            raise RegistryError(
                "MANIFEST_UNKNOWN", f"manifest {digest} unknown to repository {name!r}"
            ) from exc
        return removed

    def referrers(self, name: str, subject: Digest) -> list[Digest]:
        """Digests of manifests of ``name`` whose ``subject`` is ``subject``."""
        out: list[Digest] = []
        base = _referrer_dir(name, subject)
        try:
            algorithms = self.driver.list(base)
        except NotFound:
            return out
        for alg in algorithms:
            for encoded in self.driver.list(f"{base}/{alg}"):
                digest = Digest(alg, encoded)
                if self.has_manifest(name, digest):
                    out.append(digest)
        return sorted(out)

    def manifest_revisions(self, name: str) -> list[Digest]:
        """Every manifest digest linked into ``name``."""
        out = []
        for alg in self._list(f"{_repo(name)}/_manifests/revisions"):
            for encoded in self._list(f"{_repo(name)}/_manifests/revisions/{alg}"):
                out.append(Digest(alg, encoded))
        return out

    def layer_links(self, name: str) -> list[Digest]:
        """Every blob digest linked into ``name``."""
        out = []
        for alg in self._list(f"{_repo(name)}/_layers"):
            for encoded in self._list(f"{_repo(name)}/_layers/{alg}"):
                out.append(Digest(alg, encoded))
        return out

    def all_blobs(self) -> list[Digest]:
        """Every committed blob in the store."""
        out = []
        for alg in self._list("v2/blobs"):
            for prefix in self._list(f"v2/blobs/{alg}"):
                for encoded in self._list(f"v2/blobs/{alg}/{prefix}"):
                    out.append(Digest(alg, encoded))
        return out

    def _list(self, path: str) -> list[str]:
        try:
            return self.driver.list(path)
        except NotFound:
            return []
