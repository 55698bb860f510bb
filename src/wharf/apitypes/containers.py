"""Container wire types: the create body (Config + HostConfig), update, inspect and list views."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from wharf.apitypes.common import (
    Obj,
    get_bool,
    get_int,
    get_map,
    get_obj,
    get_str,
    get_str_list,
)
from wharf.apitypes.health import HealthConfig, HealthState
from wharf.apitypes.hostopts import (
    BlkioDevices,
    HostOptions,
    LogConfig,
    NamespaceModes,
    cgroup_parent,
    device_cgroup_rules,
    refuse_unsupported,
)
from wharf.apitypes.networks import ContainerNetworking
from wharf.errors import InvalidArgument

__all__ = [
    "RESTART_POLICIES",
    "Change",
    "ContainerConfig",
    "ContainerCreate",
    "ContainerState",
    "ContainerUpdate",
    "ContainerView",
    "DeviceMapping",
    "HostConfig",
    "PathStat",
    "Resources",
    "RestartPolicy",
    "TopResult",
    "WaitResult",
    "validate_name",
]

RESTART_POLICIES: Final = frozenset({"", "no", "always", "unless-stopped", "on-failure"})
_NAME_RE: Final = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_CPUSET_RE: Final = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_NETWORK_MODE: Final = re.compile(r"(container:)?[a-zA-Z0-9][a-zA-Z0-9_.-]*")
MIN_MEMORY: Final = 6 * 1024 * 1024


def validate_name(name: str) -> str:
    """A container name without its leading ``/``; Docker's ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``.

    Raises:
        InvalidArgument: the name has other characters.
    """
    if not _NAME_RE.match(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.lstrip("/")


@dataclass(frozen=True)
class ContainerConfig:
    """``Config`` of a container (the image-independent part of a create request)."""

    image: str
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    hostname: str = ""
    domainname: str = ""
    stop_signal: str = ""
    stop_timeout: int | None = None
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    healthcheck: HealthConfig | None = None

    @classmethod
    def from_json(cls, data: Obj, prefix: str = "") -> ContainerConfig:
        """Parse a ``Config`` object (fields are top-level in the create body).

        Raises:
            InvalidArgument: a field has the wrong type or an env entry is empty.
        """
        image = get_str(data, "Image", prefix + "Image")
        env = get_str_list(data, "Env", prefix + "Env") or ()
        for entry in env:
            if not entry or entry.startswith("="):
                raise InvalidArgument(f"{prefix}Env: invalid environment variable {entry!r}")
        stop_timeout = data.get("StopTimeout")
        return cls(
            image=image,
            cmd=get_str_list(data, "Cmd", prefix + "Cmd"),
            entrypoint=get_str_list(data, "Entrypoint", prefix + "Entrypoint"),
            env=env,
            working_dir=get_str(data, "WorkingDir", prefix + "WorkingDir"),
            user=get_str(data, "User", prefix + "User"),
            labels=get_map(data, "Labels", prefix + "Labels"),
            tty=get_bool(data, "Tty", prefix + "Tty"),
            open_stdin=get_bool(data, "OpenStdin", prefix + "OpenStdin"),
            stdin_once=get_bool(data, "StdinOnce", prefix + "StdinOnce"),
            attach_stdin=get_bool(data, "AttachStdin", prefix + "AttachStdin"),
            attach_stdout=get_bool(data, "AttachStdout", prefix + "AttachStdout"),
            attach_stderr=get_bool(data, "AttachStderr", prefix + "AttachStderr"),
            hostname=get_str(data, "Hostname", prefix + "Hostname"),
            domainname=get_str(data, "Domainname", prefix + "Domainname"),
            stop_signal=get_str(data, "StopSignal", prefix + "StopSignal"),
            stop_timeout=None
            if stop_timeout is None
            else get_int(data, "StopTimeout", prefix + "StopTimeout"),
            exposed_ports=tuple(sorted(get_obj(data, "ExposedPorts", prefix + "ExposedPorts"))),
            volumes=tuple(sorted(get_obj(data, "Volumes", prefix + "Volumes"))),
            healthcheck=None
            if data.get("Healthcheck") is None
            else HealthConfig.from_json(
                get_obj(data, "Healthcheck", prefix + "Healthcheck"), prefix + "Healthcheck"
            ),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``Config`` object of inspect."""
        return {
            "Hostname": self.hostname,
            "Domainname": self.domainname,
            "User": self.user,
            "AttachStdin": self.attach_stdin,
            "AttachStdout": self.attach_stdout,
            "AttachStderr": self.attach_stderr,
            "ExposedPorts": {p: {} for p in self.exposed_ports} or None,
            "Tty": self.tty,
            "OpenStdin": self.open_stdin,
            "StdinOnce": self.stdin_once,
            "Env": list(self.env),
            "Cmd": None if self.cmd is None else list(self.cmd),
            "Image": self.image,
            "Volumes": {v: {} for v in self.volumes} or None,
            "WorkingDir": self.working_dir,
            "Entrypoint": None if self.entrypoint is None else list(self.entrypoint),
            "OnBuild": None,
            "Labels": dict(self.labels),
            **({"StopSignal": self.stop_signal} if self.stop_signal else {}),
            **({"StopTimeout": self.stop_timeout} if self.stop_timeout is not None else {}),
            **({"Healthcheck": self.healthcheck.to_json()} if self.healthcheck else {}),
        }


