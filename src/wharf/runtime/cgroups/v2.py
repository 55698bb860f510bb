"""cgroup v2 (unified): one directory, controllers enabled down the tree.

New containers should start inside the cgroup with ``clone3(CLONE_INTO_CGROUP)`` and
:meth:`V2Cgroup.dir_fd`: no migration, no ``cgroup.procs`` stall. ``join_fds`` still
works (the child writes ``b"0"`` to ``cgroup.procs``) for callers that cannot use clone3.

Devices: v2 enforces device rules through an eBPF program attached to the cgroup, which
:mod:`wharf.runtime.cgroups.devices` builds from the same rule list v1 gets. It is
attached at creation; :meth:`V2Cgroup.update` leaves device rules alone (as on v1).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass
from typing import Final

from wharf.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound, Unimplemented
from wharf.runtime.cgroups import _fs
from wharf.runtime.cgroups.base import (
    Cgroup,
    FreezerState,
    check_path,
    remove_dirs,
    rollback,
    signal_all,
    write_all,
)
from wharf.runtime.cgroups.devices import attach_program, compile_program
from wharf.runtime.cgroups.resources import Resources, parse_cpu_list
from wharf.runtime.cgroups.stats import (
    BlkioStats,
    CgroupStats,
    CpuStats,
    MemoryStats,
    PidsStats,
    limit_or_none,
    parse_flat_keyed,
    parse_v2_io,
)
from wharf.runtime.syscalls import error_from_errno

__all__ = ["V2Cgroup", "V2Write", "find_unified_mount", "plan_v2_writes", "shares_to_weight"]

_FREEZE_TIMEOUT_S: Final = 10.0
_DEFAULT_PERIOD: Final = 100_000
_R = "linux.resources"


@dataclass(frozen=True)
class V2Write:
    """One control-file write and the controller that must be enabled for it."""

    controller: str
    file: str
    value: str
    field: str


def shares_to_weight(shares: int) -> int:
    """Convert v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), as runc does."""
    return 1 + ((shares - 2) * 9999) // 262142


def _max(value: int) -> str:
    return "max" if value == -1 else str(value)


def plan_v2_writes(resources: Resources) -> list[V2Write]:
    """The v2 control-file writes that express ``resources``.

    Raises:
        Unimplemented: a v1-only setting (swappiness, disableOOMKiller, realtime CPU).
    """
    m, c, b = resources.memory, resources.cpu, resources.blkio
    for setting, name in (
        (m.swappiness, "memory.swappiness"),
        (m.disable_oom_killer or None, "memory.disableOOMKiller"),
        (c.realtime_runtime, "cpu.realtimeRuntime"),
        (c.realtime_period, "cpu.realtimePeriod"),
    ):
        if setting is not None:
            raise Unimplemented(f"{_R}.{name}: cgroup v2 has no such setting")
    w: list[V2Write] = []
    if m.limit is not None:
        w.append(V2Write("memory", "memory.max", _max(m.limit), f"{_R}.memory.limit"))
    if m.swap is not None and m.limit is not None:
        swap = -1 if -1 in (m.swap, m.limit) else m.swap - m.limit
        w.append(V2Write("memory", "memory.swap.max", _max(swap), f"{_R}.memory.swap"))
    if m.reservation is not None:
        w.append(V2Write("memory", "memory.low", _max(m.reservation), f"{_R}.memory.reservation"))
    if c.shares is not None:
        weight = str(shares_to_weight(c.shares))
        w.append(V2Write("cpu", "cpu.weight", weight, f"{_R}.cpu.shares"))
    if c.quota is not None or c.period is not None:
        quota = _max(c.quota) if c.quota is not None else "max"
        period = c.period or _DEFAULT_PERIOD
        w.append(V2Write("cpu", "cpu.max", f"{quota} {period}", f"{_R}.cpu.quota"))
    if c.cpus is not None:
        w.append(V2Write("cpuset", "cpuset.cpus", c.cpus, f"{_R}.cpu.cpus"))
    if c.mems is not None:
        w.append(V2Write("cpuset", "cpuset.mems", c.mems, f"{_R}.cpu.mems"))
    if resources.pids_limit is not None:
        w.append(V2Write("pids", "pids.max", _max(resources.pids_limit), f"{_R}.pids.limit"))
    if b.weight is not None:
        w.append(V2Write("io", "io.bfq.weight", str(b.weight), f"{_R}.blockIO.weight"))
    for i, d in enumerate(b.weight_device):
        w.append(
            V2Write(
                "io",
                "io.bfq.weight",
                f"{d.major}:{d.minor} {d.weight}",
                f"{_R}.blockIO.weightDevice[{i}]",
            )
        )
    for key, word, rows in (
        ("throttleReadBpsDevice", "rbps", b.read_bps),
        ("throttleWriteBpsDevice", "wbps", b.write_bps),
        ("throttleReadIOPSDevice", "riops", b.read_iops),
        ("throttleWriteIOPSDevice", "wiops", b.write_iops),
    ):
        for i, t in enumerate(rows):
            value = f"{t.major}:{t.minor} {word}={t.rate}"
            w.append(V2Write("io", "io.max", value, f"{_R}.blockIO.{key}[{i}]"))
    return w


def find_unified_mount(mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The cgroup2 mount point (``/sys/fs/cgroup`` or, on hybrid hosts, ``.../unified``)."""
    with open(mountinfo, encoding="utf-8") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[:1] == ["cgroup2"]:
                return left.split()[4]
    return None


