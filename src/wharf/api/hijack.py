"""Taking over an HTTP connection after ``101 UPGRADED`` (attach and exec start).

aiohttp parses the request (and its body, for exec start) and treats ``Upgrade: tcp`` as an
upgrade: bytes after the request are kept aside, unparsed. We then write the 101 response and
swap the transport's protocol for :class:`_RawProtocol`, which (unlike aiohttp's) keeps the
connection open on a client half-close: the docker CLI shuts its write side at once when it has no
stdin, and still expects the output. When the connection finally goes, aiohttp's protocol is told
so it can finish its bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from aiohttp import web

__all__ = ["hijack"]

_UPGRADE_HEADERS = (
    b"HTTP/1.1 101 UPGRADED\r\n"
    b"Content-Type: application/vnd.docker.raw-stream\r\n"
    b"Connection: Upgrade\r\n"
    b"Upgrade: tcp\r\n"
)


class _RawProtocol(asyncio.Protocol):
    """Byte pump for a hijacked transport; implements :class:`~wharf.api.backends.HijackedConn`."""

    def __init__(self, transport: asyncio.Transport, previous: Any, pending: bytes) -> None:
        self._transport = transport
        self._previous = previous
        self._chunks: deque[bytes] = deque([pending] if pending else [])
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._eof = False
        self._lost = False
        if pending:
            self._readable.set()

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._readable.set()

    def eof_received(self) -> bool:
        self._eof = True
        self._readable.set()
        return True  # keep our write side open: a half-close is not a detach

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._eof = True
        self._readable.set()
        self._writable.set()
        with contextlib.suppress(Exception):
            self._previous.connection_lost(exc)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def read(self) -> bytes:
        while not self._chunks:
            if self._eof:
                return b""
            self._readable.clear()
            await self._readable.wait()
        return self._chunks.popleft()

    async def write(self, data: bytes) -> None:
        if self._lost or self._transport.is_closing():
            raise ConnectionResetError("client closed the hijacked connection")
        self._transport.write(data)
        await self._writable.wait()
        if self._lost:
            raise ConnectionResetError("client closed the hijacked connection")

    @property
    def closed(self) -> bool:
        return self._lost

    def close(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()


async def hijack(request: web.Request, extra_headers: dict[str, str]) -> _RawProtocol:
    """Answer ``101 UPGRADED`` on ``request``'s connection and take the raw connection over.

    Args:
        request: an upgrade request (``Connection: Upgrade``, ``Upgrade: tcp``); a plain request
            is hijacked the same way (docker-py accepts it).
        extra_headers: headers to add (the API version headers).

    Returns:
        the connection; the caller must ``close()`` it when done.
    """
    transport = request.transport
    protocol = request.protocol
    if transport is None or protocol is None:
        raise ConnectionResetError("client went away before the upgrade")
    # Bytes the client sent after the request line; aiohttp keeps them aside on an upgrade.
    pending: bytes = getattr(protocol, "_message_tail", b"")
    with contextlib.suppress(AttributeError):
        protocol._message_tail = b""
    head = _UPGRADE_HEADERS + b"".join(
        f"{k}: {v}\r\n".encode("latin-1") for k, v in extra_headers.items()
    )
    raw = _RawProtocol(transport, protocol, pending)
    assert isinstance(transport, asyncio.Transport)
    transport.set_protocol(raw)
    transport.write(head + b"\r\n")
    return raw
