"""Layer tars: apply them into directories and compute them back from directories.

:func:`apply_layer` unpacks a layer stream (plain, gzip or zstd, detected by magic) into
one directory, never writing outside it, and turns OCI whiteouts into overlayfs whiteouts
or real deletions. :mod:`wharf.archive.diff` computes changes (``docker diff``) from an
overlay upper dir or from two full trees, the merged view of a layer stack, and writes
them as a layer tar with whiteouts (``docker commit``, ``docker export``). Only
``tarfile``, ``zlib`` and ``zstandard`` are used, never the ``tar`` binary.
"""

from wharf.archive.apply import (
    ApplyResult,
    UnsafeEntry,
    WhiteoutMode,
    apply_layer,
    stream_members,
)
from wharf.archive.compression import Compression, HashingReader, decompressed, detect
from wharf.archive.diff import (
    Change,
    ChangeKind,
    merged_entries,
    overlay_changes,
    read_merged,
    tree_changes,
    without_mount_points,
    write_tar,
)

__all__ = [
    "ApplyResult",
    "Change",
    "ChangeKind",
    "Compression",
    "HashingReader",
    "UnsafeEntry",
    "WhiteoutMode",
    "apply_layer",
    "decompressed",
    "detect",
    "merged_entries",
    "overlay_changes",
    "read_merged",
    "stream_members",
    "tree_changes",
    "without_mount_points",
    "write_tar",
]
