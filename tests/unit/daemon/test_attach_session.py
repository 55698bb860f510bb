"""StreamSession: connected to the monitor before the client's connection is upgraded."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from wharf.apitypes.stream import STDOUT, frame
from wharf.daemon.attach import StreamSession


class Client:
    """The client's hijacked connection: sends nothing, keeps what it is sent."""

    def __init__(self) -> None:
        self.received = b""
        self.closed = False

    async def read(self) -> bytes:
        return b""

    async def write(self, data: bytes) -> None:
        self.received += data

    def close(self) -> None:
        self.closed = True


def session(path: Path) -> StreamSession:
    return StreamSession(str(path), tty=False, stdin=False, stdout=True, stderr=True)


def test_monitor_has_the_connection_before_the_client_gets_its_upgrade(tmp_path: Path) -> None:
    # the docker CLI starts the container once it has the 101: by then the monitor must have
    # our connection waiting, or a quick process's output goes to nobody
    path = tmp_path / "attach.sock"
    monitor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    monitor.bind(str(path))
    monitor.listen()
    monitor.setblocking(False)
    client = Client()
    accepted: list[socket.socket] = []

    async def upgrade() -> Client:
        conn, _ = monitor.accept()  # BlockingIOError if the session has not connected yet
        conn.sendall(frame(STDOUT, b"shared\n"))
        conn.close()
        accepted.append(conn)
        return client

    try:
        asyncio.run(session(path).run(upgrade))
    finally:
        monitor.close()
    assert accepted
    assert client.received == frame(STDOUT, b"shared\n")


def test_a_gone_monitor_still_upgrades_then_ends(tmp_path: Path) -> None:
    client = Client()
    upgrades: list[Client] = []

    async def upgrade() -> Client:
        upgrades.append(client)
        return client

    asyncio.run(session(tmp_path / "gone.sock").run(upgrade))
    assert upgrades == [client]
    assert client.received == b""
