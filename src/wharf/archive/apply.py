"""Apply a layer tar stream into a directory, safely, with OCI whiteouts.

Every path is resolved with directory file descriptors opened ``O_NOFOLLOW`` from the
destination root, one component at a time, so no entry can reach outside the destination:
``..`` and absolute names are refused, a symlink met where a directory is needed is refused
(no write through a symlink), hardlinks may only name entries inside the destination, and
device nodes are refused unless the caller allows them.

Whiteouts (OCI image-spec layer.md): ``.wh.NAME`` hides NAME of the layers below, and
``.wh..wh..opq`` hides every lower entry of its directory. In ``overlay`` mode they become
overlayfs whiteouts (a 0:0 character device) and opaque directories (the
``trusted.overlay.opaque=y`` xattr); in ``delete`` mode (a full copy of the parent, as the
native snapshotter keeps) the hidden entries are deleted.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Literal

from wharf.archive.compression import Compression, HashingReader, decompressed
from wharf.archive.tarstream import TarReader
from wharf.errors import DataLoss, InvalidArgument, PermissionDenied
from wharf.oci.digest import Digest

__all__ = [
    "OPAQUE_XATTR",
    "WHITEOUT_OPAQUE",
    "WHITEOUT_PREFIX",
    "ApplyResult",
    "UnsafeEntry",
    "WhiteoutMode",
    "apply_layer",
    "stream_members",
]

WhiteoutMode = Literal["overlay", "delete"]
WHITEOUT_PREFIX: Final = ".wh."
WHITEOUT_OPAQUE: Final = ".wh..wh..opq"
OPAQUE_XATTR: Final = "trusted.overlay.opaque"
_CHUNK: Final = 1 << 20
_ZEROS: Final = bytes(_CHUNK)
_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_XATTR_PREFIX: Final = "SCHILY.xattr."


class UnsafeEntry(InvalidArgument):
    """A layer entry tries to escape its directory or is otherwise not allowed."""


@dataclass(frozen=True)
class ApplyResult:
    """What applying a layer produced.

    Attributes:
        diff_id: digest of the uncompressed tar (the image config's ``rootfs.diff_ids``).
        size: bytes of the uncompressed tar.
        compression: what the stream was compressed with.
    """

    diff_id: Digest
    size: int
    compression: Compression


def split_name(name: str) -> tuple[str, ...]:
    """The components of a tar entry name.

    Raises:
        UnsafeEntry: the name is absolute or climbs with ``..``.
    """
    if name.startswith("/"):
        raise UnsafeEntry(f"layer entry {name!r}: absolute paths are not allowed")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeEntry(f"layer entry {name!r}: '..' components are not allowed")
    if any("\x00" in p for p in parts):
        raise UnsafeEntry(f"layer entry {name!r}: NUL byte in name")
    return parts


class _Tree:
    """Directory fds of the destination, opened without following symlinks."""

    def __init__(self, root: Path, lowers: Sequence[Path]) -> None:
        self.root = root
        self.lowers = lowers
        self.root_fd = os.open(root, _DIR_FLAGS)
        self._cache: dict[tuple[str, ...], int] = {}

    def close(self) -> None:
        self.invalidate()
        os.close(self.root_fd)

    def trim(self) -> None:
        """Bound the open fds; called between entries, never while an fd is in use."""
        if len(self._cache) > 64:
            self.invalidate()

    def invalidate(self, under: tuple[str, ...] = ()) -> None:
        """Close cached fds of ``under`` and below (all by default)."""
        for parts in [p for p in self._cache if p[: len(under)] == under]:
            os.close(self._cache.pop(parts))

    def dir_fd(self, parts: tuple[str, ...], entry: str, *, create: bool = True) -> int:
        """An fd of the directory ``parts`` (created, like its parents, when missing)."""
        if not parts:
            return self.root_fd
        cached = self._cache.get(parts)
        if cached is not None:
            return cached
        parent = self.dir_fd(parts[:-1], entry, create=create)
        name = parts[-1]
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            self._mkdir_like_lower(parts, parent)
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UnsafeEntry(
                    f"layer entry {entry!r}: {'/'.join(parts)!r} is a symlink or not a "
                    "directory; refusing to write through it"
                ) from None
            raise
        self._cache[parts] = fd
        return fd

    def _mkdir_like_lower(self, parts: tuple[str, ...], parent: int) -> None:
        # A parent missing from the tar takes its attributes from the layers below, so
        # an overlay upper directory does not change the merged view's modes or owners.
        for lower in self.lowers:
            try:
                st = os.lstat(lower.joinpath(*parts))
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(parts[-1], stat.S_IMODE(st.st_mode), dir_fd=parent)
                with contextlib.suppress(PermissionError):
                    os.chown(parts[-1], st.st_uid, st.st_gid, dir_fd=parent)
                os.chmod(parts[-1], stat.S_IMODE(st.st_mode), dir_fd=parent)
                return
        os.mkdir(parts[-1], 0o755, dir_fd=parent)


def _remove(parent: int, name: str) -> None:
    try:
        st = os.lstat(name, dir_fd=parent)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=parent)  # fd-based: never follows symlinks
    else:
        os.unlink(name, dir_fd=parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _clear_dir(fd: int, keep: set[str]) -> None:
    for name in os.listdir(fd):
        if name not in keep:
            _remove(fd, name)


def _xattrs(member: tarfile.TarInfo) -> Iterator[tuple[str, bytes]]:
    for key, value in member.pax_headers.items():
        if not key.startswith(_XATTR_PREFIX):
            continue
        name = key[len(_XATTR_PREFIX) :]
        # overlay's own xattrs would let a layer forge whiteouts or redirects.
        if name.startswith(("trusted.overlay.", "user.overlay.")):
            continue
        yield name, value.encode("utf-8", "surrogateescape")


class _Applier:
    def __init__(
        self,
        dest: Path,
        *,
        whiteouts: WhiteoutMode,
        lowers: Sequence[Path],
        allow_devices: bool,
    ) -> None:
        self.tree = _Tree(dest, lowers)
        self.whiteouts = whiteouts
        self.allow_devices = allow_devices
        self.same_owner = os.geteuid() == 0
        self.seen: dict[tuple[str, ...], bool] = {}  # path -> is a directory
        self.dirs: list[tuple[tuple[str, ...], tarfile.TarInfo]] = []

    def entry(self, member: tarfile.TarInfo, tar: TarReader) -> None:
        self.tree.trim()
        parts = split_name(member.name)
        if not parts:
            if member.isdir():
                self.dirs.append(((), member))
                return
            raise UnsafeEntry(f"layer entry {member.name!r}: the root must be a directory")
        *head, name = parts
        parent_parts = tuple(head)
        if name.startswith(WHITEOUT_PREFIX):
            self._whiteout(parent_parts, name, member)
            return
        previous = self.seen.get(parts)
        if previous is not None and not (previous and member.isdir()):
            raise UnsafeEntry(f"layer entry {member.name!r}: duplicate entry in one layer")
        try:
            self._entry(parts, member, tar)
        except (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
            raise UnsafeEntry(f"layer entry {member.name!r}: {exc.strerror}") from exc
        self.seen[parts] = member.isdir()

    def _entry(self, parts: tuple[str, ...], member: tarfile.TarInfo, tar: TarReader) -> None:
        *head, name = parts
        parent = self.tree.dir_fd(tuple(head), member.name)
        if member.isdir():
            try:
                st = os.lstat(name, dir_fd=parent)
                if not stat.S_ISDIR(st.st_mode):
                    self._replace(parent, parts)
                    os.mkdir(name, 0o700, dir_fd=parent)
            except FileNotFoundError:
                os.mkdir(name, 0o700, dir_fd=parent)
            self.dirs.append((parts, member))
            return
        try:
            self._create(parent, name, member, tar)
        except FileExistsError:
            # Rare (a later layer replacing an entry): trying first saves an lstat per entry.
            self._replace(parent, parts)
            self._create(parent, name, member, tar)

    def _create(self, parent: int, name: str, member: tarfile.TarInfo, tar: TarReader) -> None:
        """Create a non-directory entry; FileExistsError before any byte is consumed."""
        if member.isreg():
            self._file(parent, name, member, tar)
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=parent)
            self._finish_link(parent, name, member)
        elif member.islnk():
            self._hardlink(parent, name, member)
        elif member.isfifo():
            os.mkfifo(name, 0o600, dir_fd=parent)
            self._finish_link(parent, name, member)
            os.chmod(name, member.mode & 0o7777, dir_fd=parent)
        elif member.ischr() or member.isblk():
            if not self.allow_devices:
                raise UnsafeEntry(
                    f"layer entry {member.name!r}: device nodes are not allowed in this layer"
                )
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(
                name,
                kind | (member.mode & 0o7777),
                os.makedev(member.devmajor, member.devminor),
                dir_fd=parent,
            )
            self._finish_link(parent, name, member)
        else:
            raise UnsafeEntry(f"layer entry {member.name!r}: unsupported tar entry type")

    def _replace(self, parent: int, parts: tuple[str, ...]) -> None:
        try:
            st = os.lstat(parts[-1], dir_fd=parent)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            self.tree.invalidate(parts)
        _remove(parent, parts[-1])

    def _whiteout(self, parent_parts: tuple[str, ...], name: str, member: tarfile.TarInfo) -> None:
        parent = self.tree.dir_fd(parent_parts, member.name)
        if name == WHITEOUT_OPAQUE:
            if self.whiteouts == "overlay":
                os.setxattr(parent, OPAQUE_XATTR, b"y")
            else:
                keep = {p[-1] for p in self.seen if p[:-1] == parent_parts}
                self.tree.invalidate()
                parent = self.tree.dir_fd(parent_parts, member.name)
                _clear_dir(parent, keep)
            return
        if name.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # AUFS metadata (.wh..wh.plnk, ...): meaningless here
        target = name[len(WHITEOUT_PREFIX) :]
        if target in ("", ".", "..") or "/" in target:
            raise UnsafeEntry(f"layer entry {member.name!r}: malformed whiteout")
        if (*parent_parts, target) in self.seen:
            # A whiteout hides lower layers only, never an entry of its own layer.
            return
        self._replace(parent, (*parent_parts, target))
        if self.whiteouts == "overlay":
            os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(0, 0), dir_fd=parent)

    def _file(self, parent: int, name: str, member: tarfile.TarInfo, tar: TarReader) -> None:
        fd = os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=parent,
        )
        try:
            remaining = member.size
            holes = False
            while remaining > 0:
                chunk = tar.read(min(_CHUNK, remaining))
                if not chunk:
                    raise DataLoss(f"layer entry {member.name!r}: data ends early")
                remaining -= len(chunk)
                if len(chunk) == _CHUNK and chunk == _ZEROS:
                    os.lseek(fd, _CHUNK, os.SEEK_CUR)  # keep sparse files sparse
                    holes = True
                else:
                    _write_all(fd, chunk)
            if holes:
                os.ftruncate(fd, member.size)
            self._attrs(fd, member)
        finally:
            os.close(fd)

    def _hardlink(self, parent: int, name: str, member: tarfile.TarInfo) -> None:
        target = split_name(member.linkname)
        if not target or target not in self.seen or self.seen[target]:
            raise UnsafeEntry(
                f"layer entry {member.name!r}: hardlink target {member.linkname!r} is not a "
                "file of this layer"
            )
        source_parent = self.tree.dir_fd(target[:-1], member.name)
        os.link(
            target[-1], name, src_dir_fd=source_parent, dst_dir_fd=parent, follow_symlinks=False
        )

    def _attrs(self, fd: int, member: tarfile.TarInfo) -> None:
        if self.same_owner:
            os.fchown(fd, member.uid, member.gid)
        for key, value in _xattrs(member):
            try:
                os.setxattr(fd, key, value)
            except OSError as exc:
                if exc.errno not in (errno.ENOTSUP, errno.EPERM, errno.EACCES):
                    raise
        os.fchmod(fd, member.mode & 0o7777)
        os.utime(fd, ns=(int(member.mtime * 1e9), int(member.mtime * 1e9)))

    def _finish_link(self, parent: int, name: str, member: tarfile.TarInfo) -> None:
        if self.same_owner:
            os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        mtime = int(member.mtime * 1e9)
        os.utime(name, ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)

    def finish(self) -> None:
        # Directory attributes last: adding children changes mtimes, and a read-only
        # directory mode would stop the extraction.
        last = dict(self.dirs)  # a repeated directory entry: the last one wins
        for parts in sorted(last, key=len, reverse=True):
            self.tree.trim()
            member = last[parts]
            try:
                fd = (
                    os.open(
                        parts[-1],
                        _DIR_FLAGS,
                        dir_fd=self.tree.dir_fd(parts[:-1], member.name, create=False),
                    )
                    if parts
                    else os.dup(self.tree.root_fd)
                )
            except (FileNotFoundError, NotADirectoryError, UnsafeEntry):
                continue  # removed or replaced by a later entry of this layer
            try:
                self._attrs(fd, member)
            finally:
                os.close(fd)


def stream_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The entries of a streamed tar, without tarfile's list of every member seen (that
    list grows with the file count; this keeps memory flat in the layer size)."""
    while (member := tar.next()) is not None:
        tar.members.clear()  # type: ignore[attr-defined]  # public, missing from typeshed
        yield member


def apply_layer(
    stream: BinaryIO,
    dest: Path,
    *,
    whiteouts: WhiteoutMode = "delete",
    lowers: Sequence[Path] = (),
    allow_devices: bool = False,
) -> ApplyResult:
    """Unpack a layer tar (plain, gzip or zstd) into ``dest``.

    Args:
        stream: the layer bytes, read once, in chunks.
        dest: an existing directory: an overlay upper dir, or a full copy of the parent.
        whiteouts: ``overlay`` to write overlayfs whiteouts, ``delete`` to delete.
        lowers: the parent layers' directories, top first (for missing parents' modes).
        allow_devices: accept character and block device entries.

    Returns:
        The diff ID and size of the uncompressed tar.

    Raises:
        UnsafeEntry: an entry escapes ``dest`` or is not allowed; nothing was written
            outside ``dest`` (the caller discards ``dest``).
        DataLoss: the stream is truncated or corrupt.
        PermissionDenied: the kernel refused an operation (``dest`` on a read-only fs).
    """
    reader, compression = decompressed(stream)
    hashing = HashingReader(reader)
    applier = _Applier(dest, whiteouts=whiteouts, lowers=lowers, allow_devices=allow_devices)
    try:
        try:
            tar = TarReader(io.BufferedReader(hashing, _CHUNK))
            for member in tar:
                applier.entry(member, tar)
            applier.finish()
            hashing.drain()
        except PermissionError as exc:
            raise PermissionDenied(f"applying layer into {dest}: {exc}") from exc
        except (ValueError, OverflowError) as exc:
            if isinstance(exc, InvalidArgument):
                raise
            raise UnsafeEntry(f"layer stream: invalid tar header field ({exc})") from exc
    finally:
        applier.tree.close()
    return ApplyResult(hashing.digest(), hashing.size, compression)
