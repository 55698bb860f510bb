"""``/_ping``, ``/version``, ``/info``, ``/events``, ``/system/df``."""

from __future__ import annotations

import contextlib

from aiohttp import web

from wharf.api.routers._stream import backends, start_ndjson, write_json_line
from wharf.apitypes import parse_filters
from wharf.errors import InvalidArgument

__all__ = ["ROUTES"]

_PING_HEADERS = {
    "Content-Type": "text/plain; charset=utf-8",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}


async def ping(request: web.Request) -> web.StreamResponse:
    body = b"" if request.method == "HEAD" else b"OK"
    return web.Response(body=body, headers=_PING_HEADERS)


async def version(request: web.Request) -> web.StreamResponse:
    return web.json_response(backends(request).system.version().to_json())


async def info(request: web.Request) -> web.StreamResponse:
    return web.json_response(backends(request).system.info().to_json())


async def disk_usage(request: web.Request) -> web.StreamResponse:
    return web.json_response((await backends(request).system.disk_usage()).to_json())


def _time(name: str, value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidArgument(
            f"query parameter {name}: expected unix seconds (e.g. 1700000000.5), got {value!r}"
        ) from None


async def events(request: web.Request) -> web.StreamResponse:
    since = _time("since", request.query.get("since"))
    until = _time("until", request.query.get("until"))
    filters = parse_filters(request.query.get("filters"))
    stream = backends(request).system.events(since=since, until=until, filters=filters)
    response = await start_ndjson(request)
    try:
        async for event in stream:
            await write_json_line(response, event.to_json(), end="\n")
    except ConnectionError:
        return response
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]
    await response.write_eof()
    return response


ROUTES = [
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("GET", "/events", events),
    ("GET", "/system/df", disk_usage),
]
