"""The userland proxy: a published TCP port listened on by the daemon and relayed to a container.

DNAT cannot reach a container from ``127.0.0.1`` (locally generated packets to loopback never
leave it), so, as Docker's ``docker-proxy`` does, each published TCP port is also a listening
socket of the daemon that copies bytes to ``container_ip:port``. Binding the socket first is also
how a host port already in use is found before anything else is configured.
"""

from __future__ import annotations

import asyncio
import socket

from wharf.errors import WharfError

__all__ = ["PortInUse", "TcpProxy", "bind_port"]

_CHUNK = 262144


class PortInUse(WharfError):
    """The host port is taken (Docker answers 500 with this message)."""


def bind_port(host_ip: str, host_port: int, proto: str) -> socket.socket:
    """A bound socket on ``host_ip:host_port`` (port 0: a free one).

    Raises:
        PortInUse: the address is already in use.
    """
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    try:
        if proto == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host_ip or "0.0.0.0", host_port))
        if proto == "tcp":
            sock.listen(128)
    except OSError as exc:
        sock.close()
        raise PortInUse(
            f"driver failed programming external connectivity: Bind for "
            f"{host_ip or '0.0.0.0'}:{host_port} failed: port is already allocated "
            f"({exc.strerror})"
        ) from None
    sock.setblocking(False)
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


class TcpProxy:
    """Relays connections accepted on a bound socket to ``target``."""

    def __init__(self, sock: socket.socket, target: tuple[str, int]) -> None:
        self.sock = sock
        self.target = target
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._starting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start accepting on the event loop."""
        self._server = await asyncio.start_server(self._handle, sock=self.sock)

    def start_soon(self) -> None:
        """Schedule :meth:`start` on the running loop (the socket already queues connections)."""
        self._starting = asyncio.get_running_loop().create_task(self.start())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                return
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
        finally:
            writer.close()
            if task is not None:
                self._conns.discard(task)

    def close(self) -> None:
        """Stop listening and drop open connections."""
        if self._starting is not None:
            self._starting.cancel()
        if self._server is not None:
            self._server.close()
        else:
            self.sock.close()
        for task in list(self._conns):
            task.cancel()
