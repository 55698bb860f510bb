"""Local-driver volume options with the real docker CLI and SDK: a tmpfs volume and a bind of a
host directory, mounted at first use and unmounted when the last user stops; bad options are
a 400 that names the volume and leave nothing behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.e2e.daemon.harness import Daemon
from tests.e2e.network.helpers import ok as _ok
from wharf.volumes.local import is_mounted


@pytest.fixture
def host_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="n2-vol-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _mountpoint(daemon: Daemon, name: str) -> str:
    return _ok(daemon.docker("volume", "inspect", "-f", "{{.Mountpoint}}", name)).strip()


def test_tmpfs_volume_mounted_while_used(daemon: Daemon) -> None:
    _ok(
        daemon.docker(
            "volume",
            "create",
            "--opt",
            "type=tmpfs",
            "--opt",
            "device=tmpfs",
            "--opt",
            "o=size=64m",
            "n2-tmp",
        )
    )
    try:
        options = _ok(daemon.docker("volume", "inspect", "-f", "{{json .Options}}", "n2-tmp"))
        assert '"type":"tmpfs"' in options and '"o":"size=64m"' in options
        mountpoint = _mountpoint(daemon, "n2-tmp")
        assert not os.path.ismount(mountpoint)
        _ok(
            daemon.docker(
                "run",
                "-d",
                "--name",
                "t1",
                "-v",
                "n2-tmp:/data",
                "busybox",
                "sh",
                "-c",
                "echo one > /data/f && sleep 100",
            )
        )
        _ok(
            daemon.docker(
                "run", "-d", "--name", "t2", "-v", "n2-tmp:/data", "busybox", "sleep", "100"
            )
        )
        assert os.path.ismount(mountpoint)
        df = _ok(daemon.docker("exec", "t2", "df", "-k", "/data")).splitlines()[-1].split()
        assert df[1] == "65536", df
        mounts = _ok(daemon.docker("exec", "t2", "cat", "/proc/mounts"))
        assert any(line.split()[1:3] == ["/data", "tmpfs"] for line in mounts.splitlines())
        assert _ok(daemon.docker("exec", "t2", "cat", "/data/f")) == "one\n"
        _ok(daemon.docker("stop", "-t", "0", "t1"))
        assert os.path.ismount(mountpoint)  # t2 still uses it
        _ok(daemon.docker("stop", "-t", "0", "t2"))
        assert not os.path.ismount(mountpoint)
        _ok(daemon.docker("start", "t2"))
        assert os.path.ismount(mountpoint)
        assert daemon.docker("exec", "t2", "cat", "/data/f").returncode != 0  # a fresh tmpfs
        _ok(daemon.docker("rm", "-f", "t1", "t2"))
        assert not os.path.ismount(mountpoint)
    finally:
        daemon.docker("rm", "-f", "t1", "t2")
        daemon.docker("volume", "rm", "n2-tmp")
    assert not os.path.exists(mountpoint)


def test_bind_volume_of_a_host_directory(daemon: Daemon, host_dir: Path) -> None:
    (host_dir / "keep").write_text("kept\n")
    _ok(
        daemon.docker(
            "volume",
            "create",
            "--opt",
            "type=none",
            "--opt",
            "o=bind",
            "--opt",
            f"device={host_dir}",
            "n2-bind",
        )
    )
    try:
        mountpoint = _mountpoint(daemon, "n2-bind")
        _ok(
            daemon.docker(
                "run", "-d", "--name", "b1", "-v", "n2-bind:/data", "busybox", "sleep", "100"
            )
        )
        assert is_mounted(mountpoint)
        busy = daemon.docker("volume", "rm", "n2-bind")
        assert busy.returncode != 0 and b"volume is in use" in busy.stderr
        _ok(daemon.docker("rm", "-f", "b1"))
        assert not is_mounted(mountpoint)
        out = _ok(
            daemon.docker(
                "run",
                "--rm",
                "-v",
                "n2-bind:/data",
                "busybox",
                "sh",
                "-c",
                "cat /data/keep; echo new > /data/new",
            )
        )
        assert out == "kept\n"
        assert (host_dir / "new").read_text() == "new\n"
        assert not is_mounted(mountpoint)
        _ok(daemon.docker("volume", "rm", "n2-bind"))
        # Removing the volume never touches the directory it bound.
        assert sorted(os.listdir(host_dir)) == ["keep", "new"]
    finally:
        daemon.docker("rm", "-f", "b1")
        daemon.docker("volume", "rm", "n2-bind")


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"colour": "red"}, 'invalid option key: "colour"'),
        ({"type": "tmpfs"}, 'missing required option "device"'),
        ({"type": "none", "device": "/tmp"}, "type=none needs o=bind"),
        ({"type": "none", "o": "bind", "device": "/nonexistent-n2"}, "expected an existing"),
        ({"type": "none", "o": "bind", "device": "relative"}, "expected an existing absolute"),
        ({"type": "tmpfs", "device": "tmpfs", "o": "size=lots"}, "cannot be mounted"),
    ],
)
def test_bad_volume_options_are_400(daemon: Daemon, opts: dict[str, str], message: str) -> None:
    client = docker.DockerClient(base_url=daemon.host)
    try:
        with pytest.raises(docker.errors.APIError) as info:
            client.volumes.create(name="n2-bad", driver_opts=opts)
        assert info.value.status_code == 400
        assert "volume n2-bad" in str(info.value.explanation)
        assert message in str(info.value.explanation)
        assert "n2-bad" not in [v.name for v in client.volumes.list()]
    finally:
        client.close()
    # The CLI shows the same message.
    args = [a for k, v in opts.items() for a in ("--opt", f"{k}={v}")]
    proc = daemon.docker("volume", "create", *args, "n2-bad")
    assert proc.returncode != 0
    assert message.encode() in proc.stderr
