"""Repository names, tags and references, validated as distribution's ``reference`` grammar.

Names are checked before any path is built from them, so ``..``, absolute paths and empty
components can never reach the storage layout.
"""

from __future__ import annotations

import re
from typing import Final

from wharf.errors import InvalidArgument
from wharf.oci import Digest
from wharf.registry.errcodes import RegistryError

__all__ = ["parse_digest", "parse_reference", "validate_name", "validate_tag"]

_COMPONENT: Final = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME: Final = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_NAME_MAX: Final = 255


def validate_name(name: str) -> str:
    """Check a repository name (``a/b-c/d``).

    Raises:
        RegistryError: ``NAME_INVALID`` naming the repository and the grammar.
    """
    if len(name) > _NAME_MAX or not _NAME.match(name):
        raise RegistryError(
            "NAME_INVALID",
            f"repository name {name[:300]!r} is invalid: expected lowercase components "
            f"[a-z0-9] separated by '/', '.', '_', '__' or '-', at most {_NAME_MAX} characters",
        )
    return name


def validate_tag(tag: str) -> str:
    """Check a tag.

    Raises:
        RegistryError: ``TAG_INVALID`` naming the tag and the grammar.
    """
    if not _TAG.match(tag):
        raise RegistryError(
            "TAG_INVALID",
            f"tag {tag[:200]!r} is invalid: expected [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}",
        )
    return tag


def parse_digest(text: str, *, code: str = "DIGEST_INVALID") -> Digest:
    """Parse a digest from a URL or query, raising a registry error on bad input.

    Raises:
        RegistryError: ``code`` (``DIGEST_INVALID`` by default) naming the digest.
    """
    try:
        return Digest.parse(text)
    except InvalidArgument as exc:
        raise RegistryError(code, str(exc)) from exc


def parse_reference(reference: str) -> Digest | str:
    """A manifest reference: a digest when it contains ``:``, otherwise a tag.

    Raises:
        RegistryError: ``DIGEST_INVALID`` or ``TAG_INVALID``, naming the reference.
    """
    if ":" in reference:
        return parse_digest(reference)
    return validate_tag(reference)
