"""Build image archives for tests: legacy docker-save, OCI layouts, deep images."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "archive"))

from tarmaker import E, make_tar

from wharf.oci import Digest

__all__ = ["E", "config_for", "docker_save_legacy", "make_tar", "oci_archive"]


def config_for(layers: list[bytes], cmd: list[str] | None = None) -> bytes:
    """An image config for uncompressed ``layers``."""
    diff_ids = []
    for layer in layers:
        diff_ids.append("sha256:" + hashlib.sha256(_plain(layer)).hexdigest())
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": cmd or ["sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
        }
    ).encode()


def _plain(layer: bytes) -> bytes:
    import gzip

    return gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def docker_save_legacy(layers: list[bytes], tags: list[str], config: bytes | None = None) -> bytes:
    """A docker <= 24 ``save`` archive: ``<id>/layer.tar``, ``<config>.json``."""
    config = config or config_for(layers)
    out = io.BytesIO()
    config_hex = hashlib.sha256(config).hexdigest()
    with tarfile.open(fileobj=out, mode="w") as tar:
        paths = []
        for i, layer in enumerate(layers):
            layer_id = hashlib.sha256(f"{i}".encode() + layer).hexdigest()
            _add(tar, f"{layer_id}/VERSION", b"1.0")
            _add(tar, f"{layer_id}/json", b"{}")
            _add(tar, f"{layer_id}/layer.tar", layer)
            paths.append(f"{layer_id}/layer.tar")
        _add(tar, f"{config_hex}.json", config)
        manifest = [{"Config": f"{config_hex}.json", "RepoTags": tags, "Layers": paths}]
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    return out.getvalue()


def oci_archive(
    layers: list[bytes],
    ref_name: str = "",
    *,
    drop_blob: int | None = None,
    multi_platform: bool = False,
) -> bytes:
    """An OCI image layout as a tar (``skopeo copy … oci-archive:``)."""
    config = config_for(layers)
    blobs = {Digest.from_bytes(b): b for b in [*layers, config]}
    layer_descs = [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar"
            + ("+gzip" if layer[:2] == b"\x1f\x8b" else ""),
            "digest": str(Digest.from_bytes(layer)),
            "size": len(layer),
        }
        for layer in layers
    ]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(Digest.from_bytes(config)),
                "size": len(config),
            },
            "layers": layer_descs,
        }
    ).encode()
    blobs[Digest.from_bytes(manifest)] = manifest
    desc: dict[str, object] = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": str(Digest.from_bytes(manifest)),
        "size": len(manifest),
    }
    if multi_platform:
        # An index of two platforms; only linux/amd64's manifest is in the archive.
        other = {
            **desc,
            "digest": "sha256:" + "0" * 64,
            "platform": {"os": "linux", "architecture": "arm64"},
        }
        amd64 = {**desc, "platform": {"os": "linux", "architecture": "amd64"}}
        inner = json.dumps({"schemaVersion": 2, "manifests": [other, amd64]}).encode()
        blobs[Digest.from_bytes(inner)] = inner
        desc = {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": str(Digest.from_bytes(inner)),
            "size": len(inner),
        }
    if ref_name:
        desc["annotations"] = {"org.opencontainers.image.ref.name": ref_name}
    index = {"schemaVersion": 2, "manifests": [desc]}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add(tar, "index.json", json.dumps(index).encode())
        for i, (digest, data) in enumerate(blobs.items()):
            if i == drop_blob:
                continue
            _add(tar, f"blobs/sha256/{digest.encoded}", data)
    return out.getvalue()
