"""The engine's exit path on the real kernel: ``exit_fd`` is readable once the exit status
is on disk, for any number of watchers and for callers that come late, ``delete`` waits
for what the monitor does after that (cgroup, poststop hooks), and ``delete`` followed at
once by a new container with the same id and cgroup leaves the new one alone (the old
monitor's last moments touch nothing shared).

Same fixtures and clean-up checks as test_engine.py (``engine_helpers``).
"""

from __future__ import annotations

import json
import os
import select
import time
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import (  # type: ignore[import-not-found]
    WAIT,
    base_spec,
    cgroup_dirs,
    create,
    rootfs,
    runtime,
    wait_exit,
)

from wharf.errors import NotFound
from wharf.runtime.engine import MonitoredRuntime

__all__ = ["base_spec", "rootfs", "runtime"]


def _readable(fd: int, timeout: float = 0.0) -> bool:
    return bool(select.select([fd], [], [], timeout)[0])


def test_every_exit_fd_wakes_once_the_exit_is_on_disk(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    cid = "rtexit-many"
    create(runtime, base_spec, cid, ["sh", "-c", "exit 7"])
    # More watchers than the control socket's backlog: every one of them still works.
    fds = [runtime.exit_fd(cid) for _ in range(40)]
    try:
        assert not any(_readable(fd) for fd in fds)
        runtime.start(cid)
        for fd in fds:
            assert _readable(fd, WAIT), "an exit_fd did not wake"
            # Readable means the status is recorded: no window where it is not yet.
            assert runtime.state(cid).exit_code == 7
    finally:
        for fd in fds:
            os.close(fd)
    late = runtime.exit_fd(cid)  # after the exit: already readable
    try:
        assert _readable(late)
    finally:
        os.close(late)
    runtime.delete(cid)
    with pytest.raises(NotFound, match=cid):
        runtime.exit_fd(cid)
    assert not os.path.exists(os.path.join(runtime.state_root, cid))


def test_exit_fd_does_not_wait_for_poststop_hooks_and_delete_does(
    runtime: MonitoredRuntime, base_spec: dict[str, Any], tmp_path: Path
) -> None:
    cid = "rtexit-poststop"
    done = tmp_path / "poststop-done"
    hook = tmp_path / "poststop.sh"
    hook.write_text(f"#!/bin/sh\nsleep 0.5\ntouch {done}\n")
    hook.chmod(0o755)
    spec = json.loads(json.dumps(base_spec))
    spec["hooks"] = {"poststop": [{"path": str(hook), "args": [str(hook)]}]}
    create(runtime, spec, cid, ["true"])
    fd = runtime.exit_fd(cid)
    runtime.start(cid)
    wait_exit(fd)
    assert runtime.state(cid).exit_code == 0
    assert not done.exists(), "exit_fd waited for the poststop hook"
    started = time.monotonic()
    runtime.delete(cid)
    assert done.exists(), "delete returned before the poststop hook ran"
    assert time.monotonic() - started < WAIT
    assert not any(os.path.exists(f"{d}/{cid}") for d in cgroup_dirs())


def test_exit_fd_of_a_container_killed_before_start(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    cid = "rtexit-created"
    create(runtime, base_spec, cid, ["true"])
    fd = runtime.exit_fd(cid)
    runtime.kill(cid, 9)
    wait_exit(fd)
    assert runtime.state(cid).status == "stopped"
    runtime.delete(cid)


def test_same_id_and_cgroup_right_after_delete_are_left_alone(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    cid = "rtexit-again"
    for i in range(12):
        # A failed create here: a previous monitor removed the new cgroup from under it.
        create(runtime, base_spec, cid, ["true"])
        assert any(os.path.isdir(f"{d}/{cid}") for d in cgroup_dirs())
        if i % 2:  # started and exited, or killed before its start (delete kills it)
            fd = runtime.exit_fd(cid)
            runtime.start(cid)
            wait_exit(fd)
        runtime.delete(cid)
    create(runtime, base_spec, cid, ["sleep", "30"])
    runtime.start(cid)
    fd = runtime.exit_fd(cid)
    try:
        # Had a previous monitor removed "its" cgroup late, this one would be dead.
        assert not _readable(fd, 0.5), "the new container was killed"
    finally:
        os.close(fd)
    assert runtime.state(cid).status == "running"
    assert any(os.path.isdir(f"{d}/{cid}") for d in cgroup_dirs())
    runtime.delete(cid, force=True)
    assert not any(os.path.exists(f"{d}/{cid}") for d in cgroup_dirs())


def _process_state(pid: int) -> str:
    """The state letter of ``pid`` ("" once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2]


def test_pid_1_exit_kills_what_shares_the_hosts_pid_namespace(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    # No pid namespace of its own (docker's --pid host): the kernel does not kill the
    # rest with pid 1. A background process holding the output open would keep the
    # exit unrecorded for the monitor's whole drain, sleeping, and live on after it.
    spec = json.loads(json.dumps(base_spec))
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "pid"]
    cid = "rtexit-hostpid"
    create(runtime, spec, cid, ["sh", "-c", "sleep 300 & echo $!"])
    fd = runtime.exit_fd(cid)
    runtime.start(cid)
    wait_exit(fd)
    log = Path(runtime.state_root, f"{cid}.log").read_text()
    child = int(json.loads(log.splitlines()[0])["log"])
    # Its output closed before the exit was recorded: it was killed, not left sleeping.
    assert _process_state(child) in ("", "R", "Z", "X"), "the background process sleeps on"
    runtime.delete(cid)
