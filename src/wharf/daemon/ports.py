"""What the daemon needs from the layers below: the engine runtime and the image store.

``Runtime`` is the part of ``wharf.runtime.engine.Runtime`` the services use (its
``WharfRuntime`` and ``OCIBinaryRuntime`` satisfy it as they are). ``ImageStore`` is the image
service in the daemon's own terms (plain values); ``imagestore.ImageStoreAdapter`` implements it
over ``wharf.images.ImageService``. The services are written against these Protocols, so they are
unit-tested with fakes, and ``assemble.py`` hands in the real implementations.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from wharf.apitypes import Change, HistoryEntry, ImageDeleteItem
from wharf.mount import Mount
from wharf.runtime.engine import CgroupStats, ContainerIO

__all__ = [
    "ContainerIO",
    "ExecStateView",
    "ImageRecord",
    "ImageStore",
    "Runtime",
    "RuntimeState",
]


class RuntimeState(Protocol):
    """The runtime's view of one container."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str:
        """created, running, paused or stopped."""
        ...

    @property
    def pid(self) -> int: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def oom_killed(self) -> bool: ...
    @property
    def started_at(self) -> str | None: ...
    @property
    def finished_at(self) -> str | None: ...
    @property
    def error(self) -> str: ...


class ExecStateView(Protocol):
    """The runtime's view of one exec'd process."""

    @property
    def pid(self) -> int: ...
    @property
    def running(self) -> bool: ...
    @property
    def exit_code(self) -> int | None: ...


class Runtime(Protocol):
    """The engine-facing runtime (see ``wharf.runtime.engine``)."""

    def create(
        self,
        container_id: str,
        *,
        bundle_dir: str,
        spec: dict[str, Any],
        rootfs: Sequence[Mount],
        io: ContainerIO,
    ) -> RuntimeState: ...

    def start(self, container_id: str) -> None: ...

    def state(self, container_id: str) -> RuntimeState: ...

    def list(self) -> Sequence[RuntimeState]: ...

    def kill(self, container_id: str, signal: int, *, all: bool = False) -> None: ...

    def pause(self, container_id: str) -> None: ...

    def resume(self, container_id: str) -> None: ...

    def delete(self, container_id: str, *, force: bool = False) -> None: ...

    def update(self, container_id: str, resources: dict[str, Any]) -> None: ...

    def stats(self, container_id: str) -> CgroupStats: ...

    def exit_fd(self, container_id: str) -> int: ...

    def attach_path(self, container_id: str) -> str: ...

    def resize(self, container_id: str, height: int, width: int) -> None: ...

    def exec(
        self,
        container_id: str,
        exec_id: str,
        *,
        process: dict[str, Any],
        io: ContainerIO,
        start: bool = True,
    ) -> ExecStateView: ...

    def exec_start(self, container_id: str, exec_id: str) -> None: ...

    def exec_state(self, container_id: str, exec_id: str) -> ExecStateView: ...

    def exec_exit_fd(self, container_id: str, exec_id: str) -> int: ...

    def exec_attach_path(self, container_id: str, exec_id: str) -> str: ...

    def exec_delete(self, container_id: str, exec_id: str) -> None: ...

    def exec_resize(self, container_id: str, exec_id: str, height: int, width: int) -> None: ...


@dataclass(frozen=True)
class ImageRecord:
    """What the daemon needs of an image.

    Attributes:
        id: ``sha256:<config digest>``.
        repo_tags: familiar references (``busybox:latest``).
        repo_digests: ``name@sha256:...``.
        created: RFC 3339.
        size: bytes of the unpacked layers.
        config: the image config's ``config`` object (Cmd, Entrypoint, Env, WorkingDir, User...).
        layers: the rootfs diff ids.
    """

    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    created: str = "0001-01-01T00:00:00Z"
    size: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    architecture: str = "amd64"
    os: str = "linux"
    layers: tuple[str, ...] = ()
    parent: str = ""
    comment: str = ""
    author: str = ""


class ImageStore(Protocol):
    """The image service, as the daemon uses it (synchronous; run off the event loop if slow)."""

    def resolve(self, ref: str) -> ImageRecord:
        """An image by reference, full id or id prefix; NotFound otherwise."""
        ...

    def list(self) -> builtins.list[ImageRecord]: ...

    def history(self, ref: str) -> builtins.list[HistoryEntry]: ...

    def tag(self, ref: str, new_ref: str) -> None: ...

    def remove(self, ref: str, *, force: bool, prune: bool) -> builtins.list[ImageDeleteItem]: ...

    def load(self, stream: IO[bytes]) -> builtins.list[str]:
        """Load a docker-save or OCI archive; returns the loaded references (or ids)."""
        ...

    def save(self, refs: Sequence[str], out: IO[bytes]) -> None: ...

    def import_rootfs(
        self, stream: IO[bytes], ref: str | None, changes: Sequence[str], message: str
    ) -> str:
        """Import a rootfs tarball as a one-layer image; returns its id."""
        ...

    def prepare_container(self, container_id: str, image_id: str) -> builtins.list[Mount]:
        """A fresh read-write snapshot over the image for a container."""
        ...

    def container_mounts(self, container_id: str) -> builtins.list[Mount]: ...

    def container_file(self, container_id: str, path: str) -> bytes | None:
        """A regular file of the container's rootfs read from its layers, None if absent.

        Raises:
            ValueError: a symbolic link on the way (mount the rootfs to resolve it).
        """
        ...

    def remove_container(self, container_id: str) -> None: ...

    def changes(self, container_id: str) -> builtins.list[Change]: ...

    def commit(
        self,
        container_id: str,
        *,
        ref: str | None,
        config: dict[str, Any],
        author: str,
        message: str,
    ) -> str:
        """A new image from the container's rw layer with ``config``; returns its id."""
        ...

    def export_container(self, container_id: str, out: IO[bytes]) -> None: ...

    def prune(self, *, dangling_only: bool, in_use: set[str]) -> tuple[builtins.list[str], int]: ...

    def usage(self) -> int:
        """Bytes used by layers."""
        ...
