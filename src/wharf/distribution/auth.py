"""Registry authentication: the ``401`` challenge answered with Basic or a Bearer token.

The token flow (distribution's spec/auth/token): the registry answers ``401`` with
``WWW-Authenticate: Bearer realm=…,service=…,scope=…``; the client gets a token from the
realm (with Basic credentials when it has them) and retries with ``Authorization: Bearer``.
Tokens are cached per realm, service and scope for the life of the :class:`RegistryAuth`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import Final

import httpx

from wharf.errors import InvalidArgument, Unauthenticated

__all__ = ["Challenge", "Credentials", "RegistryAuth", "decode_registry_auth", "parse_challenge"]

_PARAM: Final = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Credentials:
    """What ``docker login`` stores or ``X-Registry-Auth`` carries."""

    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __bool__(self) -> bool:
        return bool(self.username or self.identity_token)

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def decode_registry_auth(header: str) -> tuple[Credentials, str]:
    """Decode ``X-Registry-Auth`` (base64url JSON); returns the credentials and serveraddress.

    Raises:
        InvalidArgument: the header is not base64 JSON.
    """
    if not header:
        return Credentials(), ""
    padded = header + "=" * (-len(header) % 4)
    try:
        obj = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("X-Registry-Auth: expected base64url-encoded JSON") from None
    if not isinstance(obj, dict):
        raise InvalidArgument("X-Registry-Auth: expected a JSON object")
    return (
        Credentials(
            username=str(obj.get("username") or ""),
            password=str(obj.get("password") or ""),
            identity_token=str(obj.get("identitytoken") or ""),
        ),
        str(obj.get("serveraddress") or ""),
    )


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge."""

    scheme: str
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """``Bearer realm="…",service="…"`` -> Challenge (None if empty)."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {m.group(1).lower(): m.group(2) or m.group(3) or "" for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), params)


class RegistryAuth(httpx.Auth):
    """httpx auth for one registry: answers challenges, caches tokens.

    Args:
        credentials: the user's credentials for this registry (empty: anonymous).
        scopes: the scopes to ask a token for when the challenge names none.
    """

    def __init__(self, credentials: Credentials, scopes: tuple[str, ...] = ()) -> None:
        self.credentials = credentials
        self.scopes = scopes
        self._lock = threading.Lock()
        self._header: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            header = self._header
        if header is not None:
            request.headers["Authorization"] = header
        response = yield request
        if response.status_code != 401:
            return
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            return
        if challenge.scheme == "basic":
            if not self.credentials:
                return
            header = self.credentials.basic()
        elif challenge.scheme == "bearer":
            token_request = self._token_request(challenge)
            token_response = yield token_request
            token_response.read()
            if token_response.status_code in (401, 403):
                raise Unauthenticated(
                    f"{request.url.host}: unauthorized: incorrect username or password"
                )
            if token_response.status_code != 200:
                raise Unauthenticated(
                    f"token service {token_request.url}: status {token_response.status_code}"
                )
            header = "Bearer " + _token(token_response, str(token_request.url))
        else:
            return
        with self._lock:
            self._header = header
        request.headers["Authorization"] = header
        yield request

    def _token_request(self, challenge: Challenge) -> httpx.Request:
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise Unauthenticated(f"auth challenge: realm {realm!r} is not an http(s) URL")
        params: list[tuple[str, str | int | float | bool | None]] = []
        if "service" in challenge.params:
            params.append(("service", challenge.params["service"]))
        scope = challenge.params.get("scope", "")
        scopes = scope.split(" ") if scope else list(self.scopes)
        for wanted in self.scopes:
            if wanted not in scopes:
                scopes.append(wanted)
        params += [("scope", s) for s in scopes if s]
        headers = {}
        if self.credentials.username:
            params.append(("account", self.credentials.username))
            headers["Authorization"] = self.credentials.basic()
        return httpx.Request("GET", realm, params=params, headers=headers)


def _token(response: httpx.Response, url: str) -> str:
    try:
        body = response.json()
    except ValueError:
        raise Unauthenticated(f"token service {url}: the answer is not JSON") from None
    token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise Unauthenticated(f"token service {url}: no token in the answer")
    return token
