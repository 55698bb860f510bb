"""Values the image service hands out: images, history rows, usage."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from wharf.oci.digest import Digest
from wharf.oci.image import ImageConfig

__all__ = ["HistoryEntry", "Image", "StoreUsage", "chain_ids"]


def chain_ids(diff_ids: Sequence[Digest]) -> list[Digest]:
    """ChainIDs of a layer stack (OCI image-spec config.md: ``sha256(parent + " " + diff)``)."""
    out: list[Digest] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            text = f"{out[-1]} {diff_id}".encode()
            out.append(Digest("sha256", hashlib.sha256(text).hexdigest()))
    return out


@dataclass(frozen=True)
class Image:
    """A stored image.

    Attributes:
        id: the image ID, the digest of its config.
        config: the parsed image config.
        manifest_digest: the digest of its manifest as stored.
        manifest_media_type: OCI or Docker schema2 manifest media type.
        repo_tags: tag references, familiar form (``busybox:latest``).
        repo_digests: digest references, familiar form (``busybox@sha256:…``).
        size: sum of the uncompressed layer sizes.
        parent: the image it was committed from (``""`` if none).
        chain_id: the ChainID of its top layer (None for an image without layers).
    """

    id: Digest
    config: ImageConfig
    manifest_digest: Digest
    manifest_media_type: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    size: int
    parent: str
    chain_id: Digest | None

    @property
    def short_id(self) -> str:
        return self.id.short()


@dataclass(frozen=True)
class HistoryEntry:
    """One ``docker history`` row, newest first.

    Attributes:
        id: the image ID for rows that are a local image, else ``<missing>``.
        created: RFC 3339 time stamp.
        created_by: the instruction that made the layer.
        size: bytes the row's layer added (0 for empty layers).
        comment: free text.
        tags: the familiar tags of that image.
    """

    id: str
    created: str
    created_by: str
    size: int
    comment: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class StoreUsage:
    """Disk use of the store (``docker system df``).

    Attributes:
        images: number of images.
        layers_size: bytes of all unpacked layers, shared ones counted once.
        blobs_size: bytes of the content store.
        containers: (container ID, bytes of its writable layer) pairs.
    """

    images: int
    layers_size: int
    blobs_size: int
    containers: tuple[tuple[str, int], ...]
