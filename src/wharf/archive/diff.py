"""Changes between layers, and tars of them: ``docker diff``, ``docker commit``, export.

Three views of a layered filesystem, all computed from directories (no mount needed):

- :func:`overlay_changes` walks an overlay upper dir: a 0:0 character device is a
  deletion, an opaque directory hides everything below it.
- :func:`tree_changes` compares two full trees (the native snapshotter's copies).
- :func:`merged_entries` is the union view of layer dirs, top first, honouring whiteouts;
  :func:`read_merged` reads one file of it.

:func:`write_tar` turns a list of :class:`Change` (or the merged entries) into a tar
stream, deletions as OCI whiteouts (``.wh.NAME``) and opaque directories as
``.wh..wh..opq``, preserving owners, modes, xattrs, hardlinks, symlinks and times.
"""

from __future__ import annotations

import enum
import os
import stat
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from wharf.archive.apply import OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX

__all__ = [
    "Change",
    "ChangeKind",
    "merged_entries",
    "overlay_changes",
    "read_merged",
    "tree_changes",
    "without_mount_points",
    "write_tar",
]

_CHUNK = 1 << 20


class ChangeKind(enum.IntEnum):
    """Docker's change kinds (``GET /containers/{id}/changes``)."""

    MODIFIED = 0
    ADDED = 1
    DELETED = 2


@dataclass(frozen=True)
class Change:
    """One changed path.

    Attributes:
        kind: modified, added or deleted.
        path: absolute path inside the container (``/etc/passwd``).
        source: the host file holding the new content (None for deletions).
        opaque: a directory whose lower contents are all hidden.
    """

    kind: ChangeKind
    path: str
    source: Path | None = None
    opaque: bool = False


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _exists_below(rel: str, lowers: Sequence[Path]) -> bool:
    for lower in lowers:
        try:
            st = os.lstat(lower / rel)
        except OSError:
            continue
        return not _is_whiteout(st)
    return False


def _sorted_scandir(path: Path) -> list[os.DirEntry[str]]:
    with os.scandir(path) as it:
        return sorted(it, key=lambda e: e.name)


# What Docker's init layer holds: mount points the engine makes for every container (files
# and directories a bind or a kernel filesystem is mounted on). They are not the user's
# changes, so diff and commit leave them out.
_MOUNT_POINTS = frozenset(
    {
        "/.dockerenv",
        "/dev",
        "/dev/console",
        "/dev/pts",
        "/dev/shm",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/mtab",
        "/etc/resolv.conf",
        "/proc",
        "/sys",
    }
)


def _placeholder(change: Change) -> bool:
    if change.kind != ChangeKind.ADDED or change.path not in _MOUNT_POINTS:
        return False
    if change.source is None:
        return False
    st = change.source.lstat()
    if stat.S_ISDIR(st.st_mode):
        return not any(change.source.iterdir())
    return stat.S_ISLNK(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_size == 0)


def without_mount_points(changes: Sequence[Change]) -> list[Change]:
    """``changes`` without the engine's empty mount points (``/etc/hosts``, ``/proc``…),
    and without a modified directory that was only listed because it holds them.

    Docker keeps these in a per-container init layer below the writable one; Wharf makes
    them in the writable layer, and drops them here from ``docker diff`` and commits.
    """
    dropped = [c.path for c in changes if _placeholder(c)]
    if not dropped:
        return list(changes)
    kept = [c for c in changes if c.path not in dropped]
    parents = {os.path.dirname(p) for p in dropped}

    def only_for_mount_points(change: Change) -> bool:
        if change.kind != ChangeKind.MODIFIED or change.path not in parents:
            return False
        prefix = change.path.rstrip("/") + "/"
        return not any(c.path.startswith(prefix) for c in kept)

    return [c for c in kept if not only_for_mount_points(c)]


