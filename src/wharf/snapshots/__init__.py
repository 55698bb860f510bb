"""Snapshots: layered filesystems handed out as mounts (containerd's snapshotter model).

Lifecycle, for an image of two layers and a container on top::

    s.prepare("extract-1", None)          # empty active snapshot; apply layer 1 into it
    s.commit("chain-1", "extract-1")      # now immutable, usable as a parent
    s.prepare("extract-2", "chain-1")     # apply layer 2 (whiteouts hide chain-1 files)
    s.commit("chain-2", "extract-2")
    mounts = s.prepare("ctr-abc", "chain-2")   # the container's thin writable layer
    # the runtime mounts `mounts` as the rootfs; later `commit` turns the container's
    # changes into a new layer, and `remove` drops it.

A committed snapshot is shared by every snapshot above it: a base layer is stored once.
Snapshotters return :class:`wharf.mount.Mount` lists and never mount. Appliers and differs
that work on directories get them from :meth:`Snapshotter.layer_dirs`.

:class:`OverlaySnapshotter` keeps only each layer's changes (overlayfs); the
:class:`NativeSnapshotter` keeps full copies and needs no privileges (unit tests).
"""

from wharf.snapshots.base import Kind, LayerDirs, SnapshotInfo, Snapshotter, Usage
from wharf.snapshots.native import NativeSnapshotter
from wharf.snapshots.overlay import OverlaySnapshotter, supported

__all__ = [
    "Kind",
    "LayerDirs",
    "NativeSnapshotter",
    "OverlaySnapshotter",
    "SnapshotInfo",
    "Snapshotter",
    "Usage",
    "supported",
]
