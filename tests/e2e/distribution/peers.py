"""Registries for the distribution tests: Wharf's and Debian's docker-registry as real
processes, and a small in-thread aiohttp registry that misbehaves on request (corrupt bytes,
a connection dropped half-way, a stall). Ports are 15300-15399; state lives in /tmp/dist-*.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import yaml
from aiohttp import web

PORTS = range(15300, 15400)
_next = [0]


def free_port() -> int:
    for _ in range(len(PORTS)):
        port = PORTS[_next[0] % len(PORTS)]
        _next[0] += 1
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 15300-15399")


def htpasswd(path: Path, user: str, password: str) -> Path:
    path.write_text(f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(5)).decode()}\n")
    return path


@dataclass
class Registry:
    """A registry process (``wharf`` or ``distribution``) on 127.0.0.1."""

    kind: str
    host: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def registry(
    kind: str, workdir: Path, extra: dict[str, Any] | None = None, port: int = 0
) -> Iterator[Registry]:
    """Run Wharf's registry or Debian's docker-registry with ``extra`` config keys."""
    port = port or free_port()
    cfg: dict[str, Any] = {
        "version": 0.1,
        "http": {"addr": f"127.0.0.1:{port}"},
        "storage": {"filesystem": {"rootdirectory": str(workdir / f"{kind}-{port}")}},
    }
    if kind == "distribution":
        cfg["log"] = {"level": "warn", "accesslog": {"disabled": True}}
    cfg.update(extra or {})
    path = workdir / f"{kind}-{port}.yml"
    path.write_text(yaml.safe_dump(cfg))
    log = workdir / f"{kind}-{port}.log"
    argv = (
        [sys.executable, "-m", "wharf.registry", "serve", str(path)]
        if kind == "wharf"
        else ["docker-registry", "serve", str(path)]
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    reg = Registry(kind, f"127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{reg.host}/v2/", timeout=1).status_code in (200, 401):
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} registry did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield reg
    finally:
        reg.stop()


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["skopeo", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": "/tmp"},
        timeout=300,
    )


# -- a registry that misbehaves --------------------------------------------------------


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def small_image(payload_size: int = 2 << 20) -> tuple[bytes, dict[str, bytes]]:
    """A one-layer image (a file of random bytes): (manifest, blobs by digest)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = os.urandom(payload_size)
        info = tarfile.TarInfo("payload.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/payload.bin"]},
            "rootfs": {"type": "layers", "diff_ids": [_digest(raw.getvalue())]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    return manifest, {_digest(config): config, _digest(layer): layer}


@dataclass
class FaultyRegistry:
    """Serves one repository ``faulty/img:v1`` read-only.

    ``mode``: ``ok``; ``corrupt`` (layer bytes flipped); ``drop`` (the first layer GET is
    cut half-way; later ones are served, honouring ``Range``); ``stall`` (blob GETs hang).
    ``ranges`` records every ``Range`` header received.
    """

    manifest: bytes
    blobs: dict[str, bytes]
    mode: str = "ok"
    host: str = ""
    ranges: list[str] = field(default_factory=list)
    dropped: int = 0

    async def _manifest(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["ref"]
        if ref not in ("v1", _digest(self.manifest)):
            return web.json_response(
                {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
                status=404,
            )
        return web.Response(
            body=self.manifest,
            headers={
                "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                "Docker-Content-Digest": _digest(self.manifest),
            },
        )

    async def _blob(self, request: web.Request) -> web.StreamResponse:
        digest = request.match_info["digest"]
        data = self.blobs.get(digest)
        if data is None:
            return web.json_response({"errors": [{"code": "BLOB_UNKNOWN"}]}, status=404)
        is_layer = len(data) > 100_000
        if self.mode == "stall" and is_layer:
            await asyncio.sleep(3600)
        if self.mode == "corrupt" and is_layer:
            data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
        start = 0
        header = request.headers.get("Range", "")
        if header:
            self.ranges.append(header)
            start = int(header.removeprefix("bytes=").split("-")[0])
        response = web.StreamResponse(
            status=206 if header else 200,
            headers={"Content-Length": str(len(data) - start), "Accept-Ranges": "bytes"},
        )
        if header:
            response.headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        await response.prepare(request)
        body = data[start:]
        if self.mode == "drop" and is_layer and self.dropped == 0:
            self.dropped += 1
            await response.write(body[: len(body) // 2])
            await asyncio.sleep(0.1)
            assert request.transport is not None
            request.transport.abort()
            return response
        await response.write(body)
        await response.write_eof()
        return response

    async def _ping(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/", self._ping)
        app.router.add_route("*", "/v2/faulty/img/manifests/{ref}", self._manifest)
        app.router.add_route("*", "/v2/faulty/img/blobs/{digest}", self._blob)
        return app


@contextlib.contextmanager
def faulty_registry(mode: str = "ok") -> Iterator[FaultyRegistry]:
    """Run a :class:`FaultyRegistry` in a thread of this process."""
    manifest, blobs = small_image()
    reg = FaultyRegistry(manifest, blobs, mode)
    port = free_port()
    reg.host = f"127.0.0.1:{port}"
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(reg.app(), shutdown_timeout=0.5)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield reg
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(runner.cleanup())
        loop.close()
