"""System wire types: version, info, events, disk usage and prune reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wharf.apitypes.common import API_VERSION, MIN_API_VERSION

__all__ = ["DiskUsage", "Event", "PruneReport", "SystemInfo", "VersionInfo"]


@dataclass(frozen=True)
class VersionInfo:
    """``GET /version``."""

    version: str
    kernel_version: str
    arch: str = "amd64"
    git_commit: str = "wharf"
    build_time: str = ""
    python_version: str = ""

    def to_json(self) -> dict[str, Any]:
        """Wire form (``Details`` values are all strings; the Go client requires it)."""
        return {
            "Platform": {"Name": "Wharf Engine"},
            "Components": [
                {
                    "Name": "Engine",
                    "Version": self.version,
                    "Details": {
                        "ApiVersion": API_VERSION,
                        "MinAPIVersion": MIN_API_VERSION,
                        "GitCommit": self.git_commit,
                        "GoVersion": self.python_version,
                        "Os": "linux",
                        "Arch": self.arch,
                        "KernelVersion": self.kernel_version,
                        "Experimental": "false",
                        "BuildTime": self.build_time,
                    },
                }
            ],
            "Version": self.version,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": self.git_commit,
            "GoVersion": self.python_version,
            "Os": "linux",
            "Arch": self.arch,
            "KernelVersion": self.kernel_version,
            "BuildTime": self.build_time,
        }


@dataclass(frozen=True)
class SystemInfo:
    """``GET /info``: the fields the docker CLI prints (all present, with Go's types)."""

    id: str
    name: str
    server_version: str
    containers: int
    containers_running: int
    containers_paused: int
    containers_stopped: int
    images: int
    docker_root_dir: str
    kernel_version: str
    operating_system: str
    ncpu: int
    mem_total: int
    default_runtime: str
    runtimes: tuple[str, ...]
    architecture: str = "x86_64"
    cgroup_version: str = "1"

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "ID": self.id,
            "Containers": self.containers,
            "ContainersRunning": self.containers_running,
            "ContainersPaused": self.containers_paused,
            "ContainersStopped": self.containers_stopped,
            "Images": self.images,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"]],
            "Plugins": {
                "Volume": ["local"],
                "Network": ["bridge", "host", "null"],
                "Authorization": None,
                "Log": ["json-file"],
            },
            "MemoryLimit": True,
            "SwapLimit": True,
            "CpuCfsPeriod": True,
            "CpuCfsQuota": True,
            "CPUShares": True,
            "CPUSet": True,
            "PidsLimit": True,
            "IPv4Forwarding": True,
            "Debug": False,
            "NFd": 0,
            "NGoroutines": 0,
            "SystemTime": "",
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": self.cgroup_version,
            "NEventsListener": 0,
            "KernelVersion": self.kernel_version,
            "OperatingSystem": self.operating_system,
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": self.architecture,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {
                "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                "IndexConfigs": {},
                "Mirrors": [],
            },
            "NCPU": self.ncpu,
            "MemTotal": self.mem_total,
            "GenericResources": None,
            "DockerRootDir": self.docker_root_dir,
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": self.name,
            "Labels": [],
            "ExperimentalBuild": False,
            "ServerVersion": self.server_version,
            "Runtimes": {name: {"path": name} for name in self.runtimes},
            "DefaultRuntime": self.default_runtime,
            "Swarm": {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": None,
            },
            "LiveRestoreEnabled": True,
            "Isolation": "",
            "InitBinary": "docker-init",
            "SecurityOptions": ["name=seccomp,profile=default"],
            "Warnings": None,
        }


@dataclass(frozen=True)
class Event:
    """One event of ``GET /events``."""

    type: str
    action: str
    actor_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    time_nano: int = 0

    def to_json(self) -> dict[str, Any]:
        """Wire form, with the legacy status/id/from fields for container and image events."""
        out: dict[str, Any] = {}
        if self.type in ("container", "image"):
            out["status"] = self.action
            out["id"] = self.actor_id
            if "image" in self.attributes:
                out["from"] = self.attributes["image"]
        out.update(
            {
                "Type": self.type,
                "Action": self.action,
                "Actor": {"ID": self.actor_id, "Attributes": dict(self.attributes)},
                "scope": "local",
                "time": self.time_nano // 1_000_000_000,
                "timeNano": self.time_nano,
            }
        )
        return out


@dataclass(frozen=True)
class DiskUsage:
    """``GET /system/df`` (images and containers as their list JSON)."""

    layers_size: int
    images: tuple[dict[str, Any], ...]
    containers: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "LayersSize": self.layers_size,
            "Images": list(self.images),
            "Containers": list(self.containers),
            "Volumes": [],
            "BuildCache": [],
        }


@dataclass(frozen=True)
class PruneReport:
    """Result of a prune: removed object ids and reclaimed bytes."""

    deleted: tuple[str, ...]
    space_reclaimed: int
    key: str = "ContainersDeleted"
    image_items: tuple[dict[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Wire form (``ContainersDeleted`` or ``ImagesDeleted``)."""
        if self.key == "ImagesDeleted":
            return {
                "ImagesDeleted": list(self.image_items) or None,
                "SpaceReclaimed": self.space_reclaimed,
            }
        return {self.key: list(self.deleted) or None, "SpaceReclaimed": self.space_reclaimed}
