"""Interop with a real Docker 20.10 (Debian docker.io, the private peer of :mod:`tests.peers`):
it loads and runs Wharf's archives, and Wharf loads and runs (via chroot) Docker's."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.peers import DockerdPeer, dockerd_peer, peer_cgroups

from wharf.images import ImageService
from wharf.images.busybox import BUSYBOX, build_archive
from wharf.mount import mount_all, unmount

pytestmark = pytest.mark.skipif(
    shutil.which("dockerd") is None or shutil.which("docker") is None or not BUSYBOX.exists(),
    reason="needs Debian's docker.io and busybox-static",
)


class Dockerd:
    """The peer's docker CLI with text output, failing loudly by default."""

    def __init__(self, peer: DockerdPeer) -> None:
        self.peer = peer

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = self.peer.docker(*args, check=check)
        return subprocess.CompletedProcess(
            done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
        )


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Dockerd]:
    root = Path(tempfile.mkdtemp(prefix="b2-i", dir="/tmp"))
    try:
        with dockerd_peer(root) as peer:
            yield Dockerd(peer)
        assert peer_cgroups(root.name) == []
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def work() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="images-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path)


@contextlib.contextmanager
def mounted(service: ImageService, cid: str) -> Iterator[Path]:
    target = tempfile.mkdtemp(prefix="images-mnt-", dir="/tmp")
    mount_all(service.container_mounts(cid), target)
    try:
        yield Path(target)
    finally:
        unmount(target)
        os.rmdir(target)


def test_docker_loads_and_runs_wharf_busybox(dockerd: Dockerd, work: Path) -> None:
    archive = work / "busybox.tar"
    with open(archive, "wb") as f:
        image_id = build_archive(f)
    assert dockerd.docker("load", "-i", str(archive)).stdout.strip() == (
        "Loaded image: busybox:latest"
    )
    assert dockerd.docker("inspect", "-f", "{{.Id}}", "busybox").stdout.strip() == str(image_id)
    run = dockerd.docker("run", "--rm", "--network", "none", "busybox", "echo", "hi")
    assert run.stdout == "hi\n"


def test_wharf_loads_and_runs_a_docker_save(dockerd: Dockerd, work: Path) -> None:
    with open(work / "busybox.tar", "wb") as f:
        build_archive(f)
    dockerd.docker("load", "-i", str(work / "busybox.tar"))
    dockerd.docker("rm", "-f", "images-c1", check=False)
    dockerd.docker(
        "run", "--name", "images-c1", "--network", "none", "busybox",
        "sh", "-c", "echo from-docker > /hello; rm /etc/group",
    )  # fmt: skip
    dockerd.docker("commit", "-c", 'CMD ["cat", "/hello"]', "images-c1", "images-dk:1")
    dockerd.docker("rm", "images-c1")
    dockerd.docker("save", "-o", str(work / "dk.tar"), "images-dk:1")
    docker_id = dockerd.docker("inspect", "-f", "{{.Id}}", "images-dk:1").stdout.strip()

    service = ImageService(work / "store", snapshotter="overlay")
    with open(work / "dk.tar", "rb") as f:
        assert service.load(f) == ["Loaded image: images-dk:1"]
    image = service.resolve("images-dk:1")
    assert str(image.id) == docker_id
    assert image.config.config.cmd == ("cat", "/hello")
    service.prepare_container("w1", "images-dk:1")
    with mounted(service, "w1") as root:
        run = subprocess.run(
            ["chroot", str(root), *image.config.config.cmd],
            capture_output=True,
            text=True,
            check=True,
        )
        assert run.stdout == "from-docker\n"
        assert not (root / "etc/group").exists()
    service.remove_container("w1")


def test_docker_runs_an_image_wharf_committed(dockerd: Dockerd, work: Path) -> None:
    service = ImageService(work / "store", snapshotter="overlay")
    with open(work / "busybox.tar", "wb") as f:
        build_archive(f)
    with open(work / "busybox.tar", "rb") as f:
        service.load(f)
    service.prepare_container("w2", "busybox")
    with mounted(service, "w2") as root:
        (root / "greeting").write_text("made by wharf\n")
        (root / "etc/passwd").unlink()
    committed = service.commit("w2", "images-wharf:1", changes=['CMD ["cat", "/greeting"]'])
    with open(work / "wharf.tar", "wb") as f:
        service.save(["images-wharf:1"], f)
    assert (
        "Loaded image: images-wharf:1"
        in dockerd.docker("load", "-i", str(work / "wharf.tar")).stdout
    )
    inspect = dockerd.docker("inspect", "-f", "{{.Id}}", "images-wharf:1").stdout.strip()
    assert inspect == str(committed.id)
    run = dockerd.docker("run", "--rm", "--network", "none", "images-wharf:1")
    assert run.stdout == "made by wharf\n"
    ls = dockerd.docker("run", "--rm", "--network", "none", "images-wharf:1", "ls", "/etc")
    assert "passwd" not in ls.stdout.split()
    service.remove_container("w2")
