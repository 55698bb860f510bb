"""The corpus built by Wharf and by Debian's dockerd 20.10 classic builder: same filesystems
(modes, owners, contents) and same image configs, modulo ids and times."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.build.conftest import build_root
from tests.e2e.build.peer import DockerdPeer, dockerd_peer, listing
from tests.e2e.build.test_docker_build import CORPUS, build_case
from tests.e2e.daemon.harness import Daemon
from tests.peers import peer_cgroups

pytestmark = pytest.mark.skipif(shutil.which("dockerd") is None, reason="needs docker.io")

# BuildKit-only features that dockerd's classic builder refuses: Wharf-only cases
WHARF_ONLY = {"heredoc", "chmod"}
CASES = sorted(
    p.name for p in CORPUS.iterdir() if (p / "Dockerfile").exists() and p.name not in WHARF_ONLY
)
CONFIG_KEYS = (
    "Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
    "StopSignal", "OnBuild", "Healthcheck",
)  # fmt: skip


@pytest.fixture(scope="module")
def dockerd(busybox_tar: Path) -> Iterator[DockerdPeer]:
    root = build_root()
    try:
        with dockerd_peer(root) as peer:
            loaded = peer.docker("load", "-i", str(busybox_tar))
            assert loaded.returncode == 0, loaded.stderr
            yield peer
        assert peer_cgroups(root.name) == []
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _peer_build(dockerd: DockerdPeer, name: str) -> subprocess.CompletedProcess[bytes]:
    args = ["build", "--network", "none", "-t", f"corpus-{name}"]
    buildargs = CORPUS / name / "buildargs"
    if buildargs.exists():
        for line in buildargs.read_text().split():
            args += ["--build-arg", line]
    return dockerd.docker(*args, str(CORPUS / name))


def _history(peer: Daemon | DockerdPeer, image: str) -> list[str]:
    """``docker history`` CREATED BY, newest first, content hashes masked."""
    out = peer.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    return [
        re.sub(r"(file|dir|multi):[0-9a-f]+", r"\1:*", line) for line in out.decode().splitlines()
    ]


def _config(peer: Daemon | DockerdPeer, image: str) -> dict[str, object]:
    out = peer.docker("image", "inspect", image).stdout
    data = json.loads(out)[0]
    config = data["Config"]
    picked: dict[str, object] = {k: config.get(k) or None for k in CONFIG_KEYS}
    picked["layers"] = len(data["RootFS"].get("Layers") or [])
    return picked


@pytest.mark.parametrize("name", CASES)
def test_same_filesystem_and_config_as_dockerd(
    daemon: Daemon, dockerd: DockerdPeer, name: str
) -> None:
    if name == "onbuild-child":
        for peer_build in (
            build_case(daemon, "onbuild-parent"),
            _peer_build(dockerd, "onbuild-parent"),
        ):
            assert peer_build.returncode == 0
    ours = build_case(daemon, name)
    assert ours.returncode == 0, ours.stdout + ours.stderr
    theirs = _peer_build(dockerd, name)
    assert theirs.returncode == 0, theirs.stdout.decode() + theirs.stderr.decode()
    image = f"corpus-{name}"
    mine, peer = listing(daemon, image), listing(dockerd, image)
    differ = sorted(p for p in mine.keys() | peer.keys() if mine.get(p) != peer.get(p))
    assert [(p, mine.get(p), peer.get(p)) for p in differ] == []
    assert _config(daemon, image) == _config(dockerd, image)
    assert _history(daemon, image) == _history(dockerd, image)
