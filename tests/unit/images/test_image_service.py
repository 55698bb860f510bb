from __future__ import annotations

import gzip
import io
import json
import tarfile
import threading
from pathlib import Path

import pytest
from imgmaker import E, config_for, docker_save_legacy, make_tar, oci_archive

from wharf.archive import UnsafeEntry
from wharf.errors import Conflict, DataLoss, InvalidArgument, NotFound, WharfError
from wharf.images import ImageService
from wharf.oci import Digest

BASE = make_tar(
    [
        E("bin", "dir", mode=0o755),
        E("bin/sh", data=b"#!shell", mode=0o755),
        E("etc", "dir", mode=0o755),
        E("etc/passwd", data=b"root:x:0:0\n"),
        E("etc/motd", data=b"hello\n"),
    ]
)
TOP = make_tar([E("etc/.wh.motd"), E("app", "dir", mode=0o755), E("app/run", data=b"go")])


@pytest.fixture
def service(tmp_path: Path) -> ImageService:
    return ImageService(tmp_path / "store", snapshotter="native")


def _state(s: ImageService) -> tuple[int, int, int, int]:
    """(blobs, snapshots, images, layers): what a failed operation must leave unchanged."""
    return (
        len(list(s.content.walk())),
        len(list(s.snapshots.walk())),
        len(s.metadata.images()),
        len(s.metadata.layers()),
    )


def _rootfs(s: ImageService, cid: str, image: str) -> Path:
    (mount,) = s.prepare_container(cid, image)
    return Path(mount.source)


def test_load_legacy_docker_save(service: ImageService) -> None:
    config = config_for([BASE, TOP])
    messages = service.load(io.BytesIO(docker_save_legacy([BASE, TOP], ["app:v1"], config)))
    assert messages == ["Loaded image: app:v1"]
    image = service.resolve("app:v1")
    assert image.id == Digest.from_bytes(config)
    assert image.repo_tags == ("app:v1",)
    assert image.config.config.cmd == ("sh",)
    root = _rootfs(service, "c1", "app:v1")
    assert sorted(p.name for p in root.iterdir()) == ["app", "bin", "etc"]
    assert not (root / "etc/motd").exists()
    assert (root / "app/run").read_bytes() == b"go"
    # The legacy archive's extra files (VERSION, json) are not kept as blobs.
    assert len(list(service.content.walk())) == 4  # 2 layers, config, manifest


