"""Docker drives wharf-runtime as it drives runc (dockerd --add-runtime): the real docker
CLI, dockerd 20.10 and containerd-shim-runc-v2 calling our command line."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_helpers import (  # type: ignore[import-not-found]
    WHARF_RUNTIME,
    rootfs,
)

__all__ = ["rootfs"]

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
IMAGE = "rtcore-busybox:latest"


class Docker:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{base}/docker.sock"}

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DOCKER, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture(scope="module")
def docker(rootfs: Path) -> Iterator[Docker]:
    if not shutil.which("dockerd"):
        pytest.fail("dockerd (Debian docker.io) is not installed")
    base = Path(tempfile.mkdtemp(prefix="rtcore-dockerd-"))
    log = open(base / "dockerd.log", "wb")  # noqa: SIM115 -- closed in finally
    proc = subprocess.Popen(
        [
            "dockerd",
            f"--data-root={base}/data",
            f"--exec-root={base}/exec",
            f"--host=unix://{base}/docker.sock",
            f"--pidfile={base}/dockerd.pid",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            f"--add-runtime=wharf={WHARF_RUNTIME}",
            f"--cgroup-parent=/{base.name}",
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    client = Docker(base)
    try:
        for _ in range(300):
            if client("version").returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.fail("dockerd did not come up: " + (base / "dockerd.log").read_text()[-2000:])
        archive = base / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(rootfs, arcname=".")
        imported = subprocess.run(
            [DOCKER, "import", str(archive), IMAGE],
            capture_output=True,
            text=True,
            env=client.env,
            check=False,
        )
        assert imported.returncode == 0, imported.stderr
        yield client
    finally:
        ids = client("ps", "-aq").stdout.split()
        if ids:
            client("rm", "-f", *ids)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        with open("/proc/self/mountinfo") as f:
            stale = [line.split()[4] for line in f if str(base) in line]
        for target in reversed(stale):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True)
        for ctrl in os.listdir("/sys/fs/cgroup"):
            with contextlib.suppress(OSError):
                os.rmdir(f"/sys/fs/cgroup/{ctrl}/{base.name}")
        with contextlib.suppress(OSError):
            shutil.rmtree(base)


def run(docker: Docker, *args: str) -> subprocess.CompletedProcess[str]:
    return docker("run", "--runtime", "wharf", "--network", "none", *args)


def test_docker_run_output_exit_code_and_isolation(docker: Docker) -> None:
    r = run(
        docker,
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "echo hello; echo $$; grep Seccomp: /proc/self/status; exit 7",
    )
    assert r.returncode == 7, r.stderr
    assert r.stdout.split("\n")[:3] == ["hello", "1", "Seccomp:\t2"]


def test_docker_maps_missing_command_to_127(docker: Docker) -> None:
    r = run(docker, "--rm", IMAGE, "no-such-command")
    assert r.returncode == 127
    assert "executable file not found" in r.stderr


def test_docker_detached_exec_pause_stop_logs(docker: Docker) -> None:
    name = "rtcore-docker-life"
    script = 'trap "echo bye; exit 3" TERM; echo started; while true; do sleep 0.1; done'
    r = run(docker, "-d", "--name", name, IMAGE, "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    r = docker("exec", name, "sh", "-c", "echo in; cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("in\nsh -c trap")
    r = docker("exec", "-t", name, "tty")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("/dev/pts/")
    assert docker("pause", name).returncode == 0
    assert docker("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "paused"
    assert docker("unpause", name).returncode == 0
    assert docker("stop", "-t", "10", name).returncode == 0
    assert docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "3"
    assert docker("logs", name).stdout.split() == ["started", "bye"]
    assert docker("rm", name).returncode == 0
