from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest

from wharf.content import LocalContentStore
from wharf.errors import AlreadyExists, InvalidArgument, NotFound
from wharf.oci import Digest, DigestMismatch


def test_ingest_commit_makes_blob_visible_only_after_verify(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    data = b"layer bytes" * 1000
    digest = Digest.from_bytes(data)
    with store.writer() as writer:
        writer.write(data[:10])
        assert not store.exists(digest)
        assert list(store.walk()) == []
        writer.write(data[10:])
        info = writer.commit(digest, len(data))
    assert info.digest == digest
    assert store.read_bytes(digest) == data
    assert list(store.walk()) == [info]
    assert list((tmp_path / "ingest").iterdir()) == []


def test_digest_mismatch_leaves_nothing(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    wrong = Digest.from_bytes(b"other")
    with pytest.raises(DigestMismatch, match="expected"), store.writer() as writer:
        writer.write(b"data")
        writer.commit(wrong)
    assert list(store.walk()) == []
    assert list((tmp_path / "ingest").iterdir()) == []


def test_size_mismatch_is_refused(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    with pytest.raises(DigestMismatch, match="size"):
        store.ingest(io.BytesIO(b"abc"), Digest.from_bytes(b"abc"), size=4)
    assert list(store.walk()) == []


def test_second_commit_of_same_blob_is_already_exists(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    store.ingest_bytes(b"x")
    with pytest.raises(AlreadyExists), store.writer() as writer:
        writer.write(b"x")
        writer.commit()
    assert len(list(store.walk())) == 1


def test_concurrent_ingests_of_one_blob_end_in_one_copy(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    data = bytes(range(256)) * 4096
    digest = Digest.from_bytes(data)
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            store.ingest(io.BytesIO(data), digest, len(data))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ingest) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [i.digest for i in store.walk()] == [digest]
    assert list((tmp_path / "ingest").iterdir()) == []


def test_sha512_blobs(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    digest = Digest("sha512", hashlib.sha512(b"hi").hexdigest())
    info = store.ingest(io.BytesIO(b"hi"), digest)
    assert info.digest == digest
    assert (tmp_path / "blobs" / "sha512" / digest.encoded).is_file()


def test_unknown_algorithm_and_missing_blob(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    with pytest.raises(InvalidArgument, match="md5"):
        store.writer("md5")
    missing = Digest.from_bytes(b"nope")
    with pytest.raises(NotFound, match=str(missing)):
        store.open(missing)
    with pytest.raises(NotFound):
        store.delete(missing)


def test_stale_ingests_are_removed_at_open(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    writer = store.writer()
    writer.write(b"half")
    # Simulate a crash: the writer is never committed or aborted.
    assert any((tmp_path / "ingest").iterdir())
    LocalContentStore(tmp_path)
    assert list((tmp_path / "ingest").iterdir()) == []
    writer.abort()


def test_stream_shorter_than_size(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    with pytest.raises(DigestMismatch, match="ended"):
        store.ingest(io.BytesIO(b"ab"), None, size=10)
    assert list(store.walk()) == []
