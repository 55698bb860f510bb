"""The native snapshotter: every snapshot is a full copy of its parent (no root needed).

Slow and space-hungry, but it needs no mount and no privileges, so it serves unit tests
of everything above it and hosts without overlayfs. ``<root>/<id>/`` holds the full tree;
mounts are binds of it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from wharf.mount import Mount
from wharf.snapshots.base import Kind, LayerDirs, StoreSnapshotter, Usage, disk_usage

__all__ = ["NativeSnapshotter"]


class NativeSnapshotter(StoreSnapshotter):
    """Snapshots as directory copies."""

    def _populate(self, target: Path, parent: str | None, kind: Kind) -> None:
        if parent is not None:
            target.rmdir()
            shutil.copytree(self._store.dir(parent), target, symlinks=True)

    def _committed(self, target: Path) -> None:
        """A copy has nothing to drop at commit."""

    def usage(self, key: str) -> Usage:
        return disk_usage(self._store.dir(key))

    def layer_dirs(self, key: str) -> LayerDirs:
        return LayerDirs(self._store.dir(key), (), "native")

    def mounts(self, key: str) -> list[Mount]:
        row = self._store.get(key)
        ro = "rw" if row.info.kind == Kind.ACTIVE else "ro"
        return [Mount("bind", str(self.root / str(row.id)), ("rbind", ro))]
