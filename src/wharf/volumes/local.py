"""The ``local`` volume driver: one directory per volume under the daemon's data root.

Layout: ``<root>/<name>/_data`` (what containers see) and ``<root>/<name>/volume.json``
(created time, labels, whether it is anonymous). The metadata file is written last, by a
rename, so a volume either exists whole or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from wharf.errors import AlreadyExists, InvalidArgument, NotFound
from wharf.volumes.spec import validate_volume_name

__all__ = ["LocalDriver", "Volume", "VolumeDriver"]


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


class LocalDriver:
    """Volumes as directories under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for tmp in root.glob(".tmp-*"):
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
            InvalidArgument: a bad name or an option the local driver does not know.
        """
        validate_volume_name(name)
        if options:
            raise InvalidArgument(
                f"volume {name}: the local driver takes no options here, got {sorted(options)}"
            )
        final = self.root / name
        if (final / "volume.json").exists():
            raise AlreadyExists(f"volume {name} already exists")
        tmp = self.root / f".tmp-{name}"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "_data").mkdir(parents=True)
        os.chmod(tmp / "_data", 0o755)
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta = {"CreatedAt": created, "Labels": labels or {}, "Anonymous": anonymous}
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
            anonymous=bool(meta.get("Anonymous")),
        )

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
        """
        self.get(name)
        path = self.root / name
        trash = self.root / f".tmp-rm-{name}"
        path.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
