"""The only error kind -> HTTP status table (moby's ``httpstatus``).

Every error that reaches the API is a :class:`wharf.errors.WharfError` kind; its class alone picks
the status, and the body is Docker's ``{"message": ...}``. No message text is ever inspected.
"""

from __future__ import annotations

from typing import Final

from wharf import errors

__all__ = ["status_for"]

_STATUS: Final[tuple[tuple[type[errors.WharfError], int], ...]] = (
    (errors.NotFound, 404),
    (errors.AlreadyExists, 409),
    (errors.Conflict, 409),
    (errors.InvalidArgument, 400),
    (errors.NotModified, 304),
    (errors.FailedPrecondition, 412),
    (errors.Unavailable, 503),
    (errors.PermissionDenied, 403),
    (errors.Unauthenticated, 401),
    (errors.Unimplemented, 501),
    (errors.DataLoss, 500),
)


def status_for(exc: errors.WharfError) -> int:
    """HTTP status of an error kind (500 for the base class)."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500
