"""The build context as it arrives: a daemon-wide size limit (``--max-build-context-size``)
on the bytes sent and on the files they extract to, and tars that try to write outside the
context directory. Each is refused with a clear error and leaves nothing behind."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.build.conftest import build_root
from tests.e2e.build.test_docker_build import docker_build
from tests.e2e.daemon.harness import WHARF, Daemon

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def small(busybox_tar: Path) -> Iterator[Daemon]:
    d = Daemon(build_root())
    d.cgroup_parent = f"b2-{d.root.name.removeprefix('b2-')}"
    d.extra_args = ["--max-build-context-size", "64k"]
    try:
        d.start()
        assert d.docker("load", "-i", str(busybox_tar)).returncode == 0
        yield d
    finally:
        d.cleanup()


def _tar(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
                continue
            name, data = member
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _post(daemon: Daemon, body: bytes, tag: str) -> httpx.Response:
    transport = httpx.HTTPTransport(uds=str(daemon.socket))
    with httpx.Client(transport=transport, base_url="http://d", timeout=60) as client:
        return client.post(
            f"/v1.41/build?t={tag}&version=1",
            content=body,
            headers={"Content-Type": "application/x-tar"},
        )


def _build_dirs(daemon: Daemon) -> set[str]:
    """Scratch directories and files, and contexts kept after successful builds."""
    return {p.name for p in (daemon.root / "data" / "build").iterdir()} - {"build-cache.json"}


def _nothing_left(daemon: Daemon, tag: str, before: set[str]) -> None:
    assert daemon.docker("image", "inspect", tag).returncode != 0
    assert _build_dirs(daemon) <= before


def test_a_context_over_the_limit_is_refused_and_the_daemon_goes_on(
    small: Daemon, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY big /big\n")
    (tmp_path / "big").write_bytes(os.urandom(160 * LIMIT))
    before = _build_dirs(small)
    result = docker_build(small, tmp_path, "-t", "limits:big")
    assert result.returncode != 0
    assert f"build context: larger than the daemon's limit of {LIMIT} bytes" in result.stderr
    _nothing_left(small, "limits:big", before)
    (tmp_path / "big").write_bytes(os.urandom(LIMIT // 4))  # under the limit: builds
    fits = docker_build(small, tmp_path, "-t", "limits:fits")
    assert fits.returncode == 0, fits.stdout + fits.stderr


def test_a_compressed_context_is_limited_by_what_it_extracts_to(small: Daemon) -> None:
    # 1 MiB of zeros compresses to about 1 KiB: under the limit as sent, over it extracted
    body = gzip.compress(_tar([("Dockerfile", b"FROM busybox\n"), ("zeros", bytes(1 << 20))]))
    assert len(body) < LIMIT
    before = _build_dirs(small)
    response = _post(small, body, "limits:bomb")
    assert response.status_code == 400
    assert (
        f"its files add up to more than the limit of {LIMIT} bytes" in (response.json()["message"])
    )
    _nothing_left(small, "limits:bomb", before)


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


def _hardlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE
    info.linkname = target
    return info


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("../outside/f", b"x")], "path '../outside/f' escapes the context directory"),
        ([("/OUTSIDE/f", b"x")], "path '/OUTSIDE/f' escapes the context directory"),
        ([("a/../../outside/f", b"x")], "escapes the context directory"),
        # a symlink to the outside directory, then a file written through it
        ([_symlink("link", "/OUTSIDE"), ("link/f", b"x")], "'link/f' goes through a symlink"),
        ([_symlink("up", "../../../.."), ("up/f", b"x")], "symlink target"),
        ([_hardlink("hard", "../outside/f")], "hard link target"),
    ],
)
def test_context_tars_that_escape_write_nothing_outside(
    small: Daemon, tmp_path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], message: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    fixed: list[tarfile.TarInfo | tuple[str, bytes]] = [("Dockerfile", b"FROM busybox\n")]
    for member in members:
        if isinstance(member, tarfile.TarInfo):
            member.linkname = member.linkname.replace("/OUTSIDE", str(outside))
            fixed.append(member)
        else:
            fixed.append((member[0].replace("/OUTSIDE", str(outside)), member[1]))
    before = _build_dirs(small)
    response = _post(small, _tar(fixed), "limits:escape")
    assert response.status_code == 400
    assert message.replace("/OUTSIDE", str(outside)) in response.json()["message"]
    assert list(outside.iterdir()) == []
    assert not (small.root / "data" / "outside").exists()
    _nothing_left(small, "limits:escape", before)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "--max-build-context-size 0: expected a positive size"),
        ("-1", "--max-build-context-size -1: expected a positive size"),
        ("lots", "Invalid value for --max-build-context-size: invalid size: 'lots'"),
    ],
)
def test_a_bad_limit_stops_the_daemon_before_it_starts(
    tmp_path: Path, value: str, message: str
) -> None:
    result = subprocess.run(
        [*WHARF, "daemon", "-H", f"unix://{tmp_path}/d.sock", "--data-root", str(tmp_path / "d"),
         "--exec-root", str(tmp_path / "x"), "--pidfile", str(tmp_path / "x" / "pid"),
         "--max-build-context-size", value],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "d.sock").exists()
