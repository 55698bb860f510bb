"""``/images/...`` and ``/commit``. References sit unescaped in paths, so names match greedily."""

from __future__ import annotations

from aiohttp import web

from wharf.api.routers import distribution
from wharf.api.routers._stream import (
    backends,
    body_chunks,
    qbool,
    send_stream,
    start_ndjson,
    write_json_line,
)
from wharf.apitypes import parse_filters
from wharf.errors import InvalidArgument

__all__ = ["ROUTES"]


def _name(request: web.Request) -> str:
    return request.match_info["name"]


async def list_images(request: web.Request) -> web.StreamResponse:
    views = backends(request).images.list(
        all=qbool(request, "all"), filters=parse_filters(request.query.get("filters"))
    )
    return web.json_response([v.to_summary_json() for v in views])


async def inspect(request: web.Request) -> web.StreamResponse:
    return web.json_response(backends(request).images.inspect(_name(request)).to_inspect_json())


async def history(request: web.Request) -> web.StreamResponse:
    entries = backends(request).images.history(_name(request))
    return web.json_response([e.to_json() for e in entries])


async def tag(request: web.Request) -> web.StreamResponse:
    repo = request.query.get("repo", "")
    if not repo:
        raise InvalidArgument("query parameter repo: a repository name is required")
    backends(request).images.tag(_name(request), repo=repo, tag=request.query.get("tag", ""))
    return web.Response(status=201)


async def remove(request: web.Request) -> web.StreamResponse:
    items = await backends(request).images.remove(
        _name(request), force=qbool(request, "force"), prune=not qbool(request, "noprune")
    )
    return web.json_response([i.to_json() for i in items])


async def save_one(request: web.Request) -> web.StreamResponse:
    stream = backends(request).images.save([_name(request)])
    return await send_stream(request, stream, "application/x-tar")


async def save(request: web.Request) -> web.StreamResponse:
    names = request.query.getall("names", [])
    if not names:
        raise InvalidArgument("query parameter names: at least one image is required")
    stream = backends(request).images.save(list(names))
    return await send_stream(request, stream, "application/x-tar")


async def load(request: web.Request) -> web.StreamResponse:
    lines = await backends(request).images.load(body_chunks(request))
    response = await start_ndjson(request)
    for line in lines:
        await write_json_line(response, {"stream": line + "\n"})
    await response.write_eof()
    return response


async def create(request: web.Request) -> web.StreamResponse:
    images = backends(request).images
    from_src = request.query.get("fromSrc")
    if from_src is not None:
        if from_src != "-":
            raise InvalidArgument(
                "query parameter fromSrc: only '-' (the request body) is supported, "
                f"got {from_src!r}"
            )
        image_id = await images.import_image(
            body_chunks(request),
            repo=request.query.get("repo", ""),
            tag=request.query.get("tag", ""),
            changes=list(request.query.getall("changes", [])),
            message=request.query.get("message", ""),
        )
        response = await start_ndjson(request)
        await write_json_line(response, {"status": image_id})
        await response.write_eof()
        return response
    ref = request.query.get("fromImage", "")
    if not ref:
        raise InvalidArgument("query parameter fromImage or fromSrc is required")
    if backends(request).distribution is not None:
        return await distribution.pull(request)
    lines = await images.pull(ref, tag=request.query.get("tag", ""))
    response = await start_ndjson(request)
    for line in lines:
        await write_json_line(response, {"status": line})
    await response.write_eof()
    return response


async def commit(request: web.Request) -> web.StreamResponse:
    container = request.query.get("container", "")
    if not container:
        raise InvalidArgument("query parameter container: the container to commit is required")
    image_id = await backends(request).images.commit(
        container,
        repo=request.query.get("repo", ""),
        tag=request.query.get("tag", ""),
        author=request.query.get("author", ""),
        message=request.query.get("comment", ""),
        changes=list(request.query.getall("changes", [])),
        pause=qbool(request, "pause", default=True),
    )
    return web.json_response({"Id": image_id}, status=201)


async def prune(request: web.Request) -> web.StreamResponse:
    filters = parse_filters(request.query.get("filters"))
    dangling = filters.pop("dangling", ["true"])
    report = await backends(request).images.prune(
        dangling_only=dangling not in (["false"], ["0"]), filters=filters
    )
    return web.json_response(report.to_json())


_N = "/images/{name:.+}"
ROUTES = [
    ("GET", "/images/json", list_images),
    ("GET", "/images/get", save),
    ("POST", "/images/load", load),
    ("POST", "/images/create", create),
    ("POST", "/images/prune", prune),
    ("POST", "/commit", commit),
    ("GET", _N + "/json", inspect),
    ("GET", _N + "/history", history),
    ("GET", _N + "/get", save_one),
    ("POST", _N + "/tag", tag),
    ("DELETE", _N, remove),
]
