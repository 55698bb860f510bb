"""The native snapshotter: every snapshot is a full copy of its parent (no root needed).

Slow and space-hungry, but it needs no mount and no privileges, so it serves unit tests
of everything above it and hosts without overlayfs. ``<root>/<id>/`` holds the full tree;
mounts are binds of it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

from wharf.mount import Mount
from wharf.snapshots.base import (
    Kind,
    LayerDirs,
    SnapshotInfo,
    SnapshotStore,
    Usage,
    disk_usage,
)

__all__ = ["NativeSnapshotter"]


class NativeSnapshotter:
    """Snapshots as directory copies."""

    def __init__(self, root: Path) -> None:
        self._store = SnapshotStore(root)
        self.root = self._store.root

    def close(self) -> None:
        self._store.close()

    def _create(
        self, key: str, parent: str | None, kind: Kind, labels: Mapping[str, str] | None
    ) -> list[Mount]:
        row = self._store.create(key, parent, kind, labels)
        try:
            target = self.root / str(row.id)
            if parent is not None:
                target.rmdir()
                shutil.copytree(self._store.dir(parent), target, symlinks=True)
            return self.mounts(key)
        except BaseException:
            self._store.delete(key)
            raise

    def prepare(
        self, key: str, parent: str | None = None, *, labels: Mapping[str, str] | None = None
    ) -> list[Mount]:
        """Create a writable copy of ``parent``; return its mounts."""
        return self._create(key, parent, Kind.ACTIVE, labels)

    def view(
        self, key: str, parent: str | None = None, *, labels: Mapping[str, str] | None = None
    ) -> list[Mount]:
        """Create a read-only copy of ``parent``; return its mounts."""
        return self._create(key, parent, Kind.VIEW, labels)

    def commit(self, name: str, key: str, *, labels: Mapping[str, str] | None = None) -> None:
        """Make active snapshot ``key`` the committed snapshot ``name``."""
        self._store.commit(name, key, labels)

    def remove(self, key: str) -> None:
        """Remove a snapshot that no other snapshot has as parent."""
        self._store.delete(key)

    def stat(self, key: str) -> SnapshotInfo:
        return self._store.get(key).info

    def walk(self) -> Iterator[SnapshotInfo]:
        return self._store.walk()

    def usage(self, key: str) -> Usage:
        return disk_usage(self._store.dir(key))

    def layer_dirs(self, key: str) -> LayerDirs:
        return LayerDirs(self._store.dir(key), (), "native")

    def mounts(self, key: str) -> list[Mount]:
        row = self._store.get(key)
        ro = "rw" if row.info.kind == Kind.ACTIVE else "ro"
        return [Mount("bind", str(self.root / str(row.id)), ("rbind", ro))]
