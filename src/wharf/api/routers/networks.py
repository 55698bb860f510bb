"""``/networks``: create, list, inspect, remove, connect, disconnect, prune."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.api.app import read_json
from wharf.api.backends import NetworkBackend
from wharf.api.routers._stream import backends
from wharf.apitypes import parse_filters
from wharf.errors import InvalidArgument, Unimplemented

__all__ = ["ROUTES"]


def _networks(request: web.Request) -> NetworkBackend:
    service = backends(request).networks
    if service is None:
        raise Unimplemented("networks are not available on this daemon")
    return service


async def _body(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidArgument("request body: expected a JSON object")
    return body


async def create(request: web.Request) -> web.StreamResponse:
    return web.json_response(_networks(request).create(await _body(request)), status=201)


async def list_networks(request: web.Request) -> web.StreamResponse:
    filters = parse_filters(request.query.get("filters"))
    return web.json_response(_networks(request).list(filters))


async def inspect(request: web.Request) -> web.StreamResponse:
    return web.json_response(_networks(request).inspect(request.match_info["ref"]))


async def remove(request: web.Request) -> web.StreamResponse:
    _networks(request).remove(request.match_info["ref"])
    return web.Response(status=204)


async def prune(request: web.Request) -> web.StreamResponse:
    return web.json_response({"NetworksDeleted": _networks(request).prune() or None})


def _container(body: dict[str, Any]) -> str:
    container = body.get("Container")
    if not isinstance(container, str) or not container:
        raise InvalidArgument("Container: a container name or id is required")
    return container


async def connect(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    endpoint = body.get("EndpointConfig") or {}
    aliases = endpoint.get("Aliases") or [] if isinstance(endpoint, dict) else []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise InvalidArgument("EndpointConfig.Aliases: expected a list of strings")
    _networks(request).connect(request.match_info["ref"], _container(body), aliases)
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    force = bool(body.get("Force"))
    _networks(request).disconnect(request.match_info["ref"], _container(body), force=force)
    return web.Response(status=200)


ROUTES = [
    ("POST", "/networks/create", create),
    ("GET", "/networks", list_networks),
    ("POST", "/networks/prune", prune),
    ("GET", "/networks/{ref}", inspect),
    ("DELETE", "/networks/{ref}", remove),
    ("POST", "/networks/{ref}/connect", connect),
    ("POST", "/networks/{ref}/disconnect", disconnect),
]
