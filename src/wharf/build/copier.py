"""COPY and ADD semantics over host directories (Docker's classic builder rules).

Sources are paths relative to a source root (the context, or a stage's or image's root
filesystem); wildcards match per path segment; a source directory's *contents* are copied;
several sources need a destination ending in ``/``; missing parent directories are created;
ADD extracts a local tar archive (plain, gzip, bzip2, xz) into the destination. Every path is
resolved inside its root as if chrooted: ``..`` and symlinks never leave it.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from wharf.errors import InvalidArgument, NotFound

__all__ = ["CopyOptions", "copy_into", "resolve_in_root", "resolve_sources"]

_MAX_LINKS = 255


@dataclass(frozen=True)
class CopyOptions:
    """How files land: owner (None keeps 0:0 from the context, a stage's own owners for
    ``--from``), mode for ``--chmod``, and whether ADD's archive extraction applies."""

    uid: int = 0
    gid: int = 0
    keep_owner: bool = False
    chmod: int | None = None
    extract_archives: bool = False


def resolve_in_root(root: Path, path: str, *, follow_last: bool = True) -> Path:
    """``path`` inside ``root`` with symlinks resolved as if ``root`` were ``/``."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink() and (parts or follow_last):
            links += 1
            if links > _MAX_LINKS:
                raise InvalidArgument(f"path {path!r}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def resolve_sources(root: Path, sources: Iterable[str], *, what: str) -> list[Path]:
    """Each source (relative to ``root``; wildcards allowed) as existing paths, a symlink
    named as a source followed inside ``root`` (as dockerd does; links inside a copied
    directory stay links).

    Raises:
        InvalidArgument: a source leaves the root (``../x``).
        NotFound: a source or a wildcard matches nothing.
    """
    found: list[Path] = []
    for source in sources:
        clean = posixpath.normpath("/" + source) if source.startswith("/") else source
        rel = posixpath.normpath(clean.lstrip("/")) if clean.strip("/") else "."
        if rel == ".." or rel.startswith("../"):
            raise InvalidArgument(f"Forbidden path outside the build context: {source} ()")
        if any(c in rel for c in "*?["):
            matches = _glob(root, rel)
            if not matches:
                raise NotFound(f"{what}: no source files were specified (pattern {source!r})")
            found.extend(resolve_in_root(root, m.relative_to(root).as_posix()) for m in matches)
            continue
        path = resolve_in_root(root, rel) if rel != "." else root
        if not path.exists() and not path.is_symlink():
            raise NotFound(
                f"{what}: file not found in build context or excluded by .dockerignore: "
                f"stat {source}: file does not exist"
            )
        found.append(path)
    return found


def _glob(root: Path, pattern: str) -> list[Path]:
    level = [root]
    for segment in pattern.split("/"):
        nxt: list[Path] = []
        for base in level:
            if not base.is_dir():
                continue
            if any(c in segment for c in "*?["):
                nxt.extend(
                    base / n for n in sorted(os.listdir(base)) if fnmatch.fnmatchcase(n, segment)
                )
            elif (base / segment).exists() or (base / segment).is_symlink():
                nxt.append(base / segment)
        level = nxt
    return level


def copy_into(
    sources: list[Path], dest_root: Path, dest: str, options: CopyOptions, *, what: str
) -> None:
    """Copy ``sources`` to ``dest`` (absolute in the image) under ``dest_root``.

    Raises:
        InvalidArgument: several sources and a destination not ending in ``/``.
    """
    dest_is_dir = dest.endswith(("/", "/."))
    if len(sources) > 1 and not dest_is_dir:
        raise InvalidArgument(
            f"{what}: When using COPY with more than one source file, "
            "the destination must be a directory and end with a /"
        )
    target = resolve_in_root(dest_root, dest)
    if not sources:
        _mkdirs(dest_root, target, options)
    for source in sources:
        if source.is_dir() and not source.is_symlink():
            _mkdirs(dest_root, target, options)
            _copy_tree_contents(source, target, options)
        elif options.extract_archives and _is_archive(source):
            _mkdirs(dest_root, target, options)
            _extract(source, dest_root, target)
        else:
            final = target / source.name if dest_is_dir or target.is_dir() else target
            _mkdirs(dest_root, final.parent, options)
            _copy_one(source, final, options)


def _mkdirs(root: Path, path: Path, options: CopyOptions) -> None:
    missing: list[Path] = []
    current = path
    while not current.exists() and current != root:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o755)
        os.chmod(directory, 0o755)
        os.lchown(directory, options.uid, options.gid)


def _apply_owner_mode(path: Path, st: os.stat_result, options: CopyOptions) -> None:
    if options.keep_owner:
        os.lchown(path, st.st_uid, st.st_gid)
    else:
        os.lchown(path, options.uid, options.gid)
    if not stat.S_ISLNK(st.st_mode):
        mode = options.chmod if options.chmod is not None else stat.S_IMODE(st.st_mode)
        os.chmod(path, mode)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_one(source: Path, target: Path, options: CopyOptions) -> None:
    st = source.lstat()
    if target.is_dir() and not target.is_symlink() and not stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"cannot overwrite directory {target.name!r} with a non-directory")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        target.unlink()
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(source), target)
    elif stat.S_ISDIR(st.st_mode):
        target.mkdir(exist_ok=True)
    else:
        shutil.copyfile(source, target, follow_symlinks=False)
    _apply_owner_mode(target, st, options)


def _copy_tree_contents(source: Path, target: Path, options: CopyOptions) -> None:
    for entry in sorted(os.listdir(source)):
        src = source / entry
        dst = target / entry
        if src.is_dir() and not src.is_symlink():
            if dst.is_symlink() or (dst.exists() and not dst.is_dir()):
                dst.unlink()
            dst.mkdir(exist_ok=True)
            _copy_tree_contents(src, dst, options)
            _apply_owner_mode(dst, src.lstat(), options)
        else:
            _copy_one(src, dst, options)
    _apply_owner_mode(target, source.lstat(), options)


def _is_archive(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with tarfile.open(path, "r:*") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False


def _extract(archive: Path, root: Path, target: Path) -> None:
    rel_target = target.relative_to(root)
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            name = posixpath.normpath(member.name.lstrip("/"))
            if name in ("", "."):
                continue
            if name == ".." or name.startswith("../"):
                raise InvalidArgument(
                    f"ADD {archive.name}: member {member.name!r} escapes the destination"
                )
            parent = resolve_in_root(root, str(rel_target / posixpath.dirname(name)))
            member.name = posixpath.basename(name)
            if member.islnk():
                link = posixpath.normpath(member.linkname.lstrip("/"))
                if link == ".." or link.startswith("../"):
                    raise InvalidArgument(
                        f"ADD {archive.name}: hard link {member.linkname!r} escapes"
                    )
                source = resolve_in_root(root, str(rel_target / link), follow_last=False)
                parent.mkdir(parents=True, exist_ok=True)
                dest = parent / member.name
                if dest.exists() or dest.is_symlink():
                    dest.unlink()
                os.link(source, dest)
                continue
            if not (member.isfile() or member.isdir() or member.issym()):
                continue
            parent.mkdir(parents=True, exist_ok=True)
            existing = parent / member.name
            if (existing.is_symlink() or existing.is_file()) and not member.isdir():
                existing.unlink()
            tar.extract(member, parent, set_attrs=True, numeric_owner=True, filter="fully_trusted")
