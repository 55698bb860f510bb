"""Real clients (skopeo, oras-py) against Wharf's registry and, as the reference, Debian's
docker-registry (distribution 2.8): the same steps must give the same results on both."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import httpx
import oras.client
import pytest
from registry_peers import running, skopeo

KINDS = ["wharf", "distribution"]


def index_digest(layout: Path, ref: str = "latest") -> str:
    index = json.loads((layout / "index.json").read_text())
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
            return str(m["digest"])
    raise AssertionError(f"{ref} not in {layout}")


@pytest.mark.parametrize("kind", KINDS)
def test_skopeo_copy_inspect_list_delete(
    kind: str, oci_layout: Path, workdir: Path, tmp_path: Path
) -> None:
    with running(kind, workdir) as reg:
        dest = f"docker://{reg.host}/demo/busybox"
        skopeo("copy", "--dest-tls-verify=false", f"oci:{oci_layout}:latest", f"{dest}:latest")
        skopeo("copy", "--dest-tls-verify=false", f"oci:{oci_layout}:latest", f"{dest}:second")
        back = tmp_path / "back"
        skopeo("copy", "--src-tls-verify=false", f"{dest}:latest", f"oci:{back}:latest")
        assert index_digest(back) == index_digest(oci_layout)
        inspect = json.loads(skopeo("inspect", "--tls-verify=false", f"{dest}:latest").stdout)
        assert inspect["Digest"] == index_digest(oci_layout)
        assert len(inspect["Layers"]) == 1
        raw = skopeo("inspect", "--raw", "--tls-verify=false", f"{dest}:latest").stdout
        assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == index_digest(oci_layout)
        tags = json.loads(skopeo("list-tags", "--tls-verify=false", dest).stdout)["Tags"]
        assert sorted(tags) == ["latest", "second"]
        # Docker schema2 conversion on push, and a docker-archive made from the registry.
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--format",
            "v2s2",
            f"oci:{oci_layout}:latest",
            f"docker://{reg.host}/demo/v2s2:latest",
        )
        raw = skopeo(
            "inspect", "--raw", "--tls-verify=false", f"docker://{reg.host}/demo/v2s2:latest"
        )
        assert (
            json.loads(raw.stdout)["mediaType"]
            == "application/vnd.docker.distribution.manifest.v2+json"
        )
        archive = tmp_path / "back.tar"
        skopeo(
            "copy",
            "--src-tls-verify=false",
            f"docker://{reg.host}/demo/v2s2:latest",
            f"docker-archive:{archive}:demo/v2s2:latest",
        )
        assert archive.stat().st_size > 500_000
        skopeo("delete", "--tls-verify=false", f"{dest}:second")
        tags = json.loads(skopeo("list-tags", "--tls-verify=false", dest).stdout)["Tags"]
        assert tags in ([], None)
        gone = skopeo("inspect", "--tls-verify=false", f"{dest}:latest", check=False)
        assert gone.returncode != 0


@pytest.mark.parametrize("kind", KINDS)
def test_oras_push_pull_artifact(kind: str, workdir: Path, tmp_path: Path) -> None:
    artifact = tmp_path / "artifact.txt"
    artifact.write_text("an artifact, not an image\n" * 100)
    with running(kind, workdir) as reg:
        client = oras.client.OrasClient(hostname=reg.host, insecure=True)
        target = f"{reg.host}/demo/artifact:v1"
        client.push(files=[str(artifact)], target=target, disable_path_validation=True)
        assert "v1" in client.get_tags(f"{reg.host}/demo/artifact")
        manifest = client.get_manifest(target)
        assert manifest["layers"][0]["annotations"]["org.opencontainers.image.title"] == (
            "artifact.txt"
        )
        out = tmp_path / "out"
        client.pull(target=target, outdir=str(out))
        assert (out / "artifact.txt").read_text() == artifact.read_text()
        catalog = httpx.get(f"{reg.url}/v2/_catalog").json()["repositories"]
        assert "demo/artifact" in catalog


def test_two_wharf_processes_share_one_root(
    oci_layout: Path, workdir: Path, tmp_path: Path
) -> None:
    shared = {"storage": {"filesystem": {"rootdirectory": str(tmp_path / "shared")}}}
    with running("wharf", workdir, shared) as one, running("wharf", workdir, shared) as two:
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            f"oci:{oci_layout}:latest",
            f"docker://{one.host}/demo/shared:v1",
        )
        back = tmp_path / "back"
        skopeo(
            "copy",
            "--src-tls-verify=false",
            f"docker://{two.host}/demo/shared:v1",
            f"oci:{back}:latest",
        )
        assert index_digest(back) == index_digest(oci_layout)
        assert httpx.get(f"{two.url}/v2/_catalog").json()["repositories"] == ["demo/shared"]
        assert httpx.get(f"{two.url}/v1/search?q=shared").json()["num_results"] == 1


def add_index_tag(layout: Path, tag: str) -> str:
    """Tag an OCI image index (one linux/amd64 entry) in ``layout``; returns its digest."""
    index = json.loads((layout / "index.json").read_text())
    entry = next(
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "latest"
    )
    image_index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": entry["digest"],
                    "size": entry["size"],
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    ).encode()
    digest = hashlib.sha256(image_index).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(image_index)
    index["manifests"] = [
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag
    ] + [
        {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": f"sha256:{digest}",
            "size": len(image_index),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
    ]
    (layout / "index.json").write_text(json.dumps(index))
    return f"sha256:{digest}"


@pytest.mark.parametrize("kind", KINDS)
def test_skopeo_copy_all_of_an_image_index(
    kind: str, oci_layout: Path, workdir: Path, tmp_path: Path
) -> None:
    layout = tmp_path / "multi"
    shutil.copytree(oci_layout, layout)
    digest = add_index_tag(layout, "multi")
    with running(kind, workdir) as reg:
        dest = f"docker://{reg.host}/demo/multi:v1"
        skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:multi", dest)
        raw = skopeo("inspect", "--raw", "--tls-verify=false", dest).stdout
        assert json.loads(raw)["mediaType"] == "application/vnd.oci.image.index.v1+json"
        assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == digest
        back = tmp_path / "back"
        skopeo("copy", "--all", "--src-tls-verify=false", dest, f"oci:{back}:v1")
        assert index_digest(back, "v1") == digest
