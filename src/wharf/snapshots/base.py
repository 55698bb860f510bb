"""The Snapshotter protocol and the bookkeeping both snapshotters share.

Each snapshot has a key, a kind and an optional parent (a committed snapshot), and owns a
numbered directory ``<root>/<id>/``. Keys, kinds and parents live in a small SQLite file,
``<root>/metadata.db`` (WAL), separate from the engine's metadata as containerd keeps its
snapshotters' own stores. A snapshot row and its directory are created or removed
together; at open, directories without a row (a crash between the two) are deleted.
"""

from __future__ import annotations

import abc
import contextlib
import enum
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from wharf.errors import AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound
from wharf.mount import Mount

__all__ = [
    "Kind",
    "LayerDirs",
    "SnapshotInfo",
    "SnapshotStore",
    "Snapshotter",
    "StoreSnapshotter",
    "Usage",
]


class Kind(enum.Enum):
    """The kind of a snapshot (containerd's ``snapshots.Kind``)."""

    ACTIVE = "active"  # writable: a container's layer, or a layer being unpacked
    VIEW = "view"  # read-only view of a committed parent
    COMMITTED = "committed"  # immutable: an image layer, usable as a parent


@dataclass(frozen=True)
class SnapshotInfo:
    """What a snapshotter knows of one snapshot."""

    key: str
    kind: Kind
    parent: str | None
    created: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """Disk use of one snapshot's own directory (not its parents)."""

    size: int
    inodes: int


@dataclass(frozen=True)
class LayerDirs:
    """Where a snapshot's files are, for appliers and differs that work on directories.

    Attributes:
        upper: the snapshot's own directory (writable for active snapshots).
        lowers: the parents' directories, top first (empty for the native snapshotter,
            whose ``upper`` is a full copy of the parent).
        mode: ``overlay`` (``upper`` holds only changes, with overlay whiteouts) or
            ``native`` (``upper`` is a full tree).
    """

    upper: Path
    lowers: tuple[Path, ...]
    mode: Literal["overlay", "native"]


class Snapshotter(Protocol):
    """Layered filesystems as mounts; never mounts anything itself."""

    def prepare(
        self, key: str, parent: str | None = None, *, labels: Mapping[str, str] | None = None
    ) -> list[Mount]: ...

    def view(
        self, key: str, parent: str | None = None, *, labels: Mapping[str, str] | None = None
    ) -> list[Mount]: ...

    def commit(self, name: str, key: str, *, labels: Mapping[str, str] | None = None) -> None: ...

    def remove(self, key: str) -> None: ...

    def mounts(self, key: str) -> list[Mount]: ...

    def stat(self, key: str) -> SnapshotInfo: ...

    def walk(self) -> Iterator[SnapshotInfo]: ...

    def usage(self, key: str) -> Usage: ...

    def layer_dirs(self, key: str) -> LayerDirs: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    parent TEXT REFERENCES snapshots(key),
    created REAL NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}'
);
"""


@dataclass(frozen=True)
class _Row:
    id: int
    info: SnapshotInfo


class SnapshotStore:
    """Keys -> numbered directories, in ``<root>/metadata.db``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.root / "metadata.db", isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._cleanup()

    def close(self) -> None:
        self._db.close()

    def _cleanup(self) -> None:
        known = {str(i) for (i,) in self._db.execute("SELECT id FROM snapshots")}
        for entry in self.root.iterdir():
            if entry.is_dir() and entry.name.isdigit() and entry.name not in known:
                remove_tree(entry)
        for sid, key in list(self._db.execute("SELECT id, key FROM snapshots")):
            if not (self.root / str(sid)).is_dir():
                with contextlib.suppress(Conflict):
                    self.delete(key)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def get(self, key: str) -> _Row:
        row = self._db.execute(
            "SELECT id, key, kind, parent, created, labels FROM snapshots WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            raise NotFound(f"snapshot {key!r} not found")
        return _Row(row[0], _info(row))

    def dir(self, key: str) -> Path:
        return self.root / str(self.get(key).id)

    def chain(self, key: str) -> list[_Row]:
        """The snapshot and its ancestors, top first."""
        rows = [self.get(key)]
        while rows[-1].info.parent is not None:
            rows.append(self.get(rows[-1].info.parent))
        return rows

    def create(
        self, key: str, parent: str | None, kind: Kind, labels: Mapping[str, str] | None
    ) -> _Row:
        """Insert a row; the caller fills the directory, and on failure calls delete."""
        if not key:
            raise InvalidArgument("snapshot key must not be empty")
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM snapshots WHERE key = ?", (key,)).fetchone():
                raise AlreadyExists(f"snapshot {key!r} already exists")
            if parent is not None:
                prow = db.execute("SELECT kind FROM snapshots WHERE key = ?", (parent,)).fetchone()
                if prow is None:
                    raise NotFound(f"parent snapshot {parent!r} of {key!r} not found")
                if prow[0] != Kind.COMMITTED.value:
                    raise FailedPrecondition(
                        f"parent snapshot {parent!r} of {key!r} is {prow[0]}, expected committed"
                    )
            cur = db.execute(
                "INSERT INTO snapshots (key, kind, parent, created, labels) VALUES (?,?,?,?,?)",
                (key, kind.value, parent, time.time(), json.dumps(dict(labels or {}))),
            )
            sid = cur.lastrowid
            assert sid is not None
            (self.root / str(sid)).mkdir()
        return self.get(key)

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None) -> None:
        with self.transaction() as db:
            row = self.get(key)
            if row.info.kind != Kind.ACTIVE:
                raise FailedPrecondition(
                    f"snapshot {key!r} is {row.info.kind.value}; only active snapshots commit"
                )
            if db.execute("SELECT 1 FROM snapshots WHERE key = ?", (name,)).fetchone():
                raise AlreadyExists(f"snapshot {name!r} already exists")
            merged = {**row.info.labels, **(labels or {})}
            db.execute(
                "UPDATE snapshots SET key = ?, kind = ?, labels = ?, created = ? WHERE id = ?",
                (name, Kind.COMMITTED.value, json.dumps(merged), time.time(), row.id),
            )

    def delete(self, key: str) -> None:
        """Delete the row, then the directory (a leftover directory is cleaned at open)."""
        with self.transaction() as db:
            row = self.get(key)
            child = db.execute("SELECT key FROM snapshots WHERE parent = ?", (key,)).fetchone()
            if child is not None:
                raise Conflict(f"snapshot {key!r} is the parent of {child[0]!r}; remove it first")
            db.execute("DELETE FROM snapshots WHERE id = ?", (row.id,))
        remove_tree(self.root / str(row.id))

    def walk(self) -> Iterator[SnapshotInfo]:
        rows = self._db.execute(
            "SELECT id, key, kind, parent, created, labels FROM snapshots ORDER BY id"
        ).fetchall()
        for row in rows:
            yield _info(row)