def _own_cgroup() -> str:
    with open("/proc/self/cgroup", encoding="utf-8") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    return "/"


class V2Cgroup:
    """A container cgroup on cgroup v2 (see :class:`wharf.runtime.cgroups.Cgroup`).

    Args:
        path: the OCI cgroupsPath (absolute: under the mount; relative: under the
            caller's own cgroup).
        mountpoint: the cgroup2 mount; default: found in ``/proc/self/mountinfo``.
    """

    version = 2
    devices_enforced = True

    def __init__(self, path: str, *, mountpoint: str | None = None) -> None:
        self._path = check_path(path)
        mount = mountpoint or find_unified_mount()
        if mount is None:
            raise FailedPrecondition("cgroup v2: no cgroup2 filesystem is mounted")
        self._mount = mount
        base = "/" if self._path.startswith("/") else _own_cgroup()
        self._dir = os.path.normpath(f"{mount}/{base}/{self._path}")

    @property
    def path(self) -> str:
        return self._path

    @property
    def directory(self) -> str:
        """The cgroup's directory under the cgroup2 mount."""
        return self._dir

    def __repr__(self) -> str:
        return f"V2Cgroup({self._path!r})"

    def exists(self) -> bool:
        return os.path.isdir(self._dir)

    def create(self, resources: Resources, *, spare: Cgroup | None = None) -> None:
        if self.exists():
            raise Conflict(f"cgroup {self._path}: {self._dir} exists already")
        writes = plan_v2_writes(resources)
        needed = sorted({w.controller for w in writes})
        available = set(_fs.read(f"{self._mount}/cgroup.controllers").split())
        for w in writes:
            if w.controller not in available:
                raise FailedPrecondition(
                    f"{w.field}: the {w.controller} controller is not available in cgroup v2"
                    f" on this host (available: {' '.join(sorted(available)) or 'none'})"
                )
        created: list[str] = []
        try:
            parent = self._mount
            for part in os.path.relpath(self._dir, self._mount).split("/"):
                if needed:
                    self._enable(parent, needed)
                d = f"{parent}/{part}"
                try:
                    os.mkdir(d, 0o755)
                    created.append(d)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise error_from_errno(exc.errno or errno.EIO, f"cgroup: mkdir {d}") from exc
                parent = d
            self._check_cpuset(resources)
            for w in writes:
                _fs.write(f"{self._dir}/{w.file}", w.value, field=w.field)
            fd = self.dir_fd()
            try:
                attach_program(fd, compile_program(resources.device_rules()))
            finally:
                os.close(fd)
        except BaseException:
            rollback(created)
            raise

    @staticmethod
    def _enable(parent: str, controllers: list[str]) -> None:
        current = set(_fs.read(f"{parent}/cgroup.subtree_control").split())
        missing = [c for c in controllers if c not in current]
        if missing:
            value = " ".join(f"+{c}" for c in missing)
            _fs.write(f"{parent}/cgroup.subtree_control", value, field=f"cgroup {parent}")

    def _check_cpuset(self, resources: Resources) -> None:
        for key, value in (("cpus", resources.cpu.cpus), ("mems", resources.cpu.mems)):
            if value is None:
                continue
            field = f"{_R}.cpu.{key}"
            allowed_text = _fs.read(f"{os.path.dirname(self._dir)}/cpuset.{key}.effective").strip()
            missing = parse_cpu_list(value, field) - parse_cpu_list(allowed_text, field)
            if missing:
                raise InvalidArgument(
                    f"{field}: {','.join(map(str, sorted(missing)))} not available"
                    f" (available: {allowed_text})"
                )

    def update(self, resources: Resources) -> None:
        if not self.exists():
            raise NotFound(f"cgroup {self._path}: does not exist")
        self._check_cpuset(resources)
        targets = [(f"{self._dir}/{w.file}", w.value, w.field) for w in plan_v2_writes(resources)]
        write_all(targets, undo=True, what=f"cgroup {self._path}")

    def join_fds(self) -> list[int]:
        try:
            return [os.open(f"{self._dir}/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)]
        except OSError as exc:
            raise error_from_errno(
                exc.errno or errno.EIO, f"cgroup {self._path}: open cgroup.procs"
            ) from exc

    def dir_fd(self) -> int:
        try:
            return os.open(self._dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise error_from_errno(exc.errno or errno.EIO, f"cgroup {self._path}: open") from exc

    def add_process(self, pid: int) -> None:
        _fs.write(f"{self._dir}/cgroup.procs", str(pid), field=f"cgroup {self._path}: pid {pid}")

    def pids(self) -> list[int]:
        text = _fs.read_or_none(f"{self._dir}/cgroup.procs")
        if text is None:
            raise NotFound(f"cgroup {self._path}: does not exist")
        return [int(x) for x in text.split()]

    def state(self) -> FreezerState:
        frozen = _fs.read(f"{self._dir}/cgroup.freeze").strip() == "1"
        if not frozen:
            return FreezerState.THAWED
        events = parse_flat_keyed(_fs.read(f"{self._dir}/cgroup.events"))
        return FreezerState.FROZEN if events.get("frozen") == 1 else FreezerState.FREEZING

    def freeze(self) -> None:
        self._set_freeze(frozen=True)

    def thaw(self) -> None:
        self._set_freeze(frozen=False)

    def _set_freeze(self, *, frozen: bool) -> None:
        field = f"cgroup {self._path}: freeze"
        _fs.write(f"{self._dir}/cgroup.freeze", "1" if frozen else "0", field=field)
        deadline = time.monotonic() + _FREEZE_TIMEOUT_S
        delay = 0.0005
        while parse_flat_keyed(_fs.read(f"{self._dir}/cgroup.events")).get("frozen") != int(frozen):
            if time.monotonic() >= deadline:
                if frozen:
                    _fs.write(f"{self._dir}/cgroup.freeze", "0", field=field)
                raise Conflict(f"cgroup {self._path}: freezer did not settle")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def kill_all(self, sig: int) -> int:
        self.freeze()
        try:
            return signal_all(self.pids(), sig)
        finally:
            self.thaw()

    def stats(self) -> CgroupStats:
        if not self.exists():
            raise NotFound(f"cgroup {self._path}: does not exist")
        return CgroupStats(
            memory=self._memory_stats(),
            cpu=self._cpu_stats(),
            pids=self._pids_stats(),
            blkio=self._io_stats(),
        )

    def oom_kills(self) -> int:
        return parse_flat_keyed(self._read("memory.events") or "").get("oom_kill", 0)

    def _read(self, file: str) -> str | None:
        return _fs.read_or_none(f"{self._dir}/{file}")

    def _memory_stats(self) -> MemoryStats:
        raw = parse_flat_keyed(self._read("memory.stat") or "")
        limit = self._read("memory.max")
        peak = self._read("memory.peak")
        return MemoryStats(
            usage=int(self._read("memory.current") or 0),
            limit=None if limit is None else limit_or_none(limit),
            max_usage=None if peak is None else int(peak),
            cache=raw.get("file", 0),
            inactive_file=raw.get("inactive_file", 0),
            oom_kills=self.oom_kills(),
            raw=raw,
        )

    def _cpu_stats(self) -> CpuStats:
        s = parse_flat_keyed(self._read("cpu.stat") or "")
        return CpuStats(
            total_ns=s.get("usage_usec", 0) * 1000,
            user_ns=s.get("user_usec", 0) * 1000,
            system_ns=s.get("system_usec", 0) * 1000,
            periods=s.get("nr_periods", 0),
            throttled_periods=s.get("nr_throttled", 0),
            throttled_ns=s.get("throttled_usec", 0) * 1000,
        )

    def _pids_stats(self) -> PidsStats:
        limit = self._read("pids.max")
        return PidsStats(
            current=int(self._read("pids.current") or 0),
            limit=None if limit is None else limit_or_none(limit),
        )

    def _io_stats(self) -> BlkioStats:
        nbytes, nops = parse_v2_io(self._read("io.stat") or "")
        return BlkioStats(io_service_bytes=nbytes, io_serviced=nops)

    def destroy(self, *, kill: bool = False, timeout: float = 5.0) -> None:
        if kill and self.exists():
            with contextlib.suppress(NotFound):
                self.kill_all(signal.SIGKILL)
        remove_dirs([self._dir], timeout=timeout, what=f"cgroup {self._path}")
