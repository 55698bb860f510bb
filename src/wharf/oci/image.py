"""Typed OCI / Docker schema2 image manifests, indexes and image configs.

Both families share one JSON shape; only media types differ, so one class reads either and
remembers which it read. ``from_json`` validates as it goes and raises
:class:`wharf.errors.InvalidArgument` naming the field; ``to_json`` gives the wire object.
Stored content is never re-serialised: digests are of the bytes as received, and these
types are views over them. Unknown config keys are kept in ``extra`` so a config read and
written back (``docker commit``) loses nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wharf.errors import InvalidArgument, NotFound
from wharf.oci import mediatypes
from wharf.oci.descriptor import Descriptor, Platform
from wharf.oci.digest import Digest

__all__ = [
    "ContainerConfig",
    "Healthcheck",
    "History",
    "ImageConfig",
    "Index",
    "Manifest",
    "canonical_json",
    "parse_json",
]


def canonical_json(obj: object) -> bytes:
    """Compact JSON with sorted keys: the bytes Wharf writes and hashes for new objects."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_json(data: bytes, what: str) -> dict[str, Any]:
    """Decode a JSON object.

    Raises:
        InvalidArgument: the bytes are not a JSON object; the message names ``what``.
    """
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"{what}: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise InvalidArgument(f"{what}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"{where}: field {key!r} must be a string, got {value!r}")
    return value


