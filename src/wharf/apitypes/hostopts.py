"""``HostConfig`` process and kernel options (``--shm-size``, ``--sysctl``, ``--ulimit``,
``--security-opt``), the namespace modes (``--pid``, ``--ipc``, ``--uts``), and the options
Wharf recognises but does not implement: those are refused (501, naming the field) when set,
never silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from wharf.apitypes.common import (
    Obj,
    get_bool,
    get_int,
    get_map,
    get_obj,
    get_str,
    get_str_list,
)
from wharf.errors import InvalidArgument, Unimplemented

__all__ = [
    "DEFAULT_SHM_SIZE",
    "ULIMITS",
    "BlkioDevices",
    "HostOptions",
    "LogConfig",
    "NamespaceModes",
    "Ulimit",
    "cgroup_parent",
    "device_cgroup_rules",
    "refuse_unsupported",
    "tmpfs_options",
]

DEFAULT_SHM_SIZE: Final = 64 << 20
# ``--ulimit`` names -> the OCI rlimit type.
ULIMITS: Final = {
    name: "RLIMIT_" + name.upper()
    for name in (
        "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
        "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
    )
}  # fmt: skip
# Namespaced sysctls a container may set (moby's list).
_SYSCTL: Final = re.compile(
    r"(kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)"
    r"|fs\.mqueue\.[a-z_]+|net\.[a-zA-Z0-9_.\-/]+)"
)
_DEVICE_RULE: Final = re.compile(r"([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})")
_IPC_SYSCTL: Final = re.compile(r"kernel\.(msg|sem|shm).*|fs\.mqueue\..*")
# --security-opt values with nothing to do here: Wharf loads no AppArmor or SELinux profile.
_NOOP_SECURITY: Final = frozenset(
    {"apparmor=unconfined", "apparmor:unconfined", "label=disable", "label:disable"}
)


# ``--tmpfs`` options: mount flags, each group one flag (the last one given wins), the
# propagation modes (one), and the data tmpfs takes (the last of each key wins).
_TMPFS_FLAGS: Final = {
    name: group
    for group, names in enumerate(
        (
            ("ro", "rw"), ("exec", "noexec"), ("suid", "nosuid"), ("dev", "nodev"),
            ("sync", "async"), ("dirsync",), ("mand", "nomand"), ("atime", "noatime"),
            ("diratime", "nodiratime"), ("relatime", "norelatime"),
            ("strictatime", "nostrictatime"), ("nosymfollow",),
            ("private", "rprivate", "shared", "rshared", "slave", "rslave"),
        )
    )
    for name in names
}  # fmt: skip
_TMPFS_DATA: Final = frozenset({"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"})
_TMPFS_DEFAULTS: Final = ("noexec", "nosuid", "nodev", "rprivate")


def tmpfs_options(options: str) -> tuple[str, ...]:
    """The mount options of ``--tmpfs PATH:OPTIONS``: Docker's defaults (noexec, nosuid,
    nodev, rprivate), then ``OPTIONS``; of each flag group, propagation mode and data key
    the last wins (moby's MergeTmpfsOptions).

    Raises:
        InvalidArgument: an option a tmpfs does not take, named.
    """
    groups: set[int] = set()
    keys: set[str] = set()
    out: list[str] = []
    for option in reversed([*_TMPFS_DEFAULTS, *filter(None, options.split(","))]):
        if option == "defaults":
            continue
        if option in _TMPFS_FLAGS:
            if _TMPFS_FLAGS[option] not in groups:
                groups.add(_TMPFS_FLAGS[option])
                out.append(option)
            continue
        key, eq, _ = option.partition("=")
        if not eq or key not in _TMPFS_DATA:
            raise InvalidArgument(f"invalid tmpfs option {option!r}")
        if key not in keys:
            keys.add(key)
            out.append(option)
    return tuple(reversed(out))


@dataclass(frozen=True)
class Ulimit:
    """One ``HostConfig.Ulimits`` entry."""

    name: str
    soft: int
    hard: int

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {"Name": self.name, "Soft": self.soft, "Hard": self.hard}


@dataclass(frozen=True)
class HostOptions:
    """Process and kernel options of a container.

    Attributes:
        shm_size: bytes of the ``/dev/shm`` tmpfs (0 or unset: Docker's 64 MiB).
        sysctls: namespaced sysctls (``net.*``, IPC and mqueue ones).
        no_new_privileges: ``--security-opt no-new-privileges``.
        seccomp_unconfined: ``--security-opt seccomp=unconfined`` (no seccomp filter; by
            default a container gets Docker's default profile).
        tmpfs: ``--tmpfs``: (path, options as given), a tmpfs mounted there
            (:func:`tmpfs_options`).
        oom_score_adj: ``--oom-score-adj``, of the container's processes (-1000 to 1000).
        oom_kill_disable: ``--oom-kill-disable``: at its memory limit the container waits
            instead of losing a process (cgroup v1 only, as with dockerd).
    """

    shm_size: int = 0
    sysctls: tuple[tuple[str, str], ...] = ()
    ulimits: tuple[Ulimit, ...] = ()
    no_new_privileges: bool = False
    seccomp_unconfined: bool = False
    tmpfs: tuple[tuple[str, str], ...] = ()
    oom_score_adj: int = 0
    oom_kill_disable: bool = False

    @classmethod
    def from_json(cls, data: Obj, *, network_mode: str, ipc_mode: str = "private") -> HostOptions:
        """Parse ``ShmSize``, ``Sysctls``, ``Ulimits``, ``SecurityOpt``, ``Tmpfs``,
        ``OomScoreAdj`` and ``OomKillDisable``.

        Raises:
            InvalidArgument: a negative size, a sysctl that is not namespaced (or a ``net.*``
                one with the host's network, an IPC one with the host's IPC), a bad ulimit, a
                tmpfs path that is not absolute or a bad tmpfs option, an OOM score
                adjustment out of range.
            Unimplemented: a ``--security-opt`` Wharf does not implement.
        """
        oom = get_int(data, "OomScoreAdj", "HostConfig.OomScoreAdj")
        if not -1000 <= oom <= 1000:
            raise InvalidArgument(
                f"HostConfig.OomScoreAdj: invalid value {oom}, the range is [-1000, 1000]"
            )
        shm = get_int(data, "ShmSize", "HostConfig.ShmSize")
        if shm < 0:
            raise InvalidArgument(f"HostConfig.ShmSize: expected bytes >= 0, got {shm}")
        sysctls = get_map(data, "Sysctls", "HostConfig.Sysctls")
        for name in sysctls:
            if not _SYSCTL.fullmatch(name):
                raise InvalidArgument(
                    f"HostConfig.Sysctls: sysctl {name!r} is not allowed (not namespaced: only "
                    "net.*, fs.mqueue.* and the kernel IPC ones)"
                )
            if name.startswith("net.") and network_mode == "host":
                raise InvalidArgument(
                    f"HostConfig.Sysctls: sysctl {name!r} is not allowed in the host network "
                    "namespace"
                )
            if _IPC_SYSCTL.fullmatch(name) and ipc_mode == "host":
                raise InvalidArgument(
                    f"HostConfig.Sysctls: sysctl {name!r} is not allowed in the host IPC namespace"
                )
        no_new_privileges = seccomp_unconfined = False
        for opt in get_str_list(data, "SecurityOpt", "HostConfig.SecurityOpt") or ():
            key, _, value = opt.replace(":", "=", 1).partition("=")
            if key == "no-new-privileges" and value in ("", "true", "false"):
                no_new_privileges = value != "false"
            elif key == "seccomp" and value == "unconfined":
                seccomp_unconfined = True
            elif opt not in _NOOP_SECURITY:
                raise Unimplemented(
                    f"HostConfig.SecurityOpt: {opt!r} is not supported (no-new-privileges, "
                    "seccomp=unconfined, apparmor=unconfined and label=disable are)"
                )
        return cls(
            shm_size=shm or DEFAULT_SHM_SIZE,
            sysctls=tuple(sorted(sysctls.items())),
            ulimits=_ulimits(data.get("Ulimits")),
            no_new_privileges=no_new_privileges,
            seccomp_unconfined=seccomp_unconfined,
            tmpfs=_tmpfs(get_map(data, "Tmpfs", "HostConfig.Tmpfs")),
            oom_score_adj=oom,
            oom_kill_disable=get_bool(data, "OomKillDisable", "HostConfig.OomKillDisable"),
        )

    def to_json(self) -> dict[str, Any]:
        """The fields as they appear inlined in ``HostConfig``."""
        security = ["no-new-privileges"] if self.no_new_privileges else []
        if self.seccomp_unconfined:
            security.append("seccomp=unconfined")
        return {
            "ShmSize": self.shm_size or DEFAULT_SHM_SIZE,
            "Sysctls": dict(self.sysctls) or None,
            "Ulimits": [u.to_json() for u in self.ulimits] or None,
            "SecurityOpt": security or None,
            "Tmpfs": dict(self.tmpfs) or None,
            "OomScoreAdj": self.oom_score_adj,
            "OomKillDisable": self.oom_kill_disable,
        }


@dataclass(frozen=True)
class NamespaceModes:
    """``PidMode``, ``IpcMode``, ``UTSMode`` and ``CgroupnsMode``: whose namespaces the
    container has. Its own by default (IPC: ``private``); ``host``: the host's; pid and IPC
    also ``container:<name|id>``, another (running) container's. IPC ``shareable`` is a
    private namespace others may join (Docker requires it of the donor); ``none`` a private
    one without ``/dev/shm``. The cgroup namespace is the host's unless ``private`` (dockerd's
    default on a cgroup v1 host, as this one)."""

    pid: str = ""
    ipc: str = "private"
    uts: str = ""
    cgroup: str = "host"

    @classmethod
    def from_json(cls, data: Obj) -> NamespaceModes:
        """Parse the three modes.

        Raises:
            InvalidArgument: a mode that is not one of those, named.
        """
        pid = get_str(data, "PidMode", "HostConfig.PidMode")
        ipc = get_str(data, "IpcMode", "HostConfig.IpcMode") or "private"
        uts = get_str(data, "UTSMode", "HostConfig.UTSMode")
        if pid not in ("", "host") and not _joins(pid):
            raise InvalidArgument(
                f"HostConfig.PidMode: invalid PID mode {pid!r}; expected host or "
                "container:<name|id>"
            )
        if ipc not in ("private", "shareable", "host", "none") and not _joins(ipc):
            raise InvalidArgument(
                f"HostConfig.IpcMode: invalid IPC mode {ipc!r}; expected private, shareable, "
                "host, none or container:<name|id>"
            )
        if uts not in ("", "host"):
            raise InvalidArgument(f"HostConfig.UTSMode: invalid UTS mode {uts!r}; expected host")
        cgroup = get_str(data, "CgroupnsMode", "HostConfig.CgroupnsMode") or "host"
        if cgroup not in ("host", "private"):
            raise InvalidArgument(
                f"HostConfig.CgroupnsMode: invalid cgroup namespace mode {cgroup!r}; expected "
                "host or private"
            )
        return cls(pid=pid, ipc=ipc, uts=uts, cgroup=cgroup)

    def to_json(self) -> dict[str, Any]:
        """The fields as they appear inlined in ``HostConfig``."""
        return {
            "PidMode": self.pid,
            "IpcMode": self.ipc,
            "UTSMode": self.uts,
            "CgroupnsMode": self.cgroup,
        }

    def donor(self, kind: str) -> str:
        """The container whose ``kind`` (``pid``, ``ipc``) namespace this one joins, or ""."""
        mode = self.pid if kind == "pid" else self.ipc
        return mode.removeprefix("container:") if _joins(mode) else ""


def _joins(mode: str) -> bool:
    return mode.startswith("container:") and len(mode) > len("container:")


_SIZE_UNITS: Final = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_SIZE: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", re.IGNORECASE)
# The local driver's defaults (moby's): it always rotates.
_LOCAL_MAX_SIZE: Final = 20 * 10**6
_LOCAL_MAX_FILES: Final = 5


@dataclass(frozen=True)
class LogConfig:
    """``HostConfig.LogConfig``: ``json-file`` (the default), ``local`` (the same file,
    rotated by default, as moby's local driver) or ``none``; ``max-size`` and ``max-file``
    rotate the file. Other drivers and options are refused rather than ignored.

    Attributes:
        max_size: bytes after which the file is rotated (0: never).
        max_files: files kept, the current one included.
    """

    type: str = "json-file"
    config: tuple[tuple[str, str], ...] = ()
    max_size: int = 0
    max_files: int = 1

    @classmethod
    def from_json(cls, data: Obj) -> LogConfig:
        """Parse ``LogConfig``.

        Raises:
            InvalidArgument: an option the driver does not have, a bad size or count.
            Unimplemented: a driver other than json-file, local and none; ``compress``.
        """
        raw = get_obj(data, "LogConfig", "HostConfig.LogConfig")
        kind = get_str(raw, "Type", "HostConfig.LogConfig.Type") or "json-file"
        config = get_map(raw, "Config", "HostConfig.LogConfig.Config")
        if kind not in ("json-file", "local", "none"):
            raise Unimplemented(
                f"HostConfig.LogConfig.Type: the {kind!r} logging driver is not supported "
                "(json-file, local and none are)"
            )
        allowed = () if kind == "none" else ("max-size", "max-file", "compress")
        for key in config:
            if key not in allowed:
                raise InvalidArgument(f"unknown log opt '{key}' for {kind} log driver")
        if config.get("compress", "false") != "false":
            raise Unimplemented(
                "HostConfig.LogConfig.Config: compress is not supported (rotated files stay "
                "uncompressed)"
            )
        local = kind == "local"
        size = _LOCAL_MAX_SIZE if local else 0
        if "max-size" in config:
            size = _human_size(config["max-size"])
        files = _LOCAL_MAX_FILES if local else 1
        if "max-file" in config:
            text = config["max-file"]
            if not text.isdigit() or int(text) < 1:
                raise InvalidArgument(f"max-file: expected a count of 1 or more, got {text!r}")
            if not size:
                raise InvalidArgument("max-file cannot be set when max-size is not set")
            files = int(text)
        return cls(kind, tuple(sorted(config.items())), size, files)

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {"Type": self.type, "Config": dict(self.config)}


def _human_size(text: str) -> int:
    """Docker's ``max-size``: a number and a decimal unit (``10m``, ``1.5g``, ``500k``)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise InvalidArgument(f"max-size: expected a size like 10m, got {text!r}")
    size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if size < 1:
        raise InvalidArgument(f"max-size: expected a size of at least 1 byte, got {text!r}")
    return size


_THROTTLES: Final = (
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
)


@dataclass(frozen=True)
class BlkioDevices:
    """Per-device block I/O settings (``--blkio-weight-device``, ``--device-read-bps``,
    ``--device-write-bps``, ``--device-read-iops``, ``--device-write-iops``) and
    ``--memory-swappiness``: (host device path, value) pairs.

    Attributes:
        throttles: (wire name, path, rate) for each ``BlkioDevice*`` entry.
    """

    weights: tuple[tuple[str, int], ...] = ()
    throttles: tuple[tuple[str, str, int], ...] = ()
    swappiness: int | None = None

    @classmethod
    def from_json(cls, data: Obj) -> BlkioDevices:
        """Parse the five device lists and ``MemorySwappiness``.

        Raises:
            InvalidArgument: not a list of {Path, Weight|Rate}, a relative path, a weight
                out of 10-1000, a negative rate, a swappiness out of 0-100.
        """
        weights = _device_values(data, "BlkioWeightDevice", "Weight")
        for _, weight in weights:
            _check_range("BlkioWeightDevice", weight, 10, 1000)
        throttles = [
            (key, path, rate)
            for key in _THROTTLES
            for path, rate in _device_values(data, key, "Rate")
        ]
        for key, _, rate in throttles:
            _check_range(key, rate, 0, 2**63 - 1)
        swappiness = data.get("MemorySwappiness")
        if swappiness is not None:
            swappiness = get_int(data, "MemorySwappiness", "HostConfig.MemorySwappiness")
            if swappiness == -1:
                swappiness = None  # older clients' "unset"
            else:
                _check_range("MemorySwappiness", swappiness, 0, 100)
        return cls(tuple(weights), tuple(throttles), swappiness)

    def to_json(self) -> dict[str, Any]:
        """The fields as they appear inlined in ``HostConfig``."""
        out: dict[str, Any] = {
            "BlkioWeightDevice": [{"Path": p, "Weight": w} for p, w in self.weights],
            "MemorySwappiness": self.swappiness,
        }
        for key in _THROTTLES:
            out[key] = [{"Path": p, "Rate": r} for k, p, r in self.throttles if k == key]
        return out


def _device_values(data: Obj, key: str, value_key: str) -> list[tuple[str, int]]:
    raw = data.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidArgument(f"HostConfig.{key}: expected a list of {{Path, {value_key}}}")
    out = []
    for i, item in enumerate(raw):
        field = f"HostConfig.{key}[{i}]"
        if not isinstance(item, dict):
            raise InvalidArgument(f"{field}: expected an object with Path and {value_key}")
        path = get_str(item, "Path", field + ".Path")
        if not path.startswith("/"):
            raise InvalidArgument(f"{field}.Path: expected an absolute device path, got {path!r}")
        out.append((path, get_int(item, value_key, f"{field}.{value_key}")))
    return out


def _check_range(key: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidArgument(f"HostConfig.{key}: {value} is out of range [{low}, {high}]")


def cgroup_parent(data: Obj) -> str:
    """``CgroupParent`` (``--cgroup-parent``): the cgroup the container's own is made in,
    instead of the daemon's; absolute, or relative to the root of each hierarchy as dockerd's
    cgroupfs driver takes it. "": the daemon's.

    Raises:
        InvalidArgument: a ``.`` or ``..`` component, or a character cgroup names cannot have.
    """
    parent = get_str(data, "CgroupParent", "HostConfig.CgroupParent")
    for part in parent.split("/"):
        if part in (".", "..") or "\0" in part or "\n" in part:
            raise InvalidArgument(
                f"HostConfig.CgroupParent: component {part!r} is not allowed in {parent!r}; "
                "expected a cgroup path like /mine or mine/sub"
            )
    return parent.rstrip("/") if parent.strip("/") else ""


def device_cgroup_rules(data: Obj) -> tuple[str, ...]:
    """``DeviceCgroupRules`` (``--device-cgroup-rule``): ``TYPE MAJOR:MINOR ACCESS`` each,
    TYPE ``a``, ``b`` or ``c``, MAJOR and MINOR numbers or ``*``, ACCESS of ``rwm``.

    Raises:
        InvalidArgument: a rule not of that form, named.
    """
    rules = get_str_list(data, "DeviceCgroupRules", "HostConfig.DeviceCgroupRules") or ()
    for i, rule in enumerate(rules):
        if not _DEVICE_RULE.fullmatch(rule):
            raise InvalidArgument(
                f"HostConfig.DeviceCgroupRules[{i}]: invalid device cgroup rule format "
                f"{rule!r}; expected 'TYPE MAJOR:MINOR ACCESS' (c 1:3 rwm, b 8:* r, a *:* m)"
            )
    return tuple(rules)


def _tmpfs(raw: dict[str, str]) -> tuple[tuple[str, str], ...]:
    for path, options in raw.items():
        field = f"HostConfig.Tmpfs[{path!r}]"
        if not path.startswith("/") or path.rstrip("/") == "":
            raise InvalidArgument(f"{field}: the mount point must be absolute (and not /)")
        try:
            tmpfs_options(options)
        except InvalidArgument as exc:
            raise InvalidArgument(f"{field}: {exc}") from None
    return tuple(sorted(raw.items()))


def _ulimits(raw: object) -> tuple[Ulimit, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidArgument("HostConfig.Ulimits: expected a list of {Name, Soft, Hard}")
    out: dict[str, Ulimit] = {}
    for i, item in enumerate(raw):
        field = f"HostConfig.Ulimits[{i}]"
        if not isinstance(item, dict):
            raise InvalidArgument(f"{field}: expected an object with Name, Soft and Hard")
        name = get_str(item, "Name", field + ".Name")
        if name not in ULIMITS:
            raise InvalidArgument(
                f"{field}.Name: unknown ulimit {name!r}; expected one of {', '.join(ULIMITS)}"
            )
        soft = get_int(item, "Soft", field + ".Soft")
        hard = get_int(item, "Hard", field + ".Hard")
        if soft < 0 or hard < 0 or soft > hard:
            raise InvalidArgument(
                f"{field}: ulimit {name} soft {soft} must be >= 0 and not above hard {hard}"
            )
        out[name] = Ulimit(name, soft, hard)
    return tuple(out.values())


# HostConfig fields Wharf does not implement, with the values that mean "not used".
_UNSUPPORTED: Final[tuple[tuple[str, tuple[object, ...], str], ...]] = (
    ("UsernsMode", ("", "host"), "user namespace modes (--userns)"),
    ("DeviceRequests", ((),), "device requests (--gpus)"),
    ("Links", ((),), "legacy container links (--link; use a user-defined network)"),
    ("StorageOpt", ({},), "storage options (--storage-opt)"),
    ("Isolation", ("", "default"), "isolation technologies (--isolation)"),
    ("Runtime", ("", "runc"), "runtimes other than the daemon's (--runtime)"),
    ("KernelMemory", (0,), "kernel memory limits (--kernel-memory)"),
    ("CpuRealtimePeriod", (0,), "realtime CPU scheduling (--cpu-rt-period)"),
    ("CpuRealtimeRuntime", (0,), "realtime CPU scheduling (--cpu-rt-runtime)"),
)


def refuse_unsupported(data: Obj) -> None:
    """Options Wharf recognises but does not implement: refuse them rather than ignore them.

    Raises:
        Unimplemented: naming the field and the option.
    """
    for key, unset, what in _UNSUPPORTED:
        value = data.get(key)
        if value is None or value in unset or (isinstance(value, (list, dict)) and not value):
            continue
        raise Unimplemented(f"HostConfig.{key}: {what} is not supported, got {value!r}")
