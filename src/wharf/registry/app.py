"""The registry's aiohttp application: routing, errors, auth, and the small endpoints.

Repository names contain ``/``, so ``/v2/...`` paths are matched here with the spec's
regular expressions (as distribution's router does) rather than by aiohttp's router.
Blob and upload handlers live in :mod:`wharf.registry.blobs`, manifest, tag and referrer
handlers in :mod:`wharf.registry.manifestroutes`; all share one :class:`Registry`.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from aiohttp import web

from wharf.errors import InvalidArgument, WharfError
from wharf.registry.access import Access, Authorizer, parse_scopes
from wharf.registry.config import RegistryConfig
from wharf.registry.errcodes import RegistryError, from_kind
from wharf.registry.keys import ACTOR, REQUEST_ID
from wharf.registry.metrics import Metrics
from wharf.registry.names import validate_name
from wharf.registry.notifications import Notifier, RequestInfo, make_event
from wharf.registry.search import RepositoryIndex
from wharf.registry.storage import open_driver
from wharf.registry.storage.store import Store

if TYPE_CHECKING:
    from wharf.registry.auth import TokenIssuer
    from wharf.registry.mirror import Mirror

__all__ = ["REGISTRY", "Registry", "make_app"]

Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]

_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("base", re.compile(r"^/v2/?$")),
    ("catalog", re.compile(r"^/v2/_catalog$")),
    ("tags", re.compile(r"^/v2/(?P<name>.+)/tags/list$")),
    ("manifest", re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$")),
    ("uploads", re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/?$")),
    ("upload", re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<upload>[^/]+)$")),
    ("blob", re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)$")),
    ("referrers", re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>[^/]+)$")),
)
_WRITES = frozenset({"PUT", "POST", "PATCH", "DELETE"})
API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}


@dataclass
class Registry:
    """The services every handler uses (one per process).

    Attributes:
        cfg: the configuration.
        store: blobs, manifests, tags, uploads.
        authorizer: None when the registry is open.
        issuer: the built-in token service, when configured.
        notifier: webhook queues.
        index: the repository index (catalog and search).
        metrics: Prometheus counters.
        mirror: the upstream of a pull-through cache, when configured.
        instance_id: this process's id in notification ``source``.
    """

    cfg: RegistryConfig
    store: Store
    authorizer: Authorizer | None
    issuer: TokenIssuer | None
    notifier: Notifier
    index: RepositoryIndex
    metrics: Metrics
    mirror: Mirror | None
    instance_id: str

    def authorize(self, request: web.Request, needed: Sequence[Access]) -> str:
        """The actor allowed to do ``needed``, or raises ``UNAUTHORIZED``/``DENIED``."""
        if self.authorizer is None:
            return ""
        return self.authorizer.authorize(request.headers.get("Authorization", ""), needed)

    def check_writable(self, what: str) -> None:
        """Raises ``UNSUPPORTED`` (405) in read-only and mirror modes."""
        if self.cfg.readonly:
            raise RegistryError("UNSUPPORTED", f"{what}: the registry is in read-only mode")
        if self.mirror is not None:
            raise RegistryError("UNSUPPORTED", f"{what}: a pull-through mirror accepts no pushes")

    def base_url(self, request: web.Request) -> str:
        if self.cfg.host:
            return self.cfg.host
        return f"{request.scheme}://{request.host}"

    async def notify(
        self, request: web.Request, action: str, target: dict[str, Any], actor: str
    ) -> None:
        """Queue one event for every webhook endpoint (durably, off the event loop)."""
        if not self.cfg.endpoints:
            return
        peer = request.transport.get_extra_info("peername") if request.transport else None
        info = RequestInfo(
            id=request.get(REQUEST_ID, ""),
            addr=f"{peer[0]}:{peer[1]}" if peer else "",
            host=request.host,
            method=request.method,
            useragent=request.headers.get("User-Agent", ""),
        )
        source = {"addr": self.cfg.addr, "instanceID": self.instance_id}
        event = make_event(action, target, info, actor, source)
        await asyncio.to_thread(self.notifier.emit, [event])


REGISTRY = web.AppKey("registry", Registry)
"""The application key holding the :class:`Registry` of an app."""


def error_response(exc: RegistryError) -> web.Response:
    return web.Response(
        status=exc.code.status,
        body=json.dumps(exc.body()).encode(),
        content_type="application/json",
        headers={**API_VERSION, **exc.headers},
    )


def needs_for(route: str, method: str, params: dict[str, str], query: Any) -> list[Access]:
    """The access a request needs (distribution's scope for each route)."""
    if route == "base":
        return []
    if route == "catalog":
        return [Access("registry", "catalog", ("*",))]
    name = params["name"]
    if method in {"GET", "HEAD"}:
        return [Access("repository", name, ("pull",))]
    if method == "DELETE" and route in {"manifest", "blob"}:
        return [Access("repository", name, ("delete",))]
    needed = [Access("repository", name, ("pull", "push"))]
    source = query.get("from", "")
    if route == "uploads" and query.get("mount") and source and source != name:
        needed.append(Access("repository", source, ("pull",)))
    return needed


def _route_of(raw_path: str) -> tuple[str, dict[str, str]]:
    """Match the still-encoded path, then decode each part (so ``%2F`` is no separator)."""
    path = raw_path.split("?", 1)[0]
    for route, pattern in _ROUTES:
        match = pattern.match(path)
        if match:
            return route, {k: unquote(v) for k, v in match.groupdict().items()}
    raise RegistryError("UNSUPPORTED", f"no such endpoint: {path[:200]!r}")


def make_app(cfg: RegistryConfig) -> web.Application:
    """Build the application; background tasks start with it and stop on cleanup."""
    from wharf.registry import blobs, manifestroutes

    cfg.root.mkdir(parents=True, exist_ok=True)
    store = Store(open_driver(cfg))
    authorizer: Authorizer | None = None
    issuer: TokenIssuer | None = None
    if cfg.token is not None or cfg.htpasswd is not None or cfg.token_server is not None:
        from wharf.registry import auth

        if cfg.token is not None:
            authorizer = auth.TokenAuthorizer(cfg.token)
        elif cfg.htpasswd is not None:
            authorizer = auth.HtpasswdAuthorizer(cfg.htpasswd)
        if cfg.token_server is not None:
            if cfg.token is None:
                raise InvalidArgument("config tokenserver needs auth.token (issuer and service)")
            issuer = auth.TokenIssuer(
                cfg.token_server, issuer=cfg.token.issuer, service=cfg.token.service
            )
    mirror: Mirror | None = None
    if cfg.proxy is not None:
        from wharf.registry.mirror import Mirror

        mirror = Mirror(cfg.proxy, store)
    index = RepositoryIndex(cfg.root / "_search.db")
    if index.fresh:
        index.rebuild(store.catalog())
    reg = Registry(
        cfg=cfg,
        store=store,
        authorizer=authorizer,
        issuer=issuer,
        notifier=Notifier(cfg.root, cfg.endpoints),
        index=index,
        metrics=Metrics(),
        mirror=mirror,
        instance_id=str(uuid.uuid4()),
    )
    handlers: dict[tuple[str, str], Handler] = {}
    blobs.register(reg, handlers)
    manifestroutes.register(reg, handlers)

    async def base(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        return web.json_response({}, headers=API_VERSION)

    async def catalog(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        n = page_size(request)
        last = request.query.get("last", "")
        names = await asyncio.to_thread(
            reg.index.names, after=last, limit=None if n is None else n + 1
        )
        link = ""
        if n is not None and len(names) > n:
            names = names[:n]
            link = f'</v2/_catalog?{urlencode({"n": n, "last": names[-1]})}>; rel="next"'
        headers = {**API_VERSION, **({"Link": link} if link else {})}
        return web.json_response({"repositories": names}, headers=headers)

    for method in ("GET", "HEAD"):
        handlers[("base", method)] = base
    handlers[("catalog", "GET")] = catalog

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.monotonic()
        request[REQUEST_ID] = str(uuid.uuid4())
        route = "other"
        status = 500
        try:
            if not request.path.startswith("/v2"):
                response = await handler(request)
            else:
                route, params = _route_of(request.raw_path)
                fn = handlers.get((route, request.method))
                if fn is None:
                    raise RegistryError(
                        "UNSUPPORTED", f"method {request.method} is not allowed on {route}"
                    )
                if "name" in params:
                    validate_name(params["name"])
                request[ACTOR] = reg.authorize(
                    request, needs_for(route, request.method, params, request.query)
                )
                if request.method in _WRITES:
                    reg.check_writable(f"{request.method} {request.path}")
                response = await fn(request, params)
            status = response.status
            return response
        except RegistryError as exc:
            status = exc.code.status
            return error_response(exc)
        except WharfError as exc:
            err = from_kind(exc)
            status = err.code.status
            return error_response(err)
        finally:
            reg.metrics.request(request.method, route, status, time.monotonic() - started)

    app = web.Application(middlewares=[middleware], client_max_size=cfg.max_manifest_size)
    app[REGISTRY] = reg

    async def v2(request: web.Request) -> web.StreamResponse:
        raise RegistryError("UNSUPPORTED", f"no such endpoint: {request.path[:200]!r}")

    async def health(request: web.Request) -> web.StreamResponse:
        driver = reg.store.driver
        try:
            if reg.cfg.readonly:
                await asyncio.to_thread(driver.list, "")
            else:
                await asyncio.to_thread(driver.put_content, "_health/probe", b"ok")
        except (OSError, WharfError) as exc:
            return web.json_response({"status": "unhealthy", "storage": str(exc)}, status=503)
        return web.json_response({"status": "ok", "pending_events": reg.notifier.pending()})

    async def metrics(request: web.Request) -> web.StreamResponse:
        return web.Response(text=reg.metrics.render(), content_type="text/plain")

    async def v1_search(request: web.Request) -> web.StreamResponse:
        if not reg.cfg.search:
            raise RegistryError("UNSUPPORTED", "search is disabled in this registry's config")
        reg.authorize(request, [])
        try:
            n = min(max(int(request.query.get("n", "25")), 1), 100)
            page = max(int(request.query.get("page", "1")), 1)
        except ValueError as exc:
            raise RegistryError(
                "PAGINATION_NUMBER_INVALID", "search: n and page must be integers"
            ) from exc
        query = request.query.get("q", "")
        total, names = await asyncio.to_thread(
            reg.index.search, query, limit=n, offset=(page - 1) * n
        )
        results = [
            {
                "name": name,
                "description": "",
                "star_count": 0,
                "is_official": False,
                "is_automated": False,
            }
            for name in names
        ]
        return web.json_response(
            {
                "query": query,
                "num_results": total,
                "num_pages": max(1, -(-total // n)),
                "page": page,
                "page_size": n,
                "results": results,
            }
        )

    async def token(request: web.Request) -> web.StreamResponse:
        if reg.issuer is None:
            raise RegistryError("UNSUPPORTED", "this registry runs no token service")
        query = dict(request.query)
        scopes_raw = request.query.getall("scope", [])
        if request.method == "POST":
            form = await request.post()
            query.update({k: str(v) for k, v in form.items()})
            scopes_raw = [str(s) for s in form.getall("scope", [])] or scopes_raw
        account = reg.issuer.authenticate(request.headers.get("Authorization", ""))
        if not account and request.method == "POST" and query.get("username"):
            creds = f"{query['username']}:{query.get('password', '')}"
            account = reg.issuer.authenticate("Basic " + base64.b64encode(creds.encode()).decode())
        try:
            scopes = parse_scopes(scopes_raw)
        except InvalidArgument as exc:
            raise RegistryError("DENIED", str(exc)) from exc
        return web.json_response(reg.issuer.issue(account, scopes))

    app.router.add_route("*", "/v2{tail:.*}", v2)
    app.router.add_get("/health", health)
    app.router.add_get("/debug/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/search", v1_search)
    app.router.add_route("GET", "/auth/token", token)
    app.router.add_route("POST", "/auth/token", token)

    async def lifecycle(app: web.Application) -> Any:
        reg.notifier.start()
        purge = asyncio.create_task(_purge_uploads(reg))
        yield
        purge.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purge
        await reg.notifier.stop()
        if reg.mirror is not None:
            await reg.mirror.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def page_size(request: web.Request) -> int | None:
    """The ``n`` query parameter, or None when absent.

    Raises:
        RegistryError: ``PAGINATION_NUMBER_INVALID`` for a bad ``n``.
    """
    raw_n = request.query.get("n")
    if raw_n is None:
        return None
    try:
        n = int(raw_n)
    except ValueError as exc:
        raise RegistryError(
            "PAGINATION_NUMBER_INVALID", f"n={raw_n!r}: expected a non-negative integer"
        ) from exc
    if n < 0:
        raise RegistryError("PAGINATION_NUMBER_INVALID", f"n={n}: expected a non-negative integer")
    return n


def paginate(items: list[str], request: web.Request, path: str) -> tuple[list[str], str]:
    """Apply ``n``/``last`` to a sorted list; returns the page and a ``Link`` (or "").

    Raises:
        RegistryError: ``PAGINATION_NUMBER_INVALID`` for a bad ``n``.
    """
    last = request.query.get("last", "")
    if last:
        items = items[bisect.bisect_right(items, last) :]
    n = page_size(request)
    if n is None:
        return items, ""
    page = items[:n]
    if n == 0 or len(items) <= n:
        return page, ""
    return page, f'<{path}?{urlencode({"n": n, "last": page[-1]})}>; rel="next"'


async def _purge_uploads(reg: Registry) -> None:
    """Remove upload sessions older than the configured age, every few minutes."""
    while True:
        await asyncio.sleep(min(300.0, max(reg.cfg.upload_purge_age / 4, 1.0)))
        if reg.cfg.readonly:
            continue
        deadline = time.time() - reg.cfg.upload_purge_age
        for name, upload_id, started in await asyncio.to_thread(lambda: list(reg.store.uploads())):
            if started < deadline:
                with contextlib.suppress(RegistryError):
                    reg.store.cancel_upload(name, upload_id)
