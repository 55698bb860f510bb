"""Registry routes: pull (``/images/create?fromImage``), push, ``/auth``,
``/distribution/{name}/json`` and ``/images/search``.

Pull and push stream Docker's JSON messages. The first message is awaited before the
headers go out, so an image that does not exist or a refused login is a plain HTTP error
(the docker CLI prints ``Error response from daemon: …``); a later failure is an
``errorDetail`` message, which the CLI prints and exits 1 on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from wharf.api.app import read_json
from wharf.api.backends import DistributionBackend
from wharf.api.routers._stream import backends, start_ndjson, write_json_line
from wharf.errors import InvalidArgument, Unimplemented, WharfError

__all__ = ["ROUTES", "pull"]


def _backend(request: web.Request) -> DistributionBackend:
    backend = backends(request).distribution
    if backend is None:
        raise Unimplemented("this daemon has no registry client")
    return backend


def _auth(request: web.Request) -> str:
    return request.headers.get("X-Registry-Auth", "")


async def _stream(
    request: web.Request, messages: AsyncIterator[dict[str, Any]]
) -> web.StreamResponse:
    try:
        first = await anext(messages)
    except StopAsyncIteration:
        first = None
    response = await start_ndjson(request)
    try:
        if first is not None:
            await write_json_line(response, first)
        async for message in messages:
            await write_json_line(response, message)
    except ConnectionError:
        return response
    except WharfError as exc:
        await write_json_line(response, {"errorDetail": {"message": str(exc)}, "error": str(exc)})
    await response.write_eof()
    return response


async def pull(request: web.Request) -> web.StreamResponse:
    """``POST /images/create?fromImage=…&tag=…``."""
    ref = request.query.get("fromImage", "")
    if not ref:
        raise InvalidArgument("query parameter fromImage or fromSrc is required")
    messages = _backend(request).pull(ref, tag=request.query.get("tag", ""), auth=_auth(request))
    return await _stream(request, messages)


async def push(request: web.Request) -> web.StreamResponse:
    messages = _backend(request).push(
        request.match_info["name"], tag=request.query.get("tag", ""), auth=_auth(request)
    )
    return await _stream(request, messages)


async def login(request: web.Request) -> web.StreamResponse:
    return web.json_response(await _backend(request).login(await read_json(request)))


async def inspect(request: web.Request) -> web.StreamResponse:
    body = await _backend(request).inspect(request.match_info["name"], auth=_auth(request))
    return web.json_response(body)


async def search(request: web.Request) -> web.StreamResponse:
    limit_text = request.query.get("limit", "25") or "25"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
        raise InvalidArgument(f"query parameter limit: expected 1-100, got {limit_text!r}")
    results = await _backend(request).search(
        request.query.get("term", ""), limit=int(limit_text), auth=_auth(request)
    )
    return web.json_response(results)


ROUTES = [
    ("POST", "/auth", login),
    ("GET", "/images/search", search),
    ("GET", "/distribution/{name:.+}/json", inspect),
    ("POST", "/images/{name:.+}/push", push),
]
