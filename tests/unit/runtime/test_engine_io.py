"""The engine's pure pieces: json-file log lines, stdcopy frames, state files, ids, the
launch request's wire form and the runc error mapping (no root, no kernel)."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wharf.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from wharf.mount import Mount
from wharf.runtime._engine_io import MAX_LOG_LINE, LineSplitter, LogWriter, stdcopy_frame
from wharf.runtime._engine_request import LaunchRequest, binary_error, error_kind, last_error
from wharf.runtime._engine_state import (
    check_id,
    process_start_time,
    read_json,
    rfc3339,
    write_json_atomic,
)
from wharf.runtime._engine_types import ContainerIO


def test_complete_lines_are_entries_with_their_newline() -> None:
    s = LineSplitter()
    assert s.feed(b"a\nb") == [b"a\n"]
    assert s.feed(b"c\n\n") == [b"bc\n", b"\n"]
    assert s.flush() == []


def test_long_line_is_cut_at_16k_and_the_rest_is_flushed() -> None:
    s = LineSplitter()
    out = s.feed(b"x" * (2 * MAX_LOG_LINE + 10))
    assert [len(e) for e in out] == [MAX_LOG_LINE, MAX_LOG_LINE]
    assert s.flush() == [b"x" * 10]


@given(st.lists(st.binary(max_size=40000), max_size=8))
def test_no_byte_is_lost_or_reordered(chunks: list[bytes]) -> None:
    s = LineSplitter()
    entries = [e for c in chunks for e in s.feed(c)] + s.flush()
    assert b"".join(entries) == b"".join(chunks)
    assert all(len(e) <= MAX_LOG_LINE + 1 for e in entries)
    assert all(e.endswith(b"\n") or len(e) == MAX_LOG_LINE for e in entries[:-1])


def test_log_writer_writes_docker_json_file_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    w = LogWriter(str(path))
    w.write(1, b"hi\nhalf")
    w.write(2, "é\n".encode())
    w.flush()
    w.close()
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["stream"], e["log"]) for e in entries] == [
        ("stdout", "hi\n"),
        ("stderr", "é\n"),
        ("stdout", "half"),
    ]
    assert all(len(e["time"]) == 30 and e["time"].endswith("Z") for e in entries)


def test_log_writer_without_a_path_writes_nothing(tmp_path: Path) -> None:
    w = LogWriter("")
    w.write(1, b"dropped\n")
    w.flush()
    w.close()
    assert list(tmp_path.iterdir()) == []


def _logged(path: Path) -> list[str]:
    return [json.loads(line)["log"] for line in path.read_text().splitlines()]


def test_log_writer_rotates_at_max_size_keeping_max_files(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    w = LogWriter(str(path), max_size=300, max_files=3)
    w.write(1, b"".join(b"line-%03d\n" % i for i in range(40)))  # one read, many lines
    w.close()
    files = [tmp_path / "c.log.2", tmp_path / "c.log.1", path]
    assert sorted(tmp_path.iterdir()) == sorted(files)  # the oldest went
    assert all(f.stat().st_size < 300 + 80 for f in files)  # cut at entry boundaries
    kept = [line for f in files for line in _logged(f)]
    assert kept == [f"line-{i:03d}\n" for i in range(40 - len(kept), 40)]  # newest, in order


def test_log_writer_with_one_file_starts_it_afresh(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    w = LogWriter(str(path), max_size=200, max_files=1)
    for i in range(10):
        w.write(1, b"entry-%d\n" % i)
    w.close()
    assert list(tmp_path.iterdir()) == [path]
    assert _logged(path)[-1] == "entry-9\n" and len(_logged(path)) < 10
    with pytest.raises(FileNotFoundError):
        (tmp_path / "c.log.1").stat()


def test_stdcopy_frame_header() -> None:
    frame = stdcopy_frame(2, b"oops")
    assert frame[:8] == struct.pack(">BxxxI", 2, 4) and frame[8:] == b"oops"


def test_rfc3339_has_nanoseconds() -> None:
    assert rfc3339(1_000_000_000_123) == "1970-01-01T00:16:40.000000123Z"


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "x" * 129, "sp ace"])
def test_bad_ids_are_refused_naming_the_id(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="container id"):
        check_id("container", bad)


def test_good_id() -> None:
    assert check_id("exec", "rtengine-1.a_b") == "rtengine-1.a_b"


def test_state_files_are_replaced_whole(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    assert read_json(path) is None
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert read_json(path) == {"a": 2}
    assert os.listdir(tmp_path) == ["state.json"]


def test_state_file_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text("[1]")
    with pytest.raises(InvalidArgument, match="expected a JSON object"):
        read_json(str(tmp_path / "s.json"))


def test_process_start_time_of_self_and_of_nobody() -> None:
    assert process_start_time(os.getpid()) is not None
    assert process_start_time(2**22 + 12345) is None


def test_container_io_round_trip_and_bad_console_size() -> None:
    io = ContainerIO(terminal=True, stdin=True, stdin_once=True, log_path="/l", console_size=(5, 9))
    assert ContainerIO.from_json(json.loads(json.dumps(io.to_json()))) == io
    with pytest.raises(InvalidArgument, match="console_size"):
        ContainerIO.from_json({**io.to_json(), "console_size": [0, 80]})


def test_launch_request_round_trip() -> None:
    req = LaunchRequest(
        kind="container",
        container_id="c",
        exec_id="",
        state_dir="/s/c",
        container_dir="/s/c",
        bundle_dir="/b",
        spec={"process": {"args": ["true"]}},
        rootfs_mounts=(Mount("overlay", "overlay", ("lowerdir=/l",)),),
        io=ContainerIO(log_path="/l.log"),
        binary="/usr/sbin/runc",
        binary_root="/s/.binary",
        start_now=True,
    )
    assert LaunchRequest.from_json(json.loads(json.dumps(req.to_json()))) == req


def test_runc_messages_map_to_the_127_and_126_kinds(tmp_path: Path) -> None:
    req = LaunchRequest("container", "c", "", "/s", "/s", "/b", {}, (), ContainerIO(), "runc")
    log = tmp_path / "runtime.log"
    log.write_text(
        '{"level":"info","msg":"x"}\n'
        '{"level":"error","msg":"exec: \\"nope\\": executable file not found in $PATH"}\n'
    )
    message = last_error(str(log))
    assert "nope" in message
    assert isinstance(binary_error(req, message), NotFound)
    assert isinstance(binary_error(req, "exec: permission denied"), PermissionDenied)
    assert isinstance(binary_error(req, "something else"), FailedPrecondition)
    assert last_error(str(tmp_path / "missing.log")) == ""


def test_error_kind_finds_the_wharf_kind_in_the_mro() -> None:
    class ExecutableMissing(NotFound):
        pass

    assert error_kind(ExecutableMissing("x")) == "NotFound"
    assert error_kind(OSError("x")) == "FailedPrecondition"
