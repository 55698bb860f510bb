"""A private Wharf daemon (busybox loaded) and a private Debian dockerd, both on /tmp/dist-*
roots and removed afterwards."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon.harness import Daemon, busybox_archive, leftover_cgroups


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
    sock = state / "d.sock"
    log = open(state / "dockerd.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            "dockerd",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--data-root",
            str(state / "data"),
            "--exec-root",
            str(state / "x"),
            "--pidfile",
            str(state / "d.pid"),
            "-H",
            f"unix://{sock}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(state / "cfg")}
    try:
        deadline = time.monotonic() + 60
        while (
            subprocess.run(["docker", "info"], check=False, env=env, capture_output=True).returncode
            != 0
        ):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((state / "dockerd.log").read_text()[-3000:])
            time.sleep(0.3)
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            target = line.split()[1]
            if target.startswith(str(state)):
                subprocess.run(["umount", "-l", target], check=False)
        shutil.rmtree(state, ignore_errors=True)
