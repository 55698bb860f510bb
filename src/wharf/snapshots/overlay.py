"""The overlayfs snapshotter: one directory per layer, shared by every image above it.

Layout: ``<root>/<id>/fs`` holds a snapshot's own files (an overlay upper dir: changes
and whiteouts only) and ``<root>/<id>/work`` is overlay's work dir. Ids are small
integers, so a lowerdir entry is ``<root>/<id>/fs``: with a root such as
``/var/lib/wharf/images/s`` (the image service's) a 128-layer image fits in the one page
mount(2) accepts (``len(root) + 8`` bytes per layer); past the page, :meth:`mounts` raises
:class:`FailedPrecondition` naming the root.

Mounts returned:

- active, no parent: a read-write bind of ``fs``;
- active with parents: ``overlay`` with ``lowerdir`` (parents, top first), ``upperdir``
  and ``workdir``, and ``redirect_dir=off,metacopy=off`` so the upper dir holds every
  change whole (diffs and commits read it directly);
- view of one parent: a read-only bind of the parent's ``fs``; of several: a read-only
  ``overlay`` of lowerdirs only.
"""

from __future__ import annotations

import resource
from pathlib import Path

from wharf.errors import FailedPrecondition
from wharf.mount import Mount
from wharf.snapshots.base import Kind, LayerDirs, StoreSnapshotter, Usage, disk_usage, remove_tree

__all__ = ["OverlaySnapshotter"]

_PAGE = resource.getpagesize()


class OverlaySnapshotter(StoreSnapshotter):
    """Snapshots on overlayfs.

    Args:
        root: the snapshotter's directory (keep it short: it is repeated per layer).
        volatile: mount container layers with overlay's ``volatile`` option (no syncs;
            an unclean shutdown loses the container layer, as it would on tmpfs).
    """

    def __init__(self, root: Path, *, volatile: bool = False) -> None:
        super().__init__(root)
        self.volatile = volatile

    def _populate(self, target: Path, parent: str | None, kind: Kind) -> None:
        (target / "fs").mkdir(mode=0o755)
        if kind == Kind.ACTIVE:
            (target / "work").mkdir(mode=0o700)

    def _committed(self, target: Path) -> None:
        remove_tree(target / "work")

    def usage(self, key: str) -> Usage:
        return disk_usage(self.root / str(self._store.get(key).id) / "fs")

    def layer_dirs(self, key: str) -> LayerDirs:
        chain = self._store.chain(key)
        upper = self.root / str(chain[0].id) / "fs"
        lowers = tuple(self.root / str(r.id) / "fs" for r in chain[1:])
        return LayerDirs(upper, lowers, "overlay")

    def mounts(self, key: str) -> list[Mount]:
        """The mounts that show snapshot ``key``.

        Raises:
            NotFound: no such snapshot.
            FailedPrecondition: the lowerdir list does not fit in one page.
        """
        chain = self._store.chain(key)
        top = chain[0]
        fs = [str(self.root / str(r.id) / "fs") for r in chain]
        if top.info.kind == Kind.VIEW:
            lowers = fs[1:]
            if not lowers:
                return [Mount("bind", fs[0], ("rbind", "ro"))]
            if len(lowers) == 1:
                return [Mount("bind", lowers[0], ("rbind", "ro"))]
            options = ["ro", "lowerdir=" + ":".join(lowers)]
        elif top.info.kind == Kind.ACTIVE and len(chain) > 1:
            options = [
                # Changes are read from the upper dir directly (docker diff, commit): keep
                # every change whole in it, whatever the kernel's defaults are.
                "redirect_dir=off",
                "metacopy=off",
                f"workdir={self.root / str(top.id) / 'work'}",
                f"upperdir={fs[0]}",
                "lowerdir=" + ":".join(fs[1:]),
            ]
            if self.volatile and top.info.labels.get("wharf.container"):
                options.insert(0, "volatile")
        else:
            ro = "ro" if top.info.kind == Kind.COMMITTED else "rw"
            return [Mount("bind", fs[0], ("rbind", ro))]
        length = len(",".join(options))
        if length >= _PAGE:
            raise FailedPrecondition(
                f"snapshot {key!r}: {len(chain) - 1} layers need {length} bytes of overlay "
                f"options, over the {_PAGE - 1}-byte mount limit; use a shorter snapshot root "
                f"than {self.root}"
            )
        return [Mount("overlay", "overlay", tuple(options))]


def supported() -> bool:
    """Whether the kernel lists overlayfs (``/proc/filesystems``)."""
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1] == "overlay" for line in f if line.strip())
    except OSError:
        return False
