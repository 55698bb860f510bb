"""``/volumes``: create, list, inspect, remove, prune."""

from __future__ import annotations

from aiohttp import web

from wharf.api.app import read_json
from wharf.api.backends import VolumeBackend
from wharf.api.routers._stream import backends, qbool
from wharf.apitypes import parse_filters
from wharf.errors import InvalidArgument, Unimplemented

__all__ = ["ROUTES"]


def _volumes(request: web.Request) -> VolumeBackend:
    service = backends(request).volumes
    if service is None:
        raise Unimplemented("volumes are not available on this daemon")
    return service


async def create(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, required=False) or {}
    if not isinstance(body, dict):
        raise InvalidArgument("request body: expected a JSON object")
    return web.json_response(_volumes(request).create(body), status=201)


async def list_volumes(request: web.Request) -> web.StreamResponse:
    filters = parse_filters(request.query.get("filters"))
    return web.json_response(_volumes(request).list(filters))


async def inspect(request: web.Request) -> web.StreamResponse:
    return web.json_response(_volumes(request).inspect(request.match_info["name"]))


async def remove(request: web.Request) -> web.StreamResponse:
    _volumes(request).remove(request.match_info["name"], force=qbool(request, "force"))
    return web.Response(status=204)


async def prune(request: web.Request) -> web.StreamResponse:
    filters = parse_filters(request.query.get("filters"))
    return web.json_response(_volumes(request).prune(filters))


ROUTES = [
    ("POST", "/volumes/create", create),
    ("GET", "/volumes", list_volumes),
    ("POST", "/volumes/prune", prune),
    ("GET", "/volumes/{name}", inspect),
    ("DELETE", "/volumes/{name}", remove),
]
