"""One private daemon per test module, with busybox loaded; everything removed afterwards."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon.harness import Daemon, busybox_archive, leftover_cgroups, short_root


@pytest.fixture(scope="session")
def busybox_tar() -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="api-bb-"))
    try:
        yield busybox_archive(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon(busybox_tar: Path) -> Iterator[Daemon]:
    d = Daemon(short_root())
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
