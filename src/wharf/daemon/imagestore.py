"""``ImageStoreAdapter``: :class:`wharf.daemon.ports.ImageStore` over ``wharf.images``.

It turns the image service's values (Image, its typed config, history rows, change pairs) into
the daemon's plain values, and the daemon's commit config into Dockerfile-style changes.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from typing import IO, Any, Final, cast

from wharf.apitypes import Change, HistoryEntry, ImageDeleteItem
from wharf.daemon.logs import parse_rfc3339
from wharf.daemon.ports import ImageRecord
from wharf.images import Image, ImageService
from wharf.mount import Mount

_CONFIG_CACHE: Final = 256

__all__ = ["ImageConfigReader", "ImageStoreAdapter", "config_as_changes"]


def config_as_changes(config: dict[str, Any]) -> list[str]:
    """A Docker image ``config`` object as ``--change`` lines that recreate it on commit."""
    out = []
    if config.get("Cmd") is not None:
        out.append("CMD " + json.dumps(config["Cmd"]))
    if config.get("Entrypoint") is not None:
        out.append("ENTRYPOINT " + json.dumps(config["Entrypoint"]))
    for entry in config.get("Env") or ():
        out.append("ENV " + entry)
    if config.get("WorkingDir"):
        out.append("WORKDIR " + config["WorkingDir"])
    if config.get("User"):
        out.append("USER " + config["User"])
    for key, value in (config.get("Labels") or {}).items():
        out.append(f"LABEL {json.dumps(key)}={json.dumps(value)}")
    for port in config.get("ExposedPorts") or {}:
        out.append("EXPOSE " + port)
    for volume in config.get("Volumes") or {}:
        out.append("VOLUME " + json.dumps([volume]))
    if config.get("StopSignal"):
        out.append("STOPSIGNAL " + config["StopSignal"])
    return out


def _record(image: Image) -> ImageRecord:
    cfg = image.config
    return ImageRecord(
        id=str(image.id),
        repo_tags=image.repo_tags,
        repo_digests=image.repo_digests,
        created=cfg.created or "0001-01-01T00:00:00Z",
        size=image.size,
        config=cfg.config.to_json(),
        architecture=cfg.architecture,
        os=cfg.os,
        layers=tuple(str(d) for d in cfg.diff_ids),
        parent=image.parent,
        comment=cfg.history[-1].comment if cfg.history else "",
        author=cfg.author,
    )


class ImageStoreAdapter:
    """The daemon's image store, backed by :class:`wharf.images.ImageService`."""

    def __init__(self, service: ImageService) -> None:
        self.service = service

    def resolve(self, ref: str) -> ImageRecord:
        return _record(self.service.resolve(ref))

    def list(self) -> builtins.list[ImageRecord]:
        return [_record(i) for i in self.service.list()]

    def history(self, ref: str) -> builtins.list[HistoryEntry]:
        return [
            HistoryEntry(
                id=row.id,
                created=int(parse_rfc3339(row.created)),
                created_by=row.created_by,
                size=row.size,
                comment=row.comment,
                tags=row.tags,
            )
            for row in self.service.history(ref)
        ]

    def tag(self, ref: str, new_ref: str) -> None:
        self.service.tag(ref, new_ref)

    def remove(self, ref: str, *, force: bool, prune: bool) -> builtins.list[ImageDeleteItem]:
        out = []
        for kind, value in self.service.remove(ref, force=force, prune_children=prune):
            out.append(
                ImageDeleteItem(untagged=value)
                if kind == "Untagged"
                else ImageDeleteItem(deleted=value)
            )
        return out

    def load(self, stream: IO[bytes]) -> builtins.list[str]:
        return [
            m.removeprefix("Loaded image: ").removeprefix("Loaded image ID: ")
            for m in self.service.load(cast(Any, stream))
        ]

    def save(self, refs: Sequence[str], out: IO[bytes]) -> None:
        self.service.save(refs, cast(Any, out))

    def import_rootfs(
        self, stream: IO[bytes], ref: str | None, changes: Sequence[str], message: str
    ) -> str:
        image = self.service.import_rootfs(cast(Any, stream), ref, changes=changes, message=message)
        return str(image.id)

    def prepare_container(self, container_id: str, image_id: str) -> builtins.list[Mount]:
        return self.service.prepare_container(container_id, image_id)

    def container_mounts(self, container_id: str) -> builtins.list[Mount]:
        return self.service.container_mounts(container_id)

    def container_file(self, container_id: str, path: str) -> bytes | None:
        return self.service.container_file(container_id, path)

    def remove_container(self, container_id: str) -> None:
        self.service.remove_container(container_id)

    def changes(self, container_id: str) -> builtins.list[Change]:
        return [Change(path=path, kind=kind) for kind, path in self.service.changes(container_id)]

    def commit(
        self,
        container_id: str,
        *,
        ref: str | None,
        config: dict[str, Any],
        author: str,
        message: str,
    ) -> str:
        image = self.service.commit(
            container_id,
            ref,
            changes=config_as_changes(config),
            author=author,
            message=message,
        )
        return str(image.id)

    def export_container(self, container_id: str, out: IO[bytes]) -> None:
        self.service.export_container(container_id, cast(Any, out))

    def prune(self, *, dangling_only: bool, in_use: set[str]) -> tuple[builtins.list[str], int]:
        return self.service.prune(dangling_only=dangling_only)

    def usage(self) -> int:
        return self.service.usage().layers_size


class ImageConfigReader(ImageStoreAdapter):
    """The adapter for a service that reads only images' configs by ID (the volume service,
    which looks at an image's ``Volumes`` for every container listed).

    An image ID is the digest of its config, so a config never changes under its ID: the
    record resolved by a full ID is kept (up to 256 of them) and served without reading and
    parsing the config blob again. Tags and sizes in those records may be stale, which is why
    only config readers get this adapter.
    """

    def __init__(self, service: ImageService) -> None:
        super().__init__(service)
        self._by_id: dict[str, ImageRecord] = {}

    def resolve(self, ref: str) -> ImageRecord:
        record = self._by_id.get(ref)
        if record is None:
            record = super().resolve(ref)
            if record.id == ref:
                if len(self._by_id) >= _CONFIG_CACHE:
                    del self._by_id[next(iter(self._by_id))]
                self._by_id[ref] = record
        return record
