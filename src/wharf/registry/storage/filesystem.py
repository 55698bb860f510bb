"""The filesystem storage driver: keys are files under one root directory.

Atomic writes go to a unique temporary file in the target's directory and are renamed
into place, which POSIX makes atomic for every process sharing the root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from wharf.errors import InvalidArgument, NotFound
from wharf.registry.storage.driver import FileInfo

__all__ = ["FilesystemDriver", "FilesystemWriter"]


class FilesystemWriter:
    """Appends to one file; see :class:`wharf.registry.storage.driver.FileWriter`."""

    def __init__(self, path: Path, *, append: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab" if append else "wb", buffering=0)  # noqa: SIM115
        self._size = self._file.tell()

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | bytearray) -> None:
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            if written is None:
                continue
            view = view[written:]
            self._size += written

    def close(self) -> None:
        self._file.close()


class FilesystemDriver:
    """Keys as files under ``root``; see :class:`wharf.registry.storage.driver.StorageDriver`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _full(self, path: str) -> Path:
        parts = [p for p in path.split("/") if p]
        if any(p in {".", ".."} for p in parts):
            raise InvalidArgument(f"storage path {path!r} must not contain '.' or '..'")
        return self.root.joinpath(*parts)

    def get_content(self, path: str) -> bytes:
        try:
            return self._full(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise NotFound(f"storage path {path!r} not found") from exc

    def put_content(self, path: str, data: bytes) -> None:
        full = self._full(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        tmp = full.parent / f".tmp-{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, full)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def stat(self, path: str) -> FileInfo:
        try:
            st = self._full(path).stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFound(f"storage path {path!r} not found") from exc
        is_dir = (st.st_mode & 0o170000) == 0o040000
        return FileInfo(path, 0 if is_dir else st.st_size, st.st_mtime, is_dir)

    def list(self, path: str) -> list[str]:
        try:
            return [e.name for e in os.scandir(self._full(path)) if not e.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFound(f"storage path {path!r} not found") from exc

    def move(self, src: str, dst: str) -> None:
        target = self._full(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self._full(src), target)
        except FileNotFoundError as exc:
            raise NotFound(f"storage path {src!r} not found") from exc

    def delete(self, path: str) -> None:
        full = self._full(path)
        try:
            if full.is_dir() and not full.is_symlink():
                # Rename first so readers never see a half-deleted tree.
                doomed = full.parent / f".del-{uuid.uuid4().hex}"
                os.rename(full, doomed)
                shutil.rmtree(doomed, ignore_errors=True)
            else:
                full.unlink()
        except FileNotFoundError as exc:
            raise NotFound(f"storage path {path!r} not found") from exc

    def touch(self, path: str) -> None:
        try:
            os.utime(self._full(path))
        except FileNotFoundError as exc:
            raise NotFound(f"storage path {path!r} not found") from exc

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        try:
            f = open(self._full(path), "rb")  # noqa: SIM115
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise NotFound(f"storage path {path!r} not found") from exc
        f.seek(offset)
        return f

    def writer(self, path: str, *, append: bool) -> FilesystemWriter:
        return FilesystemWriter(self._full(path), append=append)

    def local_path(self, path: str) -> Path | None:
        return self._full(path)
