"""Registry configuration: distribution's YAML shape, read into frozen values.

A file that works for ``docker-registry`` (distribution 2.8) works here for the keys
both understand::

    version: 0.1
    http: {addr: 127.0.0.1:5000, host: http://registry.example:5000}
    storage:
      filesystem: {rootdirectory: /var/lib/wharf-registry}   # or inmemory: {} (tests)
      delete: {enabled: true}
      maintenance:
        readonly: {enabled: false}
        uploadpurging: {age: 168h}
    auth:
      htpasswd: {realm: wharf, path: /etc/wharf/htpasswd}
      # or token: {realm: http://host/token, service: wharf, issuer: wharf,
      #            rootcertbundle: cert.pem | publickey: key.pem}
    notifications:
      endpoints: [{name: hook, url: http://..., headers: {}, timeout: 1s, backoff: 1s}]
    proxy: {remoteurl: http://upstream:5000, username: u, password: p}

With ``storage.inmemory`` the blobs live in the process (distribution's test driver);
``rootdirectory`` still holds the event queues and the repository index.

Wharf's own keys: ``tokenserver`` (the built-in token service at ``/auth/token``:
``privatekey``, ``htpasswd``, ``expiration``, ``grants: [{account, repository, actions}]``
where ``repository`` is a glob, ``actions`` are pull/push/delete or ``*``, and
``account`` is a user, ``*`` for every authenticated user or ``anonymous``; the catalog
needs a ``repository: "*"`` grant with ``*``), ``search: {enabled}``, ``gc: {grace}``,
``limits: {manifestsize, readtimeout}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from wharf.errors import InvalidArgument

__all__ = [
    "Endpoint",
    "Grant",
    "HtpasswdAuth",
    "ProxyConfig",
    "RegistryConfig",
    "TokenAuth",
    "TokenServer",
    "load_config",
    "parse_config",
    "parse_duration",
]

_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")


def parse_duration(value: object, where: str) -> float:
    """Seconds from a Go duration (``1h30m``, ``500ms``) or a number of seconds.

    Raises:
        InvalidArgument: naming the key and the expected form.
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str):
        parts = _DURATION.findall(value)
        if parts and "".join(n + u for n, u in parts) == value:
            return sum(float(n) * _UNITS[u] for n, u in parts)
    raise InvalidArgument(
        f"config {where}: expected a duration like '30s' or '168h', got {value!r}"
    )


@dataclass(frozen=True)
class HtpasswdAuth:
    """Basic auth against an htpasswd file of bcrypt hashes."""

    realm: str
    path: Path


@dataclass(frozen=True)
class TokenAuth:
    """Bearer token auth: tokens are RS256 JWTs signed by the token service."""

    realm: str
    service: str
    issuer: str
    key_path: Path


