"""cgroup v1: one directory per mounted hierarchy (``/sys/fs/cgroup/<ctrl>/<path>``).

A container's cgroup spans every v1 hierarchy mounted on the host (runc does the same),
so ``/proc/<pid>/cgroup`` inside reads like runc's. Joining is done by the new child
writing ``b"0"`` to each hierarchy's ``tasks`` file: that moves only the calling thread
and avoids the global threadgroup lock whose RCU wait makes ``cgroup.procs`` stall for
5-17 ms in one join out of five (``reference/runtime-latency.md``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Final

from wharf.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unimplemented,
)
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
from wharf.runtime.cgroups.resources import Resources, parse_cpu_list
from wharf.runtime.cgroups.stats import (
    BlkioStats,
    CgroupStats,
    CpuStats,
    MemoryStats,
    PidsStats,
    limit_or_none,
    parse_flat_keyed,
    parse_ints,
    parse_v1_blkio,
)
from wharf.runtime.cgroups.v2 import find_unified_mount
from wharf.runtime.syscalls import error_from_errno

__all__ = ["V1Cgroup", "Write", "discover_hierarchies", "lean_controllers", "plan_writes"]

_FREEZE_TIMEOUT_S: Final = 10.0
_USER_HZ: Final = os.sysconf("SC_CLK_TCK")
_R = "linux.resources"


@dataclass(frozen=True)
class Write:
    """One control-file write: ``value`` into ``<controller dir>/<file>``."""

    controller: str
    file: str
    value: str
    field: str


def plan_writes(resources: Resources, *, bfq: bool = True) -> list[Write]:
    """The v1 control-file writes that express ``resources``, in a working order.

    Memory limit comes before memory+swap (memsw must stay >= the limit when both start
    unlimited; :meth:`V1Cgroup.update` reorders when shrinking), period before quota.

    Args:
        bfq: use ``blkio.bfq.weight`` (kernels without CFQ) rather than ``blkio.weight``.
    """
    m, c, b = resources.memory, resources.cpu, resources.blkio
    w: list[Write] = []
    if m.limit is not None:
        w.append(Write("memory", "memory.limit_in_bytes", str(m.limit), f"{_R}.memory.limit"))
    if m.swap is not None:
        w.append(Write("memory", "memory.memsw.limit_in_bytes", str(m.swap), f"{_R}.memory.swap"))
    if m.reservation is not None:
        w.append(
            Write(
                "memory",
                "memory.soft_limit_in_bytes",
                str(m.reservation),
                f"{_R}.memory.reservation",
            )
        )
    if m.swappiness is not None:
        w.append(Write("memory", "memory.swappiness", str(m.swappiness), f"{_R}.memory.swappiness"))
    if m.disable_oom_killer:
        w.append(Write("memory", "memory.oom_control", "1", f"{_R}.memory.disableOOMKiller"))
    if c.shares is not None:
        w.append(Write("cpu", "cpu.shares", str(c.shares), f"{_R}.cpu.shares"))
    if c.period is not None:
        w.append(Write("cpu", "cpu.cfs_period_us", str(c.period), f"{_R}.cpu.period"))
    if c.quota is not None:
        w.append(Write("cpu", "cpu.cfs_quota_us", str(c.quota), f"{_R}.cpu.quota"))
    if c.realtime_period is not None:
        w.append(
            Write("cpu", "cpu.rt_period_us", str(c.realtime_period), f"{_R}.cpu.realtimePeriod")
        )
    if c.realtime_runtime is not None:
        w.append(
            Write("cpu", "cpu.rt_runtime_us", str(c.realtime_runtime), f"{_R}.cpu.realtimeRuntime")
        )
    if c.cpus is not None:
        w.append(Write("cpuset", "cpuset.cpus", c.cpus, f"{_R}.cpu.cpus"))
    if c.mems is not None:
        w.append(Write("cpuset", "cpuset.mems", c.mems, f"{_R}.cpu.mems"))
    if resources.pids_limit is not None:
        value = "max" if resources.pids_limit == -1 else str(resources.pids_limit)
        w.append(Write("pids", "pids.max", value, f"{_R}.pids.limit"))
    prefix = "blkio.bfq." if bfq else "blkio."
    if b.weight is not None:
        w.append(Write("blkio", f"{prefix}weight", str(b.weight), f"{_R}.blockIO.weight"))
    for i, d in enumerate(b.weight_device):
        w.append(
            Write(
                "blkio",
                f"{prefix}weight_device",
                f"{d.major}:{d.minor} {d.weight}",
                f"{_R}.blockIO.weightDevice[{i}]",
            )
        )
    for key, file, rows in (
        ("throttleReadBpsDevice", "blkio.throttle.read_bps_device", b.read_bps),
        ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", b.write_bps),
        ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", b.read_iops),
        ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", b.write_iops),
    ):
        for i, t in enumerate(rows):
            w.append(
                Write("blkio", file, f"{t.major}:{t.minor} {t.rate}", f"{_R}.blockIO.{key}[{i}]")
            )
    for i, rule in enumerate(resources.device_rules()):
        file = "devices.allow" if rule.allow else "devices.deny"
        field = f"{_R}.devices[{i - 1}]" if 0 < i <= len(resources.devices) else f"{_R}.devices"
        w.append(Write("devices", file, rule.line(), field))
    return w


def lean_controllers(resources: Resources) -> list[str] | None:
    """The v1 hierarchies a fast container start needs: all mounted ones but ``cpu`` when
    ``resources`` sets no cpu limit (None: keep all). Pass to ``controllers=``."""
    c = resources.cpu
    limits = (c.shares, c.quota, c.period, c.realtime_runtime, c.realtime_period)
    if any(v is not None for v in limits):
        return None
    return sorted(n for n in _mounted_hierarchies() if "," not in n and n != "cpu")


@cache
def _mounted_hierarchies() -> Mapping[str, str]:
    """The host's v1 hierarchies, read once per process (cgroup mounts do not move while
    an engine runs; parsing mountinfo costs ~0.2 ms per container otherwise)."""
    return MappingProxyType(discover_hierarchies())


def discover_hierarchies(mountinfo: str = "/proc/self/mountinfo") -> dict[str, str]:
    """Mounted v1 hierarchies: ``{"cpu": "/sys/fs/cgroup/cpu", "name=systemd": ...}``.

    Controllers are the mount options the kernel lists in ``/proc/cgroups``, plus named
    hierarchies (``name=systemd``). Co-mounted controllers (``cpu,cpuacct``) appear under
    each controller's name and the joined name, all pointing at the same mount point.
    """
    with open("/proc/cgroups", encoding="ascii") as f:
        known = {line.split()[0] for line in f if not line.startswith("#")}
    out: dict[str, str] = {}
    with open(mountinfo, encoding="utf-8") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            rfields = right.split()
            if len(rfields) < 3 or rfields[0] != "cgroup":
                continue
            mountpoint = left.split()[4]
            names = [o for o in rfields[2].split(",") if o in known or o.startswith("name=")]
            for name in names:
                out[name] = mountpoint
            if len(names) > 1:
                out[",".join(names)] = mountpoint
    return out


def _own_unified_cgroup() -> str:
    """The caller's cgroup in the unified hierarchy (the ``0::`` line)."""
    return _own_cgroup().get("", "/")


