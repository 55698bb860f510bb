"""Authentication and authorization: htpasswd basic auth and Docker token auth.

Every route names the access it needs as :class:`Access` values (``repository:demo/x:pull``,
``registry:catalog:*``). An :class:`Authorizer` checks the request's credentials against
them and returns the actor's name, or raises ``UNAUTHORIZED``/``DENIED`` with the
challenge a client needs (``Basic realm=...`` or ``Bearer realm,service,scope``).

:class:`TokenIssuer` is the built-in token service (distribution's token spec): it
authenticates users with an htpasswd file, grants the intersection of the requested
scopes with configured grants, and signs RS256 JWTs the :class:`TokenAuthorizer` of
any registry process sharing the public key accepts. Scopes are accepted repeated
(``scope=a&scope=b``, skopeo) and space-separated (``scope=a b``, the conformance suite).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bcrypt
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from wharf.errors import InvalidArgument
from wharf.registry.access import Access, Authorizer, parse_scopes
from wharf.registry.config import Grant, HtpasswdAuth, TokenAuth, TokenServer
from wharf.registry.errcodes import RegistryError

__all__ = [
    "Access",
    "Authorizer",
    "Htpasswd",
    "HtpasswdAuthorizer",
    "TokenAuthorizer",
    "TokenIssuer",
    "parse_scopes",
]

_ALL_ACTIONS = ("pull", "push", "delete")


class Htpasswd:
    """An htpasswd file of bcrypt hashes, re-read when it changes; checks are cached."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._users: dict[str, bytes] = {}
        self._mtime = -1.0
        self._ok: set[bytes] = set()
        self._lock = threading.Lock()

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            raise RegistryError("UNAVAILABLE", f"htpasswd file {self.path}: {exc}") from exc
        if mtime == self._mtime:
            return
        users = {}
        for line in self.path.read_text().splitlines():
            user, sep, hashed = line.strip().partition(":")
            if sep and user and hashed.startswith("$2"):
                users[user] = hashed.encode()
        with self._lock:
            self._users, self._mtime, self._ok = users, mtime, set()

    def check(self, user: str, password: str) -> bool:
        """True when ``user`` exists and ``password`` matches its bcrypt hash."""
        self._load()
        hashed = self._users.get(user)
        if hashed is None:
            return False
        key = hashlib.sha256(b"\0".join((user.encode(), password.encode(), hashed))).digest()
        if key in self._ok:
            return True
        if not bcrypt.checkpw(password.encode(), hashed):
            return False
        with self._lock:
            self._ok.add(key)
        return True


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """``(user, password)`` from a Basic header, or None."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class HtpasswdAuthorizer:
    """Basic auth: any valid user may do anything (distribution's htpasswd semantics)."""

    def __init__(self, cfg: HtpasswdAuth) -> None:
        self.realm = cfg.realm
        self.htpasswd = Htpasswd(cfg.path)

    def authorize(self, authorization: str, needed: Sequence[Access]) -> str:
        creds = basic_credentials(authorization)
        if creds is not None and self.htpasswd.check(*creds):
            return creds[0]
        raise RegistryError(
            "UNAUTHORIZED",
            "authentication required: send Basic credentials of a user in the htpasswd file",
            headers={"Www-Authenticate": f'Basic realm="{self.realm}"'},
        )


def _public_keys(path: Path) -> list[RSAPublicKey]:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"token auth key {path}: {exc}") from exc
    keys: list[Any] = []
    if b"CERTIFICATE" in pem:
        keys = [c.public_key() for c in x509.load_pem_x509_certificates(pem)]
    elif b"PRIVATE KEY" in pem:
        keys = [serialization.load_pem_private_key(pem, None).public_key()]
    else:
        keys = [serialization.load_pem_public_key(pem)]
    rsa = [k for k in keys if isinstance(k, RSAPublicKey)]
    if not rsa:
        raise InvalidArgument(f"token auth key {path}: expected an RSA public key or certificate")
    return rsa


