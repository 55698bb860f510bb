"""One private daemon for the build tests (root ``/tmp/b2-XXXX``), busybox loaded."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.build.httpfiles import Files, serve_files
from tests.e2e.daemon.harness import Daemon, busybox_archive, leftover_cgroups


def build_root() -> Path:
    """A fresh ``/tmp/b2-XXXX`` directory (short: the exec root holds unix sockets)."""
    while True:
        path = Path(f"/tmp/b2-{secrets.token_hex(2)}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


@pytest.fixture(scope="session")
def busybox_tar() -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="b2-bb-"))
    try:
        yield busybox_archive(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon(busybox_tar: Path) -> Iterator[Daemon]:
    d = Daemon(build_root())
    d.cgroup_parent = f"b2-{d.root.name.removeprefix('b2-')}"
    try:
        d.start()
        loaded = d.docker("load", "-i", str(busybox_tar))
        assert loaded.returncode == 0, loaded.stderr
        yield d
        ids = d.docker("ps", "-aq").stdout.split()
        if ids:
            d.docker("rm", "-f", *[i.decode() for i in ids])
        assert leftover_cgroups(d.cgroup_parent) == []
    finally:
        d.cleanup()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Files]]:
    """An HTTP server for ADD's URLs: its base URL and what it serves."""
    with serve_files() as served:
        yield served
