"""``GET /containers/{id}/stats``: Docker's stats JSON (cgroup counters, cpu and memory)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["CpuSample", "StatsSample"]


@dataclass(frozen=True)
class CpuSample:
    """CPU counters at one instant (nanoseconds)."""

    total: int = 0
    percpu: tuple[int, ...] = ()
    user: int = 0
    system: int = 0
    system_cpu_usage: int = 0
    online_cpus: int = 0
    throttled_periods: int = 0
    throttled_time: int = 0
    periods: int = 0

    def to_json(self) -> dict[str, Any]:
        """Wire form (``cpu_stats``/``precpu_stats``)."""
        return {
            "cpu_usage": {
                "total_usage": self.total,
                "percpu_usage": list(self.percpu) or None,
                "usage_in_kernelmode": self.system,
                "usage_in_usermode": self.user,
            },
            "system_cpu_usage": self.system_cpu_usage,
            "online_cpus": self.online_cpus,
            "throttling_data": {
                "periods": self.periods,
                "throttled_periods": self.throttled_periods,
                "throttled_time": self.throttled_time,
            },
        }


@dataclass(frozen=True)
class StatsSample:
    """One stats message; ``precpu`` is the previous sample's CPU counters."""

    id: str
    name: str
    read: str
    preread: str
    cpu: CpuSample
    precpu: CpuSample
    memory_usage: int = 0
    memory_limit: int = 0
    memory_max_usage: int = 0
    memory_stats: dict[str, int] = field(default_factory=dict)
    pids_current: int = 0
    pids_limit: int = 0
    blkio: tuple[tuple[int, int, str, int], ...] = ()
    blkio_ops: tuple[tuple[int, int, str, int], ...] = ()
    networks: dict[str, dict[str, int]] | None = None

    def to_json(self) -> dict[str, Any]:
        """Wire form (dockerd's: ``pids_stats.limit`` only when set, every blkio list present,
        ``networks`` only for a container with interfaces of its own)."""
        pids: dict[str, int] = {"current": self.pids_current}
        if self.pids_limit:
            pids["limit"] = self.pids_limit
        out = {
            "id": self.id,
            "name": "/" + self.name,
            "read": self.read,
            "preread": self.preread,
            "num_procs": 0,
            "pids_stats": pids,
            "cpu_stats": self.cpu.to_json(),
            "precpu_stats": self.precpu.to_json(),
            "memory_stats": {
                "usage": self.memory_usage,
                "max_usage": self.memory_max_usage,
                "limit": self.memory_limit,
                "stats": dict(self.memory_stats),
            },
            "blkio_stats": {
                "io_service_bytes_recursive": _blkio(self.blkio),
                "io_serviced_recursive": _blkio(self.blkio_ops),
                **{key: [] for key in _UNREPORTED_BLKIO},
            },
            "storage_stats": {},
        }
        if self.networks is not None:
            out["networks"] = {name: dict(counters) for name, counters in self.networks.items()}
        return out


# cgroup v1 files Docker reads but Wharf's runtime does not (CFQ-only counters; empty on
# modern kernels with the none/mq-deadline schedulers anyway).
_UNREPORTED_BLKIO: Final = (
    "io_queue_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "io_time_recursive",
    "sectors_recursive",
)


def _blkio(entries: tuple[tuple[int, int, str, int], ...]) -> list[dict[str, Any]]:
    return [{"major": a, "minor": b, "op": op, "value": v} for a, b, op, v in entries]
