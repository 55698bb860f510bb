"""System information: version, info, disk usage and the events stream."""

from __future__ import annotations

import asyncio
import os
import platform
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from wharf import __version__
from wharf.apitypes import DiskUsage, Event, Filters, SystemInfo, VersionInfo
from wharf.daemon.containers import ContainerService
from wharf.daemon.events import EventBus
from wharf.daemon.images import ImageService
from wharf.daemon.ports import ImageStore
from wharf.daemon.store import write_durably

__all__ = ["SystemService"]


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip('"')
    except OSError:
        pass
    return "Linux"


def _mem_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class SystemService:
    """Implements :class:`wharf.api.backends.SystemBackend`."""

    def __init__(
        self,
        *,
        containers: ContainerService,
        images: ImageService,
        image_store: ImageStore,
        events: EventBus,
        data_root: Path,
        runtime_name: str,
    ) -> None:
        self._containers = containers
        self._images = images
        self._image_store = image_store
        self._events = events
        self._data_root = data_root
        self._runtime_name = runtime_name
        self._id = _daemon_id(data_root)

    def version(self) -> VersionInfo:
        return VersionInfo(
            version=__version__,
            kernel_version=platform.release(),
            python_version=f"python{platform.python_version()}",
        )

    def info(self) -> SystemInfo:
        records = self._containers.store.all()
        running = sum(1 for r in records if r.status in ("running", "restarting"))
        paused = sum(1 for r in records if r.status == "paused")
        return SystemInfo(
            id=self._id,
            name=socket.gethostname(),
            server_version=__version__,
            containers=len(records),
            containers_running=running,
            containers_paused=paused,
            containers_stopped=len(records) - running - paused,
            images=len(self._image_store.list()),
            docker_root_dir=str(self._data_root),
            kernel_version=platform.release(),
            operating_system=_os_name(),
            ncpu=os.cpu_count() or 1,
            mem_total=_mem_total(),
            default_runtime=self._runtime_name,
            runtimes=tuple(sorted({self._runtime_name, "wharf", "runc", "crun"})),
            architecture=platform.machine(),
            cgroup_version="2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1",
        )

    async def disk_usage(self) -> DiskUsage:
        loop = asyncio.get_running_loop()
        layers = await loop.run_in_executor(None, self._image_store.usage)
        images = self._images.list(all=True, filters={})
        containers = self._containers.list(all=True, limit=-1, size=False, filters={})
        return DiskUsage(
            layers_size=layers,
            images=tuple(i.to_summary_json() for i in images),
            containers=tuple(c.to_summary_json() for c in containers),
        )

    def events(
        self, *, since: float | None, until: float | None, filters: Filters
    ) -> AsyncIterator[Event]:
        return self._events.stream(since=since, until=until, filters=filters)


def _daemon_id(data_root: Path) -> str:
    path = data_root / "engine-id"
    try:
        return path.read_text().strip()
    except OSError:
        import uuid

        value = str(uuid.uuid4())
        path.parent.mkdir(parents=True, exist_ok=True)
        write_durably(path, value.encode())
        return value
