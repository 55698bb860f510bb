"""The build context: a tar stream extracted safely into a directory, and ``.dockerignore``.

Extraction refuses members that would land outside the directory (absolute names, ``..``,
writes through a symlink, links whose targets leave the tree). ``.dockerignore`` follows
Docker's rules (moby ``patternmatcher``): patterns are cleaned and made relative, ``*`` and
``?`` do not cross ``/``, ``**`` matches any number of directories, a pattern also excludes
everything below a directory it matches, ``!`` re-includes, and the last matching pattern
wins.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from wharf.errors import InvalidArgument

__all__ = [
    "IgnoreMatcher",
    "apply_dockerignore",
    "checksum",
    "extract_context",
    "read_dockerignore",
]


def _safe_name(name: str, what: str) -> str:
    clean = posixpath.normpath(name.lstrip("./") if name.startswith("./") else name)
    if name.startswith("/") or clean == ".." or clean.startswith("../"):
        raise InvalidArgument(f"build context: {what} {name!r} escapes the context directory")
    return "" if clean == "." else clean


def extract_context(stream: BinaryIO, dest: Path, *, max_size: int | None = None) -> None:
    """Extract the context tar ``stream`` (plain, gzip, bzip2 or xz) into ``dest``.

    Raises:
        InvalidArgument: the stream is not a tar, a member would escape ``dest``, or the
            files add up to more than ``max_size`` bytes.
    """
    symlinks: set[str] = set()
    total = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                total += member.size if member.isfile() else 0
                if max_size is not None and total > max_size:
                    raise InvalidArgument(
                        f"build context: its files add up to more than the limit of {max_size} "
                        "bytes (wharf daemon --max-build-context-size)"
                    )
                name = _safe_name(member.name, "path")
                if not name:
                    continue
                _check_no_symlink_parent(name, symlinks, member.name)
                if member.islnk():
                    target = _safe_name(member.linkname, "hard link target")
                    _check_no_symlink_parent(target, symlinks, member.linkname)
                elif member.issym():
                    target = member.linkname
                    resolved = posixpath.join(posixpath.dirname(name), target)
                    if not target.startswith("/"):
                        _safe_name(resolved, "symlink target")
                    symlinks.add(name)
                elif not (member.isfile() or member.isdir()):
                    continue
                if member.islnk():
                    member.linkname = _safe_name(member.linkname, "hard link target")
                _write(tar, member, dest, name)
    except tarfile.TarError as exc:
        raise InvalidArgument(f"build context: not a valid tar archive: {exc}") from None


def _check_no_symlink_parent(name: str, symlinks: set[str], shown: str) -> None:
    parts = name.split("/")
    for k in range(1, len(parts)):
        if "/".join(parts[:k]) in symlinks:
            raise InvalidArgument(f"build context: path {shown!r} goes through a symlink")


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, name: str) -> None:
    """Create one checked member (parents are real directories by then). Owners are not
    kept: COPY and ADD set them."""
    path = dest / name
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = member.mode & 0o7777
    if member.isdir():
        path.mkdir(exist_ok=True)
        os.chmod(path, mode)
        return
    if path.is_symlink() or path.exists():
        if path.is_dir() and not path.is_symlink():
            raise InvalidArgument(f"build context: {member.name!r} replaces a directory")
        path.unlink()
    if member.issym():
        os.symlink(member.linkname, path)
    elif member.islnk():
        os.link(dest / member.linkname, path, follow_symlinks=False)
        return  # the inode, and its times, are the target's
    else:
        source = tar.extractfile(member)
        assert source is not None
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out)
            os.fchmod(out.fileno(), mode)
    os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    exclusion: bool
    text: str


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1
                    out.append("(?:.*/)?")
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidArgument(f".dockerignore: pattern {pattern!r} has an unclosed '['")
            body = pattern[i + 1 : end]
            if body.startswith(("^", "!")):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        elif ch == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 1
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out))


class IgnoreMatcher:
    """Docker's ``.dockerignore`` matcher over context-relative slash paths."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in patterns:
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            exclusion = text.startswith("!")
            if exclusion:
                text = text[1:].strip()
            text = posixpath.normpath(text).lstrip("/")
            if text in ("", "."):
                continue
            self.patterns.append(_Pattern(_compile(text), exclusion, text))

    def excluded(self, path: str) -> bool:
        """Whether ``path`` (relative, ``/``-separated) is excluded from the context."""
        parents = path.split("/")
        candidates = ["/".join(parents[: k + 1]) for k in range(len(parents))]
        matched = False
        for pattern in self.patterns:
            if any(pattern.regex.match(c) for c in candidates):
                matched = not pattern.exclusion
        return matched

    def has_exceptions_below(self, path: str) -> bool:
        """Whether an exception pattern may re-include something under directory ``path``."""
        return any(p.exclusion and p.text.startswith(path + "/") for p in self.patterns) or any(
            p.exclusion and ("*" in p.text or "?" in p.text or "[" in p.text) for p in self.patterns
        )


def read_dockerignore(root: Path) -> IgnoreMatcher:
    """The matcher of ``root/.dockerignore`` (matching nothing if there is none)."""
    try:
        text = (root / ".dockerignore").read_text()
    except FileNotFoundError:
        return IgnoreMatcher([])
    return IgnoreMatcher(text.splitlines())


def apply_dockerignore(root: Path, matcher: IgnoreMatcher, keep: Iterable[str]) -> None:
    """Delete what ``matcher`` excludes from the extracted context at ``root``, keeping the
    paths in ``keep`` (the Dockerfile and ``.dockerignore``, as Docker does)."""
    kept = set(keep)
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            rel = posixpath.join(rel_dir, name) if rel_dir else name
            if rel not in kept and matcher.excluded(rel):
                os.unlink(os.path.join(dirpath, name))
        for name in list(dirnames):
            full = os.path.join(dirpath, name)
            rel = posixpath.join(rel_dir, name) if rel_dir else name
            if os.path.islink(full):
                dirnames.remove(name)
                continue
            if matcher.excluded(rel) and not matcher.has_exceptions_below(rel):
                shutil.rmtree(full)
                dirnames.remove(name)
    # directories excluded themselves but holding re-included files stay; empty excluded ones go
    for dirpath, _dirnames, _filenames in os.walk(root, topdown=False):
        rel = os.path.relpath(dirpath, root)
        if rel != "." and matcher.excluded(rel) and not os.listdir(dirpath):
            os.rmdir(dirpath)


def checksum(root: Path, paths: Iterable[str]) -> str:
    """A content checksum of the files and trees at ``paths`` (relative to ``root``): names,
    modes, symlink targets and contents; the COPY/ADD part of a cache key."""
    digest = hashlib.sha256()
    for rel in sorted(paths):
        top = root / rel
        entries = [top]
        if top.is_dir() and not top.is_symlink():
            entries += sorted(top.rglob("*"))
        for entry in entries:
            st = entry.lstat()
            name = entry.relative_to(root).as_posix()
            digest.update(f"{name}\0{st.st_mode:o}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                digest.update(os.readlink(entry).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(entry, "rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()
