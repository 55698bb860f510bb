"""The embedded resolver over UDP and TCP on 127.0.0.1: answers, PTR, NXDOMAIN, FORMERR, and
relaying to a fake upstream (ports 15650-15659 of net2's range; nothing leaves the machine)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

import dns.message
import dns.rcode
import dns.rdatatype
import dns.reversename
import pytest

from wharf.network.dns import Resolver, ResolverEndpoint

PORT = 15650
UPSTREAM = 15652


def _resolver(upstreams: list[tuple[str, int]]) -> Resolver:
    return Resolver(
        lambda n: ["10.9.0.7"] if n == "web" else [],
        lambda a: ["web.net-app"] if a == "10.9.0.7" else [],
        upstreams,
    )


def _sockets() -> tuple[socket.socket, socket.socket]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", PORT))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", PORT + 1))
    tcp.listen(8)
    return udp, tcp


async def _udp(wire: bytes, port: int) -> bytes:
    loop = asyncio.get_running_loop()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setblocking(False)
    try:
        await loop.sock_connect(client, ("127.0.0.1", port))
        await loop.sock_sendall(client, wire)
        return await asyncio.wait_for(loop.sock_recv(client, 4096), 5)
    finally:
        client.close()


async def _tcp(wire: bytes, port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(struct.pack("!H", len(wire)) + wire)
        size = struct.unpack("!H", await reader.readexactly(2))[0]
        return await asyncio.wait_for(reader.readexactly(size), 5)
    finally:
        writer.close()


def _serve(upstreams: list[tuple[str, int]], body: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        endpoint = ResolverEndpoint(_resolver(upstreams), *_sockets())
        endpoint.start_soon()
        try:
            await asyncio.sleep(0.05)
            await body()
        finally:
            endpoint.close()

    asyncio.run(main())


def _ask(name: str, kind: str = "A", *, tcp: bool = False) -> dns.message.Message:
    out: list[dns.message.Message] = []

    async def body() -> None:
        wire = dns.message.make_query(name, kind).to_wire()
        reply = await (_tcp(wire, PORT + 1) if tcp else _udp(wire, PORT))
        out.append(dns.message.from_wire(reply))

    _serve([], body)
    return out[0]


@pytest.mark.parametrize("tcp", [False, True])
def test_known_name_gets_an_a_record(tcp: bool) -> None:
    reply = _ask("Web.", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert [r.address for r in reply.answer[0]] == ["10.9.0.7"]


def test_aaaa_of_known_name_is_empty_and_unknown_is_nxdomain() -> None:
    reply = _ask("web", "AAAA")
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer == []
    assert _ask("nosuch").rcode() == dns.rcode.NXDOMAIN


def test_ptr_of_a_container_address() -> None:
    reply = _ask(dns.reversename.from_address("10.9.0.7").to_text(), "PTR")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer[0][0].target.to_text() == "web.net-app."


def test_garbage_gets_formerr() -> None:
    replies: list[bytes] = []

    async def body() -> None:
        replies.append(await _udp(struct.pack("!HHHHHH", 7, 0x0100, 2, 0, 0, 0), PORT))

    _serve([], body)
    ident, flags = struct.unpack("!HH", replies[0][:4])
    assert ident == 7 and flags & 0x8000 and flags & 0xF == dns.rcode.FORMERR


class _FakeUpstream(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.answer.append(
            dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "192.0.2.44")
        )
        self.transport.sendto(response.to_wire(), addr)  # type: ignore[attr-defined]


def test_other_names_are_relayed_to_the_upstream_over_udp_and_tcp() -> None:
    answers: list[dns.message.Message] = []

    async def tcp_upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        size = struct.unpack("!H", await reader.readexactly(2))[0]
        query = dns.message.from_wire(await reader.readexactly(size))
        response = dns.message.make_response(query)
        response.answer.append(
            dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "192.0.2.45")
        )
        wire = response.to_wire()
        writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        writer.close()

    async def body() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            _FakeUpstream, local_addr=("127.0.0.1", UPSTREAM)
        )
        server = await asyncio.start_server(tcp_upstream, "127.0.0.1", UPSTREAM)
        try:
            wire = dns.message.make_query("example.test", "A").to_wire()
            answers.append(dns.message.from_wire(await _udp(wire, PORT)))
            answers.append(dns.message.from_wire(await _tcp(wire, PORT + 1)))
        finally:
            transport.close()
            server.close()

    _serve([("127.0.0.1", UPSTREAM)], body)
    assert [a.answer[0][0].address for a in answers] == ["192.0.2.44", "192.0.2.45"]


def test_upstream_not_answering_gives_servfail() -> None:
    answers: list[dns.message.Message] = []

    async def body() -> None:
        wire = dns.message.make_query("example.test", "A").to_wire()
        answers.append(dns.message.from_wire(await _udp(wire, PORT)))

    # Nothing listens on the upstream port: the relay fails at once.
    _serve([("127.0.0.1", UPSTREAM + 1)], body)
    assert answers[0].rcode() == dns.rcode.SERVFAIL
