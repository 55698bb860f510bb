"""Helpers shared by the routers: streamed bodies, NDJSON, query access."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from wharf.api.app import BACKENDS, VERSION_HEADERS
from wharf.api.backends import Backends, ByteStream, HijackedConn, Session
from wharf.api.hijack import hijack
from wharf.apitypes import parse_bool

__all__ = [
    "backends",
    "body_chunks",
    "qbool",
    "send_stream",
    "serve_session",
    "start_ndjson",
    "write_json_line",
]


def backends(request: web.Request) -> Backends:
    """The backends the app was built over."""
    return request.app[BACKENDS]


async def serve_session(request: web.Request, session: Session) -> web.Response:
    """Hand ``request``'s connection to ``session``, upgraded when it asks; close it after."""
    upgraded: list[HijackedConn] = []

    async def upgrade() -> HijackedConn:
        conn = await hijack(request, VERSION_HEADERS)
        upgraded.append(conn)
        return conn

    try:
        await session.run(upgrade)
    finally:
        for conn in upgraded:
            conn.close()
    return web.Response(status=101)


def qbool(request: web.Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter, moby style."""
    value = request.query.get(name)
    return default if value is None else parse_bool(value)


async def start_ndjson(
    request: web.Request, content_type: str = "application/json"
) -> web.StreamResponse:
    """Send 200 and chunked headers at once (clients block until headers arrive)."""
    response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response


async def write_json_line(response: web.StreamResponse, obj: Any, end: str = "\r\n") -> None:
    """One JSON message of a stream."""
    await response.write((json.dumps(obj) + end).encode())


async def send_stream(
    request: web.Request,
    stream: ByteStream,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Send a byte stream chunked; stops quietly when the client goes away."""
    response = web.StreamResponse(
        status=200, headers={"Content-Type": content_type, **(headers or {})}
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    chunks = stream.chunks
    try:
        async for chunk in chunks:
            await response.write(chunk)
    except ConnectionError:
        return response
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
    await response.write_eof()
    return response


async def body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    """The request body as it arrives (chunked or not)."""
    async for chunk in request.content.iter_any():
        yield chunk
