"""The embedded DNS server over UDP on 127.0.0.1: answers, NXDOMAIN, FORMERR."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from wharf.network.dns import DnsServer, parse_question


def _query(name: str, qtype: int = 1, ident: int = 0x1234) -> bytes:
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return (
        struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack("!HH", qtype, 1)
    )


async def _ask(packet: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    server = DnsServer(lambda n: ["10.9.0.7"] if n == "web" else [], upstreams=[])
    transport, _ = await loop.create_datagram_endpoint(lambda: server, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setblocking(False)
    try:
        await loop.sock_connect(client, ("127.0.0.1", port))
        await loop.sock_sendall(client, packet)
        return await asyncio.wait_for(loop.sock_recv(client, 512), 5)
    finally:
        client.close()
        server.close()


def test_parse_question() -> None:
    ident, _, name, qtype, end = parse_question(_query("Web.Local", 28))
    assert (ident, name, qtype) == (0x1234, "web.local", 28)
    assert end == len(_query("Web.Local", 28))
    for bad in (b"", b"\0" * 11, _query("x")[:-2]):
        with pytest.raises(ValueError):
            parse_question(bad)


def test_known_name_gets_an_a_record() -> None:
    reply = asyncio.run(_ask(_query("web")))
    ident, flags, _, ancount = struct.unpack("!HHHH", reply[:8])
    assert ident == 0x1234
    assert flags & 0x8000 and flags & 0xF == 0
    assert ancount == 1
    assert socket.inet_ntoa(reply[-4:]) == "10.9.0.7"


def test_aaaa_of_known_name_is_empty_and_unknown_is_nxdomain() -> None:
    reply = asyncio.run(_ask(_query("web", 28)))
    assert struct.unpack("!H", reply[6:8])[0] == 0
    assert struct.unpack("!H", reply[2:4])[0] & 0xF == 0
    reply = asyncio.run(_ask(_query("nosuch")))
    assert struct.unpack("!H", reply[2:4])[0] & 0xF == 3


def test_garbage_gets_formerr() -> None:
    packet = struct.pack("!HHHHHH", 7, 0x0100, 2, 0, 0, 0)
    reply = asyncio.run(_ask(packet))
    assert struct.unpack("!H", reply[2:4])[0] & 0xF == 1
