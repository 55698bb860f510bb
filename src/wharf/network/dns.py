"""The embedded resolver of a container on user networks (Docker's ``127.0.0.11``).

As in Docker, its sockets are opened inside the container's network namespace on
``127.0.0.11`` (UDP and TCP, ports of the kernel's choosing; :func:`bind_resolver_sockets`, run
in that namespace) and a DNAT rule there sends ``127.0.0.11:53`` to them, so the container's
``/etc/resolv.conf`` says ``nameserver 127.0.0.11`` and its own port 53 stays free. The daemon
serves both sockets on its event loop.

A :class:`Resolver` answers from the daemon's view of the container's networks: A records for
container names, aliases and short ids; an empty NOERROR answer for other types of a known name
(no IPv6 here); PTR records for the networks' addresses. Any other query is relayed unchanged to
the upstream servers (over the transport it came by, from the daemon's namespace) and their
answer relayed back; with no upstream the answer is NXDOMAIN (REFUSED for non-queries), an
upstream that does not answer gives SERVFAIL, and a message that does not parse gets FORMERR.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import struct
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.reversename

__all__ = [
    "RESOLVER_IP",
    "Resolver",
    "ResolverEndpoint",
    "bind_resolver_sockets",
    "host_upstreams",
]

RESOLVER_IP: Final = "127.0.0.11"
_TTL: Final = 600
_UPSTREAM_TIMEOUT: Final = 3.0
_TCP_IDLE: Final = 10.0

Lookup = Callable[[str], list[str]]
Reverse = Callable[[str], list[str]]


class Resolver:
    """Answers from ``lookup(name) -> addresses`` and ``reverse(address) -> names``; relays
    the rest to ``upstreams`` (``(address, port)``, tried in order)."""

    def __init__(
        self, lookup: Lookup, reverse: Reverse, upstreams: Sequence[tuple[str, int]]
    ) -> None:
        self.lookup = lookup
        self.reverse = reverse
        self.upstreams = list(upstreams)

    def local_answer(self, wire: bytes) -> bytes | None:
        """The reply to ``wire`` from what the daemon knows (None: relay it upstream)."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return _formerr(wire)
        if query.flags & dns.flags.QR or len(query.question) != 1:
            return _formerr(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response.to_wire()
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        if question.rdtype == dns.rdatatype.PTR and name.endswith(".in-addr.arpa"):
            try:
                address = dns.reversename.to_address(question.name)
            except (dns.exception.DNSException, ValueError):
                address = ""
            names = self.reverse(address) if address else []
            if names:
                response.flags |= dns.flags.AA
                rrset = response.find_rrset(
                    response.answer,
                    question.name,
                    dns.rdataclass.IN,
                    dns.rdatatype.PTR,
                    create=True,
                )
                for n in names:
                    rrset.add(
                        dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.PTR, n + "."), _TTL
                    )
                return response.to_wire()
        addresses = self.lookup(name) if question.rdclass == dns.rdataclass.IN else []
        if addresses:
            response.flags |= dns.flags.AA
            if question.rdtype == dns.rdatatype.A:
                rrset = response.find_rrset(
                    response.answer, question.name, dns.rdataclass.IN, dns.rdatatype.A, create=True
                )
                for a in addresses:
                    rrset.add(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.A, a), _TTL)
            return response.to_wire()
        if not self.upstreams:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire()
        return None

    async def answer_udp(self, wire: bytes) -> bytes | None:
        """The reply to a datagram (None: nothing to send back)."""
        local = self.local_answer(wire)
        if local is not None:
            return local
        loop = asyncio.get_running_loop()
        for upstream in self.upstreams:
            reply: asyncio.Future[bytes] = loop.create_future()
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_Relay, reply), remote_addr=upstream
                )
            except OSError:
                continue
            try:
                transport.sendto(wire)
                return await asyncio.wait_for(reply, _UPSTREAM_TIMEOUT)
            except (TimeoutError, OSError):
                continue
            finally:
                transport.close()
        return _servfail(wire)

    async def answer_tcp(self, wire: bytes) -> bytes | None:
        """The reply to a message that came over TCP (relayed over TCP)."""
        local = self.local_answer(wire)
        if local is not None:
            return local
        for upstream in self.upstreams:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(*upstream), _UPSTREAM_TIMEOUT
                )
            except (TimeoutError, OSError):
                continue
            try:
                writer.write(struct.pack("!H", len(wire)) + wire)
                size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 3))[0]
                return await asyncio.wait_for(reader.readexactly(size), _UPSTREAM_TIMEOUT)
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                continue
            finally:
                writer.close()
        return _servfail(wire)


