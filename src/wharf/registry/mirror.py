"""Pull-through mirror: serve an upstream registry's content and keep a copy.

Manifests are asked of the upstream first (tags move), stored byte for byte with their
tag, and served from the cache when the upstream cannot be reached. Blobs are immutable:
a cached blob is served locally; a missing one is streamed from the upstream into an
upload session, verified against its digest and committed like a push, so a partial or
corrupt download is never served. The upstream is reached with httpx, answering
Basic and Bearer challenges with the configured credentials.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
from collections import defaultdict

import httpx

from wharf.oci import Digest, mediatypes
from wharf.registry.config import ProxyConfig
from wharf.registry.errcodes import RegistryError
from wharf.registry.manifests import ParsedManifest, media_type_of
from wharf.registry.storage.store import Manifest, Store

__all__ = ["Mirror"]

_ACCEPT = ", ".join(
    [
        mediatypes.OCI_INDEX,
        mediatypes.OCI_MANIFEST,
        mediatypes.DOCKER_MANIFEST_LIST,
        mediatypes.DOCKER_MANIFEST,
    ]
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class Mirror:
    """The upstream side of a pull-through cache.

    Args:
        cfg: the upstream's URL and credentials.
        store: where cached content goes.
    """

    def __init__(self, cfg: ProxyConfig, store: Store) -> None:
        self.cfg = cfg
        self.store = store
        self._basic = httpx.BasicAuth(cfg.username, cfg.password) if cfg.username else None
        token = base64.b64encode(f"{cfg.username}:{cfg.password}".encode()).decode()
        self._basic_header = f"Basic {token}" if cfg.username else ""
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
        self._tokens: dict[str, str] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def close(self) -> None:
        await self.client.aclose()

    async def _token(self, challenge: str) -> str | None:
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.pop("realm", "")
        if not realm:
            return None
        query = {k: v for k, v in params.items() if k in {"service", "scope"}}
        resp = await self.client.get(
            realm, params=query, auth=self._basic or httpx.USE_CLIENT_DEFAULT
        )
        if resp.status_code != 200:
            return None
        body = resp.json()
        token = body.get("token") or body.get("access_token")
        return str(token) if token else None

    async def _send(self, method: str, path: str, *, stream: bool = False) -> httpx.Response:
        """One request to the upstream, answering an auth challenge once."""
        url = f"{self.cfg.remote_url}{path}"
        headers = {"Accept": _ACCEPT}
        if path in self._tokens:
            headers["Authorization"] = f"Bearer {self._tokens[path]}"
        request = self.client.build_request(method, url, headers=headers)
        resp = await self.client.send(request, stream=stream)
        if resp.status_code != 401:
            return resp
        await resp.aclose()
        challenge = resp.headers.get("Www-Authenticate", "")
        if challenge.lower().startswith("bearer"):
            token = await self._token(challenge)
            if token:
                self._tokens[path] = token
                headers["Authorization"] = f"Bearer {token}"
        elif self._basic_header:
            headers["Authorization"] = self._basic_header
        request = self.client.build_request(method, url, headers=headers)
        return await self.client.send(request, stream=stream)

    async def get_manifest(self, name: str, reference: Digest | str) -> Manifest:
        """The upstream's manifest (cached), or the cached one when upstream is down.

        Raises:
            RegistryError: ``MANIFEST_UNKNOWN`` when neither side has it.
        """
        if isinstance(reference, Digest) and self.store.has_manifest(name, reference):
            return self.store.get_manifest(name, reference)
        try:
            resp = await self._send("GET", f"/v2/{name}/manifests/{reference}")
        except httpx.HTTPError:
            return self.store.get_manifest(name, reference)
        if resp.status_code >= 500:
            return self.store.get_manifest(name, reference)
        if resp.status_code != 200:
            raise RegistryError(
                "MANIFEST_UNKNOWN",
                f"manifest {reference} of {name!r}: upstream {self.cfg.remote_url} "
                f"answered {resp.status_code}",
            )
        data = resp.content
        algorithm = reference.algorithm if isinstance(reference, Digest) else "sha256"
        digest = Digest.from_bytes(data, algorithm)
        if isinstance(reference, Digest) and digest != reference:
            raise RegistryError(
                "DIGEST_INVALID", f"upstream manifest hashes to {digest}, not {reference}"
            )
        media_type = resp.headers.get("Content-Type", "") or media_type_of(data)
        tags = [reference] if isinstance(reference, str) else []
        await asyncio.to_thread(
            self.store.put_manifest, name, data, digest, ParsedManifest(media_type), tags
        )
        return Manifest(data, digest, media_type_of(data))

    async def fetch_blob(self, name: str, digest: Digest) -> int:
        """Make ``digest`` a cached blob of ``name``; returns its size.

        Raises:
            RegistryError: ``BLOB_UNKNOWN`` when the upstream does not have it or is down.
        """
        key = str(digest)
        lock = self._locks[key]
        try:
            async with lock:
                return await self._fetch_blob(name, digest)
        finally:
            if not lock.locked():
                self._locks.pop(key, None)

    async def _fetch_blob(self, name: str, digest: Digest) -> int:
        try:
            size = self.store.blob_size(digest)
        except LookupError:
            size = -1
        if size >= 0:
            self.store.link_blob(name, digest)
            return size
        upload_id = self.store.start_upload(name)
        try:
            resp = await self._send("GET", f"/v2/{name}/blobs/{digest}", stream=True)
            try:
                if resp.status_code != 200:
                    raise RegistryError(
                        "BLOB_UNKNOWN",
                        f"blob {digest} of {name!r}: upstream answered {resp.status_code}",
                    )
                writer = self.store.upload_writer(name, upload_id)
                try:
                    async for chunk in resp.aiter_bytes(1 << 20):
                        writer.write(chunk)
                finally:
                    writer.close()
            finally:
                await resp.aclose()
            return await asyncio.to_thread(self.store.commit_upload, name, upload_id, digest)
        except httpx.HTTPError as exc:
            self.store.cancel_upload(name, upload_id)
            raise RegistryError(
                "BLOB_UNKNOWN",
                f"blob {digest} of {name!r} is not cached and upstream "
                f"{self.cfg.remote_url} is unreachable: {exc}",
            ) from exc
        except RegistryError:
            with contextlib.suppress(RegistryError):
                self.store.cancel_upload(name, upload_id)
            raise

    async def tags(self, name: str) -> list[str]:
        """The upstream's tags, or the cached ones when it is down."""
        try:
            resp = await self._send("GET", f"/v2/{name}/tags/list")
            if resp.status_code == 200:
                tags = resp.json().get("tags") or []
                return sorted(str(t) for t in tags)
        except (httpx.HTTPError, ValueError):
            pass
        return self.store.tags(name)
