"""The volume service: ``/volumes`` routes and the mounts of a container's binds and volumes.

A container's mounts come from ``HostConfig.Binds``, ``HostConfig.Mounts``, the image's and
config's ``Volumes`` (anonymous volumes, one per path, named when first needed and kept for the
container's life) and ``VolumesFrom``. Named volumes are created on first use and, while empty,
filled from the image's content at the mount point. A volume is in use while any container
(running or not) mounts it; removing it then is a Conflict (409).

A volume created with local-driver options (``--opt type=tmpfs ...``) is mounted when the first
container using it is set up and unmounted when the last of those stops; the users are counted
here (``_mounted``) and recounted from the running containers after a daemon restart.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Literal

from wharf.apitypes import Filters
from wharf.apitypes.hostopts import tmpfs_options
from wharf.daemon.ports import ImageRecord, ImageStore
from wharf.daemon.store import ContainerRecord, ContainerStore
from wharf.errors import Conflict, InvalidArgument, NotFound
from wharf.volumes import LocalDriver, MountSpec, Volume, parse_bind

__all__ = ["VolumeService"]

log = logging.getLogger("wharf.daemon.volumes")


class VolumeService:
    """Volumes over the local driver, and container mount set-up."""

    def __init__(self, root: Path, containers: ContainerStore, images: ImageStore) -> None:
        self.driver = LocalDriver(root)
        self.containers = containers
        self.images = images
        self._anon_path = root.parent / "volumes-anonymous.json"
        try:
            self._anon: dict[str, dict[str, str]] = json.loads(self._anon_path.read_text())
        except FileNotFoundError:
            self._anon = {}
        self._mounted: dict[str, set[str]] = {}

    def _save_anon(self) -> None:
        tmp = self._anon_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._anon))
        tmp.rename(self._anon_path)

    # ---- mount specs ----------------------------------------------------------------------------

    def specs(
        self, record: ContainerRecord, image_volumes: builtins.list[str]
    ) -> builtins.list[MountSpec]:
        """The container's own mounts (without ``VolumesFrom``), later entries win by target.

        Raises:
            InvalidArgument: a bad ``-v`` string.
        """
        by_target: dict[str, MountSpec] = {}
        for path in [*image_volumes, *record.spec.config.volumes]:
            by_target[path] = MountSpec("volume", path, "")
        for bind in record.spec.host_config.binds:
            spec = parse_bind(bind)
            by_target[spec.target] = spec
        for m in record.spec.networking.mounts:
            kind: Literal["bind", "volume", "tmpfs"] = (
                "tmpfs" if m.type == "tmpfs" else ("bind" if m.type == "bind" else "volume")
            )
            by_target[m.target] = MountSpec(
                kind, m.target, m.source, m.read_only, tmpfs_size=m.tmpfs_size
            )
        for target, options in record.spec.host_config.options.tmpfs:
            held = by_target.get(target)  # an image's or anonymous volume gives way
            if held is not None and (held.type != "volume" or held.source):
                raise InvalidArgument(f"Duplicate mount point: {target}")  # moby's words
            by_target[target] = MountSpec("tmpfs", target, tmpfs_options=tmpfs_options(options))
        anon = self._anon.get(record.id, {})
        out = []
        for target, spec in by_target.items():
            if spec.type == "volume" and not spec.source and target in anon:
                out.append(MountSpec("volume", target, anon[target], spec.read_only, spec.copy_up))
            else:
                out.append(spec)
        return out

    def check(self, record: ContainerRecord, image: ImageRecord) -> None:
        """Validate a new container's mounts before it is created.

        Raises:
            InvalidArgument: a bad spec or a ``--mount`` bind source that does not exist.
            NotFound: a ``VolumesFrom`` container that does not exist.
        """
        for spec in self.specs(record, list(image.config.get("Volumes") or {})):
            explicit = any(m.target == spec.target for m in record.spec.networking.mounts)
            if spec.type == "bind" and explicit and not os.path.exists(spec.source):
                raise InvalidArgument(
                    f'invalid mount config for type "bind": bind source path does not '
                    f"exist: {spec.source}"
                )
        for ref in record.spec.networking.volumes_from:
            self.containers.get(ref.split(":")[0])

    def prepare(
        self, record: ContainerRecord, spec: dict[str, Any], image: ImageRecord
    ) -> builtins.list[dict[str, Any]]:
        """The OCI mounts of the container's volumes, binds and tmpfs (volumes made as
        needed); ``VolumesFrom`` containers' mounts come first."""
        specs: dict[str, MountSpec] = {}
        for ref in record.spec.networking.volumes_from:
            name, _, mode = ref.partition(":")
            other = self.containers.get(name)
            other_image = self.images.resolve(other.image_id)
            for m in self.specs(other, list(other_image.config.get("Volumes") or {})):
                if m.type == "tmpfs" or (m.type == "volume" and not m.source):
                    continue
                ro = m.read_only if not mode else mode == "ro"
                specs[m.target] = MountSpec(m.type, m.target, m.source, ro, copy_up=False)
        for m in self.specs(record, list(image.config.get("Volumes") or {})):
            specs[m.target] = m
        mounts = []
        lowers: builtins.list[str] | None = None
        for m in specs.values():
            options = ["rbind", "rprivate"] + (["ro"] if m.read_only else [])
            if m.type == "tmpfs":
                opts = list(m.tmpfs_options) or ["nosuid", "nodev", "noexec"]
                if m.tmpfs_size:
                    opts.append(f"size={m.tmpfs_size}")
                mounts.append(
                    {"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts}
                )
                continue
            if m.type == "bind":
                os.makedirs(m.source, exist_ok=True)
                mounts.append(
                    {
                        "destination": m.target,
                        "type": "bind",
                        "source": m.source,
                        "options": options,
                    }
                )
                continue
            volume = self._volume_for(record, m)
            if volume.options:
                self.driver.mount(volume)
                self._mounted.setdefault(volume.name, set()).add(record.id)
            fresh = not any(os.scandir(volume.mountpoint))
            if m.copy_up and fresh:
                if lowers is None:
                    lowers = self._lowerdirs(record.id)
                _copy_up(lowers, m.target, volume.mountpoint)
            mounts.append(
                {
                    "destination": m.target,
                    "type": "bind",
                    "source": volume.mountpoint,
                    "options": options,
                }
            )
        return mounts

    def _volume_for(self, record: ContainerRecord, m: MountSpec) -> Volume:
        if not m.source:
            name = secrets.token_hex(32)
            self._anon.setdefault(record.id, {})[m.target] = name
            self._save_anon()
            return self.driver.create(name, anonymous=True)
        try:
            return self.driver.get(m.source)
        except NotFound:
            return self.driver.create(m.source)

    def _lowerdirs(self, container_id: str) -> builtins.list[str]:
        out: builtins.list[str] = []
        with contextlib.suppress(NotFound):
            for mount in self.images.container_mounts(container_id):
                for option in mount.options:
                    if option.startswith("lowerdir="):
                        out += option.removeprefix("lowerdir=").split(":")
        return out

    def inspect_mounts(self, record: ContainerRecord) -> builtins.list[dict[str, Any]]:
        """``Mounts`` of container inspect, as Docker shows them."""
        try:
            image_volumes = list(self.images.resolve(record.image_id).config.get("Volumes") or {})
            specs = self.specs(record, image_volumes)
        except (NotFound, InvalidArgument):
            return []
        out = []
        for m in specs:
            entry: dict[str, Any] = {
                "Type": m.type,
                "Source": m.source,
                "Destination": m.target,
                "Mode": "ro" if m.read_only else "",
                "RW": not m.read_only,
                "Propagation": "rprivate" if m.type == "bind" else "",
            }
            if m.type == "volume":
                entry["Name"] = m.source
                entry["Driver"] = "local"
                entry["Source"] = str(self.driver.root / m.source / "_data") if m.source else ""
                entry["Mode"] = "z" if not m.read_only else "ro"
            if m.type == "tmpfs":
                entry["Source"] = ""
            out.append(entry)
        return out

    def release(self, container_id: str) -> None:
        """A container stopped: its mounts die with its namespace; volumes with options it
        was the last user of are unmounted."""
        for name, users in list(self._mounted.items()):
            if container_id not in users:
                continue
            users.discard(container_id)
            if not users:
                del self._mounted[name]
                self._unmount(name)

    def _unmount(self, name: str) -> None:
        try:
            self.driver.unmount(self.driver.get(name))
        except (NotFound, Conflict) as exc:
            log.warning("volume %s: %s", name, exc)

    def reconcile(self, running: set[str]) -> None:
        """After a daemon (re)start: count the running containers' option volumes as mounted
        by them, and unmount those no running container uses."""
        for record in self.containers.all():
            if record.id not in running:
                continue
            try:
                image_volumes = list(
                    self.images.resolve(record.image_id).config.get("Volumes") or {}
                )
                specs = self.specs(record, image_volumes)
            except (NotFound, InvalidArgument):
                continue
            for m in specs:
                if m.type == "volume" and m.source:
                    self._mounted.setdefault(m.source, set()).add(record.id)
        for volume in self.driver.list():
            if volume.options and volume.name not in self._mounted:
                self._unmount(volume.name)

    def removed(self, record: ContainerRecord, volumes: bool) -> None:
        """Forget a removed container; with ``volumes``, remove its anonymous volumes."""
        anon = self._anon.pop(record.id, {})
        if anon:
            self._save_anon()
        if volumes:
            for name in anon.values():
                with contextlib.suppress(NotFound, Conflict):
                    self.remove(name, force=False)

    # ---- volumes API ----------------------------------------------------------------------------

    def _users(self, name: str) -> builtins.list[str]:
        users = []
        for record in self.containers.all():
            try:
                image = self.images.resolve(record.image_id)
                image_volumes = list(image.config.get("Volumes") or {})
            except NotFound:
                image_volumes = []
            try:
                specs = self.specs(record, image_volumes)
            except InvalidArgument:
                continue
            if any(s.type == "volume" and s.source == name for s in specs):
                users.append(record.id)
        return users

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /volumes/create`` (an existing name returns that volume, as Docker does).

        Raises:
            InvalidArgument: a bad name or driver.
        """
        name = body.get("Name") or secrets.token_hex(32)
        driver = body.get("Driver") or "local"
        if not isinstance(name, str):
            raise InvalidArgument("Name: expected a string")
        if driver != "local":
            raise InvalidArgument(f"volume {name}: driver {driver!r} is not supported")
        labels = body.get("Labels") or {}
        options = body.get("DriverOpts") or {}
        if not isinstance(labels, dict) or not isinstance(options, dict):
            raise InvalidArgument(f"volume {name}: Labels and DriverOpts must be objects")
        try:
            return self.driver.get(name).to_json()
        except NotFound:
            pass
        return self.driver.create(
            name,
            labels={str(k): str(v) for k, v in labels.items()},
            options={str(k): str(v) for k, v in options.items()},
        ).to_json()

    def inspect(self, name: str) -> dict[str, Any]:
        """``GET /volumes/{name}``."""
        return self.driver.get(name).to_json()

    def list(self, filters: Filters) -> dict[str, Any]:
        """``GET /volumes`` with filters name, label, dangling, driver."""
        for key in filters:
            if key not in ("name", "label", "dangling", "driver"):
                raise InvalidArgument(f"invalid filter {key!r}")
        out = []
        for volume in self.driver.list():
            if not self._match(volume, filters):
                continue
            out.append(volume.to_json())
        return {"Volumes": out, "Warnings": None}

    def _match(self, volume: Volume, filters: Filters) -> bool:
        for key, values in filters.items():
            if key == "name" and not any(v in volume.name for v in values):
                return False
            if key == "driver" and volume.driver not in values:
                return False
            if key == "dangling":
                dangling = not self._users(volume.name)
                if dangling != (values[0] in ("true", "1")):
                    return False
            if key == "label":
                for v in values:
                    k, sep, val = v.partition("=")
                    if k not in volume.labels or (sep and volume.labels[k] != val):
                        return False
        return True

    def remove(self, name: str, *, force: bool) -> None:
        """``DELETE /volumes/{name}``.

        Raises:
            NotFound: no such volume (ignored with ``force``).
            Conflict: a container uses it.
        """
        try:
            self.driver.get(name)
        except NotFound:
            if force:
                return
            raise
        users = self._users(name)
        if users:
            raise Conflict(
                f"remove {name}: volume is in use - [{', '.join(u[:12] for u in users)}]"
            )
        self.driver.remove(name)

    def prune(self, filters: Filters) -> dict[str, Any]:
        """``POST /volumes/prune``: unused anonymous volumes (``all=true``: every unused one)."""
        everything = (filters.get("all") or ["false"])[0] in ("true", "1")
        deleted = []
        reclaimed = 0
        for volume in self.driver.list():
            if not everything and not volume.anonymous:
                continue
            if self._users(volume.name):
                continue
            reclaimed += _size(Path(volume.mountpoint))
            self.driver.remove(volume.name)
            deleted.append(volume.name)
        return {"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed}


def _copy_up(lowers: builtins.list[str], target: str, dest: str) -> None:
    rel = target.lstrip("/")
    for lower in lowers:
        src = os.path.join(lower, rel)
        if os.path.isdir(src) and not os.path.islink(src):
            shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
            shutil.copystat(src, dest)
            return
        if os.path.lexists(src):
            return


def _size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total