@dataclass(frozen=True)
class Grant:
    """Actions an account may take on repositories matching a glob (``*`` any account)."""

    account: str
    repository: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class TokenServer:
    """The built-in token service served at ``/auth/token``."""

    private_key: Path
    htpasswd: Path | None
    expiration: float = 300.0
    grants: tuple[Grant, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """A webhook endpoint for notifications."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    backoff: float = 1.0
    max_backoff: float = 60.0


@dataclass(frozen=True)
class ProxyConfig:
    """Pull-through mirror of an upstream registry."""

    remote_url: str
    username: str = ""
    password: str = ""


@dataclass(frozen=True)
class RegistryConfig:
    """Everything ``wharf registry serve`` needs."""

    root: Path
    driver: str = "filesystem"
    addr: str = "127.0.0.1:5000"
    host: str = ""
    delete_enabled: bool = True
    readonly: bool = False
    upload_purge_age: float = 7 * 24 * 3600.0
    max_manifest_size: int = 4 << 20
    read_timeout: float = 60.0
    gc_grace: float = 3600.0
    search: bool = True
    htpasswd: HtpasswdAuth | None = None
    token: TokenAuth | None = None
    token_server: TokenServer | None = None
    endpoints: tuple[Endpoint, ...] = ()
    proxy: ProxyConfig | None = None

    def with_overrides(
        self, *, addr: str | None = None, root: Path | None = None
    ) -> RegistryConfig:
        """A copy with the command line's ``--addr``/``--root`` applied."""
        out = self
        if addr:
            out = replace(out, addr=addr)
        if root is not None:
            out = replace(out, root=root)
        return out


def _section(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"config {key!r}: expected a mapping, got {value!r}")
    return value


def _str(obj: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise InvalidArgument(f"config {where}.{key}: expected a string, got {value!r}")
    return value


def _path(obj: dict[str, Any], key: str, where: str, base: Path) -> Path:
    return base / _str(obj, key, where)


def _bool(obj: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = obj.get(key, default)
    if not isinstance(value, bool):
        raise InvalidArgument(f"config {where}.{key}: expected true or false, got {value!r}")
    return value


def _grants(items: object) -> tuple[Grant, ...]:
    if not isinstance(items, list):
        raise InvalidArgument("config tokenserver.grants: expected a list")
    out = []
    for i, g in enumerate(items):
        where = f"tokenserver.grants[{i}]"
        if not isinstance(g, dict):
            raise InvalidArgument(f"config {where}: expected a mapping")
        actions = g.get("actions")
        if not isinstance(actions, list) or not all(
            a in {"pull", "push", "delete", "*"} for a in actions
        ):
            raise InvalidArgument(
                f"config {where}.actions: expected a list of pull, push, delete or '*'"
            )
        out.append(
            Grant(_str(g, "account", where, "*"), _str(g, "repository", where, "*"), tuple(actions))
        )
    return tuple(out)


def parse_config(obj: object, *, base: Path) -> RegistryConfig:
    """Build a config from parsed YAML; relative paths are relative to ``base``.

    Raises:
        InvalidArgument: naming the key and the expected value.
    """
    if obj is None:
        obj = {}
    if not isinstance(obj, dict):
        raise InvalidArgument("config: expected a mapping at the top level")
    http = _section(obj, "http")
    storage = _section(obj, "storage")
    fs = _section(storage, "filesystem")
    maintenance = _section(storage, "maintenance")
    limits = _section(obj, "limits")
    cfg = RegistryConfig(
        root=base / _str(fs, "rootdirectory", "storage.filesystem", "/var/lib/wharf-registry"),
        driver="inmemory" if "inmemory" in storage else "filesystem",
        addr=_str(http, "addr", "http", "127.0.0.1:5000"),
        host=_str(http, "host", "http", "").rstrip("/"),
        delete_enabled=_bool(_section(storage, "delete"), "enabled", "storage.delete", True),
        readonly=_bool(
            _section(maintenance, "readonly"), "enabled", "storage.maintenance.readonly", False
        ),
        upload_purge_age=parse_duration(
            _section(maintenance, "uploadpurging").get("age", "168h"),
            "storage.maintenance.uploadpurging.age",
        ),
        max_manifest_size=int(limits.get("manifestsize", 4 << 20)),
        read_timeout=parse_duration(limits.get("readtimeout", "60s"), "limits.readtimeout"),
        gc_grace=parse_duration(_section(obj, "gc").get("grace", "1h"), "gc.grace"),
        search=_bool(_section(obj, "search"), "enabled", "search", True),
    )
    auth = _section(obj, "auth")
    if "htpasswd" in auth:
        h = _section(auth, "htpasswd")
        cfg = replace(
            cfg,
            htpasswd=HtpasswdAuth(
                _str(h, "realm", "auth.htpasswd", "wharf"), _path(h, "path", "auth.htpasswd", base)
            ),
        )
    if "token" in auth:
        t = _section(auth, "token")
        key = "publickey" if "publickey" in t else "rootcertbundle"
        cfg = replace(
            cfg,
            token=TokenAuth(
                realm=_str(t, "realm", "auth.token"),
                service=_str(t, "service", "auth.token"),
                issuer=_str(t, "issuer", "auth.token"),
                key_path=_path(t, key, "auth.token", base),
            ),
        )
    if "tokenserver" in obj:
        ts = _section(obj, "tokenserver")
        cfg = replace(
            cfg,
            token_server=TokenServer(
                private_key=_path(ts, "privatekey", "tokenserver", base),
                htpasswd=_path(ts, "htpasswd", "tokenserver", base) if "htpasswd" in ts else None,
                expiration=parse_duration(ts.get("expiration", "5m"), "tokenserver.expiration"),
                grants=_grants(ts.get("grants", [])),
            ),
        )
    endpoints = _section(obj, "notifications").get("endpoints") or []
    if not isinstance(endpoints, list):
        raise InvalidArgument("config notifications.endpoints: expected a list")
    eps = []
    for i, e in enumerate(endpoints):
        where = f"notifications.endpoints[{i}]"
        if not isinstance(e, dict):
            raise InvalidArgument(f"config {where}: expected a mapping")
        if e.get("disabled") is True:
            continue
        headers = e.get("headers") or {}
        if not isinstance(headers, dict):
            raise InvalidArgument(f"config {where}.headers: expected a mapping")
        eps.append(
            Endpoint(
                name=_str(e, "name", where, f"endpoint{i}"),
                url=_str(e, "url", where),
                headers={
                    str(k): ", ".join(v) if isinstance(v, list) else str(v)
                    for k, v in headers.items()
                },
                timeout=parse_duration(e.get("timeout", "5s"), f"{where}.timeout"),
                backoff=parse_duration(e.get("backoff", "1s"), f"{where}.backoff"),
            )
        )
    cfg = replace(cfg, endpoints=tuple(eps))
    if "proxy" in obj:
        p = _section(obj, "proxy")
        cfg = replace(
            cfg,
            proxy=ProxyConfig(
                remote_url=_str(p, "remoteurl", "proxy").rstrip("/"),
                username=_str(p, "username", "proxy", ""),
                password=_str(p, "password", "proxy", ""),
            ),
        )
    return cfg


def load_config(path: Path | None) -> RegistryConfig:
    """Read a YAML config file (None: all defaults).

    Raises:
        InvalidArgument: unreadable YAML or a bad key, naming the file.
    """
    if path is None:
        return parse_config({}, base=Path.cwd())
    try:
        obj = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidArgument(f"registry config {path}: cannot read YAML: {exc}") from exc
    return parse_config(obj, base=path.parent.resolve())
