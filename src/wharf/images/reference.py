"""Image references parsed and normalised as Docker does (distribution's ``reference``).

``busybox`` -> ``docker.io/library/busybox:latest``; ``localhost:5000/a/b:tag`` keeps its
registry; ``name@sha256:…`` is a digest reference. :meth:`Reference.familiar` gives the
short form back for display (``busybox:latest``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from wharf.errors import InvalidArgument
from wharf.oci.digest import Digest

__all__ = ["DEFAULT_DOMAIN", "Reference", "parse_reference"]

DEFAULT_DOMAIN: Final = "docker.io"
_OFFICIAL: Final = "library/"
_COMPONENT: Final = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_DOMAIN: Final = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$"
)
_TAG: Final = re.compile(r"^[\w][\w.-]{0,127}$")
_MAX_NAME: Final = 255


@dataclass(frozen=True)
class Reference:
    """A normalised reference: ``domain/path[:tag][@digest]``.

    Attributes:
        domain: registry host (``docker.io``, ``localhost:5000``).
        path: repository path (``library/busybox``).
        tag: tag, or empty when the reference is by digest only.
        digest: manifest digest, or None.
    """

    domain: str
    path: str
    tag: str = ""
    digest: Digest | None = None

    @property
    def name(self) -> str:
        """The repository name with its domain (``docker.io/library/busybox``)."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    def familiar_name(self) -> str:
        """The repository as Docker shows it (``busybox``, ``localhost:5000/a/b``)."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(_OFFICIAL) and self.path.count("/") == 1:
            return self.path[len(_OFFICIAL) :]
        return self.path

    def familiar(self) -> str:
        """The whole reference as Docker shows it (``busybox:latest``)."""
        out = self.familiar_name()
        if self.tag:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)


def parse_reference(text: str, *, default_tag: str = "latest") -> Reference:
    """Parse and normalise a reference.

    Args:
        text: ``busybox``, ``busybox:1.36``, ``localhost:5000/a/b:tag``, ``a@sha256:…``.
        default_tag: tag used when there is neither tag nor digest ("" to keep none).

    Raises:
        InvalidArgument: the text is not a valid reference; the message says why.
    """
    if not text:
        raise InvalidArgument("invalid reference format: empty reference")
    remainder = text
    digest: Digest | None = None
    if "@" in remainder:
        remainder, _, digest_text = remainder.partition("@")
        try:
            digest = Digest.parse(digest_text)
        except InvalidArgument as exc:
            raise InvalidArgument(f"invalid reference {text!r}: {exc}") from None
    tag = ""
    last_slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > last_slash:
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG.match(tag):
            raise InvalidArgument(f"invalid reference {text!r}: invalid tag {tag!r}")
    domain, path = _split_domain(remainder)
    if not path:
        raise InvalidArgument(f"invalid reference {text!r}: empty repository name")
    if path.lower() != path and all(_COMPONENT.match(c) for c in path.lower().split("/")):
        raise InvalidArgument(f"invalid reference {text!r}: repository name must be lowercase")
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            raise InvalidArgument(
                f"invalid reference {text!r}: invalid repository component {component!r}"
            )
    if not _DOMAIN.match(domain):
        raise InvalidArgument(f"invalid reference {text!r}: invalid registry {domain!r}")
    if len(domain) + 1 + len(path) > _MAX_NAME:
        raise InvalidArgument(f"invalid reference {text!r}: name longer than {_MAX_NAME}")
    if not tag and digest is None:
        tag = default_tag
    return Reference(domain, path, tag, digest)


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = _OFFICIAL + path
    return domain, path
