"""Debian's dockerd (private root and socket) pushing to and pulling from Wharf's registry."""

from __future__ import annotations

from pathlib import Path

from registry_peers import docker, running, skopeo


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
