"""``POST /build``: the classic builder (``version=1``) with Docker's JSON message stream;
``POST /build/prune``.

The query parameters are those the docker CLI and docker-py send (``t`` repeated,
``buildargs``/``labels``/``cachefrom`` as JSON, ``nocache``, ``q``, ``rm`` (default true),
``forcerm``, ``target``, ``networkmode``, ``dockerfile``); the body is the context tar, read
as it arrives. Errors found before the first message are plain HTTP errors; later ones are an
``errorDetail`` message (with the RUN exit code as ``code`` when there is one).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from wharf.api.backends import BuildRequest
from wharf.api.routers._stream import backends, body_chunks, qbool, start_ndjson, write_json_line
from wharf.errors import InvalidArgument, Unimplemented

__all__ = ["ROUTES", "parse_request"]


def _json_param(request: web.Request, name: str, kind: type) -> Any:
    raw = request.query.get(name, "")
    if not raw:
        return kind()
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"query parameter {name}: invalid JSON: {raw!r}") from None
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise InvalidArgument(f"query parameter {name}: expected a JSON {kind.__name__}")
    return value


def parse_request(request: web.Request) -> BuildRequest:
    """The build parameters of ``request``.

    Raises:
        InvalidArgument: a malformed parameter.
        Unimplemented: BuildKit (``version=2``) or a remote context.
    """
    version = request.query.get("version", "1")
    if version != "1":
        raise Unimplemented(
            f"builder version {version!r}: only the classic builder (version=1) is supported; "
            "use DOCKER_BUILDKIT=0"
        )
    if request.query.get("remote"):
        raise Unimplemented("remote build contexts are not supported: send the context as a tar")
    build_args = _json_param(request, "buildargs", dict)
    labels = _json_param(request, "labels", dict)
    cache_from = _json_param(request, "cachefrom", list)
    for key, value in build_args.items():
        if value is not None and not isinstance(value, str):
            raise InvalidArgument(f"query parameter buildargs: {key!r} must be a string or null")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise InvalidArgument(f"query parameter labels: {key!r} must be a string")
    return BuildRequest(
        dockerfile=request.query.get("dockerfile", "") or "Dockerfile",
        tags=tuple(t for t in request.query.getall("t", []) if t),
        build_args=build_args,
        labels=labels,
        no_cache=qbool(request, "nocache"),
        quiet=qbool(request, "q"),
        rm=qbool(request, "rm", True),
        force_rm=qbool(request, "forcerm"),
        target=request.query.get("target", ""),
        network_mode=request.query.get("networkmode", ""),
        cache_from=tuple(str(c) for c in cache_from),
    )


async def build(request: web.Request) -> web.StreamResponse:
    builder = backends(request).builds
    if builder is None:
        raise Unimplemented("this daemon has no builder")
    options = parse_request(request)
    messages = builder.build(body_chunks(request), options)
    first = await anext(messages)
    response = await start_ndjson(request)
    try:
        await write_json_line(response, first)
        async for message in messages:
            await write_json_line(response, message)
    except ConnectionError:
        await messages.aclose()
        return response
    await response.write_eof()
    return response


async def prune(request: web.Request) -> web.StreamResponse:
    """``POST /build/prune`` (``docker builder prune``, the last step of ``docker system
    prune``): the classic builder keeps no cache of its own (its cache is images, which
    ``image prune`` removes), so there is nothing to delete, as with dockerd and no BuildKit."""
    return web.json_response({"CachesDeleted": None, "SpaceReclaimed": 0})


ROUTES = [("POST", "/build", build), ("POST", "/build/prune", prune)]