def overlay_changes(upper: Path, lowers: Sequence[Path]) -> list[Change]:
    """The changes an overlay upper dir makes over ``lowers`` (top first), sorted by path."""
    out: list[Change] = []

    def walk(directory: Path, rel: str) -> None:
        for entry in _sorted_scandir(directory):
            path = f"{rel}/{entry.name}"
            st = entry.stat(follow_symlinks=False)
            if _is_whiteout(st):
                out.append(Change(ChangeKind.DELETED, path))
                continue
            below = _exists_below(path.lstrip("/"), lowers)
            is_dir = stat.S_ISDIR(st.st_mode)
            opaque = is_dir and _is_opaque(Path(entry.path))
            kind = ChangeKind.MODIFIED if below else ChangeKind.ADDED
            out.append(Change(kind, path, Path(entry.path), opaque=opaque and below))
            if is_dir:
                walk(Path(entry.path), path)

    walk(upper, "")
    return out


def _same(a: os.stat_result, b: os.stat_result, pa: Path, pb: Path) -> bool:
    if (a.st_mode, a.st_uid, a.st_gid) != (b.st_mode, b.st_uid, b.st_gid):
        return False
    if stat.S_ISDIR(a.st_mode):
        return True
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(pa) == os.readlink(pb)
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def tree_changes(new: Path, old: Path | None) -> list[Change]:
    """The changes from the full tree ``old`` (None: empty) to ``new``, sorted by path.

    A file counts as modified when its type, mode, owner, size or mtime differ (copies
    keep mtimes, as Docker's naive differ assumes).
    Directories count as modified only when their attributes changed or a child did.
    """
    out: list[Change] = []

    def walk(new_dir: Path, old_dir: Path | None, rel: str) -> bool:
        changed = False
        old_names = set(os.listdir(old_dir)) if old_dir is not None else set()
        new_entries = _sorted_scandir(new_dir)
        new_names = {e.name for e in new_entries}
        events: list[tuple[str, Change | None, list[Change]]] = []
        for name in sorted(old_names - new_names):
            events.append((name, Change(ChangeKind.DELETED, f"{rel}/{name}"), []))
        for entry in new_entries:
            path = f"{rel}/{entry.name}"
            st = entry.stat(follow_symlinks=False)
            old_path = old_dir / entry.name if old_dir is not None else None
            old_st = None
            if old_path is not None and entry.name in old_names:
                old_st = os.lstat(old_path)
            is_dir = stat.S_ISDIR(st.st_mode)
            if old_st is None:
                kind: ChangeKind | None = ChangeKind.ADDED
            elif stat.S_IFMT(old_st.st_mode) != stat.S_IFMT(st.st_mode):
                kind = ChangeKind.MODIFIED
            elif _same(st, old_st, Path(entry.path), old_path):  # type: ignore[arg-type]
                kind = None
            else:
                kind = ChangeKind.MODIFIED
            sub: list[Change] = []
            if is_dir:
                saved = len(out)
                was_dir = old_st is not None and stat.S_ISDIR(old_st.st_mode)
                child_old = old_path if was_dir else None
                if walk(Path(entry.path), child_old, path) and kind is None:
                    kind = ChangeKind.MODIFIED
                sub = out[saved:]
                del out[saved:]
            replaced_dir = old_st is not None and stat.S_ISDIR(old_st.st_mode) and not is_dir
            change = None if kind is None else Change(kind, path, Path(entry.path))
            if replaced_dir and change is not None:
                change = Change(ChangeKind.MODIFIED, path, Path(entry.path))
            events.append((entry.name, change, sub))
        for _, change, sub in sorted(events, key=lambda e: e[0]):
            if change is not None:
                out.append(change)
                changed = True
            out.extend(sub)
        return changed

    walk(new, old, "")
    return out


