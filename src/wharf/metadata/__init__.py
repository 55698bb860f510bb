"""Metadata of the image store: SQLite (stdlib, WAL), a versioned schema.

Schema (version 1)::

    images      id (config digest) PK, manifest_digest, manifest_media_type,
                chain_id -> layers (top layer; NULL for an image without layers),
                parent (image id it was committed from), created, size
    image_blobs (image_id, digest) PK: every content blob an image needs
                (manifest, config, layer blobs): the roots of content GC
    refs        name PK (normalised: docker.io/library/busybox:latest, repo@sha256:...),
                image_id -> images, manifest_digest (the manifest the name came with:
                one image ID can have several manifests, e.g. Docker's and skopeo's OCI)
    layers      chain_id PK, diff_id, parent -> layers, snapshot (snapshotter key),
                size, refcount, state ('unpacking' | 'ready')
    containers  id PK, image_id, chain_id -> layers, snapshot, created

Reference counts: ``layers.refcount`` = images whose top layer it is + layers whose parent
it is + containers on it. Every change of those rows updates the counts in the same
transaction, and a layer whose count reaches zero is removed, cascading to its parent;
the removed layers are returned so the caller can remove their snapshots.

Crash safety: each operation is one SQLite transaction. A layer is inserted as
``unpacking`` before its snapshot is filled and becomes ``ready`` after its snapshot is
committed; :meth:`MetadataStore.abandoned_layers` lists what a crash left half-done, and
the image service removes those (and snapshots or blobs no row refers to) at open.

Migrations: ``PRAGMA user_version`` holds the schema version; ``_MIGRATIONS[i]`` takes the
schema from version ``i`` to ``i + 1`` and runs in one transaction at open. A database
newer than this code is refused.
"""

from wharf.metadata.store import (
    SCHEMA_VERSION,
    ContainerRecord,
    ImageRecord,
    LayerRecord,
    MetadataStore,
)

__all__ = ["SCHEMA_VERSION", "ContainerRecord", "ImageRecord", "LayerRecord", "MetadataStore"]
