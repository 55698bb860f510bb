"""What the engine asks a monitor, and how errors cross the process boundary.

:class:`LaunchRequest` is the JSON message the engine sends (through the zygote or straight
to an idle monitor); errors come back as ``{"kind": <wharf.errors kind name>, "message"}``
and are raised again on the engine side from :data:`ERROR_KINDS`. Failures of a
runc-compatible binary are mapped to the same kinds from its JSON log. :func:`warm_up`
runs a launch's pure code paths once in the zygote, before it forks monitors.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
from dataclasses import dataclass, replace
from typing import Any, Final

from wharf.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    WharfError,
)
from wharf.mount import Mount
from wharf.runtime._engine_state import STATE_FILE, now_rfc3339, process_start_time, read_json
from wharf.runtime._engine_types import ContainerIO
from wharf.runtime.cgroups import Resources
from wharf.runtime.config import plan_container
from wharf.runtime.launch import prepare_security
from wharf.runtime.rootfs import secure_join
from wharf.runtime.spec import Spec

__all__ = [
    "ERROR_KINDS",
    "MAX_REQUEST",
    "LaunchRequest",
    "binary_cgroup",
    "binary_error",
    "error_kind",
    "last_error",
    "parse_request",
    "roomy",
    "warm_up",
]

ERROR_KINDS: Final[dict[str, type[WharfError]]] = {
    k.__name__: k
    for k in (
        AlreadyExists,
        Conflict,
        FailedPrecondition,
        InvalidArgument,
        NotFound,
        PermissionDenied,
        Unavailable,
        WharfError,
    )
}


# The largest request message (:meth:`LaunchRequest.encode`): one datagram on the engine's
# sockets to the zygote, a slot's monitor and its pid 1, whose send buffers are made this
# big (:func:`roomy`); with a few bytes of tag on top.
MAX_REQUEST: Final = 4 << 20
_SO_SNDBUFFORCE: Final = 32  # Linux; not in Python's socket module


def roomy(sock: socket.socket) -> None:
    """Let ``sock`` send a :data:`MAX_REQUEST` datagram: the default send buffer (~200 KB)
    refused bigger requests (EMSGSIZE). Root may raise it over ``wmem_max``; others get
    what the kernel allows."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_SNDBUFFORCE, MAX_REQUEST)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_REQUEST)


@dataclass(frozen=True)
class LaunchRequest:
    """What the engine asks the zygote for: one container or one exec, as JSON."""

    kind: str  # "container" | "exec"
    container_id: str
    exec_id: str
    state_dir: str  # this container's or exec's own state directory
    container_dir: str  # the container's state directory (== state_dir for a container)
    bundle_dir: str
    spec: dict[str, Any]  # a container's whole spec; an exec's {"process": ...}
    rootfs_mounts: tuple[Mount, ...]
    io: ContainerIO
    binary: str = ""  # "" for the native fast path, else a runc-compatible binary
    binary_root: str = ""
    start_now: bool = False  # an exec started at once (else at the "start" control op)

    def slim(self) -> LaunchRequest:
        """This request as a pool slot's monitor reads it: of the spec only the
        annotations and the cgroup (``linux.cgroupsPath`` and ``linux.resources``), no
        rootfs Mounts; the rest is its pid 1's to read."""
        spec: dict[str, Any] = {}
        if self.spec.get("annotations"):
            spec["annotations"] = self.spec["annotations"]
        linux = self.spec.get("linux")
        if isinstance(linux, dict):
            spec["linux"] = {k: linux[k] for k in ("cgroupsPath", "resources") if k in linux}
        return replace(self, spec=spec, rootfs_mounts=())

    def encode(self) -> bytes:
        """The message: the slim request's JSON, a newline, the whole request's JSON (a
        reader parses only the part it needs; :func:`parse_request`)."""
        slim = json.dumps(self.slim().to_json()).encode()
        return slim + b"\n" + json.dumps(self.to_json()).encode()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "container_id": self.container_id,
            "exec_id": self.exec_id,
            "state_dir": self.state_dir,
            "container_dir": self.container_dir,
            "bundle_dir": self.bundle_dir,
            "spec": self.spec,
            "rootfs_mounts": [
                [m.type, m.source, list(m.options), m.target] for m in self.rootfs_mounts
            ],
            "io": self.io.to_json(),
            "binary": self.binary,
            "binary_root": self.binary_root,
            "start_now": self.start_now,
        }

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> LaunchRequest:
        return cls(
            kind=v["kind"],
            container_id=v["container_id"],
            exec_id=v["exec_id"],
            state_dir=v["state_dir"],
            container_dir=v["container_dir"],
            bundle_dir=v["bundle_dir"],
            spec=v["spec"],
            rootfs_mounts=tuple(Mount(t, s, tuple(o), g) for t, s, o, g in v["rootfs_mounts"]),
            io=ContainerIO.from_json(v["io"]),
            binary=v["binary"],
            binary_root=v["binary_root"],
            start_now=v["start_now"],
        )


