"""The ``local`` volume driver: one directory per volume under the daemon's data root.

Layout: ``<root>/<name>/_data`` (what containers see) and ``<root>/<name>/volume.json``
(created time, labels, options, whether it is anonymous). The metadata file is written last,
by a rename, so a volume either exists whole or not at all.

Options, as Docker's local driver takes them: ``type``, ``device`` and ``o`` say what to mount
on ``_data`` (``mount -t TYPE -o O DEVICE``): ``type=tmpfs,device=tmpfs,o=size=64m``, or
``type=none,o=bind,device=/path``. Such a volume is mounted when a container first uses it
(:meth:`LocalDriver.mount`) and unmounted when the last one stops (:meth:`LocalDriver.unmount`,
called by the daemon, which counts the users). At create the options are checked, and the
types that reach nothing outside the machine (tmpfs, bind) are mounted once on a scratch
directory, so a bad ``o`` is refused then rather than at the first container start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from wharf.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, Unavailable
from wharf.mount import Mount, MountError, unmount
from wharf.volumes.spec import validate_volume_name

__all__ = ["LocalDriver", "Volume", "VolumeDriver", "check_options"]

_OPTION_KEYS = ("type", "device", "o")
_LOCAL_TYPES = ("tmpfs", "none", "bind")


def check_options(name: str, options: dict[str, str]) -> None:
    """Check local-driver options ``type``/``device``/``o`` of volume ``name``.

    Raises:
        InvalidArgument: an unknown key, a missing ``type`` or ``device``, ``type=none``
            without ``o=bind``, or a bind ``device`` that is not an existing absolute directory.
    """
    for key in options:
        if key not in _OPTION_KEYS:
            raise InvalidArgument(
                f'volume {name}: invalid option key: "{key}"; the local driver takes '
                "type, device and o"
            )
    if not options:
        return
    for required in ("type", "device"):
        if not options.get(required):
            raise InvalidArgument(
                f'volume {name}: missing required option "{required}": the local driver '
                "mounts DEVICE with TYPE and O (e.g. type=tmpfs,device=tmpfs,o=size=64m)"
            )
    flags = _flags(options)
    bind = "bind" in flags or "rbind" in flags
    if options["type"] in ("none", "bind") and not bind:
        raise InvalidArgument(
            f"volume {name}: type={options['type']} needs o=bind (a bind mount of device)"
        )
    device = options["device"]
    if bind and (not os.path.isabs(device) or not os.path.isdir(device)):
        raise InvalidArgument(
            f"volume {name}: device {device!r}: expected an existing absolute directory to bind"
        )


def is_mounted(path: str) -> bool:
    """``path`` is a mount point in this mount namespace (``/proc/self/mountinfo``: a bind
    of a directory of the same filesystem is invisible to ``os.path.ismount``)."""
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split(" ", 5)
            if len(fields) > 4 and _unescape(fields[4]) == real:
                return True
    return False


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    if "\\" not in field:
        return field
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _flags(options: dict[str, str]) -> tuple[str, ...]:
    return tuple(o for o in options.get("o", "").split(",") if o)


def _mount_of(options: dict[str, str]) -> Mount:
    return Mount(type=options["type"], source=options["device"], options=_flags(options))


@dataclass(frozen=True)
class Volume:
    """One volume as ``docker volume inspect`` shows it."""

    name: str
    mountpoint: str
    created_at: str
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False
    driver: str = "local"

    def to_json(self, ref_count: int | None = None) -> dict[str, Any]:
        """Wire form (``UsageData`` when ``ref_count`` is given)."""
        out: dict[str, Any] = {
            "CreatedAt": self.created_at,
            "Driver": self.driver,
            "Labels": dict(self.labels),
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": dict(self.options) or None,
            "Scope": "local",
        }
        if ref_count is not None:
            out["UsageData"] = {"RefCount": ref_count, "Size": -1}
        return out


class VolumeDriver(Protocol):
    """What the daemon needs of a volume driver."""

    def create(
        self, name: str, *, labels: dict[str, str], options: dict[str, str], anonymous: bool
    ) -> Volume: ...

    def get(self, name: str) -> Volume: ...

    def list(self) -> list[Volume]: ...

    def remove(self, name: str) -> None: ...

    def mount(self, volume: Volume) -> None: ...

    def unmount(self, volume: Volume) -> None: ...


class LocalDriver:
    """Volumes as directories under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for tmp in root.glob(".tmp-*"):
            # A create that crashed during its trial mount may have left it mounted.
            if is_mounted(str(tmp / "_data")):
                unmount(str(tmp / "_data"), detach=True)
            shutil.rmtree(tmp, ignore_errors=True)

    def create(
        self,
        name: str,
        *,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> Volume:
        """Create volume ``name``.

        Raises:
            AlreadyExists: a volume of that name exists.
            InvalidArgument: a bad name, or options the local driver refuses (see
                :func:`check_options`) or the kernel refuses to mount.
        """
        validate_volume_name(name)
        options = options or {}
        check_options(name, options)
        final = self.root / name
        if (final / "volume.json").exists():
            raise AlreadyExists(f"volume {name} already exists")
        tmp = self.root / f".tmp-{name}"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "_data").mkdir(parents=True)
        os.chmod(tmp / "_data", 0o755)
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta = {
            "CreatedAt": created,
            "Labels": labels or {},
            "Options": options,
            "Anonymous": anonymous,
        }
        if options.get("type") in _LOCAL_TYPES:
            self._try_mount(name, options, tmp / "_data")
        (tmp / "volume.json").write_text(json.dumps(meta))
        try:
            tmp.rename(final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise AlreadyExists(f"volume {name} already exists") from None
        return self.get(name)

    def get(self, name: str) -> Volume:
        """Volume ``name``.

        Raises:
            NotFound: no such volume.
        """
        path = self.root / name
        try:
            meta = json.loads((path / "volume.json").read_text())
        except (OSError, ValueError):
            raise NotFound(f"get {name}: no such volume") from None
        return Volume(
            name=name,
            mountpoint=str(path / "_data"),
            created_at=str(meta.get("CreatedAt", "")),
            labels=dict(meta.get("Labels") or {}),
            options=dict(meta.get("Options") or {}),
            anonymous=bool(meta.get("Anonymous")),
        )

    @staticmethod
    def _try_mount(name: str, options: dict[str, str], scratch: Path) -> None:
        try:
            _mount_of(options).mount(str(scratch))
        except MountError as exc:
            shutil.rmtree(scratch.parent, ignore_errors=True)
            raise InvalidArgument(
                f"volume {name}: options {options} cannot be mounted: {exc.strerror}"
            ) from None
        unmount(str(scratch), detach=True)

    def mount(self, volume: Volume) -> None:
        """Mount a volume's ``type``/``device``/``o`` on its mountpoint (no options, or
        mounted already: nothing to do).

        Raises:
            Unavailable: the kernel refused the mount.
        """
        if not volume.options or is_mounted(volume.mountpoint):
            return
        try:
            _mount_of(volume.options).mount(volume.mountpoint)
        except MountError as exc:
            raise Unavailable(
                f"error while mounting volume {volume.name}: failed to mount local volume "
                f"on {volume.mountpoint}: {exc.strerror}"
            ) from None

    def unmount(self, volume: Volume) -> None:
        """Unmount a volume mounted by :meth:`mount` (not mounted: nothing to do).

        Raises:
            Conflict: the kernel refused (still busy).
        """
        if not is_mounted(volume.mountpoint):
            return
        try:
            unmount(volume.mountpoint)
        except MountError as exc:
            raise Conflict(f"volume {volume.name}: cannot unmount: {exc.strerror}") from None
        if is_mounted(volume.mountpoint):
            raise Conflict(f"volume {volume.name}: still mounted on {volume.mountpoint}")

    def list(self) -> list[Volume]:
        """Every volume, by name."""
        out = []
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".tmp-"):
                continue
            try:
                out.append(self.get(entry.name))
            except NotFound:
                continue
        return out

    def remove(self, name: str) -> None:
        """Remove volume ``name`` and its data.

        Raises:
            NotFound: no such volume.
            Conflict: it is still mounted and cannot be unmounted (its data is kept).
        """
        volume = self.get(name)
        self.unmount(volume)
        path = self.root / name
        if volume.options:
            # Only an empty mount point is left: never delete into what it mounted.
            try:
                os.rmdir(volume.mountpoint)
            except OSError as exc:
                raise Conflict(
                    f"volume {name}: mount point {volume.mountpoint} is not empty "
                    f"({exc.strerror}); not removing it"
                ) from None
        trash = self.root / f".tmp-rm-{name}"
        path.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
