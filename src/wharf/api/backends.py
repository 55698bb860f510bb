"""The narrow Protocols the routers need (moby's ``router/*/backend.go``).

The daemon's services satisfy these structurally; the API imports nothing of the daemon. Every
method raises :mod:`wharf.errors` kinds (NotFound for unknown references, Conflict for bad
states, NotModified for no-op start/stop, InvalidArgument for bad values). Methods that only
touch memory are synchronous; those that wait or stream are ``async``.

Streams: a long response is an :class:`ByteStream` (its ``tty`` flag tells whether the bytes are
raw or stdcopy-framed). A hijacked connection (attach, exec start) is handed to a
:class:`Session`, which has the API answer ``101 UPGRADED`` once it is ready to pump, and
pumps over the connection as a :class:`HijackedConn`.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from wharf.apitypes import (
    Change,
    ContainerCreate,
    ContainerView,
    DiskUsage,
    Event,
    ExecConfig,
    ExecView,
    Filters,
    HistoryEntry,
    ImageDeleteItem,
    ImageView,
    PathStat,
    PruneReport,
    SystemInfo,
    TopResult,
    VersionInfo,
    WaitResult,
)
from wharf.apitypes.containers import ContainerUpdate
from wharf.apitypes.stats import StatsSample

__all__ = [
    "AttachOptions",
    "Backends",
    "BuildRequest",
    "BuilderBackend",
    "ByteStream",
    "ContainerBackend",
    "ExecBackend",
    "HijackedConn",
    "ImageBackend",
    "LogOptions",
    "NetworkBackend",
    "Session",
    "SystemBackend",
    "VolumeBackend",
]


@dataclass(frozen=True)
class ByteStream:
    """A streamed response body: raw when ``tty`` else stdcopy frames (logs, archive, save)."""

    chunks: AsyncIterator[bytes]
    tty: bool = False


@dataclass(frozen=True)
class LogOptions:
    """Query of ``GET /containers/{id}/logs`` (``tail`` < 0 means all; times in unix seconds)."""

    stdout: bool
    stderr: bool
    follow: bool = False
    since: float = 0.0
    until: float = 0.0
    tail: int = -1
    timestamps: bool = False


@dataclass(frozen=True)
class AttachOptions:
    """Query of ``POST /containers/{id}/attach``."""

    stdin: bool
    stdout: bool
    stderr: bool
    stream: bool = True
    logs: bool = False
    detach_keys: str = ""


class HijackedConn(Protocol):
    """The client's side of a hijacked connection, after ``101 UPGRADED``."""

    async def read(self) -> bytes:
        """The next bytes from the client; ``b""`` once it half-closed or went away."""
        ...

    async def write(self, data: bytes) -> None:
        """Send bytes; raises ConnectionError when the client is gone."""
        ...

    @property
    def closed(self) -> bool:
        """True once the client disconnected entirely."""
        ...

    def close(self) -> None:
        """Close the connection (the API does, once the session is done)."""
        ...


class Session(Protocol):
    """An attach or exec-start stream the backend pumps over a hijacked connection."""

    @property
    def tty(self) -> bool:
        """Raw bytes (terminal) or stdcopy frames."""
        ...

    async def run(self, upgrade: Callable[[], Awaitable[HijackedConn]]) -> None:
        """Connect to the process's streams, then ``upgrade()`` the client's connection and
        pump until the process's output ends, the client detaches or disconnects.

        The order matters: a client may start the process as soon as it reads ``101
        UPGRADED`` (the docker CLI's ``run`` does), and must still get all its output.
        """
        ...


class SystemBackend(Protocol):
    """``/_ping``, ``/version``, ``/info``, ``/events``, ``/system/df``."""

    def version(self) -> VersionInfo: ...

    def info(self) -> SystemInfo: ...

    async def disk_usage(self) -> DiskUsage: ...

    def events(
        self, *, since: float | None, until: float | None, filters: Filters
    ) -> AsyncIterator[Event]:
        """Past events from ``since``, then live ones until ``until`` (None: forever)."""
        ...


class ContainerBackend(Protocol):
    """The container verbs; ``ref`` is a full id, a unique id prefix or a name."""

    def create(self, spec: ContainerCreate, *, name: str | None) -> tuple[str, builtins.list[str]]:
        """Create; returns ``(id, warnings)``."""
        ...

    def start(self, ref: str) -> None: ...

    async def stop(self, ref: str, *, timeout: int | None) -> None: ...

    async def restart(self, ref: str, *, timeout: int | None) -> None: ...

    def kill(self, ref: str, *, signal: str) -> None: ...

    def pause(self, ref: str) -> None: ...

    def unpause(self, ref: str) -> None: ...

    def wait(self, ref: str, *, condition: str) -> Awaitable[WaitResult]:
        """Resolve ``ref`` now (raising NotFound at once) and return the wait to await."""
        ...

    def inspect(self, ref: str, *, size: bool = False) -> ContainerView: ...

    def list(
        self, *, all: bool, limit: int, size: bool, filters: Filters
    ) -> builtins.list[ContainerView]: ...

    def rename(self, ref: str, new_name: str) -> None: ...

    def update(self, ref: str, update: ContainerUpdate) -> builtins.list[str]: ...

    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None: ...

    async def changes(self, ref: str) -> builtins.list[Change]: ...

    def export(self, ref: str) -> ByteStream: ...

    async def archive_stat(self, ref: str, path: str) -> PathStat: ...

    async def archive_get(self, ref: str, path: str) -> tuple[PathStat, ByteStream]: ...

    async def archive_put(
        self, ref: str, path: str, body: AsyncIterator[bytes], *, no_overwrite_dir_non_dir: bool
    ) -> None: ...

    def logs(self, ref: str, options: LogOptions) -> ByteStream: ...

    def attach(self, ref: str, options: AttachOptions) -> Session: ...

    def resize(self, ref: str, *, height: int, width: int) -> None: ...

    async def top(self, ref: str, ps_args: str) -> TopResult: ...

    async def prune(self, filters: Filters) -> PruneReport: ...

    def stats(
        self, ref: str, *, stream: bool, one_shot: bool = False
    ) -> AsyncIterator[StatsSample]:
        """Resolve ``ref`` now; then one sample (or one a second while ``stream``); a
        ``one_shot`` sample does not wait for a previous CPU reading."""
        ...


