"""The SQLite store behind the image service (schema in the package docstring)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from wharf.errors import AlreadyExists, Conflict, FailedPrecondition, NotFound

__all__ = ["SCHEMA_VERSION", "ContainerRecord", "ImageRecord", "LayerRecord", "MetadataStore"]

_MIGRATIONS: Final = (
    """
    CREATE TABLE layers (
        chain_id TEXT PRIMARY KEY,
        diff_id TEXT NOT NULL,
        parent TEXT REFERENCES layers(chain_id),
        snapshot TEXT NOT NULL,
        size INTEGER NOT NULL DEFAULT 0,
        refcount INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL
    );
    CREATE TABLE images (
        id TEXT PRIMARY KEY,
        manifest_digest TEXT NOT NULL,
        manifest_media_type TEXT NOT NULL,
        chain_id TEXT REFERENCES layers(chain_id),
        parent TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        size INTEGER NOT NULL
    );
    CREATE TABLE image_blobs (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        PRIMARY KEY (image_id, digest)
    );
    CREATE INDEX image_blobs_digest ON image_blobs(digest);
    CREATE TABLE refs (
        name TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id),
        manifest_digest TEXT
    );
    CREATE INDEX refs_image ON refs(image_id);
    CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        image_id TEXT NOT NULL,
        chain_id TEXT REFERENCES layers(chain_id),
        snapshot TEXT NOT NULL,
        created REAL NOT NULL
    );
    """,
)
SCHEMA_VERSION: Final = len(_MIGRATIONS)


@dataclass(frozen=True)
class ImageRecord:
    """A stored image (its ID is the config digest)."""

    id: str
    manifest_digest: str
    manifest_media_type: str
    chain_id: str | None
    parent: str
    created: float
    size: int


@dataclass(frozen=True)
class LayerRecord:
    """An unpacked layer, shared by every image whose chain contains it."""

    chain_id: str
    diff_id: str
    parent: str | None
    snapshot: str
    size: int
    refcount: int
    state: str


@dataclass(frozen=True)
class ContainerRecord:
    """A container's writable snapshot over an image's top layer."""

    id: str
    image_id: str
    chain_id: str | None
    snapshot: str
    created: float


class MetadataStore:
    """Images, references, layers and container snapshots in one SQLite file.

    Thread-safe: one connection, one lock; each public method is one transaction.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        with self.transaction() as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise FailedPrecondition(
                    f"metadata {self.path}: schema version {version} is newer than this "
                    f"Wharf understands ({SCHEMA_VERSION})"
                )
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {step + 1}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); rolled back on any error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, params: tuple[object, ...] = ()) -> Any:
        with self._lock:  # one connection: reads wait for a writer's transaction
            return self._db.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- layers -----------------------------------------------------------------------

    def layer(self, chain_id: str) -> LayerRecord:
        row = self._one(
            "SELECT chain_id, diff_id, parent, snapshot, size, refcount, state FROM layers "
            "WHERE chain_id = ?",
            (chain_id,),
        )
        if row is None:
            raise NotFound(f"layer {chain_id} not found")
        return LayerRecord(*row)

    def find_layer(self, chain_id: str) -> LayerRecord | None:
        with contextlib.suppress(NotFound):
            return self.layer(chain_id)
        return None

    def layers(self) -> list[LayerRecord]:
        rows = self._all(
            "SELECT chain_id, diff_id, parent, snapshot, size, refcount, state FROM layers"
        )
        return [LayerRecord(*r) for r in rows]

    def begin_layer(self, chain_id: str, diff_id: str, parent: str | None, snapshot: str) -> None:
        """Record a layer about to be unpacked (state ``unpacking``); refs its parent.

        Raises:
            AlreadyExists: the layer is recorded already.
        """
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM layers WHERE chain_id = ?", (chain_id,)).fetchone():
                raise AlreadyExists(f"layer {chain_id} already exists")
            db.execute(
                "INSERT INTO layers (chain_id, diff_id, parent, snapshot, refcount, state) "
                "VALUES (?, ?, ?, ?, 0, 'unpacking')",
                (chain_id, diff_id, parent, snapshot),
            )
            if parent is not None:
                self._ref(db, parent, +1)

    def finish_layer(self, chain_id: str, size: int) -> None:
        """Mark a layer unpacked and committed."""
        with self.transaction() as db:
            db.execute(
                "UPDATE layers SET state = 'ready', size = ? WHERE chain_id = ?", (size, chain_id)
            )

    def abandon_layer(self, chain_id: str) -> list[LayerRecord]:
        """Drop a layer that failed to unpack; returns the layers removed (itself first)."""
        with self.transaction() as db:
            return self._drop_layer(db, chain_id)

    def abandoned_layers(self) -> list[LayerRecord]:
        """Layers a crash left in state ``unpacking``, or ready but referenced by nothing."""
        return [layer for layer in self.layers() if layer.state != "ready" or layer.refcount <= 0]

    def _ref(self, db: sqlite3.Connection, chain_id: str, delta: int) -> list[LayerRecord]:
        db.execute(
            "UPDATE layers SET refcount = refcount + ? WHERE chain_id = ?", (delta, chain_id)
        )
        layer = self.layer(chain_id)
        if layer.refcount <= 0 and layer.state == "ready":
            return self._drop_layer(db, chain_id)
        return []

    def _drop_layer(self, db: sqlite3.Connection, chain_id: str) -> list[LayerRecord]:
        layer = self.layer(chain_id)
        db.execute("DELETE FROM layers WHERE chain_id = ?", (chain_id,))
        removed = [layer]
        if layer.parent is not None:
            removed += self._ref(db, layer.parent, -1)
        return removed

    # -- images -----------------------------------------------------------------------

    def add_image(self, record: ImageRecord, blobs: Sequence[str]) -> bool:
        """Store an image; returns False when it was stored already (nothing changes)."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM images WHERE id = ?", (record.id,)).fetchone():
                # The same image under another manifest (skopeo's OCI copy of a docker
                # archive): keep that manifest's blobs too, for references naming it.
                db.executemany(
                    "INSERT OR IGNORE INTO image_blobs VALUES (?, ?)",
                    [(record.id, b) for b in blobs],
                )
                return False
            db.execute(
                "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.manifest_digest,
                    record.manifest_media_type,
                    record.chain_id,
                    record.parent,
                    record.created,
                    record.size,
                ),
            )
            db.executemany(
                "INSERT OR IGNORE INTO image_blobs VALUES (?, ?)",
                [(record.id, b) for b in blobs],
            )
            if record.chain_id is not None:
                self._ref(db, record.chain_id, +1)
            return True

    def image(self, image_id: str) -> ImageRecord:
        row = self._one("SELECT * FROM images WHERE id = ?", (image_id,))
        if row is None:
            raise NotFound(f"image {image_id} not found")
        return ImageRecord(*row)

    def images(self) -> list[ImageRecord]:
        rows = self._all("SELECT * FROM images ORDER BY created DESC, id")
        return [ImageRecord(*r) for r in rows]

    def images_by_prefix(self, prefix: str) -> list[str]:
        rows = self._all(
            "SELECT id FROM images WHERE id >= ? AND id < ?", (prefix, prefix + "\U0010ffff")
        )
        return [r[0] for r in rows]

    def children(self, image_id: str) -> list[str]:
        rows = self._all("SELECT id FROM images WHERE parent = ?", (image_id,))
        return [r[0] for r in rows]

    def remove_image(self, image_id: str) -> list[LayerRecord]:
        """Delete an image with no references and no containers; returns layers freed.

        Raises:
            Conflict: a reference or a container still uses it.
        """
        with self.transaction() as db:
            record = self.image(image_id)
            if db.execute("SELECT 1 FROM refs WHERE image_id = ?", (image_id,)).fetchone():
                raise Conflict(f"image {image_id}: still tagged; untag it first")
            ctr = db.execute("SELECT id FROM containers WHERE image_id = ?", (image_id,)).fetchone()
            if ctr is not None:
                raise Conflict(f"image {image_id} is used by container {ctr[0][:12]}")
            db.execute("DELETE FROM image_blobs WHERE image_id = ?", (image_id,))
            db.execute("DELETE FROM images WHERE id = ?", (image_id,))
            if record.chain_id is None:
                return []
            return self._ref(db, record.chain_id, -1)

    def referenced_blobs(self) -> set[str]:
        return {r[0] for r in self._all("SELECT DISTINCT digest FROM image_blobs")}

    # -- references -------------------------------------------------------------------

    def set_ref(self, name: str, image_id: str, manifest_digest: str | None = None) -> str | None:
        """Point ``name`` at an image; returns the image it pointed at before, if any.

        ``manifest_digest`` records which of the image's manifests the name was loaded
        with, so saving the name gives back that manifest byte for byte.
        """
        with self.transaction() as db:
            self.image(image_id)
            row = db.execute("SELECT image_id FROM refs WHERE name = ?", (name,)).fetchone()
            db.execute(
                "INSERT OR REPLACE INTO refs VALUES (?, ?, ?)", (name, image_id, manifest_digest)
            )
            return None if row is None else str(row[0])

    def ref_manifest(self, name: str) -> str | None:
        """The manifest a reference was recorded with (None: the image's own)."""
        row = self._one("SELECT manifest_digest FROM refs WHERE name = ?", (name,))
        return None if row is None or row[0] is None else str(row[0])

    def get_ref(self, name: str) -> str:
        row = self._one("SELECT image_id FROM refs WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"reference {name} not found")
        return str(row[0])

    def delete_ref(self, name: str) -> str:
        """Remove a reference; returns the image it pointed at."""
        with self.transaction() as db:
            image_id = self.get_ref(name)
            db.execute("DELETE FROM refs WHERE name = ?", (name,))
            return image_id

    def refs(self, image_id: str | None = None) -> list[tuple[str, str]]:
        """(name, image id) pairs, all or of one image, sorted by name."""
        if image_id is None:
            rows = self._all("SELECT name, image_id FROM refs ORDER BY name")
        else:
            rows = self._all(
                "SELECT name, image_id FROM refs WHERE image_id = ? ORDER BY name", (image_id,)
            )
        return [(str(a), str(b)) for a, b in rows]

    # -- containers -------------------------------------------------------------------

    def add_container(self, record: ContainerRecord) -> None:
        """Record a container snapshot; refs its layer.

        Raises:
            AlreadyExists: the container has a snapshot already.
        """
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM containers WHERE id = ?", (record.id,)).fetchone():
                raise AlreadyExists(f"container {record.id[:12]} already has a filesystem")
            db.execute(
                "INSERT INTO containers VALUES (?, ?, ?, ?, ?)",
                (record.id, record.image_id, record.chain_id, record.snapshot, record.created),
            )
            if record.chain_id is not None:
                self._ref(db, record.chain_id, +1)

    def container(self, cid: str) -> ContainerRecord:
        row = self._one("SELECT * FROM containers WHERE id = ?", (cid,))
        if row is None:
            raise NotFound(f"container {cid[:12]}: no filesystem recorded")
        return ContainerRecord(*row)

    def containers(self) -> list[ContainerRecord]:
        return [ContainerRecord(*r) for r in self._all("SELECT * FROM containers")]

    def remove_container(self, cid: str) -> list[LayerRecord]:
        """Forget a container snapshot; returns layers freed."""
        with self.transaction() as db:
            record = self.container(cid)
            db.execute("DELETE FROM containers WHERE id = ?", (cid,))
            if record.chain_id is None:
                return []
            return self._ref(db, record.chain_id, -1)
