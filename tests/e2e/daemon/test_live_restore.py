"""Live restore: kill -9 the daemon; containers keep running and logging; a new daemon
re-adopts them and records the exits that happened while it was down."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon.harness import Daemon, short_root


@pytest.fixture
def fresh(busybox_tar: Path) -> Iterator[Daemon]:
    d = Daemon(short_root())
    try:
        d.start()
        assert d.docker("load", "-i", str(busybox_tar)).returncode == 0
        yield d
    finally:
        d.cleanup()


def _state(d: Daemon, name: str) -> dict:
    return json.loads(d.docker("inspect", name).stdout)[0]["State"]


def test_kill9_daemon_then_readopt(fresh: Daemon) -> None:
    d = fresh
    d.docker(
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.1; done",
    )
    d.docker("run", "-d", "--name", "brief", "busybox", "sh", "-c", "sleep 1; exit 9")
    d.docker("run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "1000")
    pid = _state(d, "ticker")["Pid"]
    d.kill9()
    time.sleep(2)  # "brief" exits while no daemon runs; "ticker" keeps logging
    os.kill(pid, 0)  # still alive
    d.start()
    ticker = _state(d, "ticker")
    assert ticker["Running"] is True and ticker["Pid"] == pid
    brief = _state(d, "brief")
    assert brief["Status"] == "exited" and brief["ExitCode"] == 9
    assert _state(d, "always")["Running"] is True
    ps = d.docker("ps", "--format", "{{.Names}}").stdout.decode().split()
    assert sorted(ps) == ["always", "ticker"]
    logs = d.docker("logs", "ticker").stdout.decode().split()
    assert len(logs) >= 20  # ~2 s of ticks written while the daemon was down
    assert d.docker("exec", "ticker", "echo", "still-here").stdout == b"still-here\n"
    assert d.docker("stop", "-t", "1", "ticker").returncode == 0
    assert _state(d, "ticker")["Running"] is False


def test_graceful_stop_leaves_containers_running(fresh: Daemon) -> None:
    d = fresh
    d.docker("run", "-d", "--name", "keeps", "busybox", "sleep", "1000")
    d.stop()
    d.start()
    assert _state(d, "keeps")["Running"] is True


def test_records_on_disk_and_autoremove_across_a_kill9(fresh: Daemon) -> None:
    d = fresh
    d.docker("run", "-d", "--rm", "--name", "gone-later", "busybox", "sh", "-c", "sleep 1")
    d.docker("create", "--name", "made", "busybox", "true")
    records = d.root / "data" / "containers"
    made = json.loads(d.docker("inspect", "made").stdout)[0]["Id"]
    record = json.loads((records / made / "config.v2.json").read_text())
    assert (record["name"], record["status"]) == ("made", "created")
    assert oct((records / made / "config.v2.json").stat().st_mode & 0o777) == "0o600"
    d.kill9()
    time.sleep(2)  # the --rm container exits while no daemon runs
    d.start()
    names = d.docker("ps", "-a", "--format", "{{.Names}}").stdout.decode().split()
    assert names == ["made"]  # the AutoRemove container was removed at restore
    assert not [p for p in records.iterdir() if p.name.endswith(".tmp")]
    d.docker("rm", "made")
