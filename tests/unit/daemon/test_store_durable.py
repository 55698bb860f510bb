"""Container records: atomic always; durable (temp file fsynced, renamed, directory fsynced)
unless the caller says the runtime can rebuild the state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wharf.apitypes import ContainerCreate
from wharf.daemon.store import ContainerRecord, ContainerStore, write_durably


def _record(name: str = "web") -> ContainerRecord:
    return ContainerRecord(
        id="a" * 64,
        name=name,
        created="2026-01-01T00:00:00Z",
        spec=ContainerCreate.from_json({"Image": "busybox"}),
        image_id="sha256:" + "b" * 64,
        path="sh",
        args=(),
    )


@pytest.fixture
def syscalls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Records fsync (by the path the fd names) and rename calls, in order."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append(("rename", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return calls


def test_save_fsyncs_the_file_before_the_rename_and_the_directory_after(
    tmp_path: Path, syscalls: list[tuple[str, str]]
) -> None:
    store = ContainerStore(tmp_path)
    record = _record()
    store.reserve(record)
    root = str(tmp_path / "containers")
    directory = f"{root}/{record.id}"
    final = f"{directory}/config.v2.json"
    assert syscalls == [
        ("fsync", final),  # a new record: written in place (a torn one is skipped by load)
        ("fsync", directory),
        ("fsync", root),  # the new container directory's entry
    ]
    syscalls.clear()
    store.save(record.with_(status="running"))
    assert syscalls == [("fsync", final + ".tmp"), ("rename", final), ("fsync", directory)]
    assert json.loads(Path(final).read_text())["status"] == "running"
    assert oct(os.stat(final).st_mode & 0o777) == "0o600"
    assert not Path(final + ".tmp").exists()
    syscalls.clear()
    store.save(record.with_(status="exited"), durable=False)
    assert syscalls == [("rename", final)]  # atomic, no fsync
    assert json.loads(Path(final).read_text())["status"] == "exited"
    syscalls.clear()
    store.delete(record.id)
    assert syscalls == []


def test_a_leftover_temp_file_never_shadows_the_record(tmp_path: Path) -> None:
    store = ContainerStore(tmp_path)
    record = _record()
    store.reserve(record)
    final = store.dir(record.id) / "config.v2.json"
    # A crash between the temp write and the rename leaves both: the record wins on load.
    Path(str(final) + ".tmp").write_text("{torn")
    again = ContainerStore(tmp_path)
    assert again.load() == []
    assert again.get("web").id == record.id
    store.save(record.with_(status="exited"))  # the next save replaces the leftover
    assert json.loads(final.read_text())["status"] == "exited"


def test_write_durably_replaces_whole_contents(tmp_path: Path) -> None:
    path = tmp_path / "engine-id"
    write_durably(path, b"first-long-value")
    write_durably(path, b"second")
    assert path.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["engine-id"]
