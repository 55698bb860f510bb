"""``/containers/...``: create, lifecycle, wait, attach, logs, archive, list, inspect."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from aiohttp import web

from wharf.api.app import read_json
from wharf.api.backends import AttachOptions, LogOptions
from wharf.api.routers._stream import (
    backends,
    body_chunks,
    qbool,
    send_stream,
    serve_session,
    start_ndjson,
)
from wharf.apitypes import ContainerCreate, parse_filters, parse_int
from wharf.apitypes.containers import ContainerUpdate, validate_name
from wharf.errors import InvalidArgument

__all__ = ["ROUTES", "parse_time"]

_WAIT_CONDITIONS = frozenset({"", "not-running", "next-exit", "removed"})


def _ref(request: web.Request) -> str:
    return request.match_info["ref"]


async def create(request: web.Request) -> web.StreamResponse:
    name = request.query.get("name") or None
    if name is not None:
        name = validate_name(name)
    spec = ContainerCreate.from_json(await read_json(request))
    cid, warnings = backends(request).containers.create(spec, name=name)
    return web.json_response({"Id": cid, "Warnings": warnings}, status=201)


async def list_containers(request: web.Request) -> web.StreamResponse:
    views = backends(request).containers.list(
        all=qbool(request, "all"),
        limit=parse_int("limit", request.query.get("limit"), -1),
        size=qbool(request, "size"),
        filters=parse_filters(request.query.get("filters")),
    )
    return web.json_response([v.to_summary_json() for v in views])


async def inspect(request: web.Request) -> web.StreamResponse:
    view = backends(request).containers.inspect(_ref(request), size=qbool(request, "size"))
    return web.json_response(view.to_inspect_json())


async def start(request: web.Request) -> web.StreamResponse:
    backends(request).containers.start(_ref(request))
    return web.Response(status=204)


def _timeout(request: web.Request) -> int | None:
    raw = request.query.get("t")
    return None if raw in (None, "") else parse_int("t", raw, 0)


async def stop(request: web.Request) -> web.StreamResponse:
    await backends(request).containers.stop(_ref(request), timeout=_timeout(request))
    return web.Response(status=204)


async def restart(request: web.Request) -> web.StreamResponse:
    await backends(request).containers.restart(_ref(request), timeout=_timeout(request))
    return web.Response(status=204)


async def kill(request: web.Request) -> web.StreamResponse:
    backends(request).containers.kill(_ref(request), signal=request.query.get("signal", ""))
    return web.Response(status=204)


async def pause(request: web.Request) -> web.StreamResponse:
    backends(request).containers.pause(_ref(request))
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.StreamResponse:
    backends(request).containers.unpause(_ref(request))
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    condition = request.query.get("condition", "")
    if condition not in _WAIT_CONDITIONS:
        raise InvalidArgument(
            f"query parameter condition: invalid condition {condition!r}; expected not-running, "
            "next-exit or removed"
        )
    pending = backends(request).containers.wait(_ref(request), condition=condition or "not-running")
    # Headers go out now: the docker CLI calls wait before start and blocks until they arrive.
    response = await start_ndjson(request)
    result = await pending
    await response.write(json.dumps(result.to_json()).encode() + b"\n")
    await response.write_eof()
    return response


async def attach(request: web.Request) -> web.StreamResponse:
    options = AttachOptions(
        stdin=qbool(request, "stdin"),
        stdout=qbool(request, "stdout"),
        stderr=qbool(request, "stderr"),
        stream=qbool(request, "stream"),
        logs=qbool(request, "logs"),
        detach_keys=request.query.get("detachKeys", ""),
    )
    session = backends(request).containers.attach(_ref(request), options)
    await request.read()
    return await serve_session(request, session)


async def resize(request: web.Request) -> web.StreamResponse:
    backends(request).containers.resize(
        _ref(request),
        height=parse_int("h", request.query.get("h"), 0),
        width=parse_int("w", request.query.get("w"), 0),
    )
    return web.Response(status=200)


def parse_time(name: str, value: str | None) -> float:
    """A ``since``/``until`` query: unix seconds (with fraction) or RFC 3339; 0 when absent.

    Raises:
        InvalidArgument: neither form.
    """
    if not value:
        return 0.0
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidArgument(
            f"query parameter {name}: expected unix seconds or an RFC 3339 time, got {value!r}"
        ) from None


async def logs(request: web.Request) -> web.StreamResponse:
    stdout, stderr = qbool(request, "stdout"), qbool(request, "stderr")
    if not (stdout or stderr):
        raise InvalidArgument("logs: you must choose at least one stream (stdout or stderr)")
    tail_raw = request.query.get("tail", "all")
    tail = -1 if tail_raw in ("all", "") else parse_int("tail", tail_raw, -1)
    options = LogOptions(
        stdout=stdout,
        stderr=stderr,
        follow=qbool(request, "follow"),
        since=parse_time("since", request.query.get("since")),
        until=parse_time("until", request.query.get("until")),
        tail=tail,
        timestamps=qbool(request, "timestamps"),
    )
    stream = backends(request).containers.logs(_ref(request), options)
    kind = "raw-stream" if stream.tty else "multiplexed-stream"
    return await send_stream(request, stream, f"application/vnd.docker.{kind}")


async def top(request: web.Request) -> web.StreamResponse:
    result = await backends(request).containers.top(_ref(request), request.query.get("ps_args", ""))
    return web.json_response(result.to_json())


async def rename(request: web.Request) -> web.StreamResponse:
    name = request.query.get("name", "")
    if not name:
        raise InvalidArgument("query parameter name: a new name is required")
    backends(request).containers.rename(_ref(request), validate_name(name))
    return web.Response(status=204)


async def update(request: web.Request) -> web.StreamResponse:
    spec = ContainerUpdate.from_json(await read_json(request))
    warnings = backends(request).containers.update(_ref(request), spec)
    return web.json_response({"Warnings": warnings})


async def remove(request: web.Request) -> web.StreamResponse:
    await backends(request).containers.remove(
        _ref(request), force=qbool(request, "force"), volumes=qbool(request, "v")
    )
    return web.Response(status=204)


async def changes(request: web.Request) -> web.StreamResponse:
    result = await backends(request).containers.changes(_ref(request))
    return web.json_response([c.to_json() for c in result] or None)


async def export(request: web.Request) -> web.StreamResponse:
    stream = backends(request).containers.export(_ref(request))
    return await send_stream(request, stream, "application/x-tar")


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("query parameter path: a path inside the container is required")
    return path


def _stat_header(stat_json: dict[str, object]) -> dict[str, str]:
    encoded = base64.b64encode(json.dumps(stat_json).encode()).decode()
    return {"X-Docker-Container-Path-Stat": encoded}


async def archive_head(request: web.Request) -> web.StreamResponse:
    stat = await backends(request).containers.archive_stat(_ref(request), _path(request))
    return web.Response(status=200, headers=_stat_header(stat.to_json()))


async def archive_get(request: web.Request) -> web.StreamResponse:
    stat, stream = await backends(request).containers.archive_get(_ref(request), _path(request))
    return await send_stream(request, stream, "application/x-tar", _stat_header(stat.to_json()))


async def archive_put(request: web.Request) -> web.StreamResponse:
    await backends(request).containers.archive_put(
        _ref(request),
        _path(request),
        body_chunks(request),
        no_overwrite_dir_non_dir=qbool(request, "noOverwriteDirNonDir"),
    )
    return web.Response(status=200)


async def stats(request: web.Request) -> web.StreamResponse:
    one_shot = qbool(request, "one-shot")
    stream = qbool(request, "stream", default=True) and not one_shot
    samples = backends(request).containers.stats(_ref(request), stream=stream, one_shot=one_shot)
    response = await start_ndjson(request)
    try:
        async for sample in samples:
            await response.write((json.dumps(sample.to_json()) + "\n").encode())
    except ConnectionError:
        return response
    await response.write_eof()
    return response


async def prune(request: web.Request) -> web.StreamResponse:
    report = await backends(request).containers.prune(parse_filters(request.query.get("filters")))
    return web.json_response(report.to_json())


_C = "/containers/{ref}"
ROUTES = [
    ("POST", "/containers/create", create),
    ("GET", "/containers/json", list_containers),
    ("POST", "/containers/prune", prune),
    ("GET", _C + "/json", inspect),
    ("POST", _C + "/start", start),
    ("POST", _C + "/stop", stop),
    ("POST", _C + "/restart", restart),
    ("POST", _C + "/kill", kill),
    ("POST", _C + "/pause", pause),
    ("POST", _C + "/unpause", unpause),
    ("POST", _C + "/wait", wait),
    ("POST", _C + "/attach", attach),
    ("POST", _C + "/resize", resize),
    ("GET", _C + "/logs", logs),
    ("GET", _C + "/top", top),
    ("GET", _C + "/stats", stats),
    ("POST", _C + "/rename", rename),
    ("POST", _C + "/update", update),
    ("DELETE", _C, remove),
    ("GET", _C + "/changes", changes),
    ("GET", _C + "/export", export),
    ("HEAD", _C + "/archive", archive_head),
    ("GET", _C + "/archive", archive_get),
    ("PUT", _C + "/archive", archive_put),
]
