"""The userland proxy: a published port listened on by the daemon and relayed to a container.

DNAT cannot reach a container from ``127.0.0.1`` (locally generated packets to loopback never
leave it), so, as Docker's ``docker-proxy`` does, each published port is also a socket of the
daemon: a TCP listener that copies bytes to ``container_ip:port``, or a UDP socket that relays
each client's datagrams over a socket of that client's own (its "flow", dropped after
:data:`UDP_FLOW_IDLE` seconds without traffic) and sends the replies back. Binding the socket
first is also how a host port already in use is found before anything else is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Coroutine
from typing import Any, Final, cast

from wharf.errors import WharfError

__all__ = [
    "UDP_FLOW_IDLE",
    "PortInUse",
    "TcpProxy",
    "UdpProxy",
    "bind_port",
    "bind_port_in_range",
]

_CHUNK = 262144
UDP_FLOW_IDLE: Final = 90.0


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


def bind_port_in_range(host_ip: str, first: int, last: int, proto: str) -> socket.socket:
    """A socket bound on the first free port of ``first-last`` on ``host_ip``, as Docker's
    port allocator picks one.

    Raises:
        PortInUse: every port of the range is taken.
    """
    for port in range(first, last + 1):
        try:
            return bind_port(host_ip, port, proto)
        except PortInUse:
            continue
    raise PortInUse(
        f"driver failed programming external connectivity: Bind for "
        f"{host_ip or '0.0.0.0'}:{first}-{last}/{proto} failed: all ports are allocated"
    )


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


class _Flow(asyncio.DatagramProtocol):
    """One client's datagrams to the target, and the target's replies back to the client."""

    def __init__(self, proxy: UdpProxy, client: tuple[str, int]) -> None:
        self.proxy = proxy
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.last = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        self.last = time.monotonic()
        self.proxy.reply(data, self.client)

    def error_received(self, exc: Exception) -> None:
        """An ICMP error from the target (nothing listening yet): the client retries."""

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class UdpProxy(asyncio.DatagramProtocol):
    """Relays datagrams arriving on a bound UDP socket to ``target``, one flow per client."""

    def __init__(self, sock: socket.socket, target: tuple[str, int]) -> None:
        self.sock = sock
        self.target = target
        self.transport: asyncio.DatagramTransport | None = None
        self._flows: dict[tuple[str, int], _Flow] = {}
        self._opening: dict[tuple[str, int], list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def start_soon(self) -> None:
        """Start relaying on the running loop (the socket already queues datagrams)."""
        loop = asyncio.get_running_loop()
        self._spawn(self._start(loop))

    async def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        await loop.create_datagram_endpoint(lambda: self, sock=self.sock)
        while not self._closed:
            await asyncio.sleep(UDP_FLOW_IDLE / 3)
            idle = time.monotonic() - UDP_FLOW_IDLE
            for client, flow in list(self._flows.items()):
                if flow.last < idle:
                    flow.close()
                    del self._flows[client]

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        client = (str(addr[0]), int(addr[1]))
        flow = self._flows.get(client)
        if flow is not None and flow.transport is not None:
            flow.last = time.monotonic()
            flow.transport.sendto(data)
        elif client in self._opening:
            self._opening[client].append(data)
        else:
            self._opening[client] = [data]
            self._spawn(self._open(client))

    async def _open(self, client: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, flow = await loop.create_datagram_endpoint(
                lambda: _Flow(self, client), remote_addr=self.target
            )
        except OSError:
            self._opening.pop(client, None)
            return
        if self._closed:
            transport.close()
            return
        self._flows[client] = flow
        for data in self._opening.pop(client, []):
            transport.sendto(data)

    def reply(self, data: bytes, client: tuple[str, int]) -> None:
        """Send the target's ``data`` back to ``client`` from the published port."""
        if self.transport is not None:
            self.transport.sendto(data, client)

    def close(self) -> None:
        """Stop relaying; close every flow."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for flow in self._flows.values():
            flow.close()
        self._flows.clear()
        if self.transport is not None:
            with contextlib.suppress(OSError):
                self.transport.close()
        else:
            self.sock.close()
