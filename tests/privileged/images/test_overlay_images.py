"""The image store on real overlayfs: busybox runs, deep images mount, commits work."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "archive"))
sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "images"))

from imgmaker import E, docker_save_legacy, make_tar

from wharf.images import ImageService
from wharf.images.busybox import BUSYBOX, build_archive
from wharf.mount import Mount, mount_all, unmount


@pytest.fixture
def service() -> Iterator[ImageService]:
    # A short root: overlay repeats it once per layer in one page of mount options.
    root = Path(tempfile.mkdtemp(prefix="images-", dir="/tmp"))
    s = ImageService(root / "store", snapshotter="overlay")
    try:
        yield s
    finally:
        s.close()
        shutil.rmtree(root)


@contextlib.contextmanager
def mounted(mounts: list[Mount]) -> Iterator[Path]:
    target = Path(tempfile.mkdtemp(prefix="images-mnt-", dir="/tmp"))
    mount_all(mounts, str(target))
    try:
        yield target
    finally:
        unmount(str(target))
        target.rmdir()


@pytest.mark.skipif(not BUSYBOX.exists(), reason="needs Debian's busybox-static")
def test_busybox_runs_in_a_container_layer_and_commits(service: ImageService) -> None:
    archive = io.BytesIO()
    build_archive(archive)
    service.load(io.BytesIO(archive.getvalue()))
    mounts = service.prepare_container("c1", "busybox")
    assert mounts[0].type == "overlay"
    with mounted(mounts) as root:
        run = subprocess.run(
            ["chroot", str(root), "/bin/sh", "-c", "echo hi; echo x > /tmp/new; rm /etc/group"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert run.stdout == "hi\n"
    assert service.changes("c1") == [(0, "/etc"), (2, "/etc/group"), (0, "/tmp"), (1, "/tmp/new")]
    image = service.commit("c1", "committed:1")
    service.prepare_container("c2", "committed:1")
    with mounted(service.container_mounts("c2")) as root:
        assert (root / "tmp/new").read_text() == "x\n"
        assert not (root / "etc/group").exists()
        assert (root / "etc/passwd").exists()
    exported = io.BytesIO()
    service.export_container("c2", exported)
    with tarfile.open(fileobj=io.BytesIO(exported.getvalue())) as tar:
        names = set(tar.getnames())
        assert tar.extractfile("tmp/new").read() == b"x\n"  # type: ignore[union-attr]
    assert "etc/group" not in names
    assert {"bin/busybox", "bin/sh", "etc/passwd"} <= names
    service.remove_container("c1")
    service.remove_container("c2")
    assert service.remove("committed:1")[-1] == ("Deleted", str(image.id))
    # The busybox layer is untouched and shared: still one layer for busybox.
    assert len(service.metadata.layers()) == 1


def test_a_100_layer_image_mounts_and_reads(service: ImageService) -> None:
    layers = [make_tar([E("layers", "dir", mode=0o755), E("layers/0", data=b"0")])]
    for i in range(1, 100):
        entries = [E(f"layers/{i}", data=str(i).encode()), E(f"layers/.wh.{i - 1}")]
        if i == 50:
            entries.append(E("opaque", "dir", mode=0o755))
        if i == 99:
            entries.append(E("opaque/.wh..wh..opq"))
        if i == 49:
            entries += [E("opaque", "dir", mode=0o755), E("opaque/hidden", data=b"h")]
        layers.append(make_tar(entries))
    service.load(io.BytesIO(docker_save_legacy(layers, ["deep:100"])))
    mounts = service.prepare_container("deep", "deep:100")
    assert len(",".join(mounts[0].options)) < 4096
    assert mounts[0].options[-1].count(":") == 99  # 100 lower layers
    with mounted(mounts) as root:
        assert sorted((root / "layers").iterdir()) == [root / "layers/99"]
        assert (root / "layers/99").read_text() == "99"
        assert list((root / "opaque").iterdir()) == []
        (root / "layers/written").write_text("w")
    assert (1, "/layers/written") in service.changes("deep")
    service.remove_container("deep")
    service.remove("deep:100")
    assert list(service.snapshots.walk()) == []
