"""The image service as the API sees it: list/inspect/tag/rmi/save/load/import/commit/prune.

Slow store calls run in the default executor; archive bodies flow through pipes (``streams``).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import AsyncIterator
from typing import IO, Any

from wharf.api.backends import ByteStream
from wharf.apitypes import Filters, HistoryEntry, ImageDeleteItem, ImageView, PruneReport
from wharf.daemon.containers import ContainerService
from wharf.daemon.events import EventBus
from wharf.daemon.logs import parse_rfc3339
from wharf.daemon.ports import ImageRecord, ImageStore
from wharf.daemon.streams import from_writer, to_reader
from wharf.errors import Conflict, InvalidArgument, NotFound, WharfError

__all__ = ["ImageService", "apply_changes"]

_CHANGE_KEYS = {
    "CMD": "Cmd",
    "ENTRYPOINT": "Entrypoint",
    "ENV": "Env",
    "WORKDIR": "WorkingDir",
    "USER": "User",
    "EXPOSE": "ExposedPorts",
    "VOLUME": "Volumes",
    "LABEL": "Labels",
    "STOPSIGNAL": "StopSignal",
}


def _json_or_words(text: str) -> list[str]:
    import json

    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            raise InvalidArgument(f"changes: invalid JSON array {text!r}") from None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise InvalidArgument(f"changes: expected a JSON array of strings, got {text!r}")
    return ["/bin/sh", "-c", text]


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """Apply Dockerfile-style ``--change`` lines to an image config ``config`` object.

    Raises:
        InvalidArgument: an unsupported instruction or a malformed value.
    """
    out = dict(config)
    for change in changes:
        instruction, _, rest = change.strip().partition(" ")
        key = _CHANGE_KEYS.get(instruction.upper())
        if key is None:
            raise InvalidArgument(
                f"changes: {instruction!r} is not a valid change command; expected one of "
                + ", ".join(sorted(_CHANGE_KEYS))
            )
        rest = rest.strip()
        if key in ("Cmd", "Entrypoint"):
            out[key] = _json_or_words(rest)
        elif key == "Env":
            env = list(out.get("Env") or [])
            name, sep, value = rest.partition("=")
            if not sep:
                name, _, value = rest.partition(" ")
            env = [e for e in env if e.split("=", 1)[0] != name] + [f"{name}={value.strip()}"]
            out["Env"] = env
        elif key == "Labels":
            labels = dict(out.get("Labels") or {})
            name, _, value = rest.partition("=")
            labels[name.strip('"')] = value.strip('"')
            out["Labels"] = labels
        elif key in ("ExposedPorts", "Volumes"):
            values = dict(out.get(key) or {})
            for item in _json_or_words(rest) if rest.startswith("[") else rest.split():
                port = item + "/tcp" if key == "ExposedPorts" and "/" not in item else item
                values[port] = {}
            out[key] = values
        else:
            out[key] = rest
    return out


class ImageService:
    """Implements :class:`wharf.api.backends.ImageBackend` over an :class:`ImageStore`."""

    def __init__(self, store: ImageStore, containers: ContainerService, events: EventBus) -> None:
        self._store = store
        self._containers = containers
        self._events = events

    def _resolve(self, ref: str) -> ImageRecord:
        try:
            return self._store.resolve(ref)
        except NotFound:
            raise NotFound(f"No such image: {ref}") from None

    def _view(self, image: ImageRecord, containers: int = -1) -> ImageView:
        return ImageView(
            id=image.id,
            repo_tags=image.repo_tags,
            repo_digests=image.repo_digests,
            created=image.created,
            created_unix=int(parse_rfc3339(image.created)),
            size=image.size,
            config=image.config,
            architecture=image.architecture,
            os=image.os,
            layers=image.layers,
            parent=image.parent,
            comment=image.comment,
            author=image.author,
            containers=containers,
            labels=dict(image.config.get("Labels") or {}),
        )

    def list(self, *, all: bool, filters: Filters) -> builtins.list[ImageView]:
        unknown = set(filters) - {"dangling", "label", "reference", "before", "since"}
        if unknown:
            raise InvalidArgument(f"filters: invalid filter {sorted(unknown)[0]!r}")
        images = self._store.list()
        # As Docker: without ``all``, untagged images that are another image's parent
        # (a build's intermediate steps) are not listed.
        parents = set() if all else {image.parent for image in images if image.parent}
        out = []
        for image in images:
            intermediate = image.id in parents and not image.repo_tags and not image.repo_digests
            if intermediate or not self._match(image, filters):
                continue
            out.append(self._view(image))
        return out

    def _match(self, image: ImageRecord, filters: Filters) -> bool:
        import fnmatch

        dangling = filters.get("dangling")
        if dangling:
            want = dangling[0].lower() in ("true", "1")
            if want != (not image.repo_tags):
                return False
        for selector in filters.get("label", []):
            labels = image.config.get("Labels") or {}
            key, sep, value = selector.partition("=")
            if key not in labels or (sep and labels[key] != value):
                return False
        refs = filters.get("reference")
        if refs:
            names = [*image.repo_tags, *(t.rsplit(":", 1)[0] for t in image.repo_tags)]
            if not any(fnmatch.fnmatch(n, pattern) for pattern in refs for n in names):
                return False
        return True

    def inspect(self, ref: str) -> ImageView:
        return self._view(self._resolve(ref))

    def history(self, ref: str) -> builtins.list[HistoryEntry]:
        self._resolve(ref)
        return self._store.history(ref)

    def tag(self, ref: str, *, repo: str, tag: str) -> None:
        image = self._resolve(ref)
        new_ref = f"{repo}:{tag}" if tag else repo
        self._store.tag(ref, new_ref)
        self._events.publish("image", "tag", image.id, {"name": new_ref})

    async def remove(self, ref: str, *, force: bool, prune: bool) -> builtins.list[ImageDeleteItem]:
        image = self._resolve(ref)
        users = [r for r in self._containers.store.all() if r.image_id == image.id]
        is_id = ref.startswith("sha256:") or image.id.removeprefix("sha256:").startswith(ref)
        if users and (is_id or len(image.repo_tags) <= 1):
            running = [r for r in users if r.status in ("running", "paused", "restarting")]
            if running or not force:
                state = "running" if running else "stopped"
                raise Conflict(
                    f"conflict: unable to remove repository reference {ref!r} (must force) - "
                    f"container {users[0].id[:12]} is using its referenced image "
                    f"{image.id.removeprefix('sha256:')[:12]}"
                    if not running
                    else f"conflict: unable to delete {image.id.removeprefix('sha256:')[:12]} "
                    f"(cannot be forced) - image is being used by {state} container "
                    f"{running[0].id[:12]}"
                )
        loop = asyncio.get_running_loop()
        items = await loop.run_in_executor(
            None, lambda: self._store.remove(ref, force=force, prune=prune)
        )
        for item in items:
            action = "untag" if item.untagged else "delete"
            self._events.publish("image", action, item.untagged or item.deleted, {"name": ref})
        return items

    def save(self, refs: builtins.list[str]) -> ByteStream:
        for ref in refs:
            self._resolve(ref)

        def write(out: IO[bytes]) -> None:
            self._store.save(refs, out)

        return ByteStream(from_writer(write))

    async def load(self, body: AsyncIterator[bytes]) -> builtins.list[str]:
        loaded = await to_reader(body, self._store.load)
        lines = []
        for ref in loaded:
            prefix = "Loaded image ID: " if ref.startswith("sha256:") else "Loaded image: "
            lines.append(prefix + ref)
            self._events.publish("image", "load", ref, {"name": ref})
        return lines

    async def import_image(
        self,
        body: AsyncIterator[bytes],
        *,
        repo: str,
        tag: str,
        changes: builtins.list[str],
        message: str,
    ) -> str:
        apply_changes({}, changes)  # validate before reading the body
        ref = (f"{repo}:{tag}" if tag else repo) or None
        image_id = await to_reader(
            body, lambda stream: self._store.import_rootfs(stream, ref, changes, message)
        )
        self._events.publish("image", "import", image_id, {"name": ref or image_id})
        return image_id

    async def pull(self, ref: str, *, tag: str) -> builtins.list[str]:
        full = f"{ref}:{tag}" if tag and "@" not in ref else ref
        try:
            self._store.resolve(full)
        except NotFound:
            raise NotFound(
                f"pull access denied for {ref}, repository does not exist or may require "
                "'docker login': this daemon has no registry access; load the image with "
                "'docker load' instead"
            ) from None
        return [f"Status: Image is up to date for {full}"]

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
    ) -> str:
        record = self._containers.get(container)
        image = self._resolve(record.image_id)
        config = dict(image.config)
        cfg = record.spec.config
        if cfg.cmd is not None or cfg.entrypoint is not None:
            config["Cmd"] = list(cfg.cmd) if cfg.cmd is not None else None
        if cfg.entrypoint is not None:
            config["Entrypoint"] = list(cfg.entrypoint)
        if cfg.env:
            config["Env"] = [
                *[
                    e
                    for e in config.get("Env") or []
                    if e.split("=", 1)[0] not in {c.split("=", 1)[0] for c in cfg.env}
                ],
                *cfg.env,
            ]
        if cfg.working_dir:
            config["WorkingDir"] = cfg.working_dir
        if cfg.user:
            config["User"] = cfg.user
        if cfg.labels:
            config["Labels"] = {**(config.get("Labels") or {}), **cfg.labels}
        config = apply_changes(config, changes)
        ref = (f"{repo}:{tag}" if tag else repo) or None
        paused = False
        if pause and record.status == "running":
            with contextlib.suppress(WharfError):
                self._containers.runtime.pause(record.id)
                paused = True
        try:
            image_id = await asyncio.get_running_loop().run_in_executor(
                None,
                lambda: self._store.commit(
                    record.id, ref=ref, config=config, author=author, message=message
                ),
            )
        finally:
            if paused:
                with contextlib.suppress(WharfError):
                    self._containers.runtime.resume(record.id)
        self._containers.emit(record, "commit", comment=message)
        return image_id

    async def prune(self, *, dangling_only: bool, filters: Filters) -> PruneReport:
        in_use = {r.image_id for r in self._containers.store.all()}
        deleted, reclaimed = await asyncio.get_running_loop().run_in_executor(
            None, lambda: self._store.prune(dangling_only=dangling_only, in_use=in_use)
        )
        return PruneReport(
            deleted=tuple(deleted),
            space_reclaimed=reclaimed,
            key="ImagesDeleted",
            image_items=tuple({"Deleted": d} for d in deleted),
        )