@dataclass(frozen=True)
class RestartPolicy:
    """``HostConfig.RestartPolicy``: no, always, unless-stopped or on-failure[:max]."""

    name: Literal["no", "always", "unless-stopped", "on-failure"] = "no"
    maximum_retry_count: int = 0

    @classmethod
    def from_json(cls, data: Obj, prefix: str = "HostConfig.RestartPolicy.") -> RestartPolicy:
        """Parse and validate a restart policy.

        Raises:
            InvalidArgument: unknown name, negative count, or a count with a policy but on-failure.
        """
        name = get_str(data, "Name", prefix + "Name")
        count = get_int(data, "MaximumRetryCount", prefix + "MaximumRetryCount")
        if name not in RESTART_POLICIES:
            raise InvalidArgument(
                f"{prefix}Name: invalid restart policy {name!r}; expected no, always, "
                "unless-stopped or on-failure"
            )
        if count < 0:
            raise InvalidArgument(f"{prefix}MaximumRetryCount: must be >= 0, got {count}")
        if count and name != "on-failure":
            raise InvalidArgument(
                f"{prefix}MaximumRetryCount: only valid with on-failure, not {name or 'no'!r}"
            )
        policy: Literal["no", "always", "unless-stopped", "on-failure"]
        if name == "always":
            policy = "always"
        elif name == "unless-stopped":
            policy = "unless-stopped"
        elif name == "on-failure":
            policy = "on-failure"
        else:
            policy = "no"
        return cls(name=policy, maximum_retry_count=count)

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {"Name": self.name, "MaximumRetryCount": self.maximum_retry_count}


