"""The StorageDriver contract, run against every driver (distribution's testsuites idea)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wharf.errors import InvalidArgument, NotFound
from wharf.oci import Digest
from wharf.registry.errcodes import RegistryError
from wharf.registry.manifests import parse_manifest
from wharf.registry.storage.driver import StorageDriver
from wharf.registry.storage.filesystem import FilesystemDriver
from wharf.registry.storage.inmemory import InMemoryDriver
from wharf.registry.storage.store import Store

DRIVERS: dict[str, Callable[[Path], StorageDriver]] = {
    "filesystem": FilesystemDriver,
    "inmemory": InMemoryDriver,
}


@pytest.fixture(params=sorted(DRIVERS))
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    return DRIVERS[request.param](tmp_path / "store")


def test_put_get_stat_list(driver: StorageDriver) -> None:
    driver.put_content("a/b/c", b"hello")
    assert driver.get_content("a/b/c") == b"hello"
    assert driver.stat("a/b/c").size == 5
    assert driver.stat("a/b").is_dir
    assert driver.list("a") == ["b"]
    driver.put_content("a/b/c", b"replaced")
    assert driver.get_content("a/b/c") == b"replaced"


def test_missing_keys_are_not_found(driver: StorageDriver) -> None:
    for call in (
        lambda: driver.get_content("nope"),
        lambda: driver.stat("nope"),
        lambda: driver.list("nope"),
        lambda: driver.delete("nope"),
        lambda: driver.move("nope", "x"),
        lambda: driver.touch("nope"),
        lambda: driver.reader("nope"),
    ):
        with pytest.raises(NotFound, match="nope"):
            call()


def test_paths_cannot_escape(driver: StorageDriver) -> None:
    with pytest.raises(InvalidArgument, match=r"\.\."):
        driver.put_content("a/../../etc/x", b"")


def test_writer_appends_and_reader_seeks(driver: StorageDriver) -> None:
    w = driver.writer("up/data", append=True)
    w.write(b"abc")
    w.close()
    w = driver.writer("up/data", append=True)
    assert w.size == 3
    w.write(b"def")
    w.close()
    with driver.reader("up/data", 2) as f:
        assert f.read() == b"cdef"


def test_move_replaces_and_delete_removes_trees(driver: StorageDriver) -> None:
    driver.put_content("src", b"new")
    driver.put_content("dst/x", b"old")
    driver.move("src", "dst/x")
    assert driver.get_content("dst/x") == b"new"
    with pytest.raises(NotFound):
        driver.stat("src")
    driver.put_content("tree/a/b", b"1")
    driver.delete("tree")
    with pytest.raises(NotFound):
        driver.list("tree")


def test_store_upload_commit_verifies_before_anything_is_visible(driver: StorageDriver) -> None:
    store = Store(driver)
    data = b"blob bytes"
    good = Digest.from_bytes(data)
    upload = store.start_upload("demo/x")
    w = store.upload_writer("demo/x", upload)
    w.write(data)
    w.close()
    with pytest.raises(RegistryError) as info:
        store.commit_upload("demo/x", upload, Digest.from_bytes(b"other"))
    assert info.value.code.name == "DIGEST_INVALID"
    assert store.all_blobs() == []
    with pytest.raises(RegistryError):
        store.upload_size("demo/x", upload)
    upload = store.start_upload("demo/x")
    w = store.upload_writer("demo/x", upload)
    w.write(data)
    w.close()
    assert store.commit_upload("demo/x", upload, good) == len(data)
    assert store.repo_blob_size("demo/x", good) == len(data)
    with store.open_blob(good, 5) as f:
        assert f.read() == data[5:]


def test_store_manifests_tags_and_catalog(driver: StorageDriver) -> None:
    store = Store(driver)
    body = b'{"schemaVersion": 2, "manifests": []}'
    digest = Digest.from_bytes(body)
    parsed = parse_manifest(body, "")
    store.put_manifest("b/repo", body, digest, parsed, ["v1", "v2"])
    store.put_manifest("a/repo", body, digest, parsed, [])
    assert store.catalog() == ["a/repo", "b/repo"]
    assert store.tags("b/repo") == ["v1", "v2"]
    assert store.get_manifest("b/repo", "v1").data == body
    assert store.delete_manifest("b/repo", digest, None) == ["v1", "v2"]
    with pytest.raises(RegistryError):
        store.get_manifest("b/repo", "v1")
    assert store.get_manifest("a/repo", digest).digest == digest