class ExecBackend(Protocol):
    """``/containers/{id}/exec`` and ``/exec/{id}/...``."""

    def create(self, ref: str, config: ExecConfig) -> str: ...

    def start(self, exec_id: str, *, detach: bool, tty: bool) -> Session | None:
        """Start; a Session to hijack unless ``detach``."""
        ...

    def resize(self, exec_id: str, *, height: int, width: int) -> None: ...

    def inspect(self, exec_id: str) -> ExecView: ...


class ImageBackend(Protocol):
    """``/images/...``, ``/commit``; ``ref`` is a reference, a full id or an id prefix."""

    def list(self, *, all: bool, filters: Filters) -> builtins.list[ImageView]: ...

    def inspect(self, ref: str) -> ImageView: ...

    def history(self, ref: str) -> builtins.list[HistoryEntry]: ...

    def tag(self, ref: str, *, repo: str, tag: str) -> None: ...

    async def remove(
        self, ref: str, *, force: bool, prune: bool
    ) -> builtins.list[ImageDeleteItem]: ...

    def save(self, refs: builtins.list[str]) -> ByteStream: ...

    async def load(self, body: AsyncIterator[bytes]) -> builtins.list[str]:
        """Load an archive; returns the ``Loaded image: ...`` lines."""
        ...

    async def import_image(
        self,
        body: AsyncIterator[bytes],
        *,
        repo: str,
        tag: str,
        changes: builtins.list[str],
        message: str,
    ) -> str:
        """Import a rootfs tarball; returns the new image id."""
        ...

    async def pull(self, ref: str, *, tag: str) -> builtins.list[str]:
        """``POST /images/create?fromImage``: status lines, or NotFound."""
        ...

    async def commit(
        self,
        container: str,
        *,
        repo: str,
        tag: str,
        author: str,
        message: str,
        changes: builtins.list[str],
        pause: bool,
    ) -> str: ...

    async def prune(self, *, dangling_only: bool, filters: Filters) -> PruneReport: ...


class DistributionBackend(Protocol):
    """Registries: pull, push, login, distribution inspect, search. ``auth`` is the raw
    ``X-Registry-Auth`` header. Streams raise before their first message for errors that
    deserve a plain HTTP status."""

    def pull(self, from_image: str, *, tag: str, auth: str) -> AsyncIterator[dict[str, Any]]: ...

    def push(self, name: str, *, tag: str, auth: str) -> AsyncIterator[dict[str, Any]]: ...

    async def login(self, body: Any) -> dict[str, Any]: ...

    async def inspect(self, name: str, *, auth: str) -> dict[str, Any]: ...

    async def search(
        self, term: str, *, limit: int, auth: str
    ) -> builtins.list[dict[str, Any]]: ...


@dataclass(frozen=True)
class BuildRequest:
    """``POST /build`` (classic builder) query parameters."""

    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str | None] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    no_cache: bool = False
    quiet: bool = False
    rm: bool = True
    force_rm: bool = False
    target: str = ""
    network_mode: str = ""
    cache_from: tuple[str, ...] = ()


class BuilderBackend(Protocol):
    """``POST /build``: the messages of Docker's JSON build stream. Errors raised before the
    first message (bad context, unparsable Dockerfile) become plain HTTP errors."""

    def build(
        self, body: AsyncIterator[bytes], request: BuildRequest
    ) -> AsyncGenerator[dict[str, Any], None]: ...


class NetworkBackend(Protocol):
    """``/networks`` (JSON objects as the Engine API shows them)."""

    def create(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def inspect(self, ref: str) -> dict[str, Any]: ...

    def list(self, filters: Filters) -> builtins.list[dict[str, Any]]: ...

    def remove(self, ref: str) -> None: ...

    def prune(self) -> builtins.list[str]: ...

    def connect(self, ref: str, container: str, aliases: builtins.list[str]) -> None: ...

    def disconnect(self, ref: str, container: str, *, force: bool) -> None: ...


class VolumeBackend(Protocol):
    """``/volumes`` (JSON objects as the Engine API shows them)."""

    def create(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def inspect(self, name: str) -> dict[str, Any]: ...

    def list(self, filters: Filters) -> dict[str, Any]: ...

    def remove(self, name: str, *, force: bool) -> None: ...

    def prune(self, filters: Filters) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Backends:
    """Everything the routers are built over (handed in by ``daemon/assemble.py``)."""

    system: SystemBackend
    containers: ContainerBackend
    execs: ExecBackend
    images: ImageBackend
    distribution: DistributionBackend | None = None
    builds: BuilderBackend | None = None

    networks: NetworkBackend | None = None
    volumes: VolumeBackend | None = None
