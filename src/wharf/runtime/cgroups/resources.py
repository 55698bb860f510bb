"""Typed, validated ``linux.resources`` (OCI runtime-spec 1.0.2, config-linux).

``Resources.from_spec(obj)`` turns the JSON object into frozen values and rejects
impossible settings with :class:`~wharf.errors.InvalidArgument` naming the field, e.g.
``linux.resources.memory.limit: must be >= 6 MiB or -1 (unlimited), got 1000``. Values
are checked against what any kernel accepts; host-dependent checks (is CPU 7 online?) are
made by :meth:`Cgroup.create` against the parent cgroup, naming the same fields.

Conventions (the Docker engine's): 0 means "not set" for every limit; -1 means
"unlimited" where the spec allows it. ``memory.swap`` is memory+swap (v1 ``memsw``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from wharf.errors import InvalidArgument, Unimplemented

__all__ = [
    "DEFAULT_DEVICE_RULES",
    "MIN_MEMORY_LIMIT",
    "BlkioResources",
    "CpuResources",
    "DeviceRule",
    "DeviceThrottle",
    "DeviceWeight",
    "MemoryResources",
    "Resources",
    "parse_cpu_list",
]

MIN_MEMORY_LIMIT: Final = 6 * 1024 * 1024
_ROOT: Final = "linux.resources"
_INT64_MAX: Final = 2**63 - 1
_UINT64_MAX: Final = 2**64 - 1
_CPU_LIST = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")

DeviceType = Literal["a", "b", "c"]


def _obj(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{name}: must be an object, got {type(value).__name__}")
    return value


def _keys(obj: Mapping[str, Any], name: str, allowed: set[str]) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise InvalidArgument(
            f"{name}: unknown field {unknown[0]!r} (expected one of {', '.join(sorted(allowed))})"
        )


def _int(obj: Mapping[str, Any], key: str, name: str, lo: int, hi: int) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name}.{key}: must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise InvalidArgument(f"{name}.{key}: must be in [{lo}, {hi}], got {value}")
    return value


def _bool(obj: Mapping[str, Any], key: str, name: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidArgument(f"{name}.{key}: must be a boolean, got {value!r}")


def parse_cpu_list(text: str, name: str) -> frozenset[int]:
    """Parse a kernel CPU/NUMA-node list (``"0-3,6"``) into numbers.

    Raises:
        InvalidArgument: the syntax is wrong or a range runs backwards; names ``name``.
    """
    text = text.strip()
    if text == "":
        return frozenset()
    if not _CPU_LIST.match(text):
        raise InvalidArgument(f"{name}: {text!r} is not a list like '0-3,6'")
    out: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        first, last = int(lo), int(hi or lo)
        if last < first:
            raise InvalidArgument(f"{name}: range {part!r} runs backwards")
        out.update(range(first, last + 1))
    return frozenset(out)


@dataclass(frozen=True)
class MemoryResources:
    """Memory limits in bytes; None = not set, -1 = unlimited."""

    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool = False

    @classmethod
    def from_spec(cls, obj: object, name: str = f"{_ROOT}.memory") -> MemoryResources:
        o = _obj(obj, name)
        _keys(
            o,
            name,
            {"limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness"}
            | {"disableOOMKiller", "useHierarchy", "checkBeforeUpdate"},
        )
        # kernel/kernelTCP are deprecated by the spec and ignored, as runc does.
        _int(o, "kernel", name, -1, _INT64_MAX)
        _int(o, "kernelTCP", name, -1, _INT64_MAX)
        _bool(o, "useHierarchy", name)
        _bool(o, "checkBeforeUpdate", name)
        limit = _unset_zero(_int(o, "limit", name, -1, _INT64_MAX))
        if limit is not None and limit != -1 and limit < MIN_MEMORY_LIMIT:
            raise InvalidArgument(f"{name}.limit: must be >= 6 MiB or -1 (unlimited), got {limit}")
        reservation = _unset_zero(_int(o, "reservation", name, -1, _INT64_MAX))
        if reservation is not None and limit not in (None, -1) and reservation > limit:
            raise InvalidArgument(
                f"{name}.reservation: must be <= memory.limit ({limit}), got {reservation}"
            )
        swap = _unset_zero(_int(o, "swap", name, -1, _INT64_MAX))
        if swap is not None:
            if limit is None:
                raise InvalidArgument(f"{name}.swap: needs memory.limit to be set too")
            if swap != -1 and limit != -1 and swap < limit:
                raise InvalidArgument(
                    f"{name}.swap: memory+swap must be >= memory.limit ({limit}) or -1, got {swap}"
                )
        return cls(
            limit=limit,
            reservation=reservation,
            swap=swap,
            swappiness=_int(o, "swappiness", name, 0, 100),
            disable_oom_killer=bool(_bool(o, "disableOOMKiller", name)),
        )


def _unset_zero(value: int | None) -> int | None:
    return None if value == 0 else value


@dataclass(frozen=True)
class CpuResources:
    """CPU shares (v1 units, 2..262144), CFS quota/period in µs, cpuset lists."""

    shares: int | None = None
    quota: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str | None = None
    mems: str | None = None

    @classmethod
    def from_spec(cls, obj: object, name: str = f"{_ROOT}.cpu") -> CpuResources:
        o = _obj(obj, name)
        _keys(
            o,
            name,
            {"shares", "quota", "period", "burst", "realtimeRuntime", "realtimePeriod"}
            | {"cpus", "mems", "idle"},
        )
        if o.get("burst") or o.get("idle"):
            raise Unimplemented(f"{name}: 'burst' and 'idle' are not supported")
        shares = _unset_zero(_int(o, "shares", name, 0, _UINT64_MAX))
        if shares is not None and not 2 <= shares <= 262144:
            raise InvalidArgument(f"{name}.shares: must be in [2, 262144], got {shares}")
        quota = _unset_zero(_int(o, "quota", name, -1, _INT64_MAX))
        if quota is not None and quota != -1 and quota < 1000:
            raise InvalidArgument(f"{name}.quota: must be >= 1000 µs or -1, got {quota}")
        period = _unset_zero(_int(o, "period", name, 0, _UINT64_MAX))
        if period is not None and not 1000 <= period <= 1_000_000:
            raise InvalidArgument(f"{name}.period: must be in [1000, 1000000] µs, got {period}")
        cpus = _cpu_list_field(o, "cpus", name)
        mems = _cpu_list_field(o, "mems", name)
        return cls(
            shares=shares,
            quota=quota,
            period=period,
            realtime_runtime=_unset_zero(_int(o, "realtimeRuntime", name, -1, _INT64_MAX)),
            realtime_period=_unset_zero(_int(o, "realtimePeriod", name, 0, _UINT64_MAX)),
            cpus=cpus,
            mems=mems,
        )


def _cpu_list_field(o: Mapping[str, Any], key: str, name: str) -> str | None:
    value = o.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{name}.{key}: must be a string like '0-3,6', got {value!r}")
    if not parse_cpu_list(value, f"{name}.{key}"):
        return None
    return value.strip()


@dataclass(frozen=True)
class DeviceWeight:
    """A per-device blkio weight (bfq), 1..1000."""

    major: int
    minor: int
    weight: int


@dataclass(frozen=True)
class DeviceThrottle:
    """A per-device rate: bytes/s for bps, operations/s for iops."""

    major: int
    minor: int
    rate: int


@dataclass(frozen=True)
class BlkioResources:
    """Block I/O weight (10..1000) and per-device throttles."""

    weight: int | None = None
    weight_device: tuple[DeviceWeight, ...] = ()
    read_bps: tuple[DeviceThrottle, ...] = ()
    write_bps: tuple[DeviceThrottle, ...] = ()
    read_iops: tuple[DeviceThrottle, ...] = ()
    write_iops: tuple[DeviceThrottle, ...] = ()

    @classmethod
    def from_spec(cls, obj: object, name: str = f"{_ROOT}.blockIO") -> BlkioResources:
        o = _obj(obj, name)
        throttles = {
            "throttleReadBpsDevice",
            "throttleWriteBpsDevice",
            "throttleReadIOPSDevice",
            "throttleWriteIOPSDevice",
        }
        _keys(o, name, {"weight", "leafWeight", "weightDevice"} | throttles)
        if o.get("leafWeight"):
            raise Unimplemented(f"{name}.leafWeight: not supported by the kernel's bfq")
        weight = _unset_zero(_int(o, "weight", name, 0, 1000))
        if weight is not None and weight < 10:
            raise InvalidArgument(f"{name}.weight: must be in [10, 1000], got {weight}")
        devices: list[DeviceWeight] = []
        for i, item in enumerate(_list(o, "weightDevice", name)):
            iname = f"{name}.weightDevice[{i}]"
            d = _obj(item, iname)
            _keys(d, iname, {"major", "minor", "weight", "leafWeight"})
            major, minor = _major_minor(d, iname)
            w = _int(d, "weight", iname, 1, 1000)
            if w is None:
                raise InvalidArgument(f"{iname}.weight: required, in [1, 1000]")
            devices.append(DeviceWeight(major, minor, w))
        return cls(
            weight=weight,
            weight_device=tuple(devices),
            read_bps=_throttles(o, "throttleReadBpsDevice", name),
            write_bps=_throttles(o, "throttleWriteBpsDevice", name),
            read_iops=_throttles(o, "throttleReadIOPSDevice", name),
            write_iops=_throttles(o, "throttleWriteIOPSDevice", name),
        )


def _list(o: Mapping[str, Any], key: str, name: str) -> list[Any]:
    value = o.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgument(f"{name}.{key}: must be an array, got {type(value).__name__}")
    return value


def _major_minor(d: Mapping[str, Any], name: str) -> tuple[int, int]:
    major = _int(d, "major", name, 0, 2**32 - 1)
    minor = _int(d, "minor", name, 0, 2**32 - 1)
    if major is None or minor is None:
        raise InvalidArgument(f"{name}: 'major' and 'minor' are required")
    return major, minor


def _throttles(o: Mapping[str, Any], key: str, name: str) -> tuple[DeviceThrottle, ...]:
    out = []
    for i, item in enumerate(_list(o, key, name)):
        iname = f"{name}.{key}[{i}]"
        d = _obj(item, iname)
        _keys(d, iname, {"major", "minor", "rate"})
        major, minor = _major_minor(d, iname)
        rate = _int(d, "rate", iname, 0, _UINT64_MAX)
        if rate is None:
            raise InvalidArgument(f"{iname}.rate: required")
        out.append(DeviceThrottle(major, minor, rate))
    return tuple(out)


@dataclass(frozen=True)
class DeviceRule:
    """One device-cgroup rule; ``None`` major/minor means any (``*``)."""

    allow: bool
    type: DeviceType = "a"
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"

    def line(self) -> str:
        """The rule as the v1 ``devices.allow``/``devices.deny`` files take it."""
        if self.type == "a":
            return "a"
        major = "*" if self.major is None else str(self.major)
        minor = "*" if self.minor is None else str(self.minor)
        return f"{self.type} {major}:{minor} {self.access}"

    @classmethod
    def from_spec(cls, obj: object, name: str) -> DeviceRule:
        d = _obj(obj, name)
        _keys(d, name, {"allow", "type", "major", "minor", "access"})
        allow = d.get("allow")
        if not isinstance(allow, bool):
            raise InvalidArgument(f"{name}.allow: required boolean, got {allow!r}")
        kind = d.get("type", "a")
        if kind not in ("a", "b", "c"):
            raise InvalidArgument(f"{name}.type: must be 'a', 'b' or 'c', got {kind!r}")
        access = d.get("access", "rwm")
        if (
            not isinstance(access, str)
            or not access
            or set(access) - set("rwm")
            or len(set(access)) != len(access)
        ):
            raise InvalidArgument(f"{name}.access: must be letters from 'rwm', got {access!r}")
        # Linux device numbers: 12-bit major, 20-bit minor; -1 (or absent) = any.
        major = _int(d, "major", name, -1, 4095)
        minor = _int(d, "minor", name, -1, 2**20 - 1)
        return cls(
            allow=allow,
            type=kind,
            major=None if major in (None, -1) else major,
            minor=None if minor in (None, -1) else minor,
            access="".join(c for c in "rwm" if c in access),
        )


# What every container gets after the spec's own rules (runc's default allow list):
# mknod of anything, the null/zero/full/random/urandom/tty nodes, ptmx and the pty slaves.
DEFAULT_DEVICE_RULES: Final[tuple[DeviceRule, ...]] = (
    DeviceRule(True, "c", None, None, "m"),
    DeviceRule(True, "b", None, None, "m"),
    DeviceRule(True, "c", 1, 3, "rwm"),
    DeviceRule(True, "c", 1, 5, "rwm"),
    DeviceRule(True, "c", 1, 7, "rwm"),
    DeviceRule(True, "c", 1, 8, "rwm"),
    DeviceRule(True, "c", 1, 9, "rwm"),
    DeviceRule(True, "c", 5, 0, "rwm"),
    DeviceRule(True, "c", 5, 1, "rwm"),
    DeviceRule(True, "c", 5, 2, "rwm"),
    DeviceRule(True, "c", 136, None, "rwm"),
)


@dataclass(frozen=True)
class Resources:
    """A container's ``linux.resources``.

    Attributes:
        devices: the spec's device rules in order. The effective list a cgroup gets is
            :meth:`device_rules`: deny all, these, then :data:`DEFAULT_DEVICE_RULES`.
        pids_limit: None = not set, -1 = unlimited.
    """

    memory: MemoryResources = field(default_factory=MemoryResources)
    cpu: CpuResources = field(default_factory=CpuResources)
    pids_limit: int | None = None
    blkio: BlkioResources = field(default_factory=BlkioResources)
    devices: tuple[DeviceRule, ...] = ()

    @classmethod
    def from_spec(cls, obj: object, name: str = _ROOT) -> Resources:
        """Validate a ``linux.resources`` object (None or {} = no limits).

        Raises:
            InvalidArgument: a field is malformed or impossible; the message names it.
            Unimplemented: a field Wharf does not support is set (hugepageLimits, rdma,
                network, unified, cpu.burst, cpu.idle, blockIO.leafWeight).
        """
        if obj is None:
            return cls()
        o = _obj(obj, name)
        _keys(
            o,
            name,
            {"memory", "cpu", "pids", "blockIO", "devices", "hugepageLimits"}
            | {"network", "rdma", "unified"},
        )
        for key in ("hugepageLimits", "network", "rdma", "unified"):
            if o.get(key):
                raise Unimplemented(f"{name}.{key}: not supported by Wharf's runtime")
        pids_limit = None
        if o.get("pids") is not None:
            pids = _obj(o["pids"], f"{name}.pids")
            _keys(pids, f"{name}.pids", {"limit"})
            pids_limit = _unset_zero(_int(pids, "limit", f"{name}.pids", -1, _INT64_MAX))
        return cls(
            memory=MemoryResources.from_spec(o.get("memory") or {}, f"{name}.memory"),
            cpu=CpuResources.from_spec(o.get("cpu") or {}, f"{name}.cpu"),
            pids_limit=pids_limit,
            blkio=BlkioResources.from_spec(o.get("blockIO") or {}, f"{name}.blockIO"),
            devices=tuple(
                DeviceRule.from_spec(d, f"{name}.devices[{i}]")
                for i, d in enumerate(_list(o, "devices", name))
            ),
        )

    def device_rules(self) -> tuple[DeviceRule, ...]:
        """The rules a cgroup is given, in order: deny all, the spec's, the defaults."""
        return (DeviceRule(allow=False), *self.devices, *DEFAULT_DEVICE_RULES)
