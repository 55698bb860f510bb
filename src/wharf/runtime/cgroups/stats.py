"""Per-container resource statistics, the same shape for cgroup v1 and v2.

The engine maps these onto Docker's ``GET /containers/{id}/stats`` (``memory_stats``,
``cpu_stats``, ``pids_stats``, ``blkio_stats``). Times are nanoseconds, sizes bytes;
``None`` means the kernel does not report the value on this host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "BlkioEntry",
    "BlkioStats",
    "CgroupStats",
    "CpuStats",
    "MemoryStats",
    "PidsStats",
    "parse_flat_keyed",
]

BlkioOp = Literal["Read", "Write", "Sync", "Async", "Discard", "Total"]


@dataclass(frozen=True)
class MemoryStats:
    """Memory usage.

    Attributes:
        usage: bytes charged now (v1 ``usage_in_bytes``, v2 ``memory.current``).
        limit: the limit in bytes; None when unlimited (v2 ``max``).
        max_usage: the high-water mark (v1 ``max_usage_in_bytes``, v2 ``memory.peak``).
        cache: page cache (v1 ``cache``, v2 ``file``).
        inactive_file: what Docker subtracts from usage to show "used" memory.
        oom_kills: processes the OOM killer killed in this cgroup.
        failcnt: times the limit was hit (v1 only).
        raw: the whole ``memory.stat`` table.
    """

    usage: int = 0
    limit: int | None = None
    max_usage: int | None = None
    cache: int = 0
    inactive_file: int = 0
    oom_kills: int = 0
    failcnt: int | None = None
    raw: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CpuStats:
    """CPU time used and CFS throttling."""

    total_ns: int = 0
    percpu_ns: tuple[int, ...] = ()
    user_ns: int = 0
    system_ns: int = 0
    periods: int = 0
    throttled_periods: int = 0
    throttled_ns: int = 0


@dataclass(frozen=True)
class PidsStats:
    """Tasks in the cgroup and the pids limit (None = unlimited)."""

    current: int = 0
    limit: int | None = None


@dataclass(frozen=True)
class BlkioEntry:
    """One device/operation counter, as Docker's ``blkio_stats`` lists them."""

    major: int
    minor: int
    op: BlkioOp
    value: int


@dataclass(frozen=True)
class BlkioStats:
    """Bytes and operations per device and direction."""

    io_service_bytes: tuple[BlkioEntry, ...] = ()
    io_serviced: tuple[BlkioEntry, ...] = ()

    def total(self, op: BlkioOp, *, bytes_: bool = True) -> int:
        """Sum over devices of one operation's bytes (or, with ``bytes_=False``, ops)."""
        rows = self.io_service_bytes if bytes_ else self.io_serviced
        return sum(e.value for e in rows if e.op == op)


@dataclass(frozen=True)
class CgroupStats:
    """A snapshot of one container cgroup's counters."""

    memory: MemoryStats
    cpu: CpuStats
    pids: PidsStats
    blkio: BlkioStats


def parse_flat_keyed(text: str) -> dict[str, int]:
    """Parse ``key value`` lines (``memory.stat``, ``cpu.stat``, ``cpuacct.stat``)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def parse_v1_blkio(text: str) -> tuple[BlkioEntry, ...]:
    """Parse v1 ``blkio.throttle.io_service_*`` (``8:0 Read 4096`` lines; ``Total`` last)."""
    out: list[BlkioEntry] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        op = parts[1]
        if op in ("Read", "Write", "Sync", "Async", "Discard", "Total"):
            out.append(BlkioEntry(int(major), int(minor), op, int(parts[2])))  # type: ignore[arg-type]
    return tuple(out)


def parse_v2_io(text: str) -> tuple[tuple[BlkioEntry, ...], tuple[BlkioEntry, ...]]:
    """Parse v2 ``io.stat`` (``8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...``) into
    (bytes, ops) rows with Read/Write/Total like v1."""
    nbytes: list[BlkioEntry] = []
    nops: list[BlkioEntry] = []
    for line in text.splitlines():
        dev, *pairs = line.split()
        if ":" not in dev:
            continue
        major, minor = (int(x) for x in dev.split(":"))
        kv = dict(p.split("=", 1) for p in pairs if "=" in p)
        nbytes.extend(_v2_rows(major, minor, int(kv.get("rbytes", 0)), int(kv.get("wbytes", 0))))
        nops.extend(_v2_rows(major, minor, int(kv.get("rios", 0)), int(kv.get("wios", 0))))
    return tuple(nbytes), tuple(nops)


def _v2_rows(major: int, minor: int, read: int, write: int) -> tuple[BlkioEntry, ...]:
    return (
        BlkioEntry(major, minor, "Read", read),
        BlkioEntry(major, minor, "Write", write),
        BlkioEntry(major, minor, "Total", read + write),
    )


def parse_ints(text: str) -> tuple[int, ...]:
    """Parse whitespace-separated integers (``cpuacct.usage_percpu``)."""
    return tuple(int(x) for x in text.split())


def limit_or_none(text: str, unlimited_from: int = 2**62) -> int | None:
    """A limit file's value; None for ``max`` or v1's page-rounded "infinite" values."""
    text = text.strip()
    if text == "max":
        return None
    value = int(text)
    return None if value >= unlimited_from else value
