"""``POST /containers/{id}/exec`` and ``/exec/{id}/{start,resize,json}``."""

from __future__ import annotations

from aiohttp import web

from wharf.api.app import read_json
from wharf.api.routers._stream import backends, serve_session
from wharf.apitypes import ExecConfig, parse_int
from wharf.apitypes.common import get_bool

__all__ = ["ROUTES"]


async def create(request: web.Request) -> web.StreamResponse:
    config = ExecConfig.from_json(await read_json(request))
    exec_id = backends(request).execs.create(request.match_info["ref"], config)
    return web.json_response({"Id": exec_id}, status=201)


async def start(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, required=False) or {}
    if not isinstance(body, dict):
        body = {}
    detach = get_bool(body, "Detach", "Detach")
    tty = get_bool(body, "Tty", "Tty")
    session = backends(request).execs.start(request.match_info["id"], detach=detach, tty=tty)
    if session is None:
        return web.Response(status=204)
    return await serve_session(request, session)


async def resize(request: web.Request) -> web.StreamResponse:
    backends(request).execs.resize(
        request.match_info["id"],
        height=parse_int("h", request.query.get("h"), 0),
        width=parse_int("w", request.query.get("w"), 0),
    )
    return web.Response(status=200)


async def inspect(request: web.Request) -> web.StreamResponse:
    return web.json_response(backends(request).execs.inspect(request.match_info["id"]).to_json())


ROUTES = [
    ("POST", "/containers/{ref}/exec", create),
    ("POST", "/exec/{id}/start", start),
    ("POST", "/exec/{id}/resize", resize),
    ("GET", "/exec/{id}/json", inspect),
]
