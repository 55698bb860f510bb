"""Attach and exec start over a real unix socket with raw sockets: 101, half-close, framing."""

from __future__ import annotations

import asyncio
import json

import pytest

from wharf.apitypes.stream import Demuxer

pytestmark = pytest.mark.anyio


async def _request(path: str, method: str, target: str, body: bytes = b"", extra: bytes = b""):
    reader, writer = await asyncio.open_unix_connection(path)
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: api.moby.localhost\r\n"
        "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body + extra)
    await writer.drain()
    status_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return reader, writer, status_head


async def _plain(path: str, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(
        f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


async def _create(path: str, tty: bool) -> str:
    body = json.dumps({"Image": "busybox", "Tty": tty, "OpenStdin": True}).encode()
    status, rest = await _plain(path, "POST", "/v1.41/containers/create", body)
    assert status == 201
    return str(json.loads(rest)["Id"])


async def test_attach_101_then_output_survives_client_half_close(unix_socket) -> None:
    cid = await _create(unix_socket, tty=False)
    reader, writer, head = await _request(
        unix_socket, "POST", f"/v1.41/containers/{cid}/attach?stream=1&stdin=1&stdout=1"
    )
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    assert b"Content-Type: application/vnd.docker.raw-stream" in head
    assert b"Api-Version: 1.41" in head
    writer.write(b"ping")
    await writer.drain()
    writer.write_eof()  # the docker CLI half-closes at once when it has no more stdin
    data = await asyncio.wait_for(reader.read(), 5)
    frames = list(Demuxer().feed(data))
    assert frames == [(1, b"ping"), (1, b"bye")]
    writer.close()


async def test_attach_tty_is_raw(unix_socket) -> None:
    cid = await _create(unix_socket, tty=True)
    reader, writer, head = await _request(
        unix_socket, "POST", f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1"
    )
    assert b" 101 " in head
    writer.write(b"abc")
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), 5) == b"abcbye"
    writer.close()


async def test_exec_start_reads_json_body_then_hijacks(unix_socket) -> None:
    cid = await _create(unix_socket, tty=False)
    await _plain(unix_socket, "POST", f"/containers/{cid}/start")
    status, rest = await _plain(
        unix_socket,
        "POST",
        f"/containers/{cid}/exec",
        json.dumps({"Cmd": ["sh"], "AttachStdin": True}).encode(),
    )
    assert status == 201
    exec_id = json.loads(rest)["Id"]
    body = b'{"Detach":false,"Tty":false}'
    reader, writer, head = await _request(unix_socket, "POST", f"/v1.41/exec/{exec_id}/start", body)
    assert b" 101 " in head
    writer.write(b"early")
    writer.write_eof()
    frames = list(Demuxer().feed(await asyncio.wait_for(reader.read(), 5)))
    assert frames == [(1, b"hello\n"), (1, b"early"), (1, b"bye")]
    writer.close()
    status, rest = await _plain(unix_socket, "GET", f"/exec/{exec_id}/json")
    assert json.loads(rest)["ExitCode"] == 0


async def test_unknown_exec_is_404_not_101(unix_socket) -> None:
    _reader, writer, head = await _request(unix_socket, "POST", "/exec/nope/start", b"{}")
    assert head.startswith(b"HTTP/1.1 404")
    writer.close()


async def test_client_disconnect_mid_hijack_leaves_daemon_serving(unix_socket) -> None:
    cid = await _create(unix_socket, tty=True)
    for _ in range(20):
        _reader, writer, _head = await _request(
            unix_socket, "POST", f"/containers/{cid}/attach?stream=1&stdin=1"
        )
        writer.write(b"x")
        writer.transport.abort()
    status, _ = await _plain(unix_socket, "GET", "/_ping")
    assert status == 200
