"""A private Wharf daemon (busybox loaded) and a private Debian dockerd, both on /tmp/dist-*
roots and removed afterwards."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon.harness import Daemon, busybox_archive, leftover_cgroups
from tests.peers import private_dockerd


def _short_root() -> Path:
    while True:
        path = Path(f"/tmp/dist-{secrets.token_hex(2)}")
        with contextlib.suppress(FileExistsError):
            path.mkdir()
            return path


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dist-w-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon(workdir: Path) -> Iterator[Daemon]:
    """A Wharf daemon with ``busybox:latest`` and a private DOCKER_CONFIG."""
    d = Daemon(_short_root())
    d.cgroup_parent = f"dist-{d.root.name.removeprefix('dist-')}-{secrets.token_hex(2)}"
    d.env["DOCKER_CONFIG"] = str(d.root / "docker-config")
    try:
        d.start()
        loaded = d.docker("load", "-i", str(busybox_archive(workdir)))
        assert loaded.returncode == 0, loaded.stderr
        yield d
        assert leftover_cgroups(d.cgroup_parent) == []
    finally:
        d.cleanup()


@pytest.fixture(scope="module")
def dockerd() -> Iterator[dict[str, str]]:
    """Debian's dockerd on a private root and socket; yields the docker CLI's environment."""
    state = _short_root()
    try:
        with private_dockerd(state) as env:
            yield env
    finally:
        shutil.rmtree(state, ignore_errors=True)
