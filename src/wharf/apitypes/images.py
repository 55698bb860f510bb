"""Image wire types: list entries, inspect, history and delete results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["HistoryEntry", "ImageDeleteItem", "ImageView"]


@dataclass(frozen=True)
class ImageView:
    """What the daemon knows of one image; ``id`` is ``sha256:<config digest>``."""

    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    created: str
    created_unix: int
    size: int
    config: dict[str, Any]
    architecture: str = "amd64"
    os: str = "linux"
    layers: tuple[str, ...] = ()
    parent: str = ""
    comment: str = ""
    author: str = ""
    containers: int = -1
    labels: dict[str, str] = field(default_factory=dict)

    def to_summary_json(self) -> dict[str, Any]:
        """One entry of ``GET /images/json``."""
        return {
            "Id": self.id,
            "ParentId": self.parent,
            "RepoTags": list(self.repo_tags),
            "RepoDigests": list(self.repo_digests),
            "Created": self.created_unix,
            "Size": self.size,
            "VirtualSize": self.size,
            "SharedSize": -1,
            "Labels": dict(self.labels) or None,
            "Containers": self.containers,
        }

    def to_inspect_json(self) -> dict[str, Any]:
        """``GET /images/{name}/json``."""
        return {
            "Id": self.id,
            "RepoTags": list(self.repo_tags),
            "RepoDigests": list(self.repo_digests),
            "Parent": self.parent,
            "Comment": self.comment,
            "Created": self.created,
            "Container": "",
            "ContainerConfig": {},
            "DockerVersion": "",
            "Author": self.author,
            "Config": self.config,
            "Architecture": self.architecture,
            "Os": self.os,
            "Size": self.size,
            "VirtualSize": self.size,
            "GraphDriver": {"Name": "overlay2", "Data": None},
            "RootFS": {"Type": "layers", "Layers": list(self.layers)},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        }


@dataclass(frozen=True)
class HistoryEntry:
    """One entry of ``GET /images/{name}/history``."""

    id: str
    created: int
    created_by: str
    size: int
    comment: str = ""
    tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "Id": self.id or "<missing>",
            "Created": self.created,
            "CreatedBy": self.created_by,
            "Tags": list(self.tags) or None,
            "Size": self.size,
            "Comment": self.comment,
        }


@dataclass(frozen=True)
class ImageDeleteItem:
    """One entry of ``DELETE /images/{name}``: exactly one of untagged/deleted is set."""

    untagged: str = ""
    deleted: str = ""

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {"Untagged": self.untagged} if self.untagged else {"Deleted": self.deleted}
