"""System endpoints, version prefixes, headers and error bodies."""

from __future__ import annotations

import asyncio
import json

import pytest

from wharf.apitypes import Event

pytestmark = pytest.mark.anyio


async def test_ping_head_and_get_carry_version_headers(client) -> None:
    for method in ("HEAD", "GET"):
        resp = await client.request(method, "/_ping")
        assert resp.status == 200
        assert resp.headers["Api-Version"] == "1.41"
        assert resp.headers["Ostype"] == "linux"
        assert resp.headers["Docker-Experimental"] == "false"
        assert "Builder-Version" not in resp.headers
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert await (await client.get("/_ping")).text() == "OK"


async def test_versioned_and_unversioned_paths(client) -> None:
    for path in ("/version", "/v1.41/version", "/v1.24/version"):
        resp = await client.get(path)
        assert resp.status == 200, path
        body = await resp.json()
        assert body["ApiVersion"] == "1.41"
        assert all(isinstance(v, str) for v in body["Components"][0]["Details"].values())


async def test_too_new_version_is_refused_like_dockerd(client) -> None:
    resp = await client.get("/v1.50/version")
    assert resp.status == 400
    assert await resp.json() == {
        "message": "client version 1.50 is too new. Maximum supported API version is 1.41"
    }


async def test_info_has_fields_the_cli_reads(client) -> None:
    body = await (await client.get("/v1.41/info")).json()
    assert body["Swarm"]["LocalNodeState"] == "inactive"
    assert all("=" in opt for opt in body["SecurityOptions"])
    assert isinstance(body["NCPU"], int)


async def test_unknown_path_is_json_404(client) -> None:
    resp = await client.get("/v1.41/nope")
    assert resp.status == 404
    assert "message" in await resp.json()


async def test_events_stream_headers_first_then_lines(client, backends) -> None:
    resp = await client.get("/events", params={"filters": '{"type":{"container":true}}'})
    assert resp.status == 200
    await backends.system.events_queue.put(
        Event(
            type="container",
            action="start",
            actor_id="abc",
            attributes={"image": "busybox"},
            time_nano=1_700_000_000_000_000_000,
        )
    )
    line = await asyncio.wait_for(resp.content.readline(), 5)
    event = json.loads(line)
    assert event["status"] == "start"
    assert event["Actor"]["ID"] == "abc"
    assert event["time"] == 1_700_000_000
    resp.close()


async def test_bad_filters_and_since_are_400(client) -> None:
    resp = await client.get("/events", params={"filters": "{not json"})
    assert resp.status == 400
    assert "filters" in (await resp.json())["message"]
    resp = await client.get("/events", params={"since": "yesterday"})
    assert resp.status == 400
    assert "since" in (await resp.json())["message"]
