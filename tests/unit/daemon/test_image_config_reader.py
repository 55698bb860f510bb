"""The volume service's image adapter reads each image config once per image ID."""

from __future__ import annotations

import dataclasses
import json
from typing import cast

import pytest

from wharf.daemon.imagestore import ImageConfigReader
from wharf.errors import NotFound
from wharf.images import Image, ImageService
from wharf.oci import Digest
from wharf.oci.image import ImageConfig

_ID = "sha256:" + "c" * 64


class _CountingService:
    """Resolves one image (by ID or by the tag ``busybox``), counting the lookups."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        raw = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Volumes": {"/data": {}}},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
        self.image = Image(
            id=Digest.parse(_ID),
            config=ImageConfig.from_bytes(json.dumps(raw).encode(), "test config"),
            manifest_digest=Digest.parse("sha256:" + "d" * 64),
            manifest_media_type="application/vnd.oci.image.manifest.v1+json",
            repo_tags=("busybox:latest",),
            repo_digests=(),
            size=0,
            parent="",
            chain_id=None,
        )

    def resolve(self, ref: str) -> Image:
        self.calls.append(ref)
        if ref in (_ID, "busybox"):
            return self.image
        raise NotFound(f"No such image: {ref}")


def test_configs_by_id_are_read_once_and_other_refs_every_time() -> None:
    service = _CountingService()
    reader = ImageConfigReader(cast(ImageService, service))
    for _ in range(3):
        assert reader.resolve(_ID).config["Volumes"] == {"/data": {}}
    assert service.calls == [_ID]
    reader.resolve("busybox")
    reader.resolve("busybox")
    assert service.calls == [_ID, "busybox", "busybox"]  # a tag can move: never cached
    with pytest.raises(NotFound):
        reader.resolve("sha256:" + "e" * 64)
    with pytest.raises(NotFound):
        reader.resolve("sha256:" + "e" * 64)
    assert service.calls.count("sha256:" + "e" * 64) == 2  # misses are not remembered


def test_the_cache_is_bounded() -> None:
    service = _CountingService()
    reader = ImageConfigReader(cast(ImageService, service))

    def resolve(ref: str) -> Image:
        service.calls.append(ref)
        return dataclasses.replace(service.image, id=Digest.parse(ref))

    service.resolve = resolve  # type: ignore[method-assign]
    ids = [f"sha256:{n:064x}" for n in range(300)]
    for image_id in ids:
        reader.resolve(image_id)
    reader.resolve(ids[-1])
    reader.resolve(ids[0])
    assert service.calls.count(ids[-1]) == 1
    assert service.calls.count(ids[0]) == 2  # evicted first
