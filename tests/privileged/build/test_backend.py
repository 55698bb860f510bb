"""The daemon's build backend on a real image store (overlay): COPY into a layer, and
recovery of what a daemon killed mid-build left behind."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.daemon.harness import busybox_archive

from wharf.build import CopyStep
from wharf.daemon.build import DaemonBuildBackend
from wharf.images import ImageService
from wharf.mount import mount_all


@pytest.fixture
def store() -> Iterator[ImageService]:
    root = Path(tempfile.mkdtemp(prefix="build-store-"))
    service = ImageService(root / "image")
    try:
        with open(busybox_archive(root), "rb") as f:
            service.load(f)
        yield service
    finally:
        service.close()
        shutil.rmtree(root, ignore_errors=True)


def _mounted_paths(prefix: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(prefix))]


def test_copy_makes_one_layer_and_leaves_no_mount(store: ImageService, tmp_path: Path) -> None:
    backend = DaemonBuildBackend(store, None, tmp_path / "build")  # type: ignore[arg-type]
    base, config = backend.get_image("busybox")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "f").write_text("data")
    step = CopyStep(base=base, config=config, sources=("f",), dest="/x/", context=tmp_path / "ctx")
    image_id = asyncio.run(backend.copy(step))
    image = store.resolve(image_id)
    assert len(image.config.diff_ids) == len(config.diff_ids) + 1
    assert image.parent == base
    assert _mounted_paths(tmp_path) == []
    assert [c.id for c in store.metadata.containers()] == []
    assert sorted(p.name for p in (tmp_path / "build").iterdir()) == []


def test_leftovers_of_a_killed_build_are_recovered(store: ImageService, tmp_path: Path) -> None:
    root = tmp_path / "build"
    root.mkdir()
    mounts = store.prepare_container("build-deadbeef", "busybox")
    (root / "m-left").mkdir()
    mount_all(mounts, str(root / "m-left"))
    (root / "b-left").mkdir()
    (root / "b-left" / "context.tar").write_bytes(b"x")
    (root / "t-b-0123.tar").write_bytes(b"x")  # a context tar being received
    (root / "c-kept").mkdir()  # a context kept for the next build: stale after a restart
    (root / "c-kept" / "Dockerfile").write_text("FROM busybox\n")
    DaemonBuildBackend(store, None, root)  # type: ignore[arg-type]
    assert _mounted_paths(root) == []
    assert list(root.iterdir()) == []
    assert [c.id for c in store.metadata.containers()] == []
