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
from tests.e2e.build.httpfiles import Files
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
    masked = (re.sub(r"(file|dir|multi):[0-9a-f]+", r"\1:*", x) for x in out.decode().splitlines())
    return [re.sub(r"(ADD|COPY) [0-9a-f]{64} in ", r"\1 * in ", line) for line in masked]


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


def test_add_url_same_as_dockerd(
    daemon: Daemon, dockerd: DockerdPeer, server: tuple[str, Files], tmp_path: Path
) -> None:
    url, _ = server
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\n"
        f"ADD {url}/files/hello.txt /dl/\n"
        f"ADD {url}/files/archive.tar /dl/\n"
        f"ADD {url}/files/hello.txt /renamed.txt\n"
        f"ADD {url}/dl/ /dl/\n"
        f"ADD {url}/redirect /r/\n"
    )
    image = "addurl-peer:1"
    for peer in (daemon, dockerd):
        built = peer.docker("build", "-t", image, str(tmp_path))
        assert built.returncode == 0, built.stdout.decode() + built.stderr.decode()
    mine, peer = listing(daemon, image), listing(dockerd, image)
    differ = sorted(p for p in mine.keys() | peer.keys() if mine.get(p) != peer.get(p))
    assert [(p, mine.get(p), peer.get(p)) for p in differ] == []
    assert mine["dl/archive.tar"][:2] == ("file", 0o600)  # not extracted, 0600
    assert _history(daemon, image) == _history(dockerd, image)
    for bad in ("/missing", "/plain/"):
        (tmp_path / "Dockerfile").write_text(f"FROM busybox\nADD {url}{bad} /x/\n")
        outs = [peer.docker("build", str(tmp_path)) for peer in (daemon, dockerd)]
        assert [o.returncode for o in outs] == [1, 1]
        want = "failed to GET" if bad == "/missing" else "cannot determine filename for source"
        assert all(want in (o.stdout + o.stderr).decode() for o in outs), outs
