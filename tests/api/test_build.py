"""POST /build: query parameters as the docker CLI and SDK send them, the JSON stream, and
errors before the stream as plain HTTP errors."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.api.fakes import make_backends
from wharf.api import BuildRequest, make_app
from wharf.errors import InvalidArgument

pytestmark = pytest.mark.anyio


class FakeBuilder:
    def __init__(self) -> None:
        self.requests: list[BuildRequest] = []
        self.bodies: list[bytes] = []

    async def build(
        self, body: AsyncIterator[bytes], request: BuildRequest
    ) -> AsyncGenerator[dict[str, Any], None]:
        data = b"".join([chunk async for chunk in body])
        self.requests.append(request)
        self.bodies.append(data)
        if data == b"bad":
            raise InvalidArgument("dockerfile parse error line 2: unknown instruction: FOO")
        yield {"stream": "Step 1/1 : FROM busybox\n"}
        yield {"aux": {"ID": "sha256:" + "a" * 64}}


@pytest.fixture
def builder() -> FakeBuilder:
    return FakeBuilder()


@pytest.fixture
async def client(builder: FakeBuilder) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    backends = dataclasses.replace(make_backends(), builds=builder)
    async with TestClient(TestServer(make_app(backends))) as test_client:
        yield test_client


async def test_cli_query_parameters(client, builder: FakeBuilder) -> None:
    params = [
        ("dockerfile", "sub/Dockerfile.x"), ("t", "a:1"), ("t", "b"), ("version", "1"),
        ("buildargs", json.dumps({"A": "1", "B": None})), ("labels", json.dumps({"l": "v"})),
        ("nocache", "1"), ("q", "1"), ("rm", "0"), ("forcerm", "1"), ("target", "stage"),
        ("networkmode", "none"), ("cachefrom", json.dumps(["img:1"])),
    ]  # fmt: skip
    resp = await client.post("/v1.41/build", params=params, data=b"tar-bytes")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json"
    lines = (await resp.read()).split(b"\r\n")
    assert json.loads(lines[0]) == {"stream": "Step 1/1 : FROM busybox\n"}
    assert builder.bodies == [b"tar-bytes"]
    assert builder.requests == [
        BuildRequest(
            dockerfile="sub/Dockerfile.x", tags=("a:1", "b"), build_args={"A": "1", "B": None},
            labels={"l": "v"}, no_cache=True, quiet=True, rm=False, force_rm=True,
            target="stage", network_mode="none", cache_from=("img:1",),
        )
    ]  # fmt: skip


async def test_defaults(client, builder: FakeBuilder) -> None:
    resp = await client.post("/build", data=b"x")
    assert resp.status == 200
    assert builder.requests == [BuildRequest()]


async def test_errors_before_the_stream_are_http_errors(client) -> None:
    resp = await client.post("/build", data=b"bad")
    assert resp.status == 400
    assert "line 2: unknown instruction: FOO" in (await resp.json())["message"]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"buildargs": "{not json"}, 400, "query parameter buildargs: invalid JSON"),
        ({"buildargs": "[1]"}, 400, "expected a JSON dict"),
        ({"buildargs": '{"A": 1}'}, 400, "'A' must be a string or null"),
        ({"labels": '{"A": null}'}, 400, "'A' must be a string"),
        ({"cachefrom": "{}"}, 400, "expected a JSON list"),
        ({"version": "2"}, 501, "only the classic builder"),
        ({"remote": "https://example.invalid/x.git"}, 501, "remote build contexts"),
    ],
)
async def test_bad_parameters(client, builder: FakeBuilder, params, status, message) -> None:
    resp = await client.post("/build", params=params, data=b"x")
    assert resp.status == status
    assert message in (await resp.json())["message"]
    assert builder.requests == []


async def test_builder_prune_has_nothing_to_delete(client) -> None:
    # docker system prune ends with it: a 404 failed the whole command
    resp = await client.post("/v1.41/build/prune?all=1")
    assert resp.status == 200
    assert await resp.json() == {"CachesDeleted": None, "SpaceReclaimed": 0}
