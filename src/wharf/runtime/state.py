"""Container state on disk: one directory per container under the runtime's ``--root``.

Layout (runc's, so tools find what they expect)::

    ROOT/ID/state.json   the Record, written atomically (temp file + fsync + rename)
    ROOT/ID/exec.fifo    exists while the container is "created"; ``start`` writes to it

The status is never stored: it is derived from the live process (identified by pid *and*
start time, so a recycled pid is not mistaken for the container), the fifo and the
freezer, as the runtime-spec's ``state`` operation requires.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from wharf.errors import AlreadyExists, DataLoss, InvalidArgument, NotFound

__all__ = [
    "OCI_VERSION",
    "Record",
    "StateStore",
    "Status",
    "process_start_time",
    "validate_id",
]

OCI_VERSION: Final = "1.0.2"
_ID: Final = re.compile(r"^[\w+\-.]{1,1024}$")


class Status(StrEnum):
    """The runtime-spec's container statuses."""

    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


def validate_id(container_id: str) -> str:
    """Raises InvalidArgument unless ``container_id`` is a safe directory name."""
    if not _ID.match(container_id) or container_id in (".", ".."):
        raise InvalidArgument(
            f"container id {container_id!r}: must be letters, digits, '_', '+', '-' or '.'"
        )
    return container_id


def process_start_time(pid: int) -> int:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat); 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(data[data.rindex(b")") + 2 :].split()[19])


@dataclass(frozen=True)
class Record:
    """What the runtime remembers about a container.

    Attributes:
        config: the validated config.json object (hooks and the seccomp/capabilities that
            ``exec`` reuses are read from it later).
        start_time: pid 1's start time (see :func:`process_start_time`).
        cgroups_path: the cgroup path the container was put in ("" if none).
    """

    id: str
    pid: int
    start_time: int
    bundle: str
    rootfs: str
    created: str
    cgroups_path: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pid": self.pid,
            "start_time": self.start_time,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "cgroups_path": self.cgroups_path,
            "annotations": dict(self.annotations),
            "config": dict(self.config),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Record:
        return cls(
            id=str(obj["id"]),
            pid=int(obj["pid"]),
            start_time=int(obj["start_time"]),
            bundle=str(obj["bundle"]),
            rootfs=str(obj["rootfs"]),
            created=str(obj["created"]),
            cgroups_path=str(obj.get("cgroups_path", "")),
            annotations=dict(obj.get("annotations", {})),
            config=dict(obj.get("config", {})),
        )

    def alive(self) -> bool:
        """pid 1 still runs (same pid, same start time) and is not a zombie."""
        if self.pid <= 0 or process_start_time(self.pid) != self.start_time:
            return False
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return False
        return data[data.rindex(b")") + 2 :][:1] not in (b"Z", b"X")

    def oci_state(self, status: Status) -> dict[str, Any]:
        """The runtime-spec ``state`` object (plus runc's extra fields)."""
        return {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "status": status.value,
            "pid": self.pid if status not in (Status.STOPPED,) else 0,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": "",
            "annotations": dict(self.annotations),
        }


class StateStore:
    """The ``--root`` directory: one subdirectory per container."""

    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, container_id: str) -> str:
        return os.path.join(self.root, validate_id(container_id))

    def fifo(self, container_id: str) -> str:
        return os.path.join(self.path(container_id), "exec.fifo")

    def reserve(self, container_id: str) -> str:
        """Create the container's directory; AlreadyExists if the id is taken."""
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        path = self.path(container_id)
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise AlreadyExists(f"container {container_id}: already exists") from None
        return path

    def save(self, record: Record) -> None:
        """Write ``state.json`` atomically."""
        path = os.path.join(self.path(record.id), "state.json")
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, json.dumps(record.to_json()).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)

    def load(self, container_id: str) -> Record:
        path = os.path.join(self.path(container_id), "state.json")
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise NotFound(f"container {container_id}: does not exist") from None
        try:
            return Record.from_json(json.loads(data))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataLoss(f"container {container_id}: state.json is corrupt: {exc}") from None

    def remove(self, container_id: str) -> None:
        import shutil  # only delete needs it: ~7 ms (bz2, lzma) off every CLI start

        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.path(container_id))

    def ids(self) -> list[str]:
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        return [n for n in names if os.path.exists(os.path.join(self.root, n, "state.json"))]

    def status(self, record: Record, *, frozen: bool = False) -> Status:
        """The live status of ``record``'s container (``frozen``: its freezer says so)."""
        if not record.alive():
            return Status.STOPPED
        if os.path.exists(self.fifo(record.id)):
            return Status.CREATED
        return Status.PAUSED if frozen else Status.RUNNING
