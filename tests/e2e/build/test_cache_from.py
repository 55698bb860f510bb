"""``--cache-from``: an image built elsewhere (saved and loaded, so no local build cache)
serves as the cache; without it the same build runs its steps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.build.conftest import build_root
from tests.e2e.build.test_docker_build import docker_build
from tests.e2e.daemon.harness import Daemon

DOCKERFILE = (
    "FROM busybox\nENV A=1\nCOPY data /data\nRUN echo ran-the-step && cat /data > /copy\n"
    'CMD ["cat", "/copy"]\n'
)


@pytest.fixture
def other(busybox_tar: Path) -> Iterator[Daemon]:
    d = Daemon(build_root())
    d.cgroup_parent = f"b2-{d.root.name.removeprefix('b2-')}"
    try:
        d.start()
        assert d.docker("load", "-i", str(busybox_tar)).returncode == 0
        yield d
    finally:
        d.cleanup()


def test_cache_from_a_loaded_image(daemon: Daemon, other: Daemon, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "data").write_text("payload\n")
    built = docker_build(daemon, tmp_path, "-t", "cachesrc:1")
    assert built.returncode == 0, built.stderr
    saved = daemon.docker("save", "cachesrc:1")
    assert other.docker("load", input=saved.stdout).returncode == 0

    with_source = docker_build(other, tmp_path, "--cache-from", "cachesrc:1", "-t", "reused")
    assert with_source.returncode == 0, with_source.stderr
    assert with_source.stdout.count("Using cache") == 4
    assert "\nran-the-step\n" not in with_source.stdout  # the RUN did not run
    assert other.docker("run", "--rm", "reused").stdout == b"payload\n"

    (tmp_path / "data").write_text("changed\n")
    changed = docker_build(other, tmp_path, "--cache-from", "cachesrc:1", "-t", "changed")
    assert changed.stdout.count("Using cache") == 1  # ENV only: the COPY differs
    assert "\nran-the-step\n" in changed.stdout