def binary_cgroup(req: LaunchRequest) -> str:
    if req.kind == "exec":
        state = read_json(os.path.join(req.container_dir, STATE_FILE)) or {}
        return str(state.get("cgroup", ""))
    path = (req.spec.get("linux") or {}).get("cgroupsPath") or f"/wharf/{req.container_id}"
    return str(path)


def last_error(log_file: str) -> str:
    """The last error message a runc-compatible binary wrote to its JSON ``--log``."""
    message = ""
    with contextlib.suppress(FileNotFoundError), open(log_file, "rb") as f:
        for line in f:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("level") in ("error", "fatal"):
                    message = str(entry.get("msg", ""))
    return message


def binary_error(req: LaunchRequest, message: str) -> WharfError:
    """Map a runc-style failure message to an error kind (127/126 cases for the engine)."""
    text = message.lower()
    name = f"{os.path.basename(req.binary)} {req.kind} {req.exec_id or req.container_id}"
    if "executable file not found" in text or "no such file or directory" in text:
        return NotFound(f"{name}: {message}")
    if "permission denied" in text or "is a directory" in text:
        return PermissionDenied(f"{name}: {message}")
    return FailedPrecondition(f"{name}: {message}")


_WARM_CAPS: Final = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"]
_WARM_SPEC: Final[dict[str, Any]] = {
    "ociVersion": "1.0.2",
    "root": {"path": "/"},
    "process": {
        "args": ["true"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0},
        "capabilities": {k: _WARM_CAPS for k in ("bounding", "effective", "permitted")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "hostname": "warm",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
    ],
    "linux": {
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        "resources": {"memory": {"limit": 1 << 30}, "pids": {"limit": 100}},
        "maskedPaths": ["/proc/kcore"],
        "readonlyPaths": ["/proc/sys"],
    },
}


def warm_up() -> None:
    """Run a launch's pure code paths once on a sample, in the zygote before it forks
    monitors: the pages this specialises and fills are then shared, not copied per monitor,
    and no request waits for them."""
    with contextlib.suppress(WharfError, OSError):
        spec = Spec.from_json(json.loads(json.dumps(_WARM_SPEC)))
        plan = plan_container(spec, container_id="warm", bundle="/")
        prepare_security(plan.process, plan.seccomp)
        # The clone child's path resolution (lstat only), as it resolves mount targets.
        secure_join("/", "/proc/self/../sys/fs/cgroup")
        Resources.from_spec(plan.resources)
        req = LaunchRequest("container", "warm", "", "/", "/", "/", _WARM_SPEC, (), ContainerIO())
        LaunchRequest.from_json(json.loads(json.dumps(req.to_json())))
        selectors.DefaultSelector().close()
        process_start_time(os.getpid())
        now_rfc3339()
    with contextlib.suppress(WharfError, OSError):
        # Docker's default seccomp profile for Docker's default capabilities, what most
        # containers of the daemon ask for: compiled once here (~20 ms), then every launch
        # finds the filter in the cache it inherits (~0.3 ms).
        from wharf.runtime.capabilities import DOCKER_DEFAULT
        from wharf.runtime.seccomp import compile_filter, default_profile

        compile_filter(default_profile(DOCKER_DEFAULT))


def error_kind(exc: BaseException) -> str:
    """The name of the ``wharf.errors`` kind ``exc`` is (FailedPrecondition if none)."""
    for cls in type(exc).__mro__:
        if cls.__module__ == "wharf.errors" and cls is not WharfError:
            return cls.__name__
    return "FailedPrecondition"


def parse_request(msg: bytes, fds: list[int], *, whole: bool = True) -> LaunchRequest | None:
    """The request in ``msg`` (:meth:`LaunchRequest.encode`; its reply socket is
    ``fds[0]``): whole, or slim. None when there is none (the engine closed) or, after
    answering ``InvalidArgument`` on the reply fd, when it is malformed."""
    if not msg or not fds:
        return None
    slim, _, body = msg.partition(b"\n")
    try:
        return LaunchRequest.from_json(json.loads(body if whole else slim))
    except (ValueError, KeyError, TypeError) as exc:
        for fd in fds:
            reply = socket.socket(fileno=fd)
            with contextlib.suppress(OSError):
                reply.send(json.dumps({"kind": "InvalidArgument", "message": str(exc)}).encode())
            reply.close()
        return None
