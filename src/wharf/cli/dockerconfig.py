"""Credentials in the Docker config format: ``$DOCKER_CONFIG/config.json`` (default
``~/.docker``), ``{"auths": {"<registry>": {"auth": base64("user:password")}}}``, so the
docker CLI and Wharf's share logins. Other keys of the file are kept as they are."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, Final

from wharf.errors import InvalidArgument

__all__ = ["HUB_KEY", "config_path", "credentials", "encode_auth_header", "forget", "remember"]

HUB_KEY: Final = "https://index.docker.io/v1/"


def config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(base) / "config.json"


def _key(registry: str) -> str:
    return HUB_KEY if registry in ("", "docker.io", "index.docker.io", HUB_KEY) else registry


def _load() -> dict[str, Any]:
    path = config_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"{path}: not a Docker config file: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"{path}: expected a JSON object")
    return data


def _save(data: dict[str, Any]) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent="\t")
    os.replace(tmp, path)


def remember(registry: str, username: str, password: str) -> None:
    """Store a login for ``registry``."""
    data = _load()
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    data.setdefault("auths", {})[_key(registry)] = {"auth": token}
    _save(data)


def forget(registry: str) -> bool:
    """Drop the login for ``registry``; False if there was none."""
    data = _load()
    auths = data.get("auths") or {}
    if _key(registry) not in auths:
        return False
    del auths[_key(registry)]
    _save(data)
    return True


def credentials(registry: str) -> tuple[str, str] | None:
    """(username, password) stored for ``registry``, or None."""
    entry = (_load().get("auths") or {}).get(_key(registry))
    if not isinstance(entry, dict) or not entry.get("auth"):
        return None
    try:
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(f"{config_path()}: the login for {registry} is corrupt") from None
    return user, password


def encode_auth_header(registry: str) -> str:
    """``X-Registry-Auth`` for ``registry``: base64url JSON (``e30=`` when logged out)."""
    found = credentials(registry)
    body: dict[str, str] = {}
    if found is not None:
        body = {"username": found[0], "password": found[1], "serveraddress": registry}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()
