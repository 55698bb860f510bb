"""Error kinds shared by every component (moby's errdefs, in Python).

Errors that cross a package boundary subclass exactly one kind below. The kind decides
how the error is shown: `api/errors.py` holds the only kind -> HTTP status table, and the
client inverts it, so nobody matches message text. Messages name the object and what
was expected: ``container 3f2a…: cannot exec, state is "stopped"``.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "Conflict",
    "DataLoss",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "NotModified",
    "PermissionDenied",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "WharfError",
]


class WharfError(Exception):
    """Base of every error Wharf raises on purpose."""


class NotFound(WharfError, LookupError):
    """The named object does not exist."""


class AlreadyExists(WharfError):
    """An object with that name or digest exists already."""


class InvalidArgument(WharfError, ValueError):
    """The caller's input is malformed or out of range."""


class Conflict(WharfError):
    """The object is in a state that forbids the operation (running, in use, ...)."""


class NotModified(WharfError):
    """The operation was a no-op (start of a running container, stop of a stopped one)."""


class FailedPrecondition(WharfError):
    """The system is not in a state the operation needs (missing kernel feature, ...)."""


class Unavailable(WharfError):
    """A dependency (registry, daemon, kernel resource) cannot be reached right now."""


class PermissionDenied(WharfError):
    """The caller is known but not allowed to do this."""


class Unauthenticated(WharfError):
    """The caller's credentials are missing or wrong."""


class Unimplemented(WharfError):
    """The operation or option is recognised but not supported."""


class DataLoss(WharfError):
    """Stored or received bytes are corrupt (digest mismatch, truncated archive)."""
