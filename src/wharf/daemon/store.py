"""The container store: one atomic JSON record per container under ``<data-root>/containers``.

Layout: ``containers/<id>/config.v2.json`` (this record), ``containers/<id>/<id>-json.log`` (the
json-file log the runtime's monitor writes) and ``containers/<id>/bundle`` (the OCI bundle).
Every record is replaced atomically (temp file + rename), so a daemon crash leaves the old record
or the new one. What a restart could not reconstruct is also *durable* (:func:`write_durably`:
the temp file fsynced before the rename, the directory after), so it survives a power loss:
a new container (its directory entry too), a name, an update, a stop by the user, the intent to
remove. The transitions that mirror the runtime's own on-disk state (running with a pid, the
exit code, the removal of an AutoRemove container) are only atomic: ``ContainerService.restore``
rebuilds them from the runtime, the way dockerd rebuilds them from containerd. That keeps the
fsyncs (0.3 ms on a quiet disk, 5-10 ms when it is busy) off most of ``docker run --rm``'s path:
its create is durable, its start, exit and removal are not.
Names, ids and prefixes are resolved here (Docker's order: full id, exact name, unique prefix).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from wharf.apitypes import ContainerCreate
from wharf.errors import Conflict, DataLoss, InvalidArgument, NotFound

__all__ = [
    "ZERO_TIME",
    "ContainerRecord",
    "ContainerStore",
    "fsync_dir",
    "write_atomically",
    "write_durably",
]

ZERO_TIME: Final = "0001-01-01T00:00:00Z"
_RECORD: Final = "config.v2.json"


def fsync_dir(path: Path) -> None:
    """fsync a directory, making the entries created, renamed or removed in it durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``data`` (temp file + rename): a crash leaves old or new bytes.

    ``fsync`` flushes the temp file before the rename (the directory is left to the caller).
    """
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that even after a power loss it holds the old or the
    new bytes: temp file fsynced, renamed into place, directory fsynced."""
    write_atomically(path, data, fsync=True)
    fsync_dir(path.parent)


