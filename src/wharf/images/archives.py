"""Image archives: ``docker save`` tars and OCI layouts, read into and written from blobs.

Reading streams the outer tar once: every file except the small index files goes into the
content store (named blobs are verified against their names), so memory stays flat in the
layer size. Then the index is interpreted:

- ``index.json`` (OCI image layout: skopeo ``oci-archive``, docker 25+ ``save``): the
  manifests are kept byte for byte, so every digest is preserved; multi-platform indexes
  select linux/amd64; names come from the ``io.containerd.image.name`` or
  ``org.opencontainers.image.ref.name`` annotations and from ``manifest.json``.
- ``manifest.json`` only (docker <= 24 ``save``): a Docker schema2 manifest is written
  for each entry over the archive's config and layer files (image ID preserved: it is the
  config digest; layer blob digests are those of the files).

Writing produces both at once, as docker 25+ does: ``blobs/sha256/…``, ``oci-layout``,
``index.json``, ``manifest.json`` and ``repositories``; docker 20.10 and skopeo read it.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

from wharf.archive import detect, stream_members
from wharf.content import LocalContentStore
from wharf.errors import AlreadyExists, DataLoss, InvalidArgument, NotFound
from wharf.oci import mediatypes
from wharf.oci.descriptor import Descriptor
from wharf.oci.digest import Digest
from wharf.oci.image import ImageConfig, Index, Manifest, canonical_json

__all__ = ["ArchiveImage", "SaveEntry", "read_archive", "write_archive"]

_INDEX_FILES: Final = frozenset({"manifest.json", "repositories", "index.json", "oci-layout"})
_JSON_LIMIT: Final = 16 << 20
_BLOB_NAME: Final = re.compile(r"^blobs/(sha256|sha512)/([0-9a-f]+)$")
_NAME_ANNOTATION: Final = "io.containerd.image.name"
_REF_ANNOTATION: Final = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class ArchiveImage:
    """One image found in an archive; all its blobs are in the content store.

    Attributes:
        manifest: the manifest bytes to store (as found, or written for docker-save).
        manifest_digest: their digest.
        names: references the archive gives it (possibly none).
    """

    manifest: bytes
    manifest_digest: Digest
    names: tuple[str, ...]


@dataclass
class _Files:
    blobs: dict[str, Digest] = field(default_factory=dict)
    small: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    new: set[Digest] = field(default_factory=set)

    def resolve(self, name: str, what: str) -> Digest:
        name = posixpath.normpath(name.lstrip("/"))
        for _ in range(16):
            if name in self.links:
                name = self.links[name]
                continue
            break
        digest = self.blobs.get(name)
        if digest is None:
            raise NotFound(f"archive: {what} names {name!r}, which is not in the archive")
        return digest


def _member_name(member: tarfile.TarInfo) -> str:
    name = posixpath.normpath(member.name.lstrip("/"))
    if name.startswith("../") or name == "..":
        raise InvalidArgument(f"archive entry {member.name!r}: path escapes the archive")
    return name


def _ingest(
    stream: BinaryIO, content: LocalContentStore, *, on_new: Callable[[Digest], None]
) -> _Files:
    files = _Files()
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in stream_members(tar):
                name = _member_name(member)
                if member.isdir():
                    continue
                if member.issym() or member.islnk():
                    base = posixpath.dirname(name) if member.issym() else ""
                    files.links[name] = posixpath.normpath(posixpath.join(base, member.linkname))
                    continue
                if not member.isreg():
                    raise InvalidArgument(f"archive entry {name!r}: unexpected entry type")
                source = tar.extractfile(member)
                assert source is not None
                if name in _INDEX_FILES or (
                    "/" not in name and name.endswith(".json") and member.size < _JSON_LIMIT
                ):
                    if member.size > _JSON_LIMIT:
                        raise InvalidArgument(f"archive entry {name!r}: too large for JSON")
                    data = source.read()
                    files.small[name] = data
                    if name in _INDEX_FILES:
                        continue
                    stream_digest = Digest.from_bytes(data)
                    if not content.exists(stream_digest):
                        on_new(stream_digest)
                        files.new.add(stream_digest)
                    content.ingest_bytes(data)
                    files.blobs[name] = stream_digest
                    continue
                match = _BLOB_NAME.match(name)
                expected = Digest.parse(f"{match[1]}:{match[2]}") if match else None
                if expected is not None and content.exists(expected):
                    files.blobs[name] = expected
                    continue
                with content.writer(expected.algorithm if expected else "sha256") as writer:
                    writer.copy_from(source, member.size)
                    digest = writer.digest()
                    on_new(digest)
                    try:
                        info = writer.commit(expected, member.size)
                    except AlreadyExists:
                        info = content.info(digest)
                files.new.add(info.digest)
                files.blobs[name] = info.digest
    except tarfile.TarError as exc:
        raise DataLoss(f"archive: corrupt or truncated tar ({exc})") from exc
    except EOFError as exc:
        raise DataLoss(f"archive: truncated ({exc})") from exc
    return files


def _layer_media_type(content: LocalContentStore, digest: Digest) -> str:
    with content.open(digest) as f:
        kind = detect(f.read(4))
    return {
        "none": mediatypes.DOCKER_LAYER,
        "gzip": mediatypes.DOCKER_LAYER_GZIP,
        "zstd": mediatypes.OCI_LAYER_ZSTD,
    }[kind]


def _json_list(data: bytes, what: str) -> list[Any]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"{what}: not valid JSON ({exc})") from exc
    if not isinstance(value, list):
        raise InvalidArgument(f"{what}: expected a list of images")
    return value


def _docker_save(files: _Files, content: LocalContentStore) -> list[ArchiveImage]:
    entries = _json_list(files.small.get("manifest.json", b"[]"), "archive manifest.json")
    out = []
    for i, entry in enumerate(entries):
        where = f"archive manifest.json[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise InvalidArgument(f"{where}: expected an object with a 'Config' path")
        layers = entry.get("Layers") or []
        tags = entry.get("RepoTags") or []
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise InvalidArgument(f"{where}: 'Layers' must be a list of paths")
        if not isinstance(tags, list) or not all(isinstance(x, str) for x in tags):
            raise InvalidArgument(f"{where}: 'RepoTags' must be a list of strings")
        config_digest = files.resolve(entry["Config"], f"{where} Config")
        config_bytes = content.read_bytes(config_digest)
        config = ImageConfig.from_bytes(config_bytes, f"{where} config")
        if len(config.diff_ids) != len(layers):
            raise InvalidArgument(
                f"{where}: {len(layers)} layers but the config lists {len(config.diff_ids)}"
            )
        layer_descs = []
        for j, path in enumerate(layers):
            digest = files.resolve(path, f"{where} layer {j}")
            layer_descs.append(
                Descriptor(_layer_media_type(content, digest), digest, content.info(digest).size)
            )
        manifest = Manifest(
            config=Descriptor(mediatypes.DOCKER_CONFIG, config_digest, len(config_bytes)),
            layers=tuple(layer_descs),
            media_type=mediatypes.DOCKER_MANIFEST,
        )
        data = canonical_json(manifest.to_json())
        out.append(ArchiveImage(data, Digest.from_bytes(data), tuple(tags)))
    return out


def _names_from(annotations: dict[str, str] | Any) -> tuple[str, ...]:
    if annotations.get(_NAME_ANNOTATION):
        return (annotations[_NAME_ANNOTATION],)
    ref = annotations.get(_REF_ANNOTATION, "")
    # A bare tag ("latest") names no repository: such an image loads untagged.
    if ref and (":" in ref or "/" in ref):
        return (ref,)
    return ()


def _oci_layout(files: _Files, content: LocalContentStore) -> list[ArchiveImage]:
    index = Index.from_bytes(files.small["index.json"], "archive index.json")
    config_tags: dict[Digest, list[str]] = {}
    if "manifest.json" in files.small:
        for entry in _json_list(files.small["manifest.json"], "archive manifest.json"):
            if isinstance(entry, dict) and isinstance(entry.get("Config"), str):
                digest = files.resolve(entry["Config"], "archive manifest.json Config")
                config_tags.setdefault(digest, []).extend(entry.get("RepoTags") or [])
    out: list[ArchiveImage] = []
    for i, desc in enumerate(index.manifests):
        names = _names_from(dict(desc.annotations))
        target = desc
        if desc.media_type in mediatypes.INDEXES:
            inner = Index.from_bytes(_blob(files, content, desc), f"archive index {desc.digest}")
            target = inner.select()
        if target.media_type not in mediatypes.MANIFESTS:
            raise InvalidArgument(
                f"archive index.json manifests[{i}]: unsupported media type {target.media_type!r}"
            )
        data = _blob(files, content, target)
        manifest = Manifest.from_bytes(data, f"archive manifest {target.digest}")
        for blob in (manifest.config, *manifest.layers):
            _blob_present(files, content, blob, target.digest)
        extra = tuple(config_tags.get(manifest.config.digest, ()))
        out.append(ArchiveImage(data, target.digest, names + extra))
    return out


def _blob(files: _Files, content: LocalContentStore, desc: Descriptor) -> bytes:
    _blob_present(files, content, desc, None)
    data = content.read_bytes(desc.digest)
    if Digest.from_bytes(data, desc.digest.algorithm) != desc.digest:
        raise DataLoss(f"archive: blob {desc.digest} does not match its digest")
    return data


def _blob_present(
    files: _Files, content: LocalContentStore, desc: Descriptor, manifest: Digest | None
) -> None:
    if not content.exists(desc.digest):
        owner = f"manifest {manifest}" if manifest else "index.json"
        raise NotFound(f"archive: {owner} names blob {desc.digest}, which is not in the archive")
    size = content.info(desc.digest).size
    if size != desc.size:
        raise DataLoss(f"archive: blob {desc.digest} has {size} bytes, descriptor says {desc.size}")


def read_archive(
    stream: BinaryIO, content: LocalContentStore, *, on_new: Callable[[Digest], None]
) -> list[ArchiveImage]:
    """Read a ``docker save`` archive or an OCI layout archive into ``content``.

    ``on_new`` is called with each blob digest this call adds, before it is committed,
    so the caller can lease it and remove it again if the load fails.

    Raises:
        InvalidArgument: neither ``index.json`` nor ``manifest.json`` is present, or
            they are malformed.
        NotFound: a manifest names a blob the archive lacks.
        DataLoss: the archive is truncated or a blob does not match its digest.
    """
    files = _ingest(stream, content, on_new=on_new)
    if "index.json" in files.small:
        return _oci_layout(files, content)
    if "manifest.json" in files.small:
        return _docker_save(files, content)
    raise InvalidArgument(
        "archive: neither index.json (OCI layout) nor manifest.json (docker save) found"
    )


@dataclass(frozen=True)
class SaveEntry:
    """One image to write into an archive.

    Attributes:
        manifest_digest: digest of the stored manifest.
        manifest_media_type: its media type.
        manifest: the parsed manifest.
        names: full references (``docker.io/library/busybox:latest``).
        familiar: the same, as Docker shows them (``busybox:latest``).
    """

    manifest_digest: Digest
    manifest_media_type: str
    manifest: Manifest
    manifest_size: int
    names: tuple[str, ...]
    familiar: tuple[str, ...]


def _tarinfo(name: str, size: int = 0, *, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o755 if directory else 0o644
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    return info


def write_archive(
    out: BinaryIO,
    entries: Sequence[SaveEntry],
    open_blob: Callable[[Digest], BinaryIO],
    blob_size: Callable[[Digest], int],
) -> None:
    """Write a docker-save archive with an OCI layout inside, streamed, deterministic."""
    blobs: list[Digest] = []
    for entry in entries:
        for digest in (
            *(layer.digest for layer in entry.manifest.layers),
            entry.manifest.config.digest,
            entry.manifest_digest,
        ):
            if digest not in blobs:
                blobs.append(digest)
    index: list[dict[str, Any]] = []
    manifest_json: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    for entry in entries:
        desc = Descriptor(entry.manifest_media_type, entry.manifest_digest, entry.manifest_size)
        if entry.names:
            for name, familiar in zip(entry.names, entry.familiar, strict=True):
                tag = name.rpartition(":")[2]
                index.append(
                    desc.to_json() | {"annotations": {_NAME_ANNOTATION: name, _REF_ANNOTATION: tag}}
                )
                repo = familiar.rpartition(":")[0]
                top = entry.manifest.layers[-1].digest.encoded if entry.manifest.layers else ""
                repositories.setdefault(repo, {})[tag] = top
        else:
            index.append(desc.to_json())
        manifest_json.append(
            {
                "Config": f"blobs/{entry.manifest.config.digest.algorithm}/"
                f"{entry.manifest.config.digest.encoded}",
                "RepoTags": list(entry.familiar),
                "Layers": [
                    f"blobs/{layer.digest.algorithm}/{layer.digest.encoded}"
                    for layer in entry.manifest.layers
                ],
            }
        )
    small = {
        "index.json": canonical_json(
            {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": index}
        ),
        "manifest.json": canonical_json(manifest_json),
        "oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}),
        "repositories": canonical_json(repositories),
    }
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 20) as tar:
        algorithms = sorted({d.algorithm for d in blobs})
        tar.addfile(_tarinfo("blobs", directory=True))
        for algorithm in algorithms:
            tar.addfile(_tarinfo(f"blobs/{algorithm}", directory=True))
        for digest in blobs:
            with open_blob(digest) as f:
                tar.addfile(
                    _tarinfo(f"blobs/{digest.algorithm}/{digest.encoded}", blob_size(digest)), f
                )
        for name, data in small.items():
            tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
