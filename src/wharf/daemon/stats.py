"""Container stats from the runtime's cgroup counters, in Docker's shape."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from wharf.apitypes.stats import CpuSample, StatsSample
from wharf.errors import WharfError

__all__ = ["network_counters", "sample_stream", "system_cpu_ns"]

_ONE_SHOT_GAP: Final = 0.2
_INTERVAL: Final = 1.0
_ZERO_TIME: Final = "0001-01-01T00:00:00Z"


def system_cpu_ns() -> int:
    """Host CPU time (all cpus, all states) in ns, from /proc/stat: Docker's system_cpu_usage."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    ticks = sum(int(v) for v in fields[:8])
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


_NET_FIELDS: Final = (
    ("rx_bytes", 0),
    ("rx_packets", 1),
    ("rx_errors", 2),
    ("rx_dropped", 3),
    ("tx_bytes", 8),
    ("tx_packets", 9),
    ("tx_errors", 10),
    ("tx_dropped", 11),
)


def network_counters(pid: int) -> dict[str, dict[str, int]] | None:
    """Docker's ``networks`` of the network namespace process ``pid`` is in: counters per
    interface from ``/proc/PID/net/dev``, loopback left out; None if it has no other link."""
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.readlines()[2:]
    except OSError:
        return None
    out: dict[str, dict[str, int]] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        name = name.strip()
        values = rest.split()
        if name == "lo" or len(values) < 16:
            continue
        out[name] = {key: int(values[i]) for key, i in _NET_FIELDS}
    return out or None


def _cpu(stats: Any) -> CpuSample:
    cpu = stats.cpu
    return CpuSample(
        total=cpu.total_ns,
        percpu=tuple(cpu.percpu_ns),
        user=cpu.user_ns,
        system=cpu.system_ns,
        system_cpu_usage=system_cpu_ns(),
        online_cpus=os.cpu_count() or 1,
        throttled_periods=cpu.throttled_periods,
        throttled_time=cpu.throttled_ns,
        periods=cpu.periods,
    )


async def sample_stream(
    *,
    container_id: str,
    name: str,
    read: Callable[[], Any],
    running: Callable[[], bool],
    now: Callable[[], str],
    stream: bool,
    one_shot: bool = False,
    networks: Callable[[], dict[str, dict[str, int]] | None] = lambda: None,
) -> AsyncIterator[StatsSample]:
    """Samples of ``read()`` (the runtime's CgroupStats): one, or one a second while running.

    A single sample (``stream`` false) carries CPU counters from a moment before as its
    ``precpu_stats``, so that a CPU percentage can be computed; ``one_shot`` skips that wait
    (API 1.41's ``one-shot``) and leaves ``precpu_stats`` zero.
    """
    previous = CpuSample()
    previous_time = _ZERO_TIME
    if not stream and not one_shot and running():
        with contextlib.suppress(WharfError):
            previous, previous_time = _cpu(read()), now()
        await asyncio.sleep(_ONE_SHOT_GAP)
    while True:
        if running():
            try:
                stats = read()
            except WharfError:
                stats = None
        else:
            stats = None
        stamp = now() if stats is not None else _ZERO_TIME
        if stats is None:
            sample = StatsSample(
                id=container_id,
                name=name,
                read=stamp,
                preread=previous_time,
                cpu=CpuSample(),
                precpu=previous,
            )
        else:
            memory = stats.memory
            cpu = _cpu(stats)
            sample = StatsSample(
                id=container_id,
                name=name,
                read=stamp,
                preread=previous_time,
                cpu=cpu,
                precpu=previous,
                memory_usage=memory.usage,
                memory_limit=memory.limit or _host_memory(),
                memory_max_usage=memory.max_usage or 0,
                memory_stats={
                    **dict(memory.raw),
                    "inactive_file": memory.inactive_file,
                    "total_inactive_file": memory.inactive_file,
                },
                pids_current=stats.pids.current,
                pids_limit=stats.pids.limit or 0,
                blkio=tuple(
                    (e.major, e.minor, e.op, e.value) for e in stats.blkio.io_service_bytes
                ),
                blkio_ops=tuple((e.major, e.minor, e.op, e.value) for e in stats.blkio.io_serviced),
                networks=networks(),
            )
            previous, previous_time = cpu, stamp
        yield sample
        if not stream or stats is None:
            return
        await asyncio.sleep(_INTERVAL)


def _host_memory() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0
