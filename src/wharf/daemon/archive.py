"""``docker cp``: stat, get and put paths inside a container's filesystem.

A running container is reached through ``/proc/<pid>/root``; a stopped one by mounting its
rootfs mounts on a private temp dir for the duration of the call. The file work itself happens in
``_cphelper``, a child process chrooted there, so container symlinks resolve inside the container.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from wharf.api.backends import ByteStream
from wharf.apitypes import PathStat
from wharf.daemon.store import ContainerRecord
from wharf.errors import InvalidArgument, NotFound, WharfError
from wharf.mount import mount_all, unmount

if TYPE_CHECKING:
    from wharf.daemon.containers import ContainerService

__all__ = ["ContainerArchive"]

_HELPER = [sys.executable, "-m", "wharf.daemon._cphelper"]


def _error(code: int, stderr: bytes, record: ContainerRecord, path: str) -> WharfError:
    message = stderr.decode(errors="replace").strip()
    if code == 2:
        return NotFound(f"Could not find the file {path} in container {record.name}")
    if code == 3:
        return InvalidArgument(f"container {record.name}: path {path}: {message}")
    return WharfError(f"container {record.name}: path {path}: {message}")


class ContainerArchive:
    """The archive endpoints of the container service."""

    def __init__(self, service: ContainerService) -> None:
        self._service = service

    @contextlib.asynccontextmanager
    async def _root(self, record: ContainerRecord) -> AsyncIterator[str]:
        if record.status in ("running", "paused") and record.pid:
            yield f"/proc/{record.pid}/root"
            return
        mounts = self._service.images.container_mounts(record.id)
        with tempfile.TemporaryDirectory(prefix="wharf-cp-") as tmp:
            mount_all(mounts, tmp)
            try:
                yield tmp
            finally:
                unmount(tmp, detach=True)

    async def stat(self, record: ContainerRecord, path: str) -> PathStat:
        """Stat ``path`` (symlinks not followed at the last component)."""
        async with self._root(record) as root:
            proc = await asyncio.create_subprocess_exec(
                *_HELPER,
                "stat",
                root,
                path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await proc.communicate()
        if proc.returncode:
            raise _error(proc.returncode or 0, err, record, path)
        data = json.loads(out)
        return PathStat(
            name=data["name"],
            size=data["size"],
            mode=data["mode"],
            mtime=data["mtime"],
            link_target=data["linkTarget"],
        )

    async def get(self, record: ContainerRecord, path: str) -> tuple[PathStat, ByteStream]:
        """Stat ``path`` and stream it as a tar archive."""
        stat = await self.stat(record, path)
        return stat, ByteStream(self._get_stream(record, path))

    async def _get_stream(self, record: ContainerRecord, path: str) -> AsyncIterator[bytes]:
        async with self._root(record) as root:
            proc = await asyncio.create_subprocess_exec(
                *_HELPER,
                "get",
                root,
                path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            assert proc.stdout is not None
            try:
                while chunk := await proc.stdout.read(1 << 16):
                    yield chunk
            finally:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                await proc.wait()

    async def put(
        self,
        record: ContainerRecord,
        path: str,
        body: AsyncIterator[bytes],
        *,
        no_overwrite_dir_non_dir: bool,
    ) -> None:
        """Extract the tar stream ``body`` into the directory ``path``."""
        async with self._root(record) as root:
            proc = await asyncio.create_subprocess_exec(
                *_HELPER,
                "put",
                root,
                path,
                "1" if no_overwrite_dir_non_dir else "0",
                stdin=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            assert proc.stdin is not None and proc.stderr is not None
            try:
                async for chunk in body:
                    proc.stdin.write(chunk)
                    await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.close()
            err = await proc.stderr.read()
            await proc.wait()
        if proc.returncode:
            raise _error(proc.returncode, err, record, path)
