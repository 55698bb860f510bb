"""The engine's registry service: pull, push, login, distribution inspect and search.

Each operation runs the synchronous :mod:`wharf.distribution` client in a worker thread and
hands its progress events to the event loop as Docker's JSON messages. A failure before the
first message is raised (a plain HTTP error, as dockerd answers a 404 image); the API layer
turns a later one into an ``errorDetail`` message.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from wharf.content.local import LocalContentStore
from wharf.daemon.events import EventBus
from wharf.distribution import Credentials, RegistryAuth, RegistryHosts, Repository
from wharf.distribution.auth import decode_registry_auth
from wharf.distribution.hosts import DOCKER_HUB
from wharf.distribution.progress import Event, Reporter
from wharf.distribution.pull import PullTarget, pull
from wharf.distribution.push import push
from wharf.errors import InvalidArgument, NotFound, Unauthenticated
from wharf.images import ImageService, Reference, chain_ids, parse_reference
from wharf.oci import Digest, ImageConfig, Index, Manifest, mediatypes

__all__ = ["DistributionService", "StoreSink"]


class StoreSink:
    """The image store as a pull's sink and a push's source."""

    def __init__(self, service: ImageService) -> None:
        self._service = service

    @property
    def content(self) -> LocalContentStore:
        return self._service.content

    def lease(self) -> AbstractContextManager[Callable[[Digest], None]]:
        return self._service.lease()

    def has_layers(self, diff_ids: Sequence[Digest]) -> int:
        count = 0
        for chain in chain_ids(list(diff_ids)):
            layer = self._service.metadata.find_layer(str(chain))
            if layer is None or layer.state != "ready":
                break
            count += 1
        return count

    def tagged_manifest(self, reference: str) -> Digest | None:
        try:
            return self._service.resolve(reference).manifest_digest
        except NotFound:
            return None

    def unpack_layer(self, blob: Digest, diff_ids: Sequence[Digest]) -> None:
        self._service.unpack_layer(blob, diff_ids)

    def register_pulled(self, manifest: bytes, references: Sequence[str]) -> None:
        self._service.register(manifest, references)


def _domain_of(server: str) -> str:
    """``https://index.docker.io/v1/`` or ``127.0.0.1:5000`` -> the registry domain."""
    host = server.partition("://")[2] if "://" in server else server
    host = host.split("/", 1)[0]
    if host in ("", "index.docker.io", "registry-1.docker.io", DOCKER_HUB):
        return DOCKER_HUB
    return host


