"""Client-side steps of the spec's flows and a threaded server runner for the API tests."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web

from wharf.registry.app import REGISTRY, Registry
from wharf.registry.config import RegistryConfig

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def push_blob(c: httpx.Client, name: str, data: bytes, algorithm: str = "sha256") -> str:
    d = digest_of(data, algorithm)
    r = c.post(f"/v2/{name}/blobs/uploads/", params={"digest": d}, content=data)
    assert r.status_code == 201, r.text
    return d


def manifest_for(config: bytes, layers: list[bytes], **extra: Any) -> tuple[bytes, dict[str, Any]]:
    obj: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": digest_of(layer),
                "size": len(layer),
            }
            for layer in layers
        ],
        **extra,
    }
    return json.dumps(obj).encode(), obj


def push_image(c: httpx.Client, name: str, tag: str, seed: bytes = b"x") -> str:
    config = b'{"architecture":"amd64","os":"linux","seed":"' + seed + b'"}'
    layer = b"layer-" + seed
    push_blob(c, name, config)
    push_blob(c, name, layer)
    body, _ = manifest_for(config, [layer])
    r = c.put(f"/v2/{name}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    return digest_of(body)


def error_codes(r: httpx.Response) -> list[str]:
    return [e["code"] for e in r.json()["errors"]]


PORTS = range(15130, 15190)


def listen_socket() -> socket.socket:
    """A socket listening on a free port of 15130-15189 (bound now: no race for it)."""
    for port in PORTS:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.listen(128)
        return s
    raise RuntimeError("no free port in 15130-15189")


@dataclass
class Running:
    """A registry app serving on a thread's event loop."""

    cfg: RegistryConfig
    url: str
    app: web.Application
    stop: Callable[[], None]

    @property
    def registry(self) -> Registry:
        return self.app[REGISTRY]


def run_app(app: web.Application, sock: socket.socket) -> Callable[[], None]:
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    started = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert started.wait(10), "registry did not start"

    def stop() -> None:
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    return stop