def test_save_and_load_preserve_digests(service: ImageService, tmp_path: Path) -> None:
    service.load(io.BytesIO(oci_archive([gzip.compress(BASE), TOP], "example.com/a/b:1")))
    image = service.resolve("example.com/a/b:1")
    out = io.BytesIO()
    service.save(["example.com/a/b:1"], out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        names = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert {"index.json", "manifest.json", "oci-layout", "repositories"} <= names
    assert manifest[0]["RepoTags"] == ["example.com/a/b:1"]
    assert index["manifests"][0]["digest"] == str(image.manifest_digest)
    other = ImageService(tmp_path / "other", snapshotter="native")
    assert other.load(io.BytesIO(out.getvalue())) == ["Loaded image: example.com/a/b:1"]
    again = other.resolve("example.com/a/b:1")
    assert (again.id, again.manifest_digest) == (image.id, image.manifest_digest)


def test_oci_layout_without_name_loads_untagged(service: ImageService) -> None:
    messages = service.load(io.BytesIO(oci_archive([BASE], "latest")))
    assert messages[0].startswith("Loaded image ID: sha256:")
    assert service.list(dangling=True)[0].repo_tags == ()


@pytest.mark.parametrize(
    ("archive", "error", "message"),
    [
        (oci_archive([BASE, TOP], "a:b", drop_blob=1), NotFound, "not in the archive"),
        (
            docker_save_legacy([BASE], ["x:y"], config_for([TOP])),
            DataLoss,
            "hashes to",
        ),
        (docker_save_legacy([BASE, TOP], ["x:y"])[:3000], DataLoss, "truncated"),
        (docker_save_legacy([make_tar([E("../x")])], ["x:y"]), UnsafeEntry, "'..'"),
        (b"garbage" * 100, DataLoss, "corrupt"),
        (make_tar([E("hello", data=b"x")]), InvalidArgument, "neither"),
        (docker_save_legacy([BASE], ["Bad:Tag"]), InvalidArgument, "lowercase"),
    ],
)
def test_bad_archives_leave_the_store_as_it_was(
    service: ImageService, archive: bytes, error: type[WharfError], message: str
) -> None:
    service.load(io.BytesIO(docker_save_legacy([BASE], ["keep:me"])))
    before = _state(service)
    with pytest.raises(error, match=message):
        service.load(io.BytesIO(archive))
    assert _state(service) == before
    assert service.resolve("keep:me").repo_tags == ("keep:me",)


def test_layers_are_shared_and_never_removed_while_used(service: ImageService) -> None:
    service.load(io.BytesIO(docker_save_legacy([BASE], ["base:1"])))
    service.load(io.BytesIO(docker_save_legacy([BASE, TOP], ["app:1"])))
    assert len(service.metadata.layers()) == 2  # BASE is unpacked once
    service.prepare_container("c1", "base:1")
    with pytest.raises(Conflict, match="container c1"):
        service.remove("base:1")
    app_id = str(service.resolve("app:1").id)
    assert service.remove("app:1") == [("Untagged", "app:1"), ("Deleted", app_id)]
    assert len(service.metadata.layers()) == 1
    assert service.remove("base:1", force=True) == [("Untagged", "base:1")]
    assert len(service.metadata.images()) == 1  # kept: its container still uses it
    service.remove_container("c1")
    assert service.prune(dangling_only=True)[0] != []
    assert _state(service) == (0, 0, 0, 0)


def test_remove_by_id_with_several_tags_needs_force(service: ImageService) -> None:
    service.load(io.BytesIO(docker_save_legacy([BASE], ["a:1"])))
    service.tag("a:1", "b:2")
    image = service.resolve("b:2")
    with pytest.raises(Conflict, match="multiple repositories"):
        service.remove(image.short_id)
    assert service.remove("b:2") == [("Untagged", "b:2")]
    assert service.remove(image.short_id) == [("Untagged", "a:1"), ("Deleted", str(image.id))]
    with pytest.raises(NotFound, match="No such image"):
        service.resolve("a:1")


def test_import_rootfs_with_changes(service: ImageService) -> None:
    image = service.import_rootfs(
        io.BytesIO(gzip.compress(BASE)),
        "imported:v1",
        changes=['CMD ["/bin/sh"]', "ENV FOO=bar", "EXPOSE 8080", "WORKDIR /app"],
        message="from a tarball",
    )
    assert image.repo_tags == ("imported:v1",)
    assert image.config.config.cmd == ("/bin/sh",)
    assert image.config.config.env == ("FOO=bar",)
    assert image.config.config.exposed_ports == ("8080/tcp",)
    assert image.config.diff_ids == (Digest.from_bytes(BASE),)
    assert service.history("imported:v1")[0].comment == "from a tarball"
    root = _rootfs(service, "c", "imported:v1")
    assert (root / "etc/passwd").read_bytes() == b"root:x:0:0\n"


def test_import_of_bad_tarball_or_change_leaves_nothing(service: ImageService) -> None:
    with pytest.raises(InvalidArgument, match="RUN"):
        service.import_rootfs(io.BytesIO(BASE), "x:1", changes=["RUN rm -rf /"])
    with pytest.raises(UnsafeEntry):
        service.import_rootfs(io.BytesIO(make_tar([E("/etc/shadow")])), "x:1")
    with pytest.raises(DataLoss):
        service.import_rootfs(io.BytesIO(gzip.compress(BASE)[:100]), "x:1")
    assert _state(service) == (0, 0, 0, 0)


def test_container_changes_commit_export(service: ImageService) -> None:
    service.load(io.BytesIO(docker_save_legacy([BASE], ["base:1"])))
    root = _rootfs(service, "c1", "base:1")
    (root / "etc/motd").unlink()
    (root / "etc/passwd").write_text("root:x:0:0\nme:x:1000:1000\n")
    (root / "data").mkdir()
    (root / "data/file").write_text("new")
    assert service.changes("c1") == [
        (1, "/data"),
        (1, "/data/file"),
        (0, "/etc"),
        (2, "/etc/motd"),
        (0, "/etc/passwd"),
    ]
    image = service.commit("c1", "snap:1", changes=["CMD cat /data/file"], author="me")
    assert image.parent == str(service.resolve("base:1").id)
    assert len(image.config.diff_ids) == 2
    assert image.config.config.cmd == ("/bin/sh", "-c", "cat /data/file")
    history = service.history("snap:1")
    assert history[0].id == str(image.id)
    out = io.BytesIO()
    service.export_container("c1", out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        names = tar.getnames()
        assert tar.extractfile("data/file").read() == b"new"  # type: ignore[union-attr]
    assert "etc/motd" not in names
    root2 = _rootfs(service, "c2", "snap:1")
    assert (root2 / "data/file").read_text() == "new"
    assert not (root2 / "etc/motd").exists()


def test_resolve_by_id_prefix_and_errors(service: ImageService) -> None:
    service.load(io.BytesIO(docker_save_legacy([BASE], ["a:1"])))
    image = service.resolve("a:1")
    assert service.resolve(image.id.encoded[:6]).id == image.id
    assert service.resolve(str(image.id)).id == image.id
    with pytest.raises(NotFound, match="No such image: nothere"):
        service.resolve("nothere")
    with pytest.raises(InvalidArgument, match="invalid reference"):
        service.resolve("Upper")
    with pytest.raises(InvalidArgument, match="digest reference cannot be a tag"):
        service.tag("a:1", f"a@{image.id}")


def test_list_filters(service: ImageService) -> None:
    service.load(io.BytesIO(docker_save_legacy([BASE], ["alpha:1"])))
    service.load(io.BytesIO(docker_save_legacy([BASE, TOP], ["beta:2"])))
    assert [i.repo_tags for i in service.list(reference="alp*")] == [("alpha:1",)]
    assert [i.repo_tags for i in service.list(reference="beta")] == [("beta:2",)]
    assert service.list(labels=["nope"]) == []
    assert len(service.list(dangling=False)) == 2


def test_half_done_unpack_is_cleaned_at_open(tmp_path: Path) -> None:
    s = ImageService(tmp_path / "store", snapshotter="native")
    s.load(io.BytesIO(docker_save_legacy([BASE], ["keep:1"])))
    s.snapshots.prepare("extract-crashed", None)
    s.metadata.begin_layer("sha256:" + "1" * 64, "sha256:" + "1" * 64, None, "sha256:dead")
    s.content.ingest_bytes(b"orphan blob")
    s.close()
    s = ImageService(tmp_path / "store", snapshotter="native")
    assert _state(s) == (3, 1, 1, 1)
    assert s.resolve("keep:1").repo_tags == ("keep:1",)


def test_one_image_under_two_manifests_saves_each_as_loaded(service: ImageService) -> None:
    oci = oci_archive([BASE], "oci/name:1")
    service.load(io.BytesIO(docker_save_legacy([BASE], ["docker/name:1"])))
    service.load(io.BytesIO(oci))
    from_docker, from_oci = service.resolve("docker/name:1"), service.resolve("oci/name:1")
    assert from_docker.id == from_oci.id
    assert from_docker.manifest_digest != from_oci.manifest_digest
    with tarfile.open(fileobj=io.BytesIO(oci)) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert str(from_oci.manifest_digest) == index["manifests"][0]["digest"]
    out = io.BytesIO()
    service.save(["oci/name:1"], out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        saved = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert saved["manifests"][0]["digest"] == str(from_oci.manifest_digest)
    assert saved["manifests"][0]["mediaType"] == "application/vnd.oci.image.manifest.v1+json"


def test_leased_blobs_survive_gc_until_the_lease_ends(service: ImageService) -> None:
    info = service.content.ingest_bytes(b"a layer being pulled")
    with service.lease() as protect:
        protect(info.digest)
        service.prune()
        assert service.content.exists(info.digest)
    service.prune()
    assert not service.content.exists(info.digest)


def test_multi_platform_index_selects_linux_amd64(service: ImageService) -> None:
    archive = oci_archive([BASE], "multi:1", multi_platform=True)
    assert service.load(io.BytesIO(archive)) == ["Loaded image: multi:1"]
    assert service.resolve("multi:1").config.diff_ids == (Digest.from_bytes(BASE),)


def test_register_a_pulled_image_with_its_digest_reference(service: ImageService) -> None:
    config = config_for([BASE])
    with service.lease() as protect:
        layer = service.content.ingest_bytes(BASE)
        cfg = service.content.ingest_bytes(config)
        protect(layer.digest)
        protect(cfg.digest)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": str(cfg.digest),
                    "size": cfg.size,
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": str(layer.digest),
                        "size": layer.size,
                    }
                ],
            }
        ).encode()
        image = service.register(manifest, ["localhost:5000/pulled:1"])
    digest = Digest.from_bytes(manifest)
    assert image.manifest_digest == digest
    assert image.repo_digests == (f"localhost:5000/pulled@{digest}",)
    assert service.resolve(f"localhost:5000/pulled@{digest}").id == image.id
    assert service.remove("localhost:5000/pulled:1") == [
        ("Untagged", "localhost:5000/pulled:1"),
        ("Untagged", f"localhost:5000/pulled@{digest}"),
        ("Deleted", str(image.id)),
    ]
    assert _state(service) == (0, 0, 0, 0)


