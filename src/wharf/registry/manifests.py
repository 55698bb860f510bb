"""Manifest parsing for the server: what a pushed manifest refers to, and its media type.

The registry stores manifests byte for byte; this module only reads them to find the
blobs and child manifests that must exist (``MANIFEST_BLOB_UNKNOWN`` otherwise), the
``subject`` for the referrers API, and the media type to answer with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from wharf.errors import InvalidArgument
from wharf.oci import Descriptor, mediatypes
from wharf.registry.errcodes import RegistryError

__all__ = ["ParsedManifest", "media_type_of", "parse_manifest"]

_SCHEMA1 = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)


@dataclass(frozen=True)
class ParsedManifest:
    """The parts of a manifest or index the server acts on.

    Attributes:
        media_type: the manifest's media type (from the body, else the request's).
        blobs: config and layers, which must be blobs of the repository.
        children: an index's manifests, which must be manifests of the repository.
        subject: the manifest this one refers to (referrers API), if any.
        artifact_type: for referrer listings: ``artifactType``, else the config's media
            type for image manifests; empty for an index without one.
        annotations: the manifest's annotations.
    """

    media_type: str
    blobs: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str = ""
    annotations: dict[str, str] = field(default_factory=dict)


def _load(data: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError("MANIFEST_INVALID", f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise RegistryError("MANIFEST_INVALID", "manifest must be a JSON object")
    return obj


def media_type_of(data: bytes) -> str:
    """The media type a stored manifest is served with (its own field, else guessed)."""
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return mediatypes.OCI_MANIFEST
    if not isinstance(obj, dict):
        return mediatypes.OCI_MANIFEST
    declared = obj.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    return mediatypes.OCI_INDEX if "manifests" in obj else mediatypes.OCI_MANIFEST


def _descriptors(obj: dict[str, Any], key: str) -> tuple[Descriptor, ...]:
    items = obj.get(key)
    if items is None:
        return ()
    if not isinstance(items, list):
        raise RegistryError("MANIFEST_INVALID", f"manifest field {key!r} must be a list")
    try:
        return tuple(Descriptor.from_json(d, f"{key}[{i}]") for i, d in enumerate(items))
    except InvalidArgument as exc:
        raise RegistryError("MANIFEST_INVALID", str(exc)) from exc


def _descriptor(obj: dict[str, Any], key: str) -> Descriptor | None:
    if obj.get(key) is None:
        return None
    try:
        return Descriptor.from_json(obj[key], key)
    except InvalidArgument as exc:
        raise RegistryError("MANIFEST_INVALID", str(exc)) from exc


def parse_manifest(data: bytes, content_type: str) -> ParsedManifest:
    """Parse and check a pushed manifest.

    Args:
        data: the exact bytes pushed.
        content_type: the request's ``Content-Type`` (may be empty).

    Raises:
        RegistryError: ``MANIFEST_INVALID`` naming what is wrong (not JSON, schema1,
            wrong ``schemaVersion``, a media type that differs from Content-Type, a
            malformed descriptor).
    """
    obj = _load(data)
    content_type = content_type.split(";", maxsplit=1)[0].strip()
    declared = obj.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise RegistryError("MANIFEST_INVALID", "manifest field 'mediaType' must be a string")
    if content_type in _SCHEMA1 or declared in _SCHEMA1 or obj.get("schemaVersion") == 1:
        raise RegistryError(
            "MANIFEST_INVALID", "Docker schema1 manifests are not supported: push schema2 or OCI"
        )
    if obj.get("schemaVersion") != 2:
        raise RegistryError(
            "MANIFEST_INVALID",
            f"manifest schemaVersion must be 2, got {obj.get('schemaVersion')!r}",
        )
    known = mediatypes.MANIFESTS | mediatypes.INDEXES
    if declared and content_type in known and declared != content_type:
        raise RegistryError(
            "MANIFEST_INVALID",
            f"manifest mediaType {declared!r} does not match Content-Type {content_type!r}",
        )
    media_type = declared or (content_type if content_type in known else "")
    if not media_type:
        media_type = mediatypes.OCI_INDEX if "manifests" in obj else mediatypes.OCI_MANIFEST
    annotations = obj.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
    ):
        raise RegistryError("MANIFEST_INVALID", "manifest annotations must map strings to strings")
    artifact_type = obj.get("artifactType") or ""
    if not isinstance(artifact_type, str):
        raise RegistryError("MANIFEST_INVALID", "manifest field 'artifactType' must be a string")
    subject = _descriptor(obj, "subject")
    if media_type in mediatypes.INDEXES or "manifests" in obj:
        return ParsedManifest(
            media_type=media_type,
            children=_descriptors(obj, "manifests"),
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )
    config = _descriptor(obj, "config")
    if config is None:
        raise RegistryError("MANIFEST_INVALID", "image manifest has no 'config' descriptor")
    if not isinstance(obj.get("layers", []), list):
        raise RegistryError("MANIFEST_INVALID", "manifest field 'layers' must be a list")
    layers = _descriptors(obj, "layers")
    return ParsedManifest(
        media_type=media_type,
        blobs=(config, *layers),
        subject=subject,
        artifact_type=artifact_type or config.media_type,
        annotations=annotations,
    )
