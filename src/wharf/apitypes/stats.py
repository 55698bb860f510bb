"""``GET /containers/{id}/stats``: Docker's stats JSON (cgroup counters, cpu and memory)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "id": self.id,
            "name": "/" + self.name,
            "read": self.read,
            "preread": self.preread,
            "num_procs": 0,
            "pids_stats": {"current": self.pids_current, "limit": self.pids_limit},
            "cpu_stats": self.cpu.to_json(),
            "precpu_stats": self.precpu.to_json(),
            "memory_stats": {
                "usage": self.memory_usage,
                "max_usage": self.memory_max_usage,
                "limit": self.memory_limit,
                "stats": dict(self.memory_stats),
            },
            "blkio_stats": {
                "io_service_bytes_recursive": [
                    {"major": a, "minor": b, "op": op, "value": v} for a, b, op, v in self.blkio
                ]
                or None,
            },
            "storage_stats": {},
        }
