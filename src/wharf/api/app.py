"""The aiohttp application: version prefixes, headers, error translation and the route tables.

Every route is served both unversioned and under ``/v1.NN/``; a version above
:data:`~wharf.apitypes.API_VERSION` is refused with dockerd's message. Every response carries
``Api-Version``, ``Docker-Experimental``, ``Ostype`` and ``Server``. Errors are
:mod:`wharf.errors` kinds turned into ``{"message": ...}`` by :func:`wharf.api.errors.status_for`;
anything else is a 500 with the exception's text (and logged), never a traceback on the wire.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from wharf import __version__
from wharf.api.backends import Backends
from wharf.api.errors import status_for
from wharf.apitypes import API_VERSION
from wharf.errors import InvalidArgument, WharfError

__all__ = ["BACKENDS", "VERSION_HEADERS", "make_app", "read_json"]

log = logging.getLogger("wharf.api")

BACKENDS: Final = web.AppKey("backends", Backends)
VERSION_HEADERS: Final = {
    "Api-Version": API_VERSION,
    "Docker-Experimental": "false",
    "Ostype": "linux",
    "Server": f"Wharf/{__version__} (linux)",
}
MAX_JSON_BODY: Final = 1 << 20
_MAX_MINOR: Final = int(API_VERSION.split(".")[1])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, message: str) -> web.Response:
    """Docker's error body; the Go client decodes it only if the type is exactly JSON."""
    return web.Response(
        body=json.dumps({"message": message}).encode(),
        status=status,
        headers={**VERSION_HEADERS, "Content-Type": "application/json"},
    )


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    version = request.match_info.get("api_version")
    if version is not None:
        major, _, minor = version.partition(".")
        if major != "1" or not minor.isdigit() or int(minor) > _MAX_MINOR:
            return error_response(
                400,
                f"client version {version} is too new. Maximum supported API version is "
                f"{API_VERSION}",
            )
    try:
        return await handler(request)
    except WharfError as exc:
        status = status_for(exc)
        if status == 304:
            return web.Response(status=304, headers=VERSION_HEADERS)
        return error_response(status, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.text or exc.reason)
    except ConnectionError:
        raise
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, f"{type(exc).__name__}: {exc}")


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    for key, value in VERSION_HEADERS.items():
        response.headers.setdefault(key, value)


async def read_json(request: web.Request, *, required: bool = True) -> Any:
    """The request body as JSON (``None`` when empty and not required).

    Raises:
        InvalidArgument: not JSON, too big, or missing when required.
    """
    if request.content_length is not None and request.content_length > MAX_JSON_BODY:
        raise InvalidArgument(
            f"request body: {request.content_length} bytes is over the {MAX_JSON_BODY}-byte limit"
        )
    raw = await request.content.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise InvalidArgument(f"request body: over the {MAX_JSON_BODY}-byte limit")
    if not raw.strip():
        if required:
            raise InvalidArgument("request body: expected JSON, got an empty body")
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"request body: invalid JSON: {exc}") from None


def add_routes(app: web.Application, routes: list[tuple[str, str, Handler]]) -> None:
    """Register each route unversioned and under ``/v{api_version}``."""
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, "/v{api_version:[0-9]+\\.[0-9]+}" + path, handler)


def make_app(backends: Backends) -> web.Application:
    """Build the Engine API application over ``backends``."""
    from wharf.api.routers import (
        build,
        containers,
        distribution,
        exec,
        images,
        networks,
        system,
        volumes,
    )

    app = web.Application(middlewares=[_errors], client_max_size=MAX_JSON_BODY)
    app[BACKENDS] = backends
    app.on_response_prepare.append(_add_headers)
    for router in (system, containers, exec, distribution, images, build, networks, volumes):
        add_routes(app, router.ROUTES)
    return app
