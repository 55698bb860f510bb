"""``docker logs -f``: lines arrive while the container runs; follow ends when it exits."""

from __future__ import annotations

import os
import select
import subprocess
import time

from tests.e2e.daemon.harness import DOCKER, Daemon

# Prints "ready", then a line each time /tmp/go appears (the test creates it with exec).
_SCRIPT = (
    "echo ready; n=0; while true; do if [ -e /tmp/go ]; then rm /tmp/go; n=$((n+1)); "
    'echo "line-$n"; fi; sleep 0.05; done'
)


def _follow(daemon: Daemon, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [DOCKER, "logs", "-f", *args],
        env=daemon.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _read_line(proc: subprocess.Popen[bytes], timeout: float = 15) -> bytes:
    """One line of the follower's output (b"" at its end or after ``timeout``)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return line
        chunk = os.read(fd, 1)
        if not chunk:
            return line
        line += chunk
    return line


def _finish(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    try:
        return proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_lines_reach_every_follower_while_running_and_follow_ends_at_exit(
    daemon: Daemon,
) -> None:
    daemon.docker("run", "-d", "--name", "ticker", "busybox", "sh", "-c", _SCRIPT)
    followers = [_follow(daemon, "ticker") for _ in range(3)]
    try:
        for proc in followers:
            assert _read_line(proc) == b"ready\n"
        daemon.docker("exec", "ticker", "touch", "/tmp/go")
        for proc in followers:
            assert _read_line(proc) == b"line-1\n"
        # A follower that goes away leaves the others (and the shared watch) working.
        followers[0].kill()
        followers[0].wait()
        daemon.docker("exec", "ticker", "touch", "/tmp/go")
        for proc in followers[1:]:
            assert _read_line(proc) == b"line-2\n"
        # A new follower with --tail 0 sees only what comes next.
        tail = _follow(daemon, "--tail", "0", "ticker")
        followers.append(tail)
        time.sleep(1)
        daemon.docker("exec", "ticker", "touch", "/tmp/go")
        assert _read_line(tail) == b"line-3\n"
        assert daemon.docker("kill", "ticker").returncode == 0
        for proc in followers[1:]:
            assert _finish(proc) == 0
    finally:
        for proc in followers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        daemon.docker("rm", "-f", "ticker")


def test_follow_of_an_exited_container_prints_all_and_returns(daemon: Daemon) -> None:
    daemon.docker("run", "--name", "done", "busybox", "sh", "-c", "echo a; echo b >&2")
    result = daemon.docker("logs", "-f", "done", timeout=15)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"a\n", b"b\n")
    daemon.docker("rm", "done")


def test_follow_ends_when_the_container_is_removed(daemon: Daemon) -> None:
    daemon.docker("run", "-d", "--name", "doomed", "busybox", "sh", "-c", _SCRIPT)
    proc = _follow(daemon, "doomed")
    try:
        assert _read_line(proc) == b"ready\n"
        assert daemon.docker("rm", "-f", "doomed").returncode == 0
        assert _finish(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_follow_survives_a_stop_and_restart_cycle_of_others(daemon: Daemon) -> None:
    # Two containers, one follower each: the exit of one ends only its own follower.
    daemon.docker("run", "-d", "--name", "stays", "busybox", "sh", "-c", _SCRIPT)
    daemon.docker("run", "-d", "--name", "goes", "busybox", "sh", "-c", _SCRIPT)
    stays, goes = _follow(daemon, "stays"), _follow(daemon, "goes")
    try:
        assert _read_line(stays) == _read_line(goes) == b"ready\n"
        daemon.docker("stop", "-t", "0", "goes")
        assert _finish(goes) == 0
        assert stays.poll() is None
        daemon.docker("exec", "stays", "touch", "/tmp/go")
        assert _read_line(stays) == b"line-1\n"
    finally:
        for proc in (stays, goes):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        daemon.docker("rm", "-f", "stays", "goes")


def test_log_rotation_keeps_max_file_files_and_follow_crosses_it(daemon: Daemon) -> None:
    # Each `go` prints 60 lines of ~60 bytes (~5 KB of json-file): over max-size, rotated.
    script = (
        "echo ready; n=0; while true; do if [ -e /tmp/go ]; then rm /tmp/go; n=$((n+1)); "
        'i=0; while [ $i -lt 60 ]; do echo "batch-$n-line-$i"; i=$((i+1)); done; fi; '
        "sleep 0.05; done"
    )
    result = daemon.docker(
        "run",
        "-d",
        "--name",
        "rot",
        "--log-opt",
        "max-size=4k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        script,
    )
    assert result.returncode == 0, result.stderr
    follower = _follow(daemon, "rot")
    try:
        assert _read_line(follower) == b"ready\n"
        for batch in (1, 2, 3):
            daemon.docker("exec", "rot", "touch", "/tmp/go")
            lines = [_read_line(follower) for _ in range(60)]
            assert lines == [f"batch-{batch}-line-{i}\n".encode() for i in range(60)]
        cid = daemon.docker("inspect", "-f", "{{.Id}}", "rot").stdout.decode().strip()
        log = daemon.root / "data" / "containers" / cid / f"{cid}-json.log"
        assert sorted(p.name for p in log.parent.glob(f"{cid}-json.log*")) == [
            log.name,
            log.name + ".1",
        ]
        assert all(p.stat().st_size < 4000 + 200 for p in log.parent.glob(f"{cid}-json.log*"))
        kept = daemon.docker("logs", "rot").stdout.decode().splitlines()
        assert kept[-1] == "batch-3-line-59" and "ready" not in kept  # the oldest went
        assert daemon.docker("logs", "--tail", "2", "rot").stdout.decode().splitlines() == [
            "batch-3-line-58",
            "batch-3-line-59",
        ]
    finally:
        daemon.docker("rm", "-f", "rot")
        _finish(follower)


def test_none_driver_keeps_no_log_and_other_drivers_are_refused(daemon: Daemon) -> None:
    result = daemon.docker(
        "run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi"
    )
    try:
        assert result.returncode == 0 and result.stdout == b"hi\n"  # attached output still flows
        logs = daemon.docker("logs", "quiet")
        assert logs.returncode != 0
        assert b"configured logging driver does not support reading" in logs.stderr
    finally:
        daemon.docker("rm", "quiet")
    refused = daemon.docker("run", "--rm", "--log-driver", "syslog", "busybox", "true")
    assert refused.returncode == 125
    assert b"the 'syslog' logging driver is not supported" in refused.stderr
