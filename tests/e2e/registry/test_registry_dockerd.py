"""Debian's dockerd (private root and socket) pushing to and pulling from Wharf's registry."""

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
from registry_peers import running, skopeo, temp_dir


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


def docker(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        ["docker", *args], check=False, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def test_dockerd_push_and_pull(dockerd: dict[str, str], oci_layout: Path, workdir: Path) -> None:
    archive = workdir / "docker-archive.tar"
    if not archive.exists():
        skopeo("copy", f"oci:{oci_layout}:latest", f"docker-archive:{archive}:demo/busybox:v1")
    docker(dockerd, "load", "-i", str(archive))
    image_id = docker(dockerd, "image", "inspect", "-f", "{{.Id}}", "demo/busybox:v1")
    with running("wharf", workdir) as reg:
        ref = f"{reg.host}/demo/busybox:v1"
        docker(dockerd, "tag", "demo/busybox:v1", ref)
        out = docker(dockerd, "push", ref)
        assert "digest: sha256:" in out
        digest = out.split("digest: ", 1)[1].split()[0]
        docker(dockerd, "rmi", ref, "demo/busybox:v1")
        docker(dockerd, "pull", ref)
        assert docker(dockerd, "image", "inspect", "-f", "{{.Id}}", ref) == image_id
        repo_digests = docker(dockerd, "image", "inspect", "-f", "{{json .RepoDigests}}", ref)
        assert digest in repo_digests
        # A second push finds every blob present (HEAD) and only re-sends the manifest.
        assert "Layer already exists" in docker(dockerd, "push", ref)
        # docker search asks the registry's /v1/search.
        found = docker(dockerd, "search", "--format", "{{.Name}}", f"{reg.host}/busybox")
        assert "demo/busybox" in found
