"""HTTP status -> error kind: the inverse of ``wharf.api.errors``."""

from __future__ import annotations

import json
from typing import Final

from wharf import errors

__all__ = ["error_for"]

_KINDS: Final[dict[int, type[errors.WharfError]]] = {
    400: errors.InvalidArgument,
    401: errors.Unauthenticated,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.Conflict,
    412: errors.FailedPrecondition,
    501: errors.Unimplemented,
    503: errors.Unavailable,
}


def error_for(status: int, body: bytes) -> errors.WharfError:
    """The kind for ``status``, carrying the daemon's ``message``."""
    try:
        message = str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        message = body.decode(errors="replace").strip() or f"HTTP {status}"
    return _KINDS.get(status, errors.WharfError)(message)