class TokenAuthorizer:
    """Bearer auth with RS256 JWTs (Docker token spec)."""

    def __init__(self, cfg: TokenAuth) -> None:
        self.cfg = cfg
        self.keys = _public_keys(cfg.key_path)

    def _challenge(self, needed: Sequence[Access], error: str = "") -> dict[str, str]:
        value = f'Bearer realm="{self.cfg.realm}",service="{self.cfg.service}"'
        if needed:
            value += f',scope="{" ".join(a.scope() for a in needed)}"'
        if error:
            value += f',error="{error}"'
        return {"Www-Authenticate": value}

    def _claims(self, token: str) -> dict[str, Any] | None:
        for key in self.keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=["RS256"],
                    audience=self.cfg.service,
                    issuer=self.cfg.issuer,
                    options={"require": ["exp", "iss", "aud"]},
                    leeway=60,
                )
            except jwt.PyJWTError:
                continue
            return claims
        return None

    def authorize(self, authorization: str, needed: Sequence[Access]) -> str:
        scheme, _, token = authorization.partition(" ")
        claims = self._claims(token.strip()) if scheme.lower() == "bearer" else None
        if claims is None:
            raise RegistryError(
                "UNAUTHORIZED",
                "authentication required: get a Bearer token from "
                f"{self.cfg.realm} for service {self.cfg.service!r}",
                headers=self._challenge(needed),
            )
        granted: dict[tuple[str, str], set[str]] = {}
        for entry in claims.get("access") or []:
            if isinstance(entry, dict):
                actions = set(entry.get("actions") or [])
                if "*" in actions:
                    actions |= set(_ALL_ACTIONS) | {"*"}
                granted.setdefault((str(entry.get("type")), str(entry.get("name"))), set()).update(
                    actions
                )
        for access in needed:
            have = granted.get((access.type, access.name), set())
            missing = [a for a in access.actions if a not in have]
            if missing:
                raise RegistryError(
                    "UNAUTHORIZED",
                    f"token for {claims.get('sub', '')!r} does not grant "
                    f"{','.join(missing)} on {access.type} {access.name!r}",
                    headers=self._challenge(needed, "insufficient_scope"),
                )
        return str(claims.get("sub", ""))


class TokenIssuer:
    """The built-in token service: users from htpasswd, access from grants."""

    def __init__(self, cfg: TokenServer, *, issuer: str, service: str) -> None:
        self.cfg = cfg
        self.issuer = issuer
        self.service = service
        try:
            key = serialization.load_pem_private_key(cfg.private_key.read_bytes(), None)
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"token server private key {cfg.private_key}: {exc}") from exc
        if not isinstance(key, RSAPrivateKey):
            raise InvalidArgument(f"token server private key {cfg.private_key}: expected RSA")
        self.key = key
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = _libtrust_key_id(der)
        self.htpasswd = Htpasswd(cfg.htpasswd) if cfg.htpasswd else None

    def authenticate(self, authorization: str) -> str:
        """The account of a Basic header ("" when absent).

        Raises:
            RegistryError: ``UNAUTHORIZED`` for wrong credentials.
        """
        if not authorization:
            return ""
        creds = basic_credentials(authorization)
        if creds is None or self.htpasswd is None or not self.htpasswd.check(*creds):
            raise RegistryError(
                "UNAUTHORIZED",
                "token service: wrong user name or password",
                headers={"Www-Authenticate": f'Basic realm="{self.service}"'},
            )
        return creds[0]

    def _allowed(self, account: str, access: Access) -> tuple[str, ...]:
        allowed: set[str] = set()
        for grant in self._grants_for(account):
            if access.type == "registry" and access.name == "catalog":
                if grant.repository == "*" and "*" in grant.actions:
                    allowed.add("*")
                continue
            if access.type == "repository" and fnmatch.fnmatchcase(access.name, grant.repository):
                allowed |= set(grant.actions)
        if "*" in allowed:
            allowed |= {*_ALL_ACTIONS, "*"}
        return tuple(a for a in access.actions if a in allowed)

    def _grants_for(self, account: str) -> list[Grant]:
        wanted = {account, "*"} if account else {"anonymous"}
        return [g for g in self.cfg.grants if g.account in wanted]

    def issue(self, account: str, scopes: Sequence[Access]) -> dict[str, Any]:
        """A token response granting what ``account`` may have of ``scopes``."""
        now = int(time.time())
        access = []
        for wanted in scopes:
            actions = self._allowed(account, wanted)
            access.append({"type": wanted.type, "name": wanted.name, "actions": list(actions)})
        claims = {
            "iss": self.issuer,
            "sub": account,
            "aud": self.service,
            "exp": now + int(self.cfg.expiration),
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        issued = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "token": token,
            "access_token": token,
            "expires_in": int(self.cfg.expiration),
            "issued_at": issued,
        }


def _libtrust_key_id(der: bytes) -> str:
    """docker/libtrust's key id: base32 of the first 240 bits of sha256(SPKI), in 4s."""
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))
