"""remove_state_dir: a container's state directory goes, whatever is in it; a monitor
that finishes after its container's delete leaves the next one's sockets alone."""

from __future__ import annotations

import socket
from pathlib import Path

from wharf.runtime._engine_request import LaunchRequest
from wharf.runtime._engine_state import ATTACH_SOCK, CONTROL_SOCK, remove_state_dir
from wharf.runtime._engine_types import ContainerIO
from wharf.runtime.monitor import _Monitor


def test_what_a_monitor_leaves_is_removed(tmp_path: Path) -> None:
    d = tmp_path / "c1"
    d.mkdir()
    for name in ("state.json", "exit.json", "request.json", "monitor.log", "control.sock"):
        (d / name).write_text("{}")
    remove_state_dir(str(d))
    assert not d.exists()


def test_execs_and_other_files_go_too(tmp_path: Path) -> None:
    d = tmp_path / "c2"
    (d / "exec" / "e1").mkdir(parents=True)
    (d / "exec" / "e1" / "exit.json").write_text("{}")
    (d / "state.json").write_text("{}")
    (d / "state.json.123.tmp").write_text("{")  # a monitor killed while writing
    (d / "exit.json").mkdir()  # not what a monitor leaves
    remove_state_dir(str(d))
    assert not d.exists()


def test_a_directory_already_gone_is_no_error(tmp_path: Path) -> None:
    remove_state_dir(str(tmp_path / "never"))
    d = tmp_path / "c3"
    d.mkdir()
    remove_state_dir(str(d))  # empty: only the directory
    assert not d.exists()


def _listening(d: Path) -> _Monitor:
    req = LaunchRequest("container", "c4", "", str(d), str(d), "/", {}, (), ContainerIO())
    monitor = _Monitor(req)
    monitor.listen()
    return monitor


def test_a_late_monitor_leaves_the_next_containers_sockets_alone(tmp_path: Path) -> None:
    # delete may go on once the monitor has closed its controls, before it unlinks its
    # sockets; a container of the same name may then be made at the same path.
    d = tmp_path / "c4"
    d.mkdir()
    old = _listening(d)
    remove_state_dir(str(d))
    d.mkdir()
    new = _listening(d)
    old._stop_listening()
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as client:
        client.connect(str(d / CONTROL_SOCK))
    assert (d / ATTACH_SOCK).exists()
    new._stop_listening()
    assert list(d.iterdir()) == []
