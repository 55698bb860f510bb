"""StateStore, secure_join, the sync channel's error kinds, signal names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wharf.errors import AlreadyExists, DataLoss, InvalidArgument, NotFound, PermissionDenied
from wharf.runtime.container import signal_number
from wharf.runtime.rootfs import secure_join
from wharf.runtime.state import Record, StateStore, Status, process_start_time, validate_id
from wharf.runtime.sync import (
    ExecutableNotFound,
    NotExecutable,
    SetupFailed,
    error_from_failure,
    sync_pair,
)


def record(pid: int, start: int) -> Record:
    return Record("c1", pid, start, "/b", "/b/rootfs", "2026-01-01T00:00:00Z", "", {"a": "b"})


def test_save_load_atomic(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path / "root"))
    store.reserve("c1")
    with pytest.raises(AlreadyExists):
        store.reserve("c1")
    r = record(os.getpid(), process_start_time(os.getpid()))
    store.save(r)
    assert store.load("c1") == r
    assert os.listdir(store.path("c1")) == ["state.json"]
    assert store.ids() == ["c1"]
    store.remove("c1")
    with pytest.raises(NotFound, match="container c1: does not exist"):
        store.load("c1")


def test_corrupt_state(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path))
    store.reserve("c1")
    Path(store.path("c1"), "state.json").write_text("{")
    with pytest.raises(DataLoss, match=r"c1: state\.json is corrupt"):
        store.load("c1")


def test_status_is_derived_live(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path))
    store.reserve("c1")
    me = record(os.getpid(), process_start_time(os.getpid()))
    assert store.status(me) is Status.RUNNING
    assert store.status(me, frozen=True) is Status.PAUSED
    os.mkfifo(store.fifo("c1"))
    assert store.status(me) is Status.CREATED
    recycled = record(os.getpid(), process_start_time(os.getpid()) + 1)
    assert store.status(recycled) is Status.STOPPED
    state = me.oci_state(Status.RUNNING)
    assert {"ociVersion", "id", "status", "pid", "bundle", "annotations"} <= set(state)
    assert json.loads(json.dumps(state))["status"] == "running"
    assert record(os.getpid(), 0).oci_state(Status.STOPPED)["pid"] == 0


@pytest.mark.parametrize("bad", ["", "..", "a/b", "a b", "x" * 1025])
def test_bad_ids(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="container id"):
        validate_id(bad)


def test_secure_join_stays_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "abs").symlink_to("/etc/passwd")
    (root / "etc" / "up").symlink_to("../../../../..")
    (root / "loop").symlink_to("loop")
    r = str(root)
    assert secure_join(r, "/etc/abs") == f"{r}/etc/passwd"
    assert secure_join(r, "/etc/up/x") == f"{r}/x"
    assert secure_join(r, "/../../etc") == f"{r}/etc"
    assert secure_join(r, "/new/dir") == f"{r}/new/dir"
    # Below a missing component nothing is looked up, until ".." climbs back out of it.
    assert secure_join(r, "/new/../etc/abs") == f"{r}/etc/passwd"
    assert secure_join(r, "/new/x/../../etc/up/y") == f"{r}/y"
    assert secure_join(r, "/") == r
    with pytest.raises(OSError, match="too many symlinks"):
        secure_join(r, "/loop")


def test_failure_messages_map_to_kinds() -> None:
    def failure(kind: str, err: int) -> bytes:
        return json.dumps({"step": "s", "errno": err, "kind": kind, "message": "m"}).encode()

    assert isinstance(error_from_failure(failure("exec-not-found", 2), "c"), ExecutableNotFound)
    assert isinstance(error_from_failure(failure("exec-denied", 13), "c"), NotExecutable)
    exc = error_from_failure(failure("errno", 1), "c")
    assert isinstance(exc, PermissionDenied)
    assert str(exc) == "container c: s: m"
    assert exc.step == "s"  # type: ignore[attr-defined]
    assert isinstance(error_from_failure(b"garbage", "c"), SetupFailed)


def test_sync_pair_messages() -> None:
    a, b = sync_pair()
    try:
        a.send(b"R", b"payload")
        assert b.recv() == (b"R", b"payload")
        a.close()
        assert b.recv() == (b"", b"")
    finally:
        a.close()
        b.close()


def test_a_failure_report_survives_the_reset_of_an_unread_message() -> None:
    # The child reports and exits without reading what the parent sent meanwhile: the
    # kernel reports ECONNRESET once, ahead of the report, which must still be read.
    parent, child = sync_pair()
    try:
        parent.send(b"C")
        child.fail("plan", 0, "wharf:InvalidArgument", "process.args: must name a program")
        child.close()
        tag, payload = parent.recv()
        assert tag == b"E"
        exc = error_from_failure(payload, "c")
        assert isinstance(exc, InvalidArgument)
        assert str(exc) == "process.args: must name a program"
        assert parent.recv() == (b"", b"")
    finally:
        parent.close()
        child.close()


@pytest.mark.parametrize(("text", "number"), [("KILL", 9), ("SIGTERM", 15), ("10", 10)])
def test_signal_numbers(text: str, number: int) -> None:
    assert signal_number(text) == number


@pytest.mark.parametrize("text", ["SIGNOPE", "999", "-1"])
def test_bad_signals(text: str) -> None:
    with pytest.raises(InvalidArgument, match="not a known signal"):
        signal_number(text)


def test_delete_clears_a_half_created_directory(tmp_path: Path) -> None:
    from wharf.runtime.container import Runtime

    rt = Runtime(str(tmp_path))
    rt.store.reserve("c1")  # as if "create" was killed before writing state.json
    with pytest.raises(NotFound):
        rt.store.load("c1")
    rt.delete("c1")
    assert not os.path.exists(rt.store.path("c1"))
    rt.store.reserve("c1")  # the id is free again
    with pytest.raises(NotFound, match="container c2: does not exist"):
        rt.delete("c2")