@dataclass(frozen=True)
class Resources:
    """Resource limits (the ``Resources`` fields inlined in HostConfig and used by update).

    Zero means "unset" as in Docker; ``memory_swap`` -1 means unlimited swap.
    """

    memory: int = 0
    memory_swap: int = 0
    memory_reservation: int = 0
    cpu_shares: int = 0
    nano_cpus: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    pids_limit: int | None = None
    blkio_weight: int = 0

    @classmethod
    def from_json(cls, data: Obj, prefix: str = "HostConfig.") -> Resources:
        """Parse and validate resource values.

        Raises:
            InvalidArgument: negative or out-of-range values, naming the field.
        """

        def nonneg(key: str) -> int:
            value = get_int(data, key, prefix + key)
            if value < 0:
                raise InvalidArgument(f"{prefix}{key}: must be >= 0, got {value}")
            return value

        memory = nonneg("Memory")
        if 0 < memory < MIN_MEMORY:
            raise InvalidArgument(
                f"{prefix}Memory: minimum memory limit allowed is 6MB, got {memory} bytes"
            )
        memory_swap = get_int(data, "MemorySwap", prefix + "MemorySwap")
        if memory_swap < -1:
            raise InvalidArgument(f"{prefix}MemorySwap: must be -1 or >= 0, got {memory_swap}")
        if memory_swap > 0 and memory and memory_swap < memory:
            raise InvalidArgument(
                f"{prefix}MemorySwap: minimum memoryswap limit should be larger than memory "
                f"limit ({memory_swap} < {memory})"
            )
        if memory_swap > 0 and not memory:
            raise InvalidArgument(f"{prefix}MemorySwap: set Memory too when setting MemorySwap")
        nano_cpus = nonneg("NanoCpus")
        cpu_quota = get_int(data, "CpuQuota", prefix + "CpuQuota")
        if nano_cpus and (cpu_quota > 0 or nonneg("CpuPeriod")):
            raise InvalidArgument(
                f"{prefix}NanoCpus: conflicting options: NanoCPUs and CPU Period/Quota"
            )
        cpuset_cpus = get_str(data, "CpusetCpus", prefix + "CpusetCpus")
        cpuset_mems = get_str(data, "CpusetMems", prefix + "CpusetMems")
        for key, value in (("CpusetCpus", cpuset_cpus), ("CpusetMems", cpuset_mems)):
            if value and not _CPUSET_RE.match(value):
                raise InvalidArgument(
                    f"{prefix}{key}: invalid value {value!r}; expected e.g. 0-2,4"
                )
        blkio = nonneg("BlkioWeight")
        if blkio and not 10 <= blkio <= 1000:
            raise InvalidArgument(f"{prefix}BlkioWeight: range is 10 to 1000, got {blkio}")
        pids = data.get("PidsLimit")
        return cls(
            memory=memory,
            memory_swap=memory_swap,
            memory_reservation=nonneg("MemoryReservation"),
            cpu_shares=nonneg("CpuShares"),
            nano_cpus=nano_cpus,
            cpu_period=nonneg("CpuPeriod"),
            cpu_quota=cpu_quota,
            cpuset_cpus=cpuset_cpus,
            cpuset_mems=cpuset_mems,
            pids_limit=None if pids is None else get_int(data, "PidsLimit", prefix + "PidsLimit"),
            blkio_weight=blkio,
        )

    def merged(self, update: Resources, present: frozenset[str]) -> Resources:
        """These resources with the fields named in ``present`` taken from ``update``."""
        values = {k: getattr(update if k in present else self, k) for k in _RESOURCE_FIELDS}
        return Resources(**values)

    def to_json(self) -> dict[str, Any]:
        """The resource fields as they appear inlined in HostConfig."""
        return {
            "Memory": self.memory,
            "MemorySwap": self.memory_swap,
            "MemoryReservation": self.memory_reservation,
            "CpuShares": self.cpu_shares,
            "NanoCpus": self.nano_cpus,
            "CpuPeriod": self.cpu_period,
            "CpuQuota": self.cpu_quota,
            "CpusetCpus": self.cpuset_cpus,
            "CpusetMems": self.cpuset_mems,
            "PidsLimit": self.pids_limit,
            "BlkioWeight": self.blkio_weight,
        }


_RESOURCE_FIELDS: Final = (
    "memory",
    "memory_swap",
    "memory_reservation",
    "cpu_shares",
    "nano_cpus",
    "cpu_period",
    "cpu_quota",
    "cpuset_cpus",
    "cpuset_mems",
    "pids_limit",
    "blkio_weight",
)
RESOURCE_WIRE_NAMES: Final = {
    "Memory": "memory",
    "MemorySwap": "memory_swap",
    "MemoryReservation": "memory_reservation",
    "CpuShares": "cpu_shares",
    "NanoCpus": "nano_cpus",
    "CpuPeriod": "cpu_period",
    "CpuQuota": "cpu_quota",
    "CpusetCpus": "cpuset_cpus",
    "CpusetMems": "cpuset_mems",
    "PidsLimit": "pids_limit",
    "BlkioWeight": "blkio_weight",
}


_DEVICE_MODES: Final = frozenset("rwm")


@dataclass(frozen=True)
class DeviceMapping:
    """One ``HostConfig.Devices`` entry (``--device /dev/X[:/dev/Y][:rwm]``).

    Attributes:
        cgroup_permissions: what the devices cgroup allows: a non-empty subset of ``rwm``.
    """

    path_on_host: str
    path_in_container: str
    cgroup_permissions: str = "rwm"

    @classmethod
    def from_json(cls, item: object, field: str) -> DeviceMapping:
        """Parse one entry; an empty ``PathInContainer`` means the host's path.

        Raises:
            InvalidArgument: not an object, a relative path or a bad permission string.
        """
        if not isinstance(item, dict):
            raise InvalidArgument(f"{field}: expected an object with PathOnHost")
        host = get_str(item, "PathOnHost", field + ".PathOnHost")
        inside = get_str(item, "PathInContainer", field + ".PathInContainer") or host
        mode = get_str(item, "CgroupPermissions", field + ".CgroupPermissions") or "rwm"
        for key, path in (("PathOnHost", host), ("PathInContainer", inside)):
            if not path.startswith("/"):
                raise InvalidArgument(
                    f"{field}.{key}: bad format for path: {path!r} (expected an absolute path)"
                )
        inside = posixpath.normpath(inside)
        if not set(mode) <= _DEVICE_MODES or len(set(mode)) != len(mode):
            raise InvalidArgument(
                f"{field}.CgroupPermissions: invalid device mode: {mode!r} (expected a "
                "combination of r, w and m)"
            )
        return cls(path_on_host=host, path_in_container=inside, cgroup_permissions=mode)

    def to_json(self) -> dict[str, str]:
        """Wire form."""
        return {
            "PathOnHost": self.path_on_host,
            "PathInContainer": self.path_in_container,
            "CgroupPermissions": self.cgroup_permissions,
        }