def _strs(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{where}: field {key!r} must be a list of strings")
    return tuple(value)


def _keys(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where}: field {key!r} must be an object")
    return tuple(sorted(value))


def _int(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key, 0)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{where}: field {key!r} must be an integer")
    return value


@dataclass(frozen=True)
class Healthcheck:
    """A container health check (Docker's extension to the image config)."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0

    @classmethod
    def from_json(cls, obj: object, where: str = "Healthcheck") -> Healthcheck:
        if not isinstance(obj, dict):
            raise InvalidArgument(f"{where}: expected an object")
        return cls(
            test=_strs(obj, "Test", where) or (),
            interval=_int(obj, "Interval", where),
            timeout=_int(obj, "Timeout", where),
            start_period=_int(obj, "StartPeriod", where),
            retries=_int(obj, "Retries", where),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Test": list(self.test)}
        for key, value in (
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("Retries", self.retries),
        ):
            if value:
                out[key] = value
        return out


@dataclass(frozen=True)
class ContainerConfig:
    """The execution parameters of an image (``config`` in the image config JSON).

    ``cmd``/``entrypoint`` are ``None`` when unset (``null`` on the wire), which differs
    from an empty list for Docker's override rules.
    """

    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    healthcheck: Healthcheck | None = None
    args_escaped: bool = False
    on_build: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset(
        {
            "User",
            "ExposedPorts",
            "Env",
            "Entrypoint",
            "Cmd",
            "Volumes",
            "WorkingDir",
            "Labels",
            "StopSignal",
            "Healthcheck",
            "ArgsEscaped",
            "OnBuild",
        }
    )

    @classmethod
    def from_json(cls, obj: object, where: str = "config") -> ContainerConfig:
        if obj is None:
            return cls()
        if not isinstance(obj, dict):
            raise InvalidArgument(f"{where}: expected an object")
        labels = obj.get("Labels") or {}
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise InvalidArgument(f"{where}: field 'Labels' must be a map of strings")
        health = obj.get("Healthcheck")
        escaped = obj.get("ArgsEscaped", False)
        if not isinstance(escaped, bool):
            raise InvalidArgument(f"{where}: field 'ArgsEscaped' must be a boolean")
        return cls(
            user=_str(obj, "User", where),
            exposed_ports=_keys(obj, "ExposedPorts", where),
            env=_strs(obj, "Env", where) or (),
            entrypoint=_strs(obj, "Entrypoint", where),
            cmd=_strs(obj, "Cmd", where),
            volumes=_keys(obj, "Volumes", where),
            working_dir=_str(obj, "WorkingDir", where),
            labels=dict(labels),
            stop_signal=_str(obj, "StopSignal", where),
            healthcheck=None
            if health is None
            else Healthcheck.from_json(health, f"{where}.Healthcheck"),
            args_escaped=escaped,
            on_build=_strs(obj, "OnBuild", where) or (),
            extra={k: v for k, v in obj.items() if k not in cls._KNOWN},
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        if self.user:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.env:
            out["Env"] = list(self.env)
        out["Entrypoint"] = None if self.entrypoint is None else list(self.entrypoint)
        out["Cmd"] = None if self.cmd is None else list(self.cmd)
        if self.volumes:
            out["Volumes"] = {v: {} for v in self.volumes}
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.labels:
            out["Labels"] = dict(self.labels)
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.healthcheck is not None:
            out["Healthcheck"] = self.healthcheck.to_json()
        if self.args_escaped:
            out["ArgsEscaped"] = True
        if self.on_build:
            out["OnBuild"] = list(self.on_build)
        return out


@dataclass(frozen=True)
class History:
    """One entry of an image's history (``docker history`` rows)."""

    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    @classmethod
    def from_json(cls, obj: object, where: str = "history") -> History:
        if not isinstance(obj, dict):
            raise InvalidArgument(f"{where}: expected an object")
        empty = obj.get("empty_layer", False)
        if not isinstance(empty, bool):
            raise InvalidArgument(f"{where}: field 'empty_layer' must be a boolean")
        return cls(
            created=_str(obj, "created", where),
            created_by=_str(obj, "created_by", where),
            author=_str(obj, "author", where),
            comment=_str(obj, "comment", where),
            empty_layer=empty,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (
            ("created", self.created),
            ("created_by", self.created_by),
            ("author", self.author),
            ("comment", self.comment),
        ):
            if value:
                out[key] = value
        if self.empty_layer:
            out["empty_layer"] = True
        return out


@dataclass(frozen=True)
class ImageConfig:
    """An image configuration (OCI ``config.md``; Docker's ``container.image.v1``).

    The image ID is the digest of the config bytes as stored.
    """

    architecture: str
    os: str
    diff_ids: tuple[Digest, ...]
    config: ContainerConfig = field(default_factory=ContainerConfig)
    created: str = ""
    author: str = ""
    variant: str = ""
    history: tuple[History, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset(
        {"architecture", "os", "rootfs", "config", "created", "author", "variant", "history"}
    )

    @classmethod
    def from_json(cls, obj: object, where: str = "image config") -> ImageConfig:
        """Build from the decoded JSON object.

        Raises:
            InvalidArgument: a required field is missing or a field has the wrong type.
        """
        if not isinstance(obj, dict):
            raise InvalidArgument(f"{where}: expected an object")
        rootfs = obj.get("rootfs")
        if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
            raise InvalidArgument(f"{where}: field 'rootfs' must be {{'type': 'layers', ...}}")
        diff_ids = _strs(rootfs, "diff_ids", f"{where}.rootfs") or ()
        history = obj.get("history")
        history = [] if history is None else history
        if not isinstance(history, list):
            raise InvalidArgument(f"{where}: field 'history' must be a list")
        for key in ("architecture", "os"):
            if not isinstance(obj.get(key), str) or not obj[key]:
                raise InvalidArgument(f"{where}: field {key!r} must be a non-empty string")
        return cls(
            architecture=obj["architecture"],
            os=obj["os"],
            diff_ids=tuple(Digest.parse(d) for d in diff_ids),
            config=ContainerConfig.from_json(obj.get("config"), f"{where}.config"),
            created=_str(obj, "created", where),
            author=_str(obj, "author", where),
            variant=_str(obj, "variant", where),
            history=tuple(
                History.from_json(h, f"{where}.history[{i}]") for i, h in enumerate(history)
            ),
            extra={k: v for k, v in obj.items() if k not in cls._KNOWN},
        )

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "image config") -> ImageConfig:
        return cls.from_json(parse_json(data, where), where)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            architecture=self.architecture,
            os=self.os,
            config=self.config.to_json(),
            rootfs={"type": "layers", "diff_ids": [str(d) for d in self.diff_ids]},
        )
        if self.created:
            out["created"] = self.created
        if self.author:
            out["author"] = self.author
        if self.variant:
            out["variant"] = self.variant
        if self.history:
            out["history"] = [h.to_json() for h in self.history]
        return out

    @property
    def platform(self) -> Platform:
        return Platform(os=self.os, architecture=self.architecture, variant=self.variant)


def _descriptors(obj: Mapping[str, Any], key: str, where: str) -> tuple[Descriptor, ...]:
    value = obj.get(key) or []
    if not isinstance(value, list):
        raise InvalidArgument(f"{where}: field {key!r} must be a list")
    return tuple(Descriptor.from_json(d, f"{where}.{key}[{i}]") for i, d in enumerate(value))


@dataclass(frozen=True)
class Manifest:
    """An image manifest: one config and the ordered layers (base first)."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mediatypes.OCI_MANIFEST
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: object, where: str = "manifest") -> Manifest:
        """Build from the decoded JSON object (OCI or Docker schema2).

        Raises:
            InvalidArgument: not a schema-2 manifest, or a field is malformed.
        """
        if not isinstance(obj, dict):
            raise InvalidArgument(f"{where}: expected an object")
        if obj.get("schemaVersion") != 2:
            raise InvalidArgument(f"{where}: 'schemaVersion' must be 2")
        media_type = obj.get("mediaType") or mediatypes.OCI_MANIFEST
        if media_type not in mediatypes.MANIFESTS:
            raise InvalidArgument(f"{where}: media type {media_type!r} is not an image manifest")
        layers = _descriptors(obj, "layers", where)
        for i, layer in enumerate(layers):
            if layer.media_type not in mediatypes.LAYERS | {mediatypes.DOCKER_FOREIGN_LAYER}:
                raise InvalidArgument(
                    f"{where}.layers[{i}]: unsupported layer media type {layer.media_type!r}"
                )
        annotations = obj.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise InvalidArgument(f"{where}: field 'annotations' must be an object")
        return cls(
            config=Descriptor.from_json(obj.get("config"), f"{where}.config"),
            layers=layers,
            media_type=media_type,
            annotations=dict(annotations),
        )

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "manifest") -> Manifest:
        return cls.from_json(parse_json(data, where), where)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class Index:
    """An image index / Docker manifest list: manifests per platform."""

    manifests: tuple[Descriptor, ...]
    media_type: str = mediatypes.OCI_INDEX
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: object, where: str = "index") -> Index:
        if not isinstance(obj, dict):
            raise InvalidArgument(f"{where}: expected an object")
        if obj.get("schemaVersion") != 2:
            raise InvalidArgument(f"{where}: 'schemaVersion' must be 2")
        media_type = obj.get("mediaType") or mediatypes.OCI_INDEX
        if media_type not in mediatypes.INDEXES:
            raise InvalidArgument(f"{where}: media type {media_type!r} is not an index")
        annotations = obj.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise InvalidArgument(f"{where}: field 'annotations' must be an object")
        return cls(
            manifests=_descriptors(obj, "manifests", where),
            media_type=media_type,
            annotations=dict(annotations),
        )

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "index") -> Index:
        return cls.from_json(parse_json(data, where), where)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": [m.to_json() for m in self.manifests],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def select(self, platform: Platform | None = None) -> Descriptor:
        """The manifest for ``platform`` (default linux/amd64).

        Raises:
            NotFound: no entry matches.
        """
        platform = platform or Platform()
        candidates: Sequence[Descriptor] = [
            m
            for m in self.manifests
            if m.platform is not None
            and m.platform.os == platform.os
            and m.platform.architecture == platform.architecture
            and (not platform.variant or m.platform.variant == platform.variant)
        ]
        if not candidates:
            # An index without platforms (OCI layouts from skopeo) names one image per entry.
            candidates = [m for m in self.manifests if m.platform is None]
        if not candidates:
            found = ", ".join(str(m.platform) for m in self.manifests if m.platform) or "none"
            raise NotFound(f"index: no manifest for platform {platform} (found: {found})")
        return candidates[0]