def test_malformed_manifest_json_is_invalid_argument(service: ImageService) -> None:
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as tar:
        for name, data in (("manifest.json", b"{not json"), ("x.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(InvalidArgument, match=r"manifest\.json: not valid JSON"):
        service.load(io.BytesIO(stream.getvalue()))
    assert _state(service) == (0, 0, 0, 0)


def test_blob_that_does_not_match_its_name_is_refused(service: ImageService) -> None:
    original = oci_archive([BASE], "x:1")
    layer_name = f"blobs/sha256/{Digest.from_bytes(BASE).encoded}"
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(original)) as src,
        tarfile.open(fileobj=out, mode="w") as dst,
    ):
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == layer_name:
                data = TOP  # other bytes under the layer's digest
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(DataLoss, match="digest mismatch"):
        service.load(io.BytesIO(out.getvalue()))
    assert _state(service) == (0, 0, 0, 0)


def test_concurrent_loads_of_one_archive_store_one_copy(service: ImageService) -> None:
    archive = docker_save_legacy([BASE, TOP], ["same:1"])
    errors: list[BaseException] = []

    def load() -> None:
        try:
            service.load(io.BytesIO(archive))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _state(service) == (4, 2, 1, 2)  # 2 layer blobs, config, manifest; 2 layers


def test_docker_save_with_a_symlinked_duplicate_layer(service: ImageService) -> None:
    # docker 20.10 writes a layer that occurs twice once, and a symlink to it.
    config = config_for([BASE, BASE])
    config_hex = Digest.from_bytes(config).encoded
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (("a/layer.tar", BASE), (f"{config_hex}.json", config)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("b/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../a/layer.tar"
        tar.addfile(link)
        manifest = json.dumps(
            [
                {
                    "Config": f"{config_hex}.json",
                    "RepoTags": ["twice:1"],
                    "Layers": ["a/layer.tar", "b/layer.tar"],
                }
            ]
        ).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    assert service.load(io.BytesIO(out.getvalue())) == ["Loaded image: twice:1"]
    assert len(service.metadata.layers()) == 2  # same diff ID, two chain IDs
    root = _rootfs(service, "c", "twice:1")
    assert (root / "etc/passwd").read_bytes() == b"root:x:0:0\n"


def test_tag_by_full_id_again_changes_nothing_and_moves_when_asked(service: ImageService) -> None:
    service.load(io.BytesIO(docker_save_legacy([BASE], ["a:1"])))
    service.load(io.BytesIO(docker_save_legacy([BASE, TOP], ["b:1"])))
    first, second = service.resolve("a:1").id, service.resolve("b:1").id
    service.tag(str(first), "t:1")
    writes = service.metadata._db.total_changes
    service.tag(str(first), "t:1")  # a rebuild re-tags the same image: no write
    service.tag(first.encoded, "t:1")
    assert service.metadata._db.total_changes == writes
    assert service.resolve("t:1").id == first
    service.tag(str(second), "t:1")
    assert service.resolve("t:1").id == second
    assert service.resolve("t:1").repo_tags == ("b:1", "t:1")
    missing = "sha256:" + "0" * 64
    with pytest.raises(NotFound, match=f"No such image: {missing}"):
        service.tag(missing, "t:1")
    assert service.resolve("t:1").id == second
