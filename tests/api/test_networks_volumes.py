"""Network and volume routes over the real volume service (tmp dir) and without a network
backend: status codes and messages for good and bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.api.fakes import make_backends
from wharf.api import make_app
from wharf.daemon.store import ContainerStore
from wharf.daemon.volumes import VolumeService

pytestmark = pytest.mark.anyio


@pytest.fixture
async def vclient(tmp_path: Path) -> Any:
    service = VolumeService(tmp_path / "volumes", ContainerStore(tmp_path), images=None)  # type: ignore[arg-type]
    backends = dataclasses.replace(make_backends(), volumes=service)
    async with TestClient(TestServer(make_app(backends))) as client:
        yield client


async def test_volume_lifecycle(vclient: TestClient[web.Request, web.Application]) -> None:
    resp = await vclient.post("/v1.41/volumes/create", json={"Name": "net-v", "Labels": {"a": "b"}})
    assert resp.status == 201
    body = await resp.json()
    assert body["Name"] == "net-v"
    assert body["Driver"] == "local"
    assert body["Labels"] == {"a": "b"}
    again = await vclient.post("/volumes/create", json={"Name": "net-v"})
    assert (await again.json())["Mountpoint"] == body["Mountpoint"]
    listed = await (await vclient.get("/volumes", params={"filters": '{"label":["a=b"]}'})).json()
    assert [v["Name"] for v in listed["Volumes"]] == ["net-v"]
    assert (await vclient.get("/volumes/net-v")).status == 200
    assert (await vclient.delete("/volumes/net-v")).status == 204
    resp = await vclient.get("/volumes/net-v")
    assert resp.status == 404
    assert "no such volume" in (await resp.json())["message"]
    assert (await vclient.delete("/volumes/net-v", params={"force": "1"})).status == 204
    anonymous = await (await vclient.post("/volumes/create")).json()
    assert len(anonymous["Name"]) == 64
    pruned = await (
        await vclient.post("/volumes/prune", params={"filters": '{"all":["1"]}'})
    ).json()
    assert pruned["VolumesDeleted"] == [anonymous["Name"]]


@pytest.mark.parametrize(
    "body",
    [
        {"Name": "bad name"},
        {"Name": "../x"},
        {"Name": 5},
        {"Name": "ok", "Driver": "nfs"},
        {"Name": "ok", "Labels": ["x"]},
        ["not", "an", "object"],
    ],
)
async def test_volume_create_bad_input_is_400(
    vclient: TestClient[web.Request, web.Application], body: Any
) -> None:
    resp = await vclient.post("/volumes/create", json=body)
    assert resp.status == 400
    assert (await resp.json())["message"]
    listed = await (await vclient.get("/volumes")).json()
    assert listed["Volumes"] == []


async def test_volume_list_bad_filter_is_400(
    vclient: TestClient[web.Request, web.Application],
) -> None:
    resp = await vclient.get("/volumes", params={"filters": '{"colour":["red"]}'})
    assert resp.status == 400


async def test_routes_without_backends_are_501(client: Any) -> None:
    for method, path in [("GET", "/networks"), ("POST", "/networks/create"), ("GET", "/volumes")]:
        resp = await client.request(method, path, json={"Name": "x"})
        assert resp.status == 501, path
