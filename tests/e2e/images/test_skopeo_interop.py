"""skopeo (Debian) moves images between OCI layouts and docker-archive files that Wharf
loads and saves; digests are preserved both ways."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharf.images import ImageService
from wharf.images.busybox import BUSYBOX, build_archive

pytestmark = pytest.mark.skipif(
    shutil.which("skopeo") is None or not BUSYBOX.exists(),
    reason="needs skopeo and busybox-static (Debian)",
)


def skopeo(*args: str) -> bytes:
    return subprocess.run(
        ["skopeo", "--insecure-policy", *args], check=True, capture_output=True
    ).stdout


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def work() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="images-skopeo-", dir="/tmp"))
    yield path
    shutil.rmtree(path)


@pytest.fixture
def oci_archive(work: Path) -> Path:
    """Wharf's busybox archive, converted by skopeo to an OCI archive (gzip layers)."""
    with open(work / "busybox.tar", "wb") as f:
        build_archive(f)
    target = work / "busybox-oci.tar"
    skopeo("copy", f"docker-archive:{work / 'busybox.tar'}", f"oci-archive:{target}:busybox:oci")
    return target


def test_wharf_loads_skopeo_oci_archive_with_digests_preserved(
    work: Path, oci_archive: Path
) -> None:
    manifest_digest = sha256(skopeo("inspect", "--raw", f"oci-archive:{oci_archive}"))
    config_digest = sha256(skopeo("inspect", "--config", "--raw", f"oci-archive:{oci_archive}"))
    service = ImageService(work / "store", snapshotter="native")
    with open(oci_archive, "rb") as f:
        assert service.load(f) == ["Loaded image: busybox:oci"]
    image = service.resolve("busybox:oci")
    assert (str(image.id), str(image.manifest_digest)) == (config_digest, manifest_digest)

    # Wharf's save is an OCI archive and a docker archive at once; skopeo reads both.
    saved = work / "saved.tar"
    with open(saved, "wb") as f:
        service.save(["busybox:oci"], f)
    assert sha256(skopeo("inspect", "--raw", f"oci-archive:{saved}")) == manifest_digest
    assert sha256(skopeo("inspect", "--config", "--raw", f"docker-archive:{saved}")) == str(
        image.id
    )


def test_wharf_loads_skopeo_docker_archive_and_oci_layout_dir(
    work: Path, oci_archive: Path
) -> None:
    docker_archive = work / "docker.tar"
    skopeo("copy", f"oci-archive:{oci_archive}", f"docker-archive:{docker_archive}:bb:two")
    config_digest = sha256(
        skopeo("inspect", "--config", "--raw", f"docker-archive:{docker_archive}")
    )
    service = ImageService(work / "store", snapshotter="native")
    with open(docker_archive, "rb") as f:
        assert service.load(f) == ["Loaded image: bb:two"]
    assert str(service.resolve("bb:two").id) == config_digest

    layout = work / "layout"
    skopeo("copy", f"docker-archive:{docker_archive}", f"oci:{layout}:localhost:5000/bb:three")
    index = json.loads((layout / "index.json").read_text())
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as tar:
        tar.add(layout, arcname=".")
    assert service.load(io.BytesIO(stream.getvalue())) == ["Loaded image: localhost:5000/bb:three"]
    image = service.resolve("localhost:5000/bb:three")
    assert str(image.manifest_digest) == index["manifests"][0]["digest"]

    # And back: skopeo copies Wharf's save into an OCI layout with the same manifest.
    saved = work / "saved.tar"
    with open(saved, "wb") as f:
        service.save(["localhost:5000/bb:three"], f)
    out = work / "out-layout"
    skopeo("copy", "--preserve-digests", f"oci-archive:{saved}", f"oci:{out}:x")
    again = json.loads((out / "index.json").read_text())
    assert again["manifests"][0]["digest"] == str(image.manifest_digest)