def _group_add(groups: tuple[str, ...]) -> tuple[str, ...]:
    for i, g in enumerate(groups):
        if not g or ":" in g or "\n" in g:
            raise InvalidArgument(f"HostConfig.GroupAdd[{i}]: expected a group name or number")
    return tuple(groups)


@dataclass(frozen=True)
class HostConfig:
    """``HostConfig`` of a create request: what the host provides the container."""

    resources: Resources = field(default_factory=Resources)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    auto_remove: bool = False
    network_mode: str = "default"
    init: bool | None = None
    privileged: bool = False
    readonly_rootfs: bool = False
    binds: tuple[str, ...] = ()
    console_size: tuple[int, int] = (0, 0)
    devices: tuple[DeviceMapping, ...] = ()
    device_cgroup_rules: tuple[str, ...] = ()
    cgroup_parent: str = ""
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    group_add: tuple[str, ...] = ()
    options: HostOptions = field(default_factory=HostOptions)
    namespaces: NamespaceModes = field(default_factory=NamespaceModes)
    log_config: LogConfig = field(default_factory=LogConfig)
    blkio_devices: BlkioDevices = field(default_factory=BlkioDevices)

    @classmethod
    def from_json(cls, data: Obj) -> HostConfig:
        """Parse and validate ``HostConfig``.

        Raises:
            InvalidArgument: bad types, resources, restart policy or an unsupported network mode.
        """
        restart = RestartPolicy.from_json(
            get_obj(data, "RestartPolicy", "HostConfig.RestartPolicy")
        )
        auto_remove = get_bool(data, "AutoRemove", "HostConfig.AutoRemove")
        if auto_remove and restart.name != "no":
            raise InvalidArgument(
                "HostConfig.AutoRemove: conflicting options: cannot combine with a restart "
                f"policy ({restart.name})"
            )
        network_mode = get_str(data, "NetworkMode", "HostConfig.NetworkMode") or "default"
        if not _NETWORK_MODE.fullmatch(network_mode):
            raise InvalidArgument(
                f"HostConfig.NetworkMode: invalid network mode {network_mode!r}; expected "
                "default, bridge, host, none, container:<name|id> or a network name"
            )
        size = data.get("ConsoleSize")
        console = (0, 0)
        if size is not None:
            if (
                not isinstance(size, list)
                or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)
            ):
                raise InvalidArgument("HostConfig.ConsoleSize: expected [height, width]")
            console = (size[0], size[1])
        refuse_unsupported(data)
        namespaces = NamespaceModes.from_json(data)
        init = data.get("Init")
        devices = data.get("Devices")
        if devices is not None and not isinstance(devices, list):
            raise InvalidArgument("HostConfig.Devices: expected a list of device mappings")
        return cls(
            resources=Resources.from_json(data),
            restart_policy=restart,
            auto_remove=auto_remove,
            network_mode=network_mode,
            init=None if init is None else get_bool(data, "Init", "HostConfig.Init"),
            privileged=get_bool(data, "Privileged", "HostConfig.Privileged"),
            readonly_rootfs=get_bool(data, "ReadonlyRootfs", "HostConfig.ReadonlyRootfs"),
            binds=get_str_list(data, "Binds", "HostConfig.Binds") or (),
            console_size=console,
            devices=tuple(
                DeviceMapping.from_json(item, f"HostConfig.Devices[{i}]")
                for i, item in enumerate(devices or ())
            ),
            device_cgroup_rules=device_cgroup_rules(data),
            cgroup_parent=cgroup_parent(data),
            cap_add=get_str_list(data, "CapAdd", "HostConfig.CapAdd") or (),
            cap_drop=get_str_list(data, "CapDrop", "HostConfig.CapDrop") or (),
            group_add=_group_add(get_str_list(data, "GroupAdd", "HostConfig.GroupAdd") or ()),
            options=HostOptions.from_json(data, network_mode=network_mode, ipc_mode=namespaces.ipc),
            namespaces=namespaces,
            log_config=LogConfig.from_json(data),
            blkio_devices=BlkioDevices.from_json(data),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``HostConfig`` object of inspect (``Init`` only when set, as dockerd)."""
        return {
            "Binds": list(self.binds) or None,
            "ContainerIDFile": "",
            "LogConfig": self.log_config.to_json(),
            "NetworkMode": self.network_mode,
            "PortBindings": {},
            "RestartPolicy": self.restart_policy.to_json(),
            "AutoRemove": self.auto_remove,
            "VolumeDriver": "",
            "VolumesFrom": None,
            "CapAdd": list(self.cap_add) or None,
            "CapDrop": list(self.cap_drop) or None,
            "GroupAdd": list(self.group_add) or None,
            "Dns": [],
            "DnsOptions": [],
            "DnsSearch": [],
            "ExtraHosts": None,
            **({} if self.init is None else {"Init": self.init}),
            "Privileged": self.privileged,
            "ReadonlyRootfs": self.readonly_rootfs,
            "ConsoleSize": list(self.console_size),
            "Runtime": "runc",
            "Isolation": "",
            **self.resources.to_json(),
            "Devices": [d.to_json() for d in self.devices],
            "DeviceCgroupRules": list(self.device_cgroup_rules) or None,
            "CgroupParent": self.cgroup_parent,
            **self.options.to_json(),
            **self.namespaces.to_json(),
            **self.blkio_devices.to_json(),
        }


@dataclass(frozen=True)
class ContainerCreate:
    """A validated ``POST /containers/create`` body."""

    config: ContainerConfig
    host_config: HostConfig
    networking: ContainerNetworking = field(default_factory=ContainerNetworking)

    @classmethod
    def from_json(cls, data: object) -> ContainerCreate:
        """Parse the create body.

        Raises:
            InvalidArgument: not an object, no ``Image``, or any field invalid.
        """
        if not isinstance(data, dict):
            raise InvalidArgument("container config: expected a JSON object")
        config = ContainerConfig.from_json(data)
        if not config.image:
            raise InvalidArgument("Image: no image specified in the container config")
        host = get_obj(data, "HostConfig", "HostConfig")
        host_config = HostConfig.from_json(host)
        if config.hostname and host_config.namespaces.uts == "host":
            raise InvalidArgument("Hostname: conflicting options: hostname and the UTS mode")
        return cls(
            config=config,
            host_config=host_config,
            networking=ContainerNetworking.from_json(data, host),
        )

    def to_json(self) -> dict[str, Any]:
        """Back to the create-body shape (used to persist containers)."""
        body = {**self.config.to_json(), "HostConfig": self.host_config.to_json()}
        return self.networking.to_json_into(body)


@dataclass(frozen=True)
class ContainerState:
    """``State`` of inspect."""

    status: Literal["created", "running", "paused", "restarting", "removing", "exited", "dead"]
    pid: int = 0
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    started_at: str = "0001-01-01T00:00:00Z"
    finished_at: str = "0001-01-01T00:00:00Z"
    health: HealthState | None = None

    def to_json(self) -> dict[str, Any]:
        """Wire form (``Health`` only for a container with a health check, as dockerd)."""
        return {
            "Status": self.status,
            "Running": self.status in ("running", "paused", "restarting"),
            "Paused": self.status == "paused",
            "Restarting": self.status == "restarting",
            "OOMKilled": self.oom_killed,
            "Dead": self.status == "dead",
            "Pid": self.pid,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
            **({"Health": self.health.to_json()} if self.health is not None else {}),
        }


@dataclass(frozen=True)
class ContainerView:
    """What the daemon knows of one container, rendered as inspect or as a list entry."""

    id: str
    name: str
    created: str
    created_unix: int
    path: str
    args: tuple[str, ...]
    image_id: str
    state: ContainerState
    config: ContainerConfig
    host_config: HostConfig
    status_text: str
    log_path: str = ""
    restart_count: int = 0
    exec_ids: tuple[str, ...] = ()
    size_rw: int | None = None
    network_settings: dict[str, Any] | None = None
    mounts: tuple[dict[str, Any], ...] = ()
    ports: tuple[dict[str, Any], ...] = ()
    files: dict[str, str] = field(default_factory=dict)

    def to_inspect_json(self) -> dict[str, Any]:
        """``GET /containers/{id}/json``."""
        return {
            "Id": self.id,
            "Created": self.created,
            "Path": self.path,
            "Args": list(self.args),
            "State": self.state.to_json(),
            "Image": self.image_id,
            "ResolvConfPath": self.files.get("resolv.conf", ""),
            "HostnamePath": self.files.get("hostname", ""),
            "HostsPath": self.files.get("hosts", ""),
            "LogPath": self.log_path,
            "Name": "/" + self.name,
            "RestartCount": self.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": list(self.exec_ids) or None,
            "HostConfig": self.host_config.to_json(),
            "GraphDriver": {"Name": "overlay2", "Data": None},
            "Mounts": list(self.mounts),
            "Config": self.config.to_json(),
            "NetworkSettings": self.network_settings
            or _network_settings(self.host_config.network_mode),
        }

    def to_summary_json(self) -> dict[str, Any]:
        """One entry of ``GET /containers/json``."""
        command = " ".join([self.path, *self.args]).strip()
        out: dict[str, Any] = {
            "Id": self.id,
            "Names": ["/" + self.name],
            "Image": self.config.image,
            "ImageID": self.image_id,
            "Command": command,
            "Created": self.created_unix,
            "Ports": list(self.ports),
            "Labels": dict(self.config.labels),
            "State": self.state.status,
            "Status": self.status_text,
            "HostConfig": {"NetworkMode": self.host_config.network_mode},
            "NetworkSettings": {
                "Networks": (
                    self.network_settings or _network_settings(self.host_config.network_mode)
                )["Networks"]
            },
            "Mounts": list(self.mounts),
        }
        if self.size_rw is not None:
            out["SizeRw"] = self.size_rw
        return out


def _network_settings(mode: str) -> dict[str, Any]:
    name = "none" if mode == "none" else "bridge"
    endpoint = {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "",
        "DriverOpts": None,
    }
    return {
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": {},
        "SandboxKey": "",
        "IPAddress": "",
        "Gateway": "",
        "MacAddress": "",
        "Networks": {name: endpoint},
    }


@dataclass(frozen=True)
class WaitResult:
    """Body of ``POST /containers/{id}/wait``."""

    status_code: int
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Wire form (``Error`` is null on success)."""
        return {
            "Error": None if self.error is None else {"Message": self.error},
            "StatusCode": self.status_code,
        }


@dataclass(frozen=True)
class Change:
    """One entry of ``GET /containers/{id}/changes``: Kind 0 modified, 1 added, 2 deleted."""

    path: str
    kind: int

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {"Path": self.path, "Kind": self.kind}


@dataclass(frozen=True)
class PathStat:
    """``X-Docker-Container-Path-Stat`` of the archive endpoints (``mode``: Go FileMode bits)."""

    name: str
    size: int
    mode: int
    mtime: str
    link_target: str = ""

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "name": self.name,
            "size": self.size,
            "mode": self.mode,
            "mtime": self.mtime,
            "linkTarget": self.link_target,
        }


