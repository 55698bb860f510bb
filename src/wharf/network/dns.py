"""The embedded DNS server of a user network (Docker's 127.0.0.11, here on the gateway address).

It answers A queries for the names the daemon knows on that network (container names, aliases,
short ids) and relays every other query, unchanged, to the host's resolvers, relaying their
answer back. Only UDP; a query it cannot parse gets FORMERR, an upstream that does not answer
in time SERVFAIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable, Sequence
from typing import Final, cast

__all__ = ["DnsServer", "host_upstreams", "parse_question", "serve_dns", "start_dns"]

_A: Final = 1
_AAAA: Final = 28
_FORMERR: Final = 1
_SERVFAIL: Final = 2
_NXDOMAIN: Final = 3
_TTL: Final = 600
_UPSTREAM_TIMEOUT: Final = 3.0


def parse_question(packet: bytes) -> tuple[int, int, str, int, int]:
    """(id, flags, lower-case name, qtype, offset after the question) of a query.

    Raises:
        ValueError: not a one-question query.
    """
    if len(packet) < 12:
        raise ValueError("short DNS header")
    ident, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1 or flags & 0x8000:
        raise ValueError("expected one question in a query")
    labels = []
    offset = 12
    while True:
        if offset >= len(packet):
            raise ValueError("truncated name")
        length = packet[offset]
        offset += 1
        if length == 0:
            break
        if length & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(packet[offset : offset + length].decode("ascii", "replace"))
        offset += length
    if offset + 4 > len(packet):
        raise ValueError("truncated question")
    qtype, _ = struct.unpack("!HH", packet[offset : offset + 4])
    return ident, flags, ".".join(labels).lower(), qtype, offset + 4


def _reply(packet: bytes, end: int, rcode: int, addresses: Sequence[str] = ()) -> bytes:
    ident, flags = struct.unpack("!HH", packet[:4])
    flags = 0x8000 | (flags & 0x0100) | 0x0080 | 0x0400 | rcode  # QR, RD copied, RA, AA
    header = struct.pack("!HHHHHH", ident, flags, 1, len(addresses), 0, 0)
    answers = b"".join(
        struct.pack("!HHHIH", 0xC00C, _A, 1, _TTL, 4) + socket.inet_aton(a) for a in addresses
    )
    return header + packet[12:end] + answers


class DnsServer(asyncio.DatagramProtocol):
    """Answers from ``lookup(name) -> addresses``; forwards the rest to ``upstreams``."""

    def __init__(self, lookup: Callable[[str], list[str]], upstreams: Sequence[str]) -> None:
        self.lookup = lookup
        self.upstreams = list(upstreams)
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.starting: asyncio.Task[object] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        try:
            _, _, name, qtype, end = parse_question(data)
        except ValueError:
            if len(data) >= 12:
                self._send(_reply(data, 12, _FORMERR)[:12], addr)
            return
        addresses = self.lookup(name)
        if addresses:
            answer = addresses if qtype == _A else []
            self._send(_reply(data, end, 0, answer), addr)
            return
        if not self.upstreams:
            self._send(_reply(data, end, _NXDOMAIN), addr)
            return
        task = asyncio.get_running_loop().create_task(self._forward(data, end, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward(self, data: bytes, end: int, addr: tuple[str | int, int]) -> None:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bytes] = loop.create_future()

        class _Relay(asyncio.DatagramProtocol):
            def datagram_received(self, reply: bytes, _: tuple[str | int, int]) -> None:
                if not answer.done():
                    answer.set_result(reply)

        transport, _ = await loop.create_datagram_endpoint(
            _Relay, remote_addr=(self.upstreams[0], 53)
        )
        try:
            transport.sendto(data)
            reply = await asyncio.wait_for(answer, _UPSTREAM_TIMEOUT)
        except TimeoutError:
            reply = _reply(data, end, _SERVFAIL)
        finally:
            transport.close()
        self._send(reply, addr)

    def _send(self, data: bytes, addr: tuple[str | int, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)

    def close(self) -> None:
        """Stop answering; cancel queries in flight."""
        for task in list(self._tasks):
            task.cancel()
        if self.transport is not None:
            with contextlib.suppress(OSError):
                self.transport.close()


async def start_dns(
    address: str, lookup: Callable[[str], list[str]], upstreams: Sequence[str]
) -> DnsServer:
    """A :class:`DnsServer` listening on ``address:53/udp``.

    Raises:
        OSError: the address cannot be bound.
    """
    server = DnsServer(lookup, upstreams)
    await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: server, local_addr=(address, 53)
    )
    return server


def host_upstreams(resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    """The host's non-loopback nameservers."""
    try:
        with open(resolv_conf) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        fields = line.split()
        local = len(fields) < 2 or fields[1].startswith(("127.", "::1"))
        if not local and fields[0] == "nameserver":
            out.append(fields[1])
    return out


def serve_dns(address: str, lookup: Callable[[str], list[str]]) -> DnsServer | None:
    """Bind ``address:53/udp`` now and serve on the running loop (None: cannot bind)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((address, 53))
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    server = DnsServer(lookup, host_upstreams())
    loop = asyncio.get_running_loop()
    server.starting = loop.create_task(loop.create_datagram_endpoint(lambda: server, sock=sock))
    return server
