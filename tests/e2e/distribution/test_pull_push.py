"""``docker push``/``pull``/``login`` against a Wharf daemon, with Wharf's registry, Debian's
docker-registry, skopeo and Debian's dockerd on the other side."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.e2e.daemon.harness import Daemon
from tests.e2e.distribution.peers import htpasswd, registry, skopeo


def _ok(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def _make_oci_layout(workdir: Path) -> Path:
    """``img:latest``: busybox-static plus /hello.txt, built offline with umoci."""
    rootfs = workdir / "rootfs"
    (rootfs / "bin").mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "/bin/busybox", str(rootfs / "bin" / "busybox")], check=True)
    (rootfs / "hello.txt").write_text("hello from skopeo\n")
    tar = workdir / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
    layout = workdir / "img"
    for argv in (
        ["umoci", "init", "--layout", str(layout)],
        ["umoci", "new", "--image", f"{layout}:latest"],
        ["umoci", "raw", "add-layer", "--image", f"{layout}:latest", str(tar)],
        ["umoci", "config", "--image", f"{layout}:latest", "--config.cmd", "/bin/sh"],
    ):
        subprocess.run(argv, check=True, capture_output=True)
    return layout


def test_push_to_wharf_registry_then_skopeo_sees_it_and_pull_runs(
    daemon: Daemon, workdir: Path
) -> None:
    with registry("wharf", workdir) as reg:
        ref = f"{reg.host}/e2e/busybox:v1"
        _ok(daemon.docker("tag", "busybox:latest", ref))
        out = _ok(daemon.docker("push", ref))
        assert f"The push refers to repository [{reg.host}/e2e/busybox]" in out
        assert "v1: digest: sha256:" in out
        pushed = out.split("digest: ")[1].split()[0]
        inspected = skopeo("inspect", "--tls-verify=false", f"docker://{ref}")
        assert inspected.returncode == 0, inspected.stderr
        assert json.loads(inspected.stdout)["Digest"] == pushed
        again = _ok(daemon.docker("push", ref))
        assert "Layer already exists" in again
        _ok(daemon.docker("rmi", ref))
        out = _ok(daemon.docker("pull", ref))
        assert f"Status: Downloaded newer image for {ref}" in out
        assert f"Digest: {pushed}" in out
        assert "Already exists" in out  # busybox:latest holds the same layer
        digests = _ok(daemon.docker("image", "inspect", ref, "--format", "{{json .RepoDigests}}"))
        assert f"{reg.host}/e2e/busybox@{pushed}" in json.loads(digests)
        assert _ok(daemon.docker("run", "--rm", ref, "echo", "pulled-ok")) == "pulled-ok\n"
        assert "Image is up to date" in _ok(daemon.docker("pull", ref))
        by_digest = f"{reg.host}/e2e/busybox@{pushed}"
        assert "Image is up to date" in _ok(daemon.docker("pull", by_digest))
        _ok(daemon.docker("rmi", ref, by_digest))
        assert "Downloaded newer image" in _ok(daemon.docker("pull", by_digest))
        _ok(daemon.docker("rmi", by_digest))


def test_push_to_docker_registry_then_dockerd_pulls_and_runs(
    daemon: Daemon, workdir: Path, dockerd: dict[str, str]
) -> None:
    with registry("distribution", workdir) as reg:
        ref = f"{reg.host}/e2e/forpeer:v1"
        _ok(daemon.docker("tag", "busybox:latest", ref))
        _ok(daemon.docker("push", ref))
        peer = subprocess.run(
            ["docker", "pull", ref], env=dockerd, capture_output=True, check=False
        )
        assert peer.returncode == 0, peer.stderr.decode()
        run = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", ref, "echo", "ran-on-dockerd"],
            env=dockerd,
            capture_output=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr.decode()
        assert run.stdout == b"ran-on-dockerd\n"
        _ok(daemon.docker("rmi", ref))


def test_skopeo_pushes_oci_and_schema2_wharf_pulls_and_runs(daemon: Daemon, workdir: Path) -> None:
    layout = _make_oci_layout(workdir)
    with registry("distribution", workdir) as reg:
        for fmt, tag in (("oci", "oci"), ("v2s2", "s2")):
            ref = f"{reg.host}/e2e/skopeo:{tag}"
            src, dest = f"oci:{layout}:latest", f"docker://{ref}"
            copied = skopeo("copy", "--dest-tls-verify=false", "--format", fmt, src, dest)
            assert copied.returncode == 0, copied.stderr
            _ok(daemon.docker("pull", ref))
            out = _ok(daemon.docker("run", "--rm", ref, "/bin/busybox", "cat", "/hello.txt"))
            assert out == "hello from skopeo\n"
            _ok(daemon.docker("rmi", ref))


def test_missing_image_and_unreachable_registry(daemon: Daemon, workdir: Path) -> None:
    with registry("wharf", workdir) as reg:
        missing = daemon.docker("pull", f"{reg.host}/e2e/nope:v1")
        assert missing.returncode != 0
        assert f"manifest for {reg.host}/e2e/nope:v1 not found" in missing.stderr.decode()
        port = int(reg.host.split(":")[1])
    gone = daemon.docker("pull", f"127.0.0.1:{port}/e2e/nope:v1")
    assert gone.returncode != 0
    assert f"127.0.0.1:{port}" in gone.stderr.decode()
    images = _ok(daemon.docker("images", "--format", "{{.Repository}}"))
    assert "e2e/nope" not in images


def test_basic_auth_login_push_pull(daemon: Daemon, workdir: Path) -> None:
    users = htpasswd(workdir / "htpasswd", "alice", "s3cret")
    auth = {"auth": {"htpasswd": {"realm": "basic-realm", "path": str(users)}}}
    with registry("distribution", workdir, auth) as reg:
        ref = f"{reg.host}/e2e/private:v1"
        _ok(daemon.docker("tag", "busybox:latest", ref))
        denied = daemon.docker("push", ref, input=b"")
        assert denied.returncode != 0
        assert "unauthorized: authentication required" in denied.stderr.decode()
        wrong = daemon.docker("login", "-u", "alice", "--password-stdin", reg.host, input=b"bad")
        assert wrong.returncode != 0
        assert "401 Unauthorized" in wrong.stderr.decode()
        login = daemon.docker("login", "-u", "alice", "--password-stdin", reg.host, input=b"s3cret")
        assert "Login Succeeded" in _ok(login)
        _ok(daemon.docker("push", ref))
        _ok(daemon.docker("rmi", ref))
        _ok(daemon.docker("pull", ref))
        _ok(daemon.docker("logout", reg.host))
        _ok(daemon.docker("rmi", ref))
        anonymous = daemon.docker("pull", ref, input=b"")
        assert anonymous.returncode != 0
        assert f"pull access denied for {ref}" in anonymous.stderr.decode()
        assert "authentication required" in anonymous.stderr.decode()
