"""Volumes with the real docker CLI and SDK: named, anonymous, bind, tmpfs, volumes-from."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.e2e.daemon.harness import Daemon
from tests.e2e.network.helpers import ok as _ok


@pytest.fixture
def tmp_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="net-vol-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_named_volume_outlives_container(daemon: Daemon) -> None:
    _ok(
        daemon.docker(
            "run",
            "--name",
            "writer",
            "-v",
            "net-data:/data",
            "busybox",
            "sh",
            "-c",
            "echo kept > /data/f",
        )
    )
    _ok(daemon.docker("rm", "writer"))
    assert "net-data" in _ok(daemon.docker("volume", "ls", "-q")).split()
    assert _ok(daemon.docker("run", "--rm", "-v", "net-data:/d", "busybox", "cat", "/d/f")) == (
        "kept\n"
    )
    mountpoint = _ok(daemon.docker("volume", "inspect", "-f", "{{.Mountpoint}}", "net-data"))
    assert Path(mountpoint.strip(), "f").read_text() == "kept\n"
    _ok(daemon.docker("volume", "rm", "net-data"))
    assert not Path(mountpoint.strip()).exists()


def test_named_volume_is_filled_from_the_image(daemon: Daemon) -> None:
    out = _ok(daemon.docker("run", "--rm", "-v", "net-etc:/etc", "busybox", "cat", "/etc/passwd"))
    assert out.startswith("root:")
    # Filled once: later changes stay, the image's content does not come back.
    _ok(daemon.docker("run", "--rm", "-v", "net-etc:/etc", "busybox", "rm", "/etc/passwd"))
    gone = daemon.docker("run", "--rm", "-v", "net-etc:/etc", "busybox", "cat", "/etc/passwd")
    assert gone.returncode != 0
    _ok(daemon.docker("volume", "rm", "net-etc"))


def test_volume_in_use_is_409(daemon: Daemon) -> None:
    _ok(daemon.docker("create", "--name", "holder", "-v", "net-busy:/x", "busybox", "true"))
    client = docker.DockerClient(base_url=daemon.host)
    try:
        with pytest.raises(docker.errors.APIError) as err:
            client.volumes.get("net-busy").remove()
        assert err.value.status_code == 409
        assert "in use" in str(err.value)
        with pytest.raises(docker.errors.NotFound):
            client.volumes.get("net-nosuch")
        volume = client.volumes.create("net-sdk", labels={"team": "net"})
        assert volume.attrs["Labels"] == {"team": "net"}
        listed = client.volumes.list(filters={"label": "team=net"})
        assert [v.name for v in listed] == ["net-sdk"]
        volume.remove()
    finally:
        client.close()
    _ok(daemon.docker("rm", "holder"))
    _ok(daemon.docker("volume", "rm", "net-busy"))


def test_anonymous_volume_from_config_removed_with_rm_v(daemon: Daemon) -> None:
    before = set(_ok(daemon.docker("volume", "ls", "-q")).split())
    cid = _ok(daemon.docker("create", "-v", "/scratch", "busybox", "true")).strip()
    _ok(daemon.docker("start", "-a", cid))
    mounts = _ok(
        daemon.docker("inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Destination}}{{end}}", cid)
    )
    assert mounts.strip() == "volume /scratch"
    assert len(set(_ok(daemon.docker("volume", "ls", "-q")).split()) - before) == 1
    _ok(daemon.docker("rm", "-v", cid))
    assert set(_ok(daemon.docker("volume", "ls", "-q")).split()) == before


def test_bind_mounts_read_only_enforced(daemon: Daemon, tmp_dir: Path) -> None:
    (tmp_dir / "in.txt").write_text("from host\n")
    out = _ok(
        daemon.docker(
            "run",
            "--rm",
            "-v",
            f"{tmp_dir}:/h",
            "busybox",
            "sh",
            "-c",
            "cat /h/in.txt; echo back > /h/out.txt",
        )
    )
    assert out == "from host\n"
    assert (tmp_dir / "out.txt").read_text() == "back\n"
    ro = daemon.docker("run", "--rm", "-v", f"{tmp_dir}:/h:ro", "busybox", "touch", "/h/x")
    assert ro.returncode != 0
    assert b"Read-only file system" in ro.stderr
    assert not (tmp_dir / "x").exists()
    mount_ro = daemon.docker(
        "run",
        "--rm",
        "--mount",
        f"type=bind,source={tmp_dir},target=/h,readonly",
        "busybox",
        "touch",
        "/h/y",
    )
    assert mount_ro.returncode != 0
    missing = daemon.docker(
        "run", "--rm", "--mount", f"type=bind,source={tmp_dir}/nope,target=/h", "busybox", "true"
    )
    assert missing.returncode != 0
    assert b"bind source path does not exist" in missing.stderr
    bad = daemon.docker("run", "--rm", "-v", f"{tmp_dir}:relative", "busybox", "true")
    assert bad.returncode != 0


def test_tmpfs_mount_and_volumes_from(daemon: Daemon) -> None:
    out = _ok(
        daemon.docker(
            "run",
            "--rm",
            "--mount",
            "type=tmpfs,target=/t",
            "busybox",
            "grep",
            " /t ",
            "/proc/mounts",
        )
    )
    assert out.startswith("tmpfs /t tmpfs")
    _ok(
        daemon.docker(
            "run",
            "--name",
            "source",
            "-v",
            "net-shared:/shared",
            "busybox",
            "sh",
            "-c",
            "echo via-from > /shared/f",
        )
    )
    try:
        out = _ok(
            daemon.docker("run", "--rm", "--volumes-from", "source", "busybox", "cat", "/shared/f")
        )
        assert out == "via-from\n"
        ro = daemon.docker(
            "run", "--rm", "--volumes-from", "source:ro", "busybox", "touch", "/shared/g"
        )
        assert ro.returncode != 0
    finally:
        _ok(daemon.docker("rm", "source"))
    _ok(daemon.docker("volume", "rm", "net-shared"))