def _own_cgroup() -> dict[str, str]:
    """The caller's cgroup per v1 hierarchy, from ``/proc/self/cgroup``."""
    out: dict[str, str] = {}
    with open("/proc/self/cgroup", encoding="utf-8") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(","):
                out[c] = path
    return out


def _take(spare: str | None, leaf: str) -> bool:
    """Rename ``spare``, an empty cgroup made ahead beside ``leaf``, to ``leaf``: v1 renames
    within one parent, in a tenth of a mkdir and a new cpuset's set-up. False when it
    cannot (another parent, gone, taken)."""
    if spare is None or os.path.dirname(spare) != os.path.dirname(leaf):
        return False
    try:
        os.rename(spare, leaf)
    except OSError:
        return False
    return True


class V1Cgroup:
    """A container cgroup on cgroup v1 (see :class:`wharf.runtime.cgroups.Cgroup`).

    Args:
        path: the OCI cgroupsPath. Absolute: under each hierarchy's root. Relative: under
            the caller's own cgroup in each hierarchy (runc's rule).
        controllers: the hierarchies to span, by controller name (``"memory"``,
            ``"name=systemd"``); default: every mounted v1 hierarchy, as runc does. Leaving
            out ``cpu`` when there are no cpu limits (:func:`lean_controllers`) avoids the
            move to a new CPU task group, after which the child waited ~2.6 ms on the run
            queue in one join out of five on this loaded 2-CPU host (schedstat run delay,
            not a lock; ``benchmarks/runtime_cgroups.py``), at the price of cpu limits not
            being settable by a later :meth:`update`.
        unified: on a hybrid host, also make the cgroup in the unified (cgroup2)
            hierarchy, as runc does, so that a child cloned with
            ``clone3(CLONE_INTO_CGROUP, dir_fd())`` shows ``0::<path>`` like runc's.
    """

    version = 1

    def __init__(
        self, path: str, *, controllers: Iterable[str] | None = None, unified: bool = False
    ) -> None:
        self._path = check_path(path)
        found = dict(_mounted_hierarchies())
        if controllers is not None:
            wanted = set(controllers)
            unknown = sorted(wanted - set(found))
            if unknown:
                raise FailedPrecondition(
                    f"cgroup {self._path}: controller {unknown[0]!r} is not mounted as cgroup v1"
                    f" (mounted: {', '.join(sorted(n for n in found if ',' not in n))})"
                )
            mounts = {found[c] for c in wanted}
            found = {n: m for n, m in found.items() if m in mounts}
        own = {} if self._path.startswith("/") else _own_cgroup()
        # One directory per mount point; the controller names each mount serves.
        self._dirs: dict[str, str] = {}
        self._ctrl_dir: dict[str, str] = {}
        for name, mountpoint in sorted(found.items()):
            if "," in name:
                continue
            base = own.get(name, "/")
            full = os.path.normpath(f"{mountpoint}/{base}/{self._path}")
            self._dirs[mountpoint] = full
            self._ctrl_dir[name] = full
        if not self._dirs:
            raise FailedPrecondition("cgroup v1: no v1 hierarchy is mounted on this host")
        self._unified: tuple[str, str] | None = None
        if unified:
            mount = find_unified_mount()
            if mount is None:
                raise FailedPrecondition(
                    f"cgroup {self._path}: unified=True needs a cgroup2 mount (hybrid host)"
                )
            base = "/" if self._path.startswith("/") else _own_unified_cgroup()
            self._unified = (mount, os.path.normpath(f"{mount}/{base}/{self._path}"))

    @property
    def devices_enforced(self) -> bool:
        """True when this cgroup spans the devices hierarchy (device rules are written)."""
        return "devices" in self._ctrl_dir

    @property
    def path(self) -> str:
        return self._path

    def __repr__(self) -> str:
        return f"V1Cgroup({self._path!r})"

    def _dir(self, controller: str, field: str) -> str:
        try:
            return self._ctrl_dir[controller]
        except KeyError:
            raise FailedPrecondition(
                f"{field}: cgroup {self._path} does not span the {controller} controller"
                " (not mounted on this host, or left out by controllers=)"
            ) from None

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self._all_dirs())

    def _all_dirs(self) -> list[str]:
        """The v1 directories, then the unified one when asked for (hybrid hosts)."""
        dirs = sorted(set(self._dirs.values()))
        return [*dirs, self._unified[1]] if self._unified else dirs

    # -- create / update -------------------------------------------------------------

    def create(self, resources: Resources, *, spare: Cgroup | None = None) -> None:
        spares = spare._dirs if isinstance(spare, V1Cgroup) else {}
        created: list[str] = []
        try:
            for mountpoint, d in [
                *sorted(self._dirs.items()),
                *([self._unified] if self._unified else []),
            ]:
                if os.path.isdir(d):
                    raise Conflict(f"cgroup {self._path}: {d} exists already")
                if _take(spares.get(mountpoint), d):
                    created.append(d)
                else:
                    self._mkdirs(mountpoint, d, created)
            self._check_cpuset(resources)
            self._apply(resources, update=False)
        except BaseException:
            rollback(created)
            raise

    def _mkdirs(self, mountpoint: str, leaf: str, created: list[str]) -> None:
        rel = os.path.relpath(leaf, mountpoint).split("/")
        parent = mountpoint
        is_cpuset = self._ctrl_dir.get("cpuset") == leaf
        for part in rel:
            d = f"{parent}/{part}"
            try:
                os.mkdir(d, 0o755)
                created.append(d)
            except FileExistsError:
                pass
            except OSError as exc:
                raise error_from_errno(exc.errno or errno.EIO, f"cgroup: mkdir {d}") from exc
            if is_cpuset:
                # A new v1 cpuset is empty and refuses tasks until given cpus and mems.
                for f in ("cpuset.cpus", "cpuset.mems"):
                    if not _fs.read(f"{d}/{f}").strip():
                        _fs.write(f"{d}/{f}", _fs.read(f"{parent}/{f}").strip(), field=f)
            parent = d

    def _check_cpuset(self, resources: Resources) -> None:
        for key, value in (("cpus", resources.cpu.cpus), ("mems", resources.cpu.mems)):
            if value is None:
                continue
            field = f"{_R}.cpu.{key}"
            parent = os.path.dirname(self._dir("cpuset", field))
            allowed_text = _fs.read(f"{parent}/cpuset.effective_{key}").strip()
            missing = parse_cpu_list(value, field) - parse_cpu_list(allowed_text, field)
            if missing:
                what = "CPUs" if key == "cpus" else "memory nodes"
                raise InvalidArgument(
                    f"{field}: {what} {','.join(map(str, sorted(missing)))} are not available"
                    f" (available: {allowed_text})"
                )

    def update(self, resources: Resources) -> None:
        if not self.exists():
            raise NotFound(f"cgroup {self._path}: does not exist")
        self._check_cpuset(resources)
        self._apply(resources, update=True)

    def _apply(self, resources: Resources, *, update: bool) -> None:
        blkio = self._ctrl_dir.get("blkio")
        bfq = blkio is None or not os.path.exists(f"{blkio}/blkio.weight")
        writes = plan_writes(resources, bfq=bfq)
        if update or not self.devices_enforced:
            # Devices are set at creation only (runc does the same on update).
            writes = [w for w in writes if w.controller != "devices"]
        if update and self._swap_must_go_first(resources):
            # Growing past the current memory+swap: memsw first, or the limit is refused.
            swap = [w for w in writes if w.file == "memory.memsw.limit_in_bytes"]
            writes = swap + [w for w in writes if w not in swap]
        if update:
            for controller in sorted({w.controller for w in writes}):
                self._span_late(controller)
        targets = [(path, w.value, w.field) for w in writes if (path := self._target(w))]
        write_all(targets, undo=update, what=f"cgroup {self._path}")

    def _span_late(self, controller: str) -> None:
        """On update: make the directory of a hierarchy that :func:`lean_controllers` left
        out at creation (``cpu``) and move the container's processes into it."""
        d = self._ctrl_dir.get(controller)
        if d is None or os.path.isdir(d):
            return
        mountpoint = next(m for m, leaf in self._dirs.items() if leaf == d)
        created: list[str] = []
        try:
            self._mkdirs(mountpoint, d, created)
            fd = os.open(f"{d}/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
            try:
                for pid in self.pids():
                    with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                        os.write(fd, str(pid).encode())
            finally:
                os.close(fd)
        except OSError as exc:
            rollback(created)
            raise error_from_errno(
                exc.errno or errno.EIO, f"cgroup {self._path}: move into the {controller} hierarchy"
            ) from exc
        except BaseException:
            rollback(created)
            raise

    def _swap_must_go_first(self, resources: Resources) -> bool:
        m = resources.memory
        if m.swap is None or m.limit is None:
            return False
        d = self._dir("memory", f"{_R}.memory.swap")
        current = _fs.read_or_none(f"{d}/memory.memsw.limit_in_bytes")
        return current is not None and (m.limit == -1 or m.limit > int(current))

    def _target(self, w: Write) -> str | None:
        """The control file for ``w``; None for an unlimited swap without swap accounting."""
        path = f"{self._dir(w.controller, w.field)}/{w.file}"
        if w.file == "memory.memsw.limit_in_bytes" and not os.path.exists(path):
            if w.value == "-1":
                return None
            raise FailedPrecondition(
                f"{w.field}: swap accounting is off on this host (no {w.file}); boot with"
                " swapaccount=1 or leave memory.swap unset"
            )
        return path

    # -- joining ---------------------------------------------------------------------

    def join_fds(self) -> list[int]:
        fds: list[int] = []
        try:
            for d in sorted(set(self._dirs.values())):
                fds.append(os.open(f"{d}/tasks", os.O_WRONLY | os.O_CLOEXEC))
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise error_from_errno(
                exc.errno or errno.EIO, f"cgroup {self._path}: open tasks"
            ) from exc
        return fds

    def dir_fd(self) -> int:
        """The unified directory (opened with ``unified=True`` on a hybrid host), for
        ``clone3(CLONE_INTO_CGROUP)``: the child is born in it, as runc's child ends up
        (``0::/path``); the v1 hierarchies are still joined through :meth:`join_fds`."""
        if self._unified is None:
            raise Unimplemented(
                f"cgroup {self._path}: CLONE_INTO_CGROUP needs cgroup v2; use join_fds() on"
                " v1, or open with unified=True on a hybrid host"
            )
        try:
            return os.open(self._unified[1], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise error_from_errno(exc.errno or errno.EIO, f"cgroup {self._path}: open") from exc

    def add_process(self, pid: int) -> None:
        for d in self._all_dirs():
            _fs.write(f"{d}/cgroup.procs", str(pid), field=f"cgroup {self._path}: pid {pid}")

    def pids(self) -> list[int]:
        d = self._ctrl_dir.get("freezer") or next(iter(sorted(self._dirs.values())))
        text = _fs.read_or_none(f"{d}/cgroup.procs")
        if text is None:
            raise NotFound(f"cgroup {self._path}: does not exist")
        return [int(x) for x in text.split()]

    # -- freezer ---------------------------------------------------------------------

    def _freezer(self) -> str:
        return f"{self._dir('freezer', f'cgroup {self._path}: freeze')}/freezer.state"

    def state(self) -> FreezerState:
        return FreezerState(_fs.read(self._freezer()).strip())

    def freeze(self) -> None:
        self._set_freezer(FreezerState.FROZEN)

    def thaw(self) -> None:
        self._set_freezer(FreezerState.THAWED)

    def _set_freezer(self, target: FreezerState) -> None:
        path = self._freezer()
        deadline = time.monotonic() + _FREEZE_TIMEOUT_S
        delay = 0.0005
        while True:
            # Rewriting FROZEN retries tasks that were busy (in vfork, in the kernel).
            _fs.write(path, target.value, field=f"cgroup {self._path}: freezer")
            if FreezerState(_fs.read(path).strip()) == target:
                return
            if time.monotonic() >= deadline:
                if target == FreezerState.FROZEN:
                    _fs.write(path, FreezerState.THAWED.value, field=f"cgroup {self._path}")
                raise Conflict(
                    f"cgroup {self._path}: not {target.value} after {_FREEZE_TIMEOUT_S:g}s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def kill_all(self, sig: int) -> int:
        if not self.pids():
            return 0  # empty (pid 1 gone, its namespace reaped): no one can fork in
        frozen = "freezer" in self._ctrl_dir
        if frozen:
            self.freeze()
        try:
            return signal_all(self.pids(), sig)
        finally:
            if frozen:
                self.thaw()

    # -- stats -----------------------------------------------------------------------

    def stats(self) -> CgroupStats:
        if not self.exists():
            raise NotFound(f"cgroup {self._path}: does not exist")
        return CgroupStats(
            memory=self._memory_stats(),
            cpu=self._cpu_stats(),
            pids=self._pids_stats(),
            blkio=self._blkio_stats(),
        )

    def oom_kills(self) -> int:
        text = self._read("memory", "memory.oom_control")
        return parse_flat_keyed(text or "").get("oom_kill", 0)

    def _read(self, controller: str, file: str) -> str | None:
        d = self._ctrl_dir.get(controller)
        return None if d is None else _fs.read_or_none(f"{d}/{file}")

    def _read_int(self, controller: str, file: str) -> int | None:
        text = self._read(controller, file)
        return None if text is None else int(text)

    def _memory_stats(self) -> MemoryStats:
        raw = parse_flat_keyed(self._read("memory", "memory.stat") or "")
        limit_text = self._read("memory", "memory.limit_in_bytes")
        return MemoryStats(
            usage=self._read_int("memory", "memory.usage_in_bytes") or 0,
            limit=None if limit_text is None else limit_or_none(limit_text),
            max_usage=self._read_int("memory", "memory.max_usage_in_bytes"),
            cache=raw.get("total_cache", raw.get("cache", 0)),
            inactive_file=raw.get("total_inactive_file", raw.get("inactive_file", 0)),
            oom_kills=self.oom_kills(),
            failcnt=self._read_int("memory", "memory.failcnt"),
            raw=raw,
        )

    def _cpu_stats(self) -> CpuStats:
        acct = parse_flat_keyed(self._read("cpuacct", "cpuacct.stat") or "")
        cfs = parse_flat_keyed(self._read("cpu", "cpu.stat") or "")
        tick_ns = 1_000_000_000 // _USER_HZ
        return CpuStats(
            total_ns=self._read_int("cpuacct", "cpuacct.usage") or 0,
            percpu_ns=parse_ints(self._read("cpuacct", "cpuacct.usage_percpu") or ""),
            user_ns=acct.get("user", 0) * tick_ns,
            system_ns=acct.get("system", 0) * tick_ns,
            periods=cfs.get("nr_periods", 0),
            throttled_periods=cfs.get("nr_throttled", 0),
            throttled_ns=cfs.get("throttled_time", 0),
        )

    def _pids_stats(self) -> PidsStats:
        limit = self._read("pids", "pids.max")
        return PidsStats(
            current=self._read_int("pids", "pids.current") or 0,
            limit=None if limit is None else limit_or_none(limit),
        )

    def _blkio_stats(self) -> BlkioStats:
        return BlkioStats(
            io_service_bytes=parse_v1_blkio(
                self._read("blkio", "blkio.throttle.io_service_bytes_recursive") or ""
            ),
            io_serviced=parse_v1_blkio(
                self._read("blkio", "blkio.throttle.io_serviced_recursive") or ""
            ),
        )

    # -- destroy ---------------------------------------------------------------------

    def destroy(self, *, kill: bool = False, timeout: float = 5.0) -> None:
        if kill and self.exists():
            with contextlib.suppress(NotFound):
                self.kill_all(signal.SIGKILL)
        remove_dirs(self._all_dirs(), timeout=timeout, what=f"cgroup {self._path}")
