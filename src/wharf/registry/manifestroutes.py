"""Manifest, tag-list and referrers handlers.

A pushed manifest is read whole (up to ``limits.manifestsize``, else 413), checked
(:func:`wharf.registry.manifests.parse_manifest`), its blobs and child manifests looked
up in the repository (``MANIFEST_BLOB_UNKNOWN`` names every missing one), and only
then stored byte for byte and tagged.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from wharf.oci import Digest, mediatypes
from wharf.registry.errcodes import RegistryError
from wharf.registry.keys import ACTOR
from wharf.registry.manifests import ParsedManifest, parse_manifest
from wharf.registry.names import parse_digest, parse_reference, validate_tag
from wharf.registry.storage.store import Manifest

if TYPE_CHECKING:
    from wharf.registry.app import Handler, Registry

__all__ = ["register"]

_API = {"Docker-Distribution-API-Version": "registry/2.0"}


def register(reg: Registry, handlers: dict[tuple[str, str], Handler]) -> None:
    """Add the manifest, tags and referrers handlers to ``handlers``."""
    from wharf.registry.app import paginate

    def manifest_url(request: web.Request, name: str, digest: Digest) -> str:
        return f"{reg.base_url(request)}/v2/{name}/manifests/{digest}"

    def target(
        request: web.Request, name: str, manifest: Manifest, tag: str = ""
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": manifest.media_type,
            "size": len(manifest.data),
            "digest": str(manifest.digest),
            "length": len(manifest.data),
            "repository": name,
            "url": manifest_url(request, name, manifest.digest),
        }
        if tag:
            out["tag"] = tag
        return out

    async def read_body(request: web.Request) -> bytes:
        limit = reg.cfg.max_manifest_size
        if request.content_length is not None and request.content_length > limit:
            raise RegistryError(
                "MANIFEST_TOO_LARGE",
                f"manifest of {request.content_length} bytes exceeds the limit of {limit} bytes",
            )
        body = bytearray()
        while True:
            try:
                async with asyncio.timeout(reg.cfg.read_timeout):
                    chunk = await request.content.readany()
            except TimeoutError as exc:
                raise RegistryError(
                    "MANIFEST_INVALID",
                    f"manifest upload stalled: nothing received for {reg.cfg.read_timeout:g}s",
                ) from exc
            if not chunk:
                break
            body += chunk
            if len(body) > limit:
                raise RegistryError(
                    "MANIFEST_TOO_LARGE", f"manifest exceeds the limit of {limit} bytes"
                )
        return bytes(body)

    def missing_references(name: str, parsed: ParsedManifest) -> list[str]:
        missing = []
        for blob in parsed.blobs:
            if blob.urls:
                continue
            try:
                reg.store.repo_blob_size(name, blob.digest)
                reg.store.touch_blob(blob.digest)
            except RegistryError:
                missing.append(f"blob {blob.digest}")
        for child in parsed.children:
            if not reg.store.has_manifest(name, child.digest):
                missing.append(f"manifest {child.digest}")
        return missing

    async def get_manifest(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        name = params["name"]
        reference = parse_reference(params["reference"])
        if reg.mirror is not None:
            manifest = await reg.mirror.get_manifest(name, reference)
            await asyncio.to_thread(reg.index.add, name)
        else:
            manifest = reg.store.get_manifest(name, reference)
        headers = {
            **_API,
            "Content-Type": manifest.media_type,
            "Docker-Content-Digest": str(manifest.digest),
            "ETag": f'"{manifest.digest}"',
        }
        if request.method == "HEAD":
            return web.Response(headers={**headers, "Content-Length": str(len(manifest.data))})
        tag = reference if isinstance(reference, str) else ""
        await reg.notify(request, "pull", target(request, name, manifest, tag), request[ACTOR])
        return web.Response(body=manifest.data, headers=headers)

    async def put_manifest(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        name = params["name"]
        reference = parse_reference(params["reference"])
        data = await read_body(request)
        parsed = parse_manifest(data, request.headers.get("Content-Type", ""))
        if isinstance(reference, Digest):
            digest = Digest.from_bytes(data, reference.algorithm)
            if digest != reference:
                raise RegistryError(
                    "DIGEST_INVALID",
                    f"manifest body hashes to {digest}, not to the reference {reference}",
                )
            tags = [validate_tag(t) for t in request.query.getall("tag", [])]
        else:
            digest = Digest.from_bytes(data)
            tags = [reference]
        missing = missing_references(name, parsed)
        if missing:
            raise RegistryError(
                "MANIFEST_BLOB_UNKNOWN",
                f"manifest for {name!r} references what the repository does not have: "
                + ", ".join(missing),
            )
        await asyncio.to_thread(reg.store.put_manifest, name, data, digest, parsed, tags)
        await asyncio.to_thread(reg.index.add, name)
        manifest = Manifest(data, digest, parsed.media_type)
        events_tag = tags[0] if tags else ""
        await reg.notify(
            request, "push", target(request, name, manifest, events_tag), request[ACTOR]
        )
        headers = {
            **_API,
            "Location": manifest_url(request, name, digest),
            "Docker-Content-Digest": str(digest),
        }
        if parsed.subject is not None:
            headers["OCI-Subject"] = str(parsed.subject.digest)
        response = web.Response(status=201, headers=headers)
        if isinstance(reference, Digest):
            for tag in tags:
                response.headers.add("OCI-Tag", tag)
        return response

    async def delete_manifest(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        name = params["name"]
        reference = parse_reference(params["reference"])
        if not reg.cfg.delete_enabled:
            raise RegistryError("UNSUPPORTED", "manifest deletion is disabled in this registry")
        actor = request[ACTOR]
        if isinstance(reference, str):
            digest = reg.store.delete_tag(name, reference)
            await reg.notify(request, "delete", {"repository": name, "tag": reference}, actor)
            return web.Response(status=202, headers=_API)
        manifest = reg.store.get_manifest(name, reference)
        try:
            parsed = parse_manifest(manifest.data, manifest.media_type)
        except RegistryError:
            parsed = ParsedManifest(media_type=manifest.media_type)
        subject = parsed.subject.digest if parsed.subject else None
        removed = reg.store.delete_manifest(name, reference, subject)
        digest = manifest.digest
        await reg.notify(request, "delete", {"digest": str(digest), "repository": name}, actor)
        for tag in removed:
            await reg.notify(request, "delete", {"repository": name, "tag": tag}, actor)
        return web.Response(status=202, headers=_API)

    async def list_tags(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        name = params["name"]
        if reg.mirror is not None:
            tags = await reg.mirror.tags(name)
        else:
            tags = reg.store.tags(name)
        page, link = paginate(tags, request, f"/v2/{name}/tags/list")
        headers = {**_API, **({"Link": link} if link else {})}
        return web.json_response({"name": name, "tags": page}, headers=headers)

    async def referrers(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        name = params["name"]
        subject = parse_digest(params["digest"])
        wanted = request.query.get("artifactType", "")
        descriptors = []
        for digest in reg.store.referrers(name, subject):
            try:
                manifest = reg.store.get_manifest(name, digest)
                parsed = parse_manifest(manifest.data, manifest.media_type)
            except RegistryError:
                continue
            if wanted and parsed.artifact_type != wanted:
                continue
            entry: dict[str, Any] = {
                "mediaType": parsed.media_type,
                "size": len(manifest.data),
                "digest": str(digest),
            }
            if parsed.artifact_type:
                entry["artifactType"] = parsed.artifact_type
            if parsed.annotations:
                entry["annotations"] = parsed.annotations
            descriptors.append(entry)
        headers = {**_API}
        if wanted:
            headers["OCI-Filters-Applied"] = "artifactType"
        body = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": descriptors}
        return web.Response(
            body=json.dumps(body).encode(), content_type=mediatypes.OCI_INDEX, headers=headers
        )

    handlers[("manifest", "GET")] = get_manifest
    handlers[("manifest", "HEAD")] = get_manifest
    handlers[("manifest", "PUT")] = put_manifest
    handlers[("manifest", "DELETE")] = delete_manifest
    handlers[("tags", "GET")] = list_tags
    handlers[("referrers", "GET")] = referrers
