"""Session fixtures for the registry's end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_peers import make_oci_layout, temp_dir


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = temp_dir("e2e")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def oci_layout(workdir: Path) -> Path:
    return make_oci_layout(workdir / "layout")


@pytest.fixture
def dockerd() -> Iterator[dict[str, str]]:
    """A private dockerd; yields the environment for the docker CLI."""
    state = temp_dir("dk")
    sock = state / "d.sock"
    log = open(state / "dockerd.log", "wb")  # noqa: SIM115
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
        with contextlib.suppress(subprocess.CalledProcessError):
            for mount in reversed(Path("/proc/self/mounts").read_text().splitlines()):
                target = mount.split()[1]
                if target.startswith(str(state)):
                    subprocess.run(["umount", "-l", target], check=False)
        shutil.rmtree(state, ignore_errors=True)