def read_merged(layers: Sequence[Path], rel: str, *, limit: int = 1 << 20) -> bytes | None:
    """The first ``limit`` bytes of the regular file at ``rel`` (``etc/group``) in the union
    of ``layers`` (top first, overlay whiteouts and opaque directories honoured), as a
    mount of them would show it; None when it is not there or not a regular file.

    Raises:
        ValueError: a symbolic link on the way (only a mount resolves it).
    """
    parts = rel.strip("/").split("/")
    for layer in layers:
        here, opaque = layer, False
        for i, part in enumerate(parts):
            here = here / part
            try:
                st = os.lstat(here)
            except FileNotFoundError:
                break
            except NotADirectoryError:
                return None
            if _is_whiteout(st):
                return None
            if stat.S_ISLNK(st.st_mode):
                raise ValueError(f"{rel}: {here} is a symbolic link")
            if i == len(parts) - 1:
                if not stat.S_ISREG(st.st_mode):
                    return None
                with open(os.open(here, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
                    return f.read(limit)
            if not stat.S_ISDIR(st.st_mode):
                return None
            opaque = opaque or _is_opaque(here)
        if opaque:
            return None  # hides the layers below
    return None


def merged_entries(layers: Sequence[Path]) -> Iterator[tuple[str, Path]]:
    """The union view of ``layers`` (top first): (path, host file) in tar order."""

    def walk(dirs: list[Path], rel: str) -> Iterator[tuple[str, Path]]:
        chosen: dict[str, Path | None] = {}
        below: dict[str, list[Path]] = {}
        closed: set[str] = set()
        for layer_dir in dirs:
            for entry in _sorted_scandir(layer_dir):
                name = entry.name
                if name in closed:
                    continue
                st = entry.stat(follow_symlinks=False)
                if name not in chosen:
                    chosen[name] = None if _is_whiteout(st) else Path(entry.path)
                if chosen[name] is None or not stat.S_ISDIR(st.st_mode):
                    closed.add(name)
                    continue
                below.setdefault(name, []).append(Path(entry.path))
                if _is_opaque(Path(entry.path)):
                    closed.add(name)
            if _is_opaque(layer_dir):
                break
        for name in sorted(chosen):
            source = chosen[name]
            if source is None:
                continue
            path = f"{rel}/{name}"
            yield path, source
            if name in below:
                yield from walk(below[name], path)

    yield from walk(list(layers), "")


def _tarinfo(path: str, source: Path, links: dict[tuple[int, int], str]) -> tarfile.TarInfo:
    st = os.lstat(source)
    info = tarfile.TarInfo(path.lstrip("/"))
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    info.uname = info.gname = ""
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(source)
    elif stat.S_ISREG(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            info.type = tarfile.LNKTYPE
            info.linkname = links[key]
        else:
            if st.st_nlink > 1:
                links[key] = info.name
            info.type = tarfile.REGTYPE
            info.size = st.st_size
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    pax: dict[str, str] = {}
    for name in os.listxattr(source, follow_symlinks=False):
        if name.startswith(("trusted.overlay.", "user.overlay.")):
            continue
        value = os.getxattr(source, name, follow_symlinks=False)
        pax[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
    info.pax_headers = pax
    return info


def _add(tar: tarfile.TarFile, info: tarfile.TarInfo, source: Path) -> None:
    if info.type == tarfile.REGTYPE:
        with open(source, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def write_tar(
    out: BinaryIO,
    changes: Sequence[Change] | None = None,
    *,
    merged: Iterator[tuple[str, Path]] | None = None,
) -> None:
    """Write a layer tar of ``changes`` (or of a ``merged`` view) to ``out``.

    Paths are written relative (``etc/passwd``), parents before children.
    """
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_CHUNK) as tar:
        if merged is not None:
            for path, source in merged:
                _add(tar, _tarinfo(path, source, links), source)
            return
        for change in changes or ():
            if change.kind == ChangeKind.DELETED:
                head, _, name = change.path.rpartition("/")
                info = tarfile.TarInfo(f"{head}/{WHITEOUT_PREFIX}{name}".lstrip("/"))
                info.mtime = 0
                tar.addfile(info)
                continue
            assert change.source is not None
            info = _tarinfo(change.path, change.source, links)
            _add(tar, info, change.source)
            if change.opaque:
                marker = tarfile.TarInfo(f"{change.path}/{WHITEOUT_OPAQUE}".lstrip("/"))
                marker.mtime = 0
                tar.addfile(marker)
