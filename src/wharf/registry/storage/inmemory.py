"""An in-memory storage driver: for unit tests, and a second implementation that keeps
the :class:`~wharf.registry.storage.driver.StorageDriver` seam honest."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import BinaryIO

from wharf.errors import InvalidArgument, NotFound
from wharf.registry.storage.driver import FileInfo

__all__ = ["InMemoryDriver"]


def _clean(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if any(p in {".", ".."} for p in parts):
        raise InvalidArgument(f"storage path {path!r} must not contain '.' or '..'")
    return "/".join(parts)


class _Writer:
    def __init__(self, driver: InMemoryDriver, path: str) -> None:
        self._driver = driver
        self._path = path

    @property
    def size(self) -> int:
        return len(self._driver._files[self._path][0])

    def write(self, data: bytes | bytearray) -> None:
        with self._driver._lock:
            buf, _ = self._driver._files[self._path]
            buf += data
            self._driver._files[self._path] = (buf, time.time())

    def close(self) -> None:
        pass


class InMemoryDriver:
    """Keys in a dict; see :class:`wharf.registry.storage.driver.StorageDriver`."""

    def __init__(self, root: Path | None = None) -> None:
        """``root`` is ignored; it keeps the constructor shaped like the filesystem's."""
        self._files: dict[str, tuple[bytearray, float]] = {}
        self._lock = threading.Lock()

    def _children(self, prefix: str) -> set[str]:
        start = prefix + "/" if prefix else ""
        return {k[len(start) :].split("/")[0] for k in self._files if k.startswith(start)}

    def get_content(self, path: str) -> bytes:
        key = _clean(path)
        if key not in self._files:
            raise NotFound(f"storage path {path!r} not found")
        return bytes(self._files[key][0])

    def put_content(self, path: str, data: bytes) -> None:
        with self._lock:
            self._files[_clean(path)] = (bytearray(data), time.time())

    def stat(self, path: str) -> FileInfo:
        key = _clean(path)
        if key in self._files:
            data, mtime = self._files[key]
            return FileInfo(path, len(data), mtime, False)
        if self._children(key):
            return FileInfo(path, 0, time.time(), True)
        raise NotFound(f"storage path {path!r} not found")

    def list(self, path: str) -> list[str]:
        key = _clean(path)
        children = self._children(key)
        if not children or key in self._files:
            raise NotFound(f"storage path {path!r} not found")
        return list(children)

    def move(self, src: str, dst: str) -> None:
        with self._lock:
            key = _clean(src)
            if key not in self._files:
                raise NotFound(f"storage path {src!r} not found")
            self._files[_clean(dst)] = self._files.pop(key)

    def delete(self, path: str) -> None:
        key = _clean(path)
        with self._lock:
            doomed = [k for k in self._files if k == key or k.startswith(key + "/")]
            if not doomed:
                raise NotFound(f"storage path {path!r} not found")
            for k in doomed:
                del self._files[k]

    def touch(self, path: str) -> None:
        key = _clean(path)
        with self._lock:
            if key not in self._files:
                raise NotFound(f"storage path {path!r} not found")
            self._files[key] = (self._files[key][0], time.time())

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        f = io.BytesIO(self.get_content(path))
        f.seek(offset)
        return f

    def writer(self, path: str, *, append: bool) -> _Writer:
        key = _clean(path)
        with self._lock:
            if not append or key not in self._files:
                self._files[key] = (bytearray(), time.time())
        return _Writer(self, key)

    def local_path(self, path: str) -> Path | None:
        return None
