"""Content descriptors and platforms (OCI image-spec descriptor.md, image-index.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wharf.errors import InvalidArgument
from wharf.oci.digest import Digest

__all__ = ["Descriptor", "Platform"]


def _string(obj: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"{where}: field {key!r} must be a string, got {value!r}")
    return value


def _string_map(obj: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    value = obj.get(key) or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidArgument(f"{where}: field {key!r} must be a map of strings")
    return dict(value)


@dataclass(frozen=True)
class Platform:
    """The platform an image runs on; Wharf runs ``linux/amd64``."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: object, where: str = "platform") -> Platform:
        if not isinstance(obj, dict):
            raise InvalidArgument(f"{where}: expected an object, got {obj!r}")
        features = obj.get("os.features") or []
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise InvalidArgument(f"{where}: field 'os.features' must be a list of strings")
        return cls(
            os=_string(obj, "os", where),
            architecture=_string(obj, "architecture", where),
            variant=_string(obj, "variant", where, required=False),
            os_version=_string(obj, "os.version", where, required=False),
            os_features=tuple(features),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    """A typed pointer to content: media type, digest and size (plus optional extras)."""

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    artifact_type: str = ""

    @classmethod
    def from_json(cls, obj: object, where: str = "descriptor") -> Descriptor:
        """Build a descriptor from its JSON object.

        Raises:
            InvalidArgument: a field is missing or has the wrong type.
        """
        if not isinstance(obj, dict):
            raise InvalidArgument(f"{where}: expected an object, got {obj!r}")
        size = obj.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidArgument(f"{where}: field 'size' must be a non-negative integer")
        urls = obj.get("urls") or []
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise InvalidArgument(f"{where}: field 'urls' must be a list of strings")
        platform = obj.get("platform")
        return cls(
            media_type=_string(obj, "mediaType", where),
            digest=Digest.parse(_string(obj, "digest", where)),
            size=size,
            urls=tuple(urls),
            annotations=_string_map(obj, "annotations", where),
            platform=None
            if platform is None
            else Platform.from_json(platform, f"{where}.platform"),
            artifact_type=_string(obj, "artifactType", where, required=False),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out
