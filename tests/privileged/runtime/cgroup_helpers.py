"""Shared by the privileged cgroup tests: a unique cgroup path and a joined child."""

from __future__ import annotations

import glob
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest

from wharf.runtime.cgroups import Cgroup, open_cgroup

PREFIX = "/rtcg-test-"


def new_path() -> str:
    return f"{PREFIX}{secrets.token_hex(4)}"


def leftovers(path: str) -> list[str]:
    """Directories of ``path`` in any cgroup hierarchy (v1 and unified)."""
    return glob.glob(f"/sys/fs/cgroup/*{path}") + glob.glob(f"/sys/fs/cgroup/*/*{path}")


@pytest.fixture
def cg_path() -> Iterator[str]:
    path = new_path()
    try:
        yield path
    finally:
        for version in ("v1", "v2"):
            open_cgroup(path, version=version).destroy(kill=True)  # type: ignore[arg-type]
        assert leftovers(path) == []


def run_in(cg: Cgroup, code: str, **kwargs: object) -> subprocess.Popen[bytes]:
    """Start ``python -c code`` already inside ``cg``: the forked child writes b"0" to the
    join fds before exec, as the runtime's clone child does."""
    fds = cg.join_fds()

    def join() -> None:
        for fd in fds:
            os.write(fd, b"0")

    try:
        # The test process is single-threaded, so preexec_fn is safe here; it plays the
        # part of the runtime's clone child joining before execve.
        return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
            [sys.executable, "-S", "-c", code],
            preexec_fn=join,  # noqa: PLW1509
            **kwargs,
        )
    finally:
        for fd in fds:
            os.close(fd)
