from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wharf.errors import AlreadyExists, Conflict, FailedPrecondition, NotFound
from wharf.metadata import SCHEMA_VERSION, ContainerRecord, ImageRecord, MetadataStore


def _image(image_id: str, chain: str | None, parent: str = "") -> ImageRecord:
    return ImageRecord(image_id, "sha256:m" + image_id[-1], "mt", chain, parent, 1.0, 10)


def _layers(store: MetadataStore, *chain: str) -> None:
    parent = None
    for c in chain:
        store.begin_layer(c, "d" + c, parent, c)
        store.finish_layer(c, 5)
        parent = c


def test_schema_version_is_recorded_and_newer_is_refused(tmp_path: Path) -> None:
    MetadataStore(tmp_path / "m.db").close()
    db = sqlite3.connect(tmp_path / "m.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(FailedPrecondition, match="newer"):
        MetadataStore(tmp_path / "m.db")


def test_refcounts_follow_images_children_and_containers(tmp_path: Path) -> None:
    m = MetadataStore(tmp_path / "m.db")
    _layers(m, "L1", "L2")
    _layers_b = ("L1", "L3")
    m.begin_layer("L3", "dL3", "L1", "L3")
    m.finish_layer("L3", 5)
    assert m.add_image(_image("sha256:i1", "L2"), ["b1"])
    assert not m.add_image(_image("sha256:i1", "L2"), ["b1"])
    m.add_image(_image("sha256:i2", "L3"), ["b1", "b2"])
    assert m.layer("L1").refcount == 2  # two child layers
    m.add_container(ContainerRecord("c1", "sha256:i1", "L2", "container-c1", 1.0))
    assert m.layer("L2").refcount == 2
    with pytest.raises(Conflict, match="container c1"):
        m.remove_image("sha256:i1")
    assert m.remove_container("c1") == []
    freed = m.remove_image("sha256:i1")
    assert [layer.chain_id for layer in freed] == ["L2"]  # L1 still has L3 above it
    freed = m.remove_image("sha256:i2")
    assert [layer.chain_id for layer in freed] == list(reversed(_layers_b))
    assert m.layers() == []
    assert m.referenced_blobs() == set()


def test_refs(tmp_path: Path) -> None:
    m = MetadataStore(tmp_path / "m.db")
    m.add_image(_image("sha256:i1", None), [])
    m.add_image(_image("sha256:i2", None), [])
    assert m.set_ref("docker.io/library/a:latest", "sha256:i1") is None
    assert m.set_ref("docker.io/library/a:latest", "sha256:i2") == "sha256:i1"
    with pytest.raises(NotFound):
        m.set_ref("x", "sha256:nope")
    with pytest.raises(Conflict, match="tagged"):
        m.remove_image("sha256:i2")
    assert m.delete_ref("docker.io/library/a:latest") == "sha256:i2"
    with pytest.raises(NotFound):
        m.get_ref("docker.io/library/a:latest")
    assert m.images_by_prefix("sha256:i") == ["sha256:i1", "sha256:i2"]


def test_failed_transaction_rolls_back(tmp_path: Path) -> None:
    m = MetadataStore(tmp_path / "m.db")
    m.add_image(_image("sha256:i1", None), [])
    with pytest.raises(RuntimeError), m.transaction() as db:
        db.execute("INSERT INTO refs VALUES ('n', 'sha256:i1', NULL)")
        raise RuntimeError("crash in the middle")
    assert m.refs() == []


def test_half_done_layers_are_listed_after_reopen(tmp_path: Path) -> None:
    m = MetadataStore(tmp_path / "m.db")
    _layers(m, "L1")
    m.begin_layer("L2", "dL2", "L1", "L2")  # the process dies before finish_layer
    m.close()
    m = MetadataStore(tmp_path / "m.db")
    assert {layer.chain_id for layer in m.abandoned_layers()} == {"L2"}
    assert [x.chain_id for x in m.abandon_layer("L2")] == ["L2", "L1"]
    m.begin_layer("L3", "d", None, "L3")
    with pytest.raises(AlreadyExists):
        m.begin_layer("L3", "d", None, "L3")
