"""Blob and upload handlers: GET/HEAD/DELETE blobs, POST/PATCH/PUT/GET/DELETE uploads.

Request bodies are streamed to the upload's file in bounded memory (at most one
buffer of :data:`_BUFFER` bytes per request) and hashed on the way, so a blob of any
size is verified with one pass. Reads of a stalled client time out after the configured
``limits.readtimeout``; what arrived stays in the session, which the client can resume
(``GET`` gives the offset) until it is purged.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.web_request import BaseRequest
from multidict import CIMultiDict

from wharf.oci import Digest
from wharf.registry.errcodes import RegistryError
from wharf.registry.keys import ACTOR
from wharf.registry.names import parse_digest, validate_name

if TYPE_CHECKING:
    from wharf.registry.app import Handler, Registry

__all__ = ["byte_range", "register"]

_BUFFER = 1 << 20
_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_OCTET = "application/octet-stream"
_API = {"Docker-Distribution-API-Version": "registry/2.0"}


class _TimedFileResponse(web.FileResponse):
    """A ``sendfile`` response that reports how long the bytes took to go out."""

    def __init__(
        self, path: Path, *, headers: dict[str, str], on_sent: Callable[[float], None]
    ) -> None:
        super().__init__(path, headers=headers)
        self._on_sent = on_sent

    async def prepare(self, request: BaseRequest) -> AbstractStreamWriter | None:
        started = time.monotonic()
        unit = request.headers.get("Range", "bytes=").strip()
        if not unit.startswith("bytes="):
            # aiohttp refuses unknown range units with 416; RFC 9110 says ignore them.
            headers = CIMultiDict(request.headers)
            del headers["Range"]
            request = request.clone(headers=headers)
        try:
            return await super().prepare(request)
        finally:
            self._on_sent(time.monotonic() - started)


_BYTES_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int]:
    """The inclusive byte range a ``Range`` header asks of a blob of ``size`` bytes.

    Raises:
        RegistryError: ``RANGE_INVALID`` (416) for a malformed or unsatisfiable range.
    """
    if not header or size == 0 or not header.strip().startswith("bytes="):
        return 0, size - 1  # RFC 9110: a range unit the server does not know is ignored
    match = _BYTES_RANGE.match(header.strip())
    unsatisfiable = RegistryError(
        "RANGE_INVALID",
        f"Range {header[:80]!r} cannot be served from a blob of {size} bytes",
        headers={"Content-Range": f"bytes */{size}"},
    )
    if match is None or not (match[1] or match[2]):
        raise unsatisfiable
    if match[1]:
        first = int(match[1])
        last = min(int(match[2]), size - 1) if match[2] else size - 1
    else:
        first, last = max(size - int(match[2]), 0), size - 1
        if int(match[2]) == 0:
            raise unsatisfiable
    if first >= size or first > last:
        raise unsatisfiable
    return first, last


def _range_header(size: int) -> str:
    return f"0-{max(size - 1, 0)}"


def register(reg: Registry, handlers: dict[tuple[str, str], Handler]) -> None:
    """Add the blob and upload handlers to ``handlers``."""

    def upload_url(request: web.Request, name: str, upload_id: str) -> str:
        return f"{reg.base_url(request)}/v2/{name}/blobs/uploads/{upload_id}"

    def blob_url(request: web.Request, name: str, digest: Digest) -> str:
        return f"{reg.base_url(request)}/v2/{name}/blobs/{digest}"

    def blob_target(
        request: web.Request, name: str, digest: Digest, size: int
    ) -> dict[str, object]:
        return {
            "mediaType": _OCTET,
            "size": size,
            "digest": str(digest),
            "length": size,
            "repository": name,
            "url": blob_url(request, name, digest),
        }

    def check_upload_id(name: str, upload_id: str) -> None:
        if not _UPLOAD_ID.match(upload_id):
            raise RegistryError(
                "BLOB_UPLOAD_UNKNOWN", f"upload {upload_id[:80]!r} unknown to repository {name!r}"
            )

    async def receive(request: web.Request, name: str, upload_id: str, algorithm: str) -> int:
        """Append the request body to the upload; returns the new size."""
        size = reg.store.upload_size(name, upload_id)
        content_range = request.headers.get("Content-Range")
        if content_range is not None:
            match = _CONTENT_RANGE.match(content_range.strip())
            if match is None:
                raise RegistryError(
                    "RANGE_INVALID",
                    f"Content-Range {content_range[:80]!r}: expected <start>-<end>",
                    headers={"Range": _range_header(size)},
                )
            start, end = int(match[1]), int(match[2])
            if start != size or end < start:
                raise RegistryError(
                    "RANGE_INVALID",
                    f"upload {upload_id}: chunk {start}-{end} out of order, "
                    f"the next chunk must start at {size}",
                    headers={
                        "Range": _range_header(size),
                        "Location": upload_url(request, name, upload_id),
                    },
                )
            length = request.content_length
            if length is not None and length != end - start + 1:
                raise RegistryError(
                    "SIZE_INVALID",
                    f"Content-Length {length} does not match Content-Range {start}-{end}",
                )
        hasher = reg.store.upload_hasher(upload_id, algorithm, size)
        writer = reg.store.upload_writer(name, upload_id)
        started = time.monotonic()
        received = 0

        def sink(data: bytes | bytearray) -> None:
            writer.write(data)
            if hasher is not None:
                hasher.update(data)

        # Two-stage pipeline: the next buffer is read from the socket while a worker
        # thread writes and hashes the previous one (both release the GIL).
        pending: asyncio.Future[None] | None = None
        buf = bytearray()
        try:
            while True:
                try:
                    async with asyncio.timeout(reg.cfg.read_timeout):
                        chunk = await request.content.readany()
                except TimeoutError as exc:
                    raise RegistryError(
                        "BLOB_UPLOAD_INVALID",
                        f"upload {upload_id}: client sent nothing for {reg.cfg.read_timeout:g}s; "
                        f"{size + received + len(buf)} bytes kept, resume from there",
                    ) from exc
                buf += chunk
                if len(buf) >= _BUFFER or (not chunk and buf):
                    data, buf = buf, bytearray()  # hand the buffer over, no copy
                    if pending is not None:
                        await pending
                    pending = asyncio.ensure_future(asyncio.to_thread(sink, data))
                    received += len(data)
                if not chunk:
                    break
        finally:
            if pending is not None:
                await pending
            if buf:
                sink(buf)
                received += len(buf)
            writer.close()
            if hasher is None:
                reg.store.drop_hasher(upload_id)
            reg.metrics.moved("received", received)
            reg.metrics.transfer("upload", time.monotonic() - started)
        return size + received

    def upload_headers(
        request: web.Request, name: str, upload_id: str, size: int
    ) -> dict[str, str]:
        return {
            **_API,
            "Location": upload_url(request, name, upload_id),
            "Range": _range_header(size),
            "Docker-Upload-UUID": upload_id,
        }

    async def commit(
        request: web.Request, name: str, upload_id: str, digest: Digest
    ) -> web.StreamResponse:
        size = await asyncio.to_thread(reg.store.commit_upload, name, upload_id, digest)
        await asyncio.to_thread(reg.index.add, name)
        await reg.notify(request, "push", blob_target(request, name, digest, size), request[ACTOR])
        return web.Response(
            status=201,
            headers={
                **_API,
                "Location": blob_url(request, name, digest),
                "Docker-Content-Digest": str(digest),
            },
        )

    async def get_blob(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        name = params["name"]
        digest = parse_digest(params["digest"])
        try:
            size = reg.store.repo_blob_size(name, digest)
        except RegistryError:
            if reg.mirror is None:
                raise
            size = await reg.mirror.fetch_blob(name, digest)
        headers = {
            **_API,
            "Docker-Content-Digest": str(digest),
            "Content-Type": _OCTET,
            "Accept-Ranges": "bytes",
            "ETag": f'"{digest}"',
            "Cache-Control": "max-age=31536000",
        }
        if request.method == "HEAD":
            reg.store.touch_blob(digest)
            return web.Response(headers={**headers, "Content-Length": str(size)})

        def record_download(seconds: float) -> None:
            reg.metrics.transfer("download", seconds)
            if "Range" not in request.headers:
                reg.metrics.moved("sent", size)

        await reg.notify(request, "pull", blob_target(request, name, digest, size), request[ACTOR])
        path = reg.store.driver.local_path(reg.store.blob_key(digest))
        byte_range(request.headers.get("Range"), size)  # 416 before any byte is sent
        if path is not None:
            return _TimedFileResponse(path, headers=headers, on_sent=record_download)
        started = time.monotonic()
        first, last = byte_range(request.headers.get("Range"), size)
        response = web.StreamResponse(headers={**headers, "Content-Length": str(last - first + 1)})
        if (first, last) != (0, size - 1):
            response.set_status(206)
            response.headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        await response.prepare(request)
        remaining = last - first + 1
        with reg.store.open_blob(digest, first) as f:
            while remaining > 0:
                chunk = await asyncio.to_thread(f.read, min(_BUFFER, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                await response.write(chunk)
        await response.write_eof()
        record_download(time.monotonic() - started)
        return response

    async def delete_blob(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        name = params["name"]
        digest = parse_digest(params["digest"])
        if not reg.cfg.delete_enabled:
            raise RegistryError("UNSUPPORTED", "blob deletion is disabled in this registry")
        reg.store.unlink_blob(name, digest)
        await reg.notify(
            request, "delete", {"digest": str(digest), "repository": name}, request[ACTOR]
        )
        return web.Response(status=202, headers={**_API, "Docker-Content-Digest": str(digest)})

    async def start_upload(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        name = params["name"]
        query = request.query
        mount, source = query.get("mount"), query.get("from")
        if mount:
            digest = parse_digest(mount)
            if source:
                validate_name(source)
            try:
                size = reg.store.repo_blob_size(source or name, digest) if source else 0
            except RegistryError:
                size = -1
            if source and size >= 0:
                reg.store.link_blob(name, digest)
                await asyncio.to_thread(reg.index.add, name)
                target = {**blob_target(request, name, digest, size), "fromRepository": source}
                await reg.notify(request, "mount", target, request[ACTOR])
                return web.Response(
                    status=201,
                    headers={
                        **_API,
                        "Location": blob_url(request, name, digest),
                        "Docker-Content-Digest": str(digest),
                    },
                )
        algorithm = query.get("digest-algorithm", "sha256")
        if algorithm not in {"sha256", "sha512"}:
            raise RegistryError(
                "DIGEST_INVALID", f"digest-algorithm {algorithm!r}: expected sha256 or sha512"
            )
        upload_id = reg.store.start_upload(name)
        if "digest" in query:
            digest = parse_digest(query["digest"])
            try:
                await receive(request, name, upload_id, digest.algorithm)
                return await commit(request, name, upload_id, digest)
            except BaseException:
                with contextlib.suppress(RegistryError):
                    reg.store.cancel_upload(name, upload_id)
                raise
        return web.Response(status=202, headers=upload_headers(request, name, upload_id, 0))

    async def upload_status(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        name, upload_id = params["name"], params["upload"]
        check_upload_id(name, upload_id)
        size = reg.store.upload_size(name, upload_id)
        return web.Response(status=204, headers=upload_headers(request, name, upload_id, size))

    async def patch_upload(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        name, upload_id = params["name"], params["upload"]
        check_upload_id(name, upload_id)
        algorithm = request.query.get("digest-algorithm", "sha256")
        size = await receive(request, name, upload_id, algorithm)
        return web.Response(status=202, headers=upload_headers(request, name, upload_id, size))

    async def put_upload(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        name, upload_id = params["name"], params["upload"]
        check_upload_id(name, upload_id)
        raw = request.query.get("digest")
        if not raw:
            raise RegistryError(
                "DIGEST_INVALID", f"upload {upload_id}: PUT needs a ?digest= of the whole blob"
            )
        digest = parse_digest(raw)
        await receive(request, name, upload_id, digest.algorithm)
        return await commit(request, name, upload_id, digest)

    async def cancel_upload(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        name, upload_id = params["name"], params["upload"]
        check_upload_id(name, upload_id)
        reg.store.cancel_upload(name, upload_id)
        return web.Response(status=204, headers=_API)

    handlers[("blob", "GET")] = get_blob
    handlers[("blob", "HEAD")] = get_blob
    handlers[("blob", "DELETE")] = delete_blob
    handlers[("uploads", "POST")] = start_upload
    handlers[("upload", "GET")] = upload_status
    handlers[("upload", "PATCH")] = patch_upload
    handlers[("upload", "PUT")] = put_upload
    handlers[("upload", "DELETE")] = cancel_upload
