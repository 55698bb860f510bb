"""What a request needs: :class:`Access` to resources, and the :class:`Authorizer` seam.

Kept apart from :mod:`wharf.registry.auth` so an open registry never imports the crypto
libraries (start-up time and memory).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from wharf.errors import InvalidArgument

__all__ = ["Access", "Authorizer", "parse_scopes"]


@dataclass(frozen=True)
class Access:
    """One resource and the actions wanted on it (``repository:demo/x:pull,push``)."""

    type: str
    name: str
    actions: tuple[str, ...]

    def scope(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scopes(values: Iterable[str]) -> list[Access]:
    """Parse scope parameters, each holding one or more space-separated scopes.

    Raises:
        InvalidArgument: a scope is not ``type:name:actions``.
    """
    out = []
    for value in values:
        for scope in value.split():
            typ, sep, rest = scope.partition(":")
            name, sep2, actions = rest.rpartition(":")
            if not (sep and sep2 and typ and name):
                raise InvalidArgument(f"scope {scope!r}: expected type:name:actions")
            out.append(Access(typ.split("(")[0], name, tuple(a for a in actions.split(",") if a)))
    return out


class Authorizer(Protocol):
    """Checks a request's ``Authorization`` header against the access it needs."""

    def authorize(self, authorization: str, needed: Sequence[Access]) -> str:
        """Returns the actor name.

        Raises:
            RegistryError: ``UNAUTHORIZED`` (with a challenge) or ``DENIED``.
        """
        ...
