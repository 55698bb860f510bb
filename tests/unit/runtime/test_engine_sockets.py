"""SocketDirs: unix socket addresses for directories of any length."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from wharf.runtime._engine_state import SocketDirs


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_a_short_path_is_used_as_is(tmp_path: Path) -> None:
    dirs = SocketDirs()
    assert dirs.address(str(tmp_path), "attach.sock") == str(tmp_path / "attach.sock")
    dirs.close()


def test_a_long_directory_is_reached_through_proc_and_forget_closes_it(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 100) / ("e" * 40)
    deep.mkdir(parents=True)
    before = _open_fds()
    dirs = SocketDirs()
    address = dirs.address(str(deep), "control.sock")
    assert len(str(deep / "control.sock")) > 108
    assert address.startswith(f"/proc/{os.getpid()}/fd/")
    assert dirs.address(str(deep), "attach.sock").rsplit("/", 1)[0] == address.rsplit("/", 1)[0]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(address)
        server.listen(1)
        assert (deep / "control.sock").exists()  # the socket is in the real directory
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(address)
    dirs.forget(str(tmp_path / ("d" * 100)))  # a parent: forgets the directories under it
    assert _open_fds() == before
    dirs.close()
