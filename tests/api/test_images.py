"""Image routes: greedy names with slashes and ports, tag, rmi, save/load, import."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.anyio


async def test_names_with_registry_port_and_slashes(client) -> None:
    resp = await client.post(
        "/v1.41/images/busybox/tag", params={"repo": "127.0.0.1:5055/test/busybox", "tag": "v1"}
    )
    assert resp.status == 201
    resp = await client.get("/v1.41/images/127.0.0.1:5055/test/busybox:v1/json")
    assert resp.status == 200
    assert (await resp.json())["RepoTags"] == ["127.0.0.1:5055/test/busybox:v1"]
    resp = await client.delete("/v1.41/images/127.0.0.1:5055/test/busybox:v1")
    assert await resp.json() == [{"Untagged": "127.0.0.1:5055/test/busybox:v1"}]


async def test_unknown_image_404(client) -> None:
    resp = await client.get("/images/nope/json")
    assert resp.status == 404
    assert await resp.json() == {"message": "No such image: nope"}


async def test_list_and_history_types(client) -> None:
    images = await (await client.get("/images/json")).json()
    assert isinstance(images[0]["Created"], int)
    assert images[0]["RepoTags"] == ["busybox:latest"]
    history = await (await client.get("/images/busybox/history")).json()
    assert history[0]["CreatedBy"] == "import"


async def test_load_streams_chunked_body_and_answers_json(client, backends) -> None:
    async def body():
        yield b"tar-part-1"
        yield b"tar-part-2"

    resp = await client.post("/images/load", params={"quiet": "1"}, data=body())
    assert resp.headers["Content-Type"].startswith("application/json")
    assert json.loads(await resp.read()) == {"stream": "Loaded image: busybox:latest\n"}
    assert backends.images.loaded == b"tar-part-1tar-part-2"


async def test_save_and_import(client, backends) -> None:
    resp = await client.get("/images/get", params={"names": "busybox:latest"})
    assert resp.status == 200
    assert await resp.read() == b"archive"
    resp = await client.post("/images/create", params={"fromSrc": "-", "repo": "x"}, data=b"tar")
    assert json.loads(await resp.read())["status"].startswith("sha256:")
    resp = await client.post("/images/create", params={"fromImage": "alpine", "tag": "3"})
    assert resp.status == 404
    resp = await client.post("/images/create", params={"fromSrc": "http://x"})
    assert resp.status == 400