@dataclass(frozen=True)
class ContainerRecord:
    """Everything the daemon persists about one container.

    Attributes:
        status: created, running, paused, restarting, exited or dead (Docker's names).
        manually_stopped: stopped by a user (unless-stopped and always do not restart it then).
    """

    id: str
    name: str
    created: str
    spec: ContainerCreate
    image_id: str
    path: str
    args: tuple[str, ...]
    status: str = "created"
    pid: int = 0
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    restart_count: int = 0
    manually_stopped: bool = False
    has_been_started: bool = False
    exec_ids: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """Persisted form (shallow: ``asdict`` would deep-copy the spec only to replace it)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["spec"] = self.spec.to_json()
        data["args"] = list(self.args)
        data["exec_ids"] = list(self.exec_ids)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerRecord:
        """Read a persisted record.

        Raises:
            DataLoss: the record is not one we wrote.
        """
        try:
            values = dict(data)
            values["spec"] = ContainerCreate.from_json(data["spec"])
            values["args"] = tuple(data["args"])
            values["exec_ids"] = tuple(data.get("exec_ids", ()))
            return cls(**values)
        except (KeyError, TypeError, InvalidArgument) as exc:
            raise DataLoss(f"container record: unreadable ({exc})") from exc

    def with_(self, **changes: Any) -> ContainerRecord:
        """A copy with ``changes``."""
        return replace(self, **changes)


class ContainerStore:
    """In-memory index of records, written through to disk."""

    def __init__(self, root: Path) -> None:
        self.root = root / "containers"
        self.root.mkdir(parents=True, exist_ok=True)
        self._by_id: dict[str, ContainerRecord] = {}
        self._names: dict[str, str] = {}

    def load(self) -> list[str]:
        """Read every record on disk; returns the ids of unreadable ones (left in place)."""
        bad: list[str] = []
        for entry in sorted(self.root.iterdir()):
            path = entry / _RECORD
            if not path.is_file():
                continue
            try:
                record = ContainerRecord.from_json(json.loads(path.read_text()))
            except (ValueError, DataLoss):
                bad.append(entry.name)
                continue
            self._by_id[record.id] = record
            self._names[record.name] = record.id
        return bad

    def dir(self, container_id: str) -> Path:
        """The container's directory."""
        return self.root / container_id

    def log_path(self, container_id: str) -> Path:
        """Where the container's json-file log lives."""
        return self.dir(container_id) / f"{container_id}-json.log"

    def reserve(self, record: ContainerRecord) -> None:
        """Add a new record, claiming its name.

        Raises:
            Conflict: the name is taken.
        """
        owner = self._names.get(record.name)
        if owner is not None:
            raise Conflict(
                f'Conflict. The container name "/{record.name}" is already in use by container '
                f'"{owner}". You have to remove (or rename) that container to be able to reuse '
                "that name."
            )
        directory = self.dir(record.id)
        directory.mkdir(parents=True)
        self._names[record.name] = record.id
        self._by_id[record.id] = record
        # A new record has no old version to protect: written in place, then the file, its
        # directory and the new directory's entry are fsynced, in that order (on ext4 the
        # first fsync commits all three, and the other two find nothing left to do).
        fd = os.open(
            directory / _RECORD, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600
        )
        try:
            view = memoryview(json.dumps(record.to_json()).encode())
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(directory)
        fsync_dir(self.root)

    def save(self, record: ContainerRecord, *, durable: bool = True) -> None:
        """Replace the record atomically on disk; ``durable`` (the default) also fsyncs it, for
        state a restart cannot rebuild from the runtime (see the module docstring)."""
        self._by_id[record.id] = record
        data = json.dumps(record.to_json()).encode()
        path = self.dir(record.id) / _RECORD
        if durable:
            write_durably(path, data)
        else:
            write_atomically(path, data)

    def rename(self, container_id: str, new_name: str) -> ContainerRecord:
        """Give a container a new name.

        Raises:
            Conflict: the new name is taken.
        """
        record = self._by_id[container_id]
        if new_name == record.name:
            raise Conflict(
                f"Renaming a container with the same name as its current name: {new_name}"
            )
        if new_name in self._names:
            raise Conflict(
                f'Conflict. The container name "/{new_name}" is already in use by container '
                f'"{self._names[new_name]}". You have to remove (or rename) that container to be '
                "able to reuse that name."
            )
        del self._names[record.name]
        self._names[new_name] = container_id
        updated = record.with_(name=new_name)
        self.save(updated)
        return updated

    def delete(self, container_id: str) -> None:
        """Forget a container and remove its directory."""
        record = self._by_id.pop(container_id, None)
        if record is not None and self._names.get(record.name) == container_id:
            del self._names[record.name]
        # Not fsynced: a container that comes back after a power loss is "removing" (durable
        # intent) or AutoRemove, and restore removes both.
        shutil.rmtree(self.dir(container_id), ignore_errors=True)

    def get(self, ref: str) -> ContainerRecord:
        """Resolve a full id, a name (with or without ``/``) or a unique id prefix.

        Raises:
            NotFound: nothing matches (Docker's ``No such container: ref``).
            InvalidArgument: the prefix is ambiguous.
        """
        if ref in self._by_id:
            return self._by_id[ref]
        name = ref[1:] if ref.startswith("/") else ref
        if name in self._names:
            return self._by_id[self._names[name]]
        if ref:
            hits = [cid for cid in self._by_id if cid.startswith(ref)]
            if len(hits) == 1:
                return self._by_id[hits[0]]
            if len(hits) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def all(self) -> list[ContainerRecord]:
        """Every record, newest first."""
        return sorted(self._by_id.values(), key=lambda r: r.created, reverse=True)

    def name_taken(self, name: str) -> bool:
        """Whether a container has that name."""
        return name in self._names
