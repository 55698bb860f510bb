"""wharf-start-exec (src/wharf/runtime/start_exec.c, built by scripts/setup): waits for
a datagram starting with ``S`` on the sync fd or the line, then execs the process with
exactly the environment it was given; anything else ends the wait as pid 1 would."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharf.runtime.init import START_EXEC


@pytest.fixture
def channels() -> Iterator[tuple[socket.socket, socket.socket, socket.socket, socket.socket]]:
    """(monitor end, helper end) of the sync channel, then of the engine's line."""
    sync = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    line = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    yield (*sync, *line)
    for s in (*sync, *line):
        s.close()


def _helper(sync: socket.socket, line: socket.socket | None, *args: str) -> subprocess.Popen[bytes]:
    fds = (sync.fileno(),) + ((line.fileno(),) if line else ())
    line_fd = str(line.fileno()) if line else "-1"
    return subprocess.Popen(
        [START_EXEC, str(sync.fileno()), line_fd, *args],
        pass_fds=fds,
        env={"A": "1", "B": "x=y"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_start_on_sync_execs_with_the_args_and_env(channels: tuple[socket.socket, ...]) -> None:
    monitor, sync, _engine, line = channels
    proc = _helper(sync, line, "/usr/bin/env", "env")
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(0.1)  # waits for the start
    monitor.send(b"S")
    out, err = proc.communicate(timeout=10)
    assert (proc.returncode, out, err) == (0, b"A=1\nB=x=y\n", b"")


def test_start_on_the_line_after_other_messages(channels: tuple[socket.socket, ...]) -> None:
    monitor, sync, engine, line = channels
    proc = _helper(sync, line, "/bin/echo", "echo", "started")
    engine.send(b"Qnot a start")  # not a start: the line is no longer watched
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(0.1)
    monitor.send(b"S")
    out, _ = proc.communicate(timeout=10)
    assert (proc.returncode, out) == (0, b"started\n")


def test_start_on_the_line(channels: tuple[socket.socket, ...]) -> None:
    _monitor, sync, engine, line = channels
    proc = _helper(sync, line, "/bin/echo", "echo", "via the line")
    engine.send(b"S")
    out, _ = proc.communicate(timeout=10)
    assert (proc.returncode, out) == (0, b"via the line\n")


def test_the_lines_end_is_no_reason_to_stop(channels: tuple[socket.socket, ...]) -> None:
    monitor, sync, engine, line = channels
    proc = _helper(sync, line, "/bin/echo", "echo", "later")
    engine.close()
    line.close()  # ours too: only the helper's copy is left, and it sees the end
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(0.1)
    monitor.send(b"S")
    assert proc.communicate(timeout=10)[0] == b"later\n"


@pytest.mark.parametrize("message", [b"", b"E{}"], ids=["end", "other"])
def test_no_start_on_sync_exits_1_without_exec(
    channels: tuple[socket.socket, ...], message: bytes
) -> None:
    monitor, sync, _engine, _line = channels
    proc = _helper(sync, None, "/bin/echo", "echo", "never")
    if message:
        monitor.send(message)
    else:
        monitor.close()
    out, _ = proc.communicate(timeout=10)
    assert (proc.returncode, out) == (1, b"")


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("nonexistent", 127, "No such file or directory"),
        ("not-executable", 126, "Permission denied"),
    ],
)
def test_exec_failures_exit_like_a_shell(
    channels: tuple[socket.socket, ...], tmp_path: Path, path: str, status: int, reason: str
) -> None:
    (tmp_path / "not-executable").write_text("#!/bin/sh\n")
    (tmp_path / "not-executable").chmod(0o644)
    monitor, sync, _engine, _line = channels
    proc = _helper(sync, None, str(tmp_path / path), "prog")
    monitor.send(b"S")
    _, err = proc.communicate(timeout=10)
    assert (proc.returncode, err.decode()) == (status, f"exec 'prog': {reason}\n")


def test_too_few_arguments_exit_1() -> None:
    assert subprocess.run([START_EXEC, "0", "-1", "/bin/true"], check=False).returncode == 1