@dataclass(frozen=True)
class TopResult:
    """Body of ``GET /containers/{id}/top``."""

    titles: tuple[str, ...]
    processes: tuple[tuple[str, ...], ...]

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {"Titles": list(self.titles), "Processes": [list(p) for p in self.processes]}


@dataclass(frozen=True)
class ContainerUpdate:
    """A validated ``POST /containers/{id}/update`` body: only the fields present change."""

    resources: Resources
    present: frozenset[str]
    restart_policy: RestartPolicy | None = None

    @classmethod
    def from_json(cls, data: object) -> ContainerUpdate:
        """Parse the update body.

        Raises:
            InvalidArgument: not an object or a field invalid.
        """
        if not isinstance(data, dict):
            raise InvalidArgument("container update: expected a JSON object")
        # As Docker: a zero or empty value leaves the field as it is (the CLI sends every
        # field); only PidsLimit, when given, is taken whatever its value.
        present = frozenset(
            attr
            for wire, attr in RESOURCE_WIRE_NAMES.items()
            if data.get(wire) is not None and (wire == "PidsLimit" or data[wire] not in (0, ""))
        )
        restart = data.get("RestartPolicy")
        return cls(
            resources=Resources.from_json(data, prefix=""),
            present=present,
            restart_policy=None
            if restart is None
            else RestartPolicy.from_json(
                get_obj(data, "RestartPolicy", "RestartPolicy"), "RestartPolicy."
            ),
        )