def _header_only(wire: bytes, rcode: int) -> bytes | None:
    if len(wire) < 12:
        return None
    ident, flags = struct.unpack("!HH", wire[:4])
    flags = 0x8000 | (flags & 0x7900) | 0x0080 | rcode  # QR, opcode and RD kept, RA
    return struct.pack("!HHHHHH", ident, flags, 0, 0, 0, 0)


def _formerr(wire: bytes) -> bytes | None:
    return _header_only(wire, dns.rcode.FORMERR)


def _servfail(wire: bytes) -> bytes | None:
    try:
        response = dns.message.make_response(dns.message.from_wire(wire))
    except dns.exception.DNSException:
        return _header_only(wire, dns.rcode.SERVFAIL)
    response.set_rcode(dns.rcode.SERVFAIL)
    return response.to_wire()


class _Relay(asyncio.DatagramProtocol):
    def __init__(self, reply: asyncio.Future[bytes]) -> None:
        self.reply = reply

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        if not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


class _UdpServer(asyncio.DatagramProtocol):
    def __init__(self, endpoint: ResolverEndpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        self.endpoint.spawn(self._answer(data, addr))

    async def _answer(self, data: bytes, addr: tuple[str | int, int]) -> None:
        reply = await self.endpoint.resolver.answer_udp(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class ResolverEndpoint:
    """A :class:`Resolver` served on a UDP and a TCP socket (already bound, e.g. inside a
    container's namespace by :func:`bind_resolver_sockets`)."""

    def __init__(self, resolver: Resolver, udp: socket.socket, tcp: socket.socket) -> None:
        self.resolver = resolver
        self.udp = udp
        self.tcp = tcp
        self.ports = (udp.getsockname()[1], tcp.getsockname()[1])
        self._udp_transport: asyncio.BaseTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` on the loop; it is cancelled by :meth:`close`."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start_soon(self) -> None:
        """Start serving on the running loop (the sockets already queue queries)."""
        self.spawn(self._start())

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self.udp.setblocking(False)
        self.tcp.setblocking(False)
        self._udp_transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpServer(self), sock=self.udp
        )
        self._tcp_server = await asyncio.start_server(self._serve_tcp, sock=self.tcp)
        if self._closed:
            self._shut()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                size_bytes = await asyncio.wait_for(reader.readexactly(2), _TCP_IDLE)
                size = struct.unpack("!H", size_bytes)[0]
                wire = await asyncio.wait_for(reader.readexactly(size), _TCP_IDLE)
                reply = await self.resolver.answer_tcp(wire)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    def _shut(self) -> None:
        if self._udp_transport is not None:
            self._udp_transport.close()
        else:
            self.udp.close()
        if self._tcp_server is not None:
            self._tcp_server.close()
        else:
            self.tcp.close()

    def close(self) -> None:
        """Stop serving; close the sockets; cancel queries in flight."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(OSError):
            self._shut()


def bind_resolver_sockets(
    udp_port: int = 0, tcp_port: int = 0
) -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets bound on ``127.0.0.11`` in the calling thread's network namespace
    (port 0: the kernel picks one; the TCP one listens).

    Raises:
        OSError: a port cannot be bound.
    """
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        udp.bind((RESOLVER_IP, udp_port))
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((RESOLVER_IP, tcp_port))
        tcp.listen(64)
    except OSError:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


def host_upstreams(resolv_conf: str = "/etc/resolv.conf") -> list[tuple[str, int]]:
    """The host's non-loopback nameservers, as ``(address, 53)``."""
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
            out.append((fields[1], 53))
    return out