class DistributionService:
    """Pull/push/login over the image store.

    Args:
        store: the image store.
        hosts: mirrors and insecure registries.
        events: the daemon's event bus (``pull``/``push`` image events).
        timeout: seconds a registry may stall.
    """

    def __init__(
        self,
        store: ImageService,
        hosts: RegistryHosts,
        events: EventBus | None = None,
        *,
        timeout: float = 30.0,
    ) -> None:
        self._store = store
        self._sink = StoreSink(store)
        self.hosts = hosts
        self._events = events
        self.timeout = timeout

    async def _run(self, work: Callable[[Reporter], object]) -> AsyncIterator[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def report(event: Event) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, ("event", event.to_json()))

        def run() -> None:
            try:
                work(report)
            except BaseException as exc:
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
            else:
                loop.call_soon_threadsafe(queue.put_nowait, ("done", None))

        future = loop.run_in_executor(None, run)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "event":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            if future.done():
                await future

    async def pull(self, from_image: str, *, tag: str, auth: str) -> AsyncIterator[dict[str, Any]]:
        """``POST /images/create?fromImage=…&tag=…`` as Docker's JSON messages."""
        ref = _parse(from_image, tag)
        credentials, _ = decode_registry_auth(auth)
        reference = str(ref.digest) if ref.digest is not None else ref.tag
        target = PullTarget(
            domain=ref.domain,
            path=ref.path,
            reference=reference,
            name=str(ref),
            display=ref.familiar(),
        )
        async for message in self._run(
            lambda report: pull(
                target, self._sink, self.hosts, credentials, report, timeout=self.timeout
            )
        ):
            yield message
        if self._events is not None:
            self._events.publish("image", "pull", str(ref), {"name": str(ref)})

    async def push(self, name: str, *, tag: str, auth: str) -> AsyncIterator[dict[str, Any]]:
        """``POST /images/{name}/push?tag=…``: every tag of the repository when ``tag`` is
        empty."""
        base = parse_reference(name, default_tag="")
        if base.digest is not None:
            raise InvalidArgument(f"push {name}: cannot push a digest reference")
        tags = [tag or base.tag] if (tag or base.tag) else self._tags_of(base)
        credentials, _ = decode_registry_auth(auth)
        for one in tags:
            async for message in self._push_one(base.with_tag(one), credentials):
                yield message
            if self._events is not None:
                name = str(base.with_tag(one))
                self._events.publish("image", "push", name, {"name": name})

    def _push_one(self, ref: Reference, credentials: Credentials) -> AsyncIterator[dict[str, Any]]:
        image = self._store.resolve(str(ref))
        manifest = self._store.content.read_bytes(image.manifest_digest)
        mount_from = []
        for digest_ref in image.repo_digests:
            other = parse_reference(digest_ref, default_tag="")
            if other.domain == ref.domain and other.path != ref.path:
                mount_from.append(other.path)
        display = ref.familiar_name() if ref.domain != DOCKER_HUB else ref.name

        def work(report: Reporter) -> None:
            push(
                domain=ref.domain,
                path=ref.path,
                tag=ref.tag,
                display=display,
                manifest=manifest,
                media_type=image.manifest_media_type,
                mount_from=mount_from,
                source=self._sink,
                hosts=self.hosts,
                credentials=credentials,
                report=report,
                timeout=self.timeout,
            )

        return self._run(work)

    def _tags_of(self, base: Reference) -> builtins.list[str]:
        tags = []
        for image in self._store.list():
            for repo_tag in image.repo_tags:
                ref = parse_reference(repo_tag)
                if ref.name == base.name:
                    tags.append(ref.tag)
        if not tags:
            raise NotFound(f"An image does not exist locally with the tag: {base.familiar_name()}")
        return sorted(tags)

    async def login(self, body: Any) -> dict[str, Any]:
        """``POST /auth``: check credentials against the registry's ``/v2/``."""
        if not isinstance(body, dict):
            raise InvalidArgument("POST /auth: expected a JSON object")
        server = str(body.get("serveraddress") or "")
        credentials = Credentials(
            username=str(body.get("username") or ""),
            password=str(body.get("password") or ""),
            identity_token=str(body.get("identitytoken") or ""),
        )
        endpoint = self.hosts.origin(_domain_of(server))

        def check() -> None:
            with Repository(endpoint, "", RegistryAuth(credentials), timeout=self.timeout) as repo:
                try:
                    repo.ping()
                except Unauthenticated:
                    raise Unauthenticated(
                        f"login attempt to {endpoint.url}/v2/ failed with status: 401 Unauthorized"
                    ) from None

        await asyncio.get_running_loop().run_in_executor(None, check)
        return {"Status": "Login Succeeded", "IdentityToken": ""}

    async def inspect(self, name: str, *, auth: str) -> dict[str, Any]:
        """``GET /distribution/{name}/json``: the descriptor and platforms in the registry."""
        ref = parse_reference(name)
        credentials, _ = decode_registry_auth(auth)
        reference = str(ref.digest) if ref.digest is not None else ref.tag

        def fetch() -> dict[str, Any]:
            scope = (f"repository:{ref.path}:pull",)
            with Repository(
                self.hosts.pull_endpoints(ref.domain)[-1],
                ref.path,
                RegistryAuth(credentials, scope),
                timeout=self.timeout,
            ) as repo:
                data, media_type, digest = repo.get_manifest(reference)
                platforms: builtins.list[dict[str, Any]] = []
                if media_type in mediatypes.INDEXES:
                    for entry in Index.from_bytes(data).manifests:
                        if entry.platform is not None:
                            platforms.append(entry.platform.to_json())
                else:
                    manifest = Manifest.from_bytes(data)
                    config = ImageConfig.from_bytes(repo.read_blob(manifest.config.digest))
                    platforms.append(config.platform.to_json())
                return {
                    "Descriptor": {
                        "mediaType": media_type,
                        "digest": str(digest),
                        "size": len(data),
                    },
                    "Platforms": platforms,
                }

        return await asyncio.get_running_loop().run_in_executor(None, fetch)

    async def search(self, term: str, *, limit: int, auth: str) -> builtins.list[dict[str, Any]]:
        """``GET /images/search``: ``registry/term`` searches that registry's ``/v1/search``."""
        if not term:
            raise InvalidArgument("query parameter term: a search term is required")
        first, sep, rest = term.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            domain, query = first, rest
        else:
            domain, query = DOCKER_HUB, term
        credentials, _ = decode_registry_auth(auth)

        def fetch() -> dict[str, Any]:
            with Repository(
                self.hosts.pull_endpoints(domain)[-1],
                "",
                RegistryAuth(credentials, ("registry:catalog:*",)),
                timeout=self.timeout,
            ) as repo:
                return repo.search(query, limit)

        body = await asyncio.get_running_loop().run_in_executor(None, fetch)
        results = body.get("results") or []
        return [
            {
                "name": str(r.get("name", "")),
                "description": str(r.get("description", "")),
                "star_count": int(r.get("star_count", 0) or 0),
                "is_official": bool(r.get("is_official", False)),
                "is_automated": bool(r.get("is_automated", False)),
            }
            for r in results
            if isinstance(r, dict)
        ]


def _parse(from_image: str, tag: str) -> Reference:
    text = from_image
    if tag:
        text = f"{from_image}@{tag}" if tag.startswith("sha256:") else f"{from_image}:{tag}"
    return parse_reference(text)