class StoreSnapshotter(abc.ABC):
    """What both snapshotters share: the :class:`SnapshotStore` bookkeeping of keys, kinds
    and parents. A subclass lays out a new snapshot's directory (:meth:`_populate`), says
    what to drop at commit (:meth:`_committed`) and how a snapshot is mounted."""

    def __init__(self, root: Path) -> None:
        self._store = SnapshotStore(root)
        self.root = self._store.root

    def close(self) -> None:
        self._store.close()

    @abc.abstractmethod
    def _populate(self, target: Path, parent: str | None, kind: Kind) -> None:
        """Fill the new snapshot's (empty) directory ``target``."""

    @abc.abstractmethod
    def _committed(self, target: Path) -> None:
        """Drop what a committed snapshot's directory ``target`` no longer needs."""

    @abc.abstractmethod
    def mounts(self, key: str) -> list[Mount]:
        """The mounts that show snapshot ``key``."""

    def _create(
        self, key: str, parent: str | None, kind: Kind, labels: Mapping[str, str] | None
    ) -> list[Mount]:
        row = self._store.create(key, parent, kind, labels)
        try:
            self._populate(self.root / str(row.id), parent, kind)
            return self.mounts(key)
        except BaseException:
            self._store.delete(key)
            raise

    def prepare(
        self, key: str, parent: str | None = None, *, labels: Mapping[str, str] | None = None
    ) -> list[Mount]:
        """Create a writable snapshot over ``parent``; return its mounts."""
        return self._create(key, parent, Kind.ACTIVE, labels)

    def view(
        self, key: str, parent: str | None = None, *, labels: Mapping[str, str] | None = None
    ) -> list[Mount]:
        """Create a read-only view of ``parent``; return its mounts."""
        return self._create(key, parent, Kind.VIEW, labels)

    def commit(self, name: str, key: str, *, labels: Mapping[str, str] | None = None) -> None:
        """Make active snapshot ``key`` the committed snapshot ``name``."""
        self._store.commit(name, key, labels)
        self._committed(self.root / str(self._store.get(name).id))

    def remove(self, key: str) -> None:
        """Remove a snapshot that no other snapshot has as parent."""
        self._store.delete(key)

    def stat(self, key: str) -> SnapshotInfo:
        return self._store.get(key).info

    def walk(self) -> Iterator[SnapshotInfo]:
        return self._store.walk()


def _info(row: tuple[int, str, str, str | None, float, str]) -> SnapshotInfo:
    return SnapshotInfo(row[1], Kind(row[2]), row[3], row[4], json.loads(row[5]))


def remove_tree(path: Path) -> None:
    """Remove a directory tree that may hold read-only directories."""
    if not path.exists() and not path.is_symlink():
        return

    def onerror(func: object, failed: str, exc: object) -> None:
        parent = os.path.dirname(failed)
        os.chmod(parent, 0o700)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, 0o700)
            shutil.rmtree(failed, onerror=onerror)
        else:
            os.unlink(failed)

    shutil.rmtree(path, onerror=onerror)


def disk_usage(path: Path) -> Usage:
    """Bytes allocated and inodes under ``path`` (hardlinks counted once)."""
    seen: set[tuple[int, int]] = set()
    size = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            size += st.st_blocks * 512
    return Usage(size, len(seen))
