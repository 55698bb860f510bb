"""The engine's per-container cgroup on the v1 hierarchies this host has.

A small, fixed set: memory, pids, cpu, cpuacct, freezer and blkio, each a directory
``/sys/fs/cgroup/<controller><path>``. The monitor creates them before the clone, applies
the spec's limits, and hands pre-opened ``tasks`` fds to the child, which joins by writing
``0`` (the stall-free v1 path measured in runtime-latency.md). Freezing pauses the
container; ``memory.oom_control`` tells whether the kernel OOM-killed something in it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from dataclasses import dataclass
from typing import Any, Final

from wharf.errors import InvalidArgument, NotFound

__all__ = ["CONTROLLERS", "Cgroup", "CgroupStats"]

CGROUP_ROOT: Final = "/sys/fs/cgroup"
CONTROLLERS: Final = ("memory", "pids", "cpu", "cpuacct", "freezer", "blkio")


@dataclass(frozen=True)
class CgroupStats:
    """Resource usage of one container.

    Attributes:
        memory_usage: bytes charged to the container now.
        memory_limit: its memory limit in bytes (the host's total when unlimited).
        cpu_usage_ns: CPU time used, in nanoseconds.
        pids: processes and threads in it now.
        io_read_bytes: bytes read from block devices.
        io_write_bytes: bytes written to block devices.
    """

    memory_usage: int
    memory_limit: int
    cpu_usage_ns: int
    pids: int
    io_read_bytes: int
    io_write_bytes: int


def _limits(resources: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    """(controller, file, spec field, value) for each limit the spec sets."""
    out: list[tuple[str, str, str, int]] = []
    table = (
        ("memory", "limit", "memory", "memory.limit_in_bytes"),
        ("memory", "reservation", "memory", "memory.soft_limit_in_bytes"),
        ("memory", "swap", "memory", "memory.memsw.limit_in_bytes"),
        ("cpu", "shares", "cpu", "cpu.shares"),
        ("cpu", "period", "cpu", "cpu.cfs_period_us"),
        ("cpu", "quota", "cpu", "cpu.cfs_quota_us"),
        ("pids", "limit", "pids", "pids.max"),
    )
    for section, key, controller, filename in table:
        value = (resources.get(section) or {}).get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidArgument(
                f"linux.resources.{section}.{key}: expected an integer, got {value!r}"
            )
        out.append((controller, filename, f"linux.resources.{section}.{key}", value))
    return out


class Cgroup:
    """One container's cgroup, ``path`` below each controller's root (e.g. ``/wharf/ID``)."""

    def __init__(self, path: str) -> None:
        if not path.startswith("/") or ".." in path.split("/"):
            raise InvalidArgument(
                f"linux.cgroupsPath {path!r}: expected an absolute path without '..'"
            )
        self.path = path.rstrip("/")

    def dir(self, controller: str) -> str:
        return f"{CGROUP_ROOT}/{controller}{self.path}"

    @classmethod
    def create(cls, path: str, resources: dict[str, Any]) -> Cgroup:
        """Make the directories and apply the spec's limits; undone on failure.

        Raises:
            InvalidArgument: a limit the kernel refuses (the message names the spec field).
        """
        cg = cls(path)
        limits = _limits(resources)
        made: list[str] = []
        try:
            for controller in CONTROLLERS:
                d = cg.dir(controller)
                _makedirs(d, made)
            # Quota needs its period first; swap (memsw) needs the memory limit first.
            for controller, filename, field, value in limits:
                _apply(f"{cg.dir(controller)}/{filename}", field, controller, value)
        except BaseException:
            for d in reversed(made):
                with contextlib.suppress(OSError):
                    os.rmdir(d)
            raise
        return cg

    def update(self, resources: dict[str, Any]) -> None:
        """Apply new limits (OCI ``linux.resources`` shape) to the existing cgroup.

        Raises:
            InvalidArgument: a limit the kernel refuses (the message names the spec field).
        """
        for controller, filename, field, value in _limits(resources):
            _apply(f"{self.dir(controller)}/{filename}", field, controller, value)

    def open_tasks(self) -> list[int]:
        """Write-only fds of every controller's ``tasks`` file, for the child to join."""
        return [os.open(f"{self.dir(c)}/tasks", os.O_WRONLY | os.O_CLOEXEC) for c in CONTROLLERS]

    def freeze(self, frozen: bool) -> None:
        """Pause (FROZEN) or resume (THAWED) every process, waiting until the state holds."""
        want = "FROZEN" if frozen else "THAWED"
        state_file = f"{self.dir('freezer')}/freezer.state"
        for _ in range(1000):
            _write(state_file, want)
            if _read(state_file) == want:
                return
            time.sleep(0.001)
        raise InvalidArgument(f"cgroup {self.path}: freezer did not reach {want}")

    def frozen(self) -> bool:
        try:
            return _read(f"{self.dir('freezer')}/freezer.state") != "THAWED"
        except FileNotFoundError:
            return False

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer killed a process of this cgroup."""
        try:
            text = _read(f"{self.dir('memory')}/memory.oom_control")
        except FileNotFoundError:
            return False
        fields = dict(line.split() for line in text.splitlines() if line.count(" ") == 1)
        return int(fields.get("oom_kill", "0")) > 0

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in _read(f"{self.dir('pids')}/cgroup.procs").split()]
        except FileNotFoundError:
            return []

    def stats(self) -> CgroupStats:
        """Current usage, read from the controllers' files.

        Raises:
            NotFound: the cgroup does not exist (the container was removed).
        """
        try:
            memory = self.dir("memory")
            read_bytes = write_bytes = 0
            for line in _read(f"{self.dir('blkio')}/blkio.throttle.io_service_bytes").splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1] == "Read":
                    read_bytes += int(parts[2])
                elif len(parts) == 3 and parts[1] == "Write":
                    write_bytes += int(parts[2])
            return CgroupStats(
                memory_usage=int(_read(f"{memory}/memory.usage_in_bytes")),
                memory_limit=int(_read(f"{memory}/memory.limit_in_bytes")),
                cpu_usage_ns=int(_read(f"{self.dir('cpuacct')}/cpuacct.usage")),
                pids=int(_read(f"{self.dir('pids')}/pids.current")),
                io_read_bytes=read_bytes,
                io_write_bytes=write_bytes,
            )
        except FileNotFoundError:
            raise NotFound(f"cgroup {self.path}: does not exist") from None

    def destroy(self) -> None:
        """Remove the directories; waits briefly for exiting processes to leave."""
        for controller in CONTROLLERS:
            d = self.dir(controller)
            for _ in range(200):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise
                    time.sleep(0.005)


def _apply(path: str, field: str, controller: str, value: int) -> None:
    try:
        _write(path, str(value))
    except FileNotFoundError:
        raise InvalidArgument(
            f"{field}: this kernel has no {os.path.basename(path)} (controller {controller})"
        ) from None
    except OSError as exc:
        raise InvalidArgument(
            f"{field}: the kernel refused {value} for {os.path.basename(path)}: {exc.strerror}"
        ) from None


def _makedirs(d: str, made: list[str]) -> None:
    parent = os.path.dirname(d)
    if not os.path.isdir(parent):
        _makedirs(parent, made)
    try:
        os.mkdir(d)
        made.append(d)
    except FileExistsError:
        pass


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()
