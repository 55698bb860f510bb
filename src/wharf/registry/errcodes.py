"""The registry's error codes: one table, as distribution's ``errcode/register.go`` has.

Every error the server sends is a :class:`RegistryError` carrying one :class:`ErrorCode`
from :data:`CODES`; the code decides the HTTP status and the wire body
``{"errors": [{"code", "message", "detail"}]}`` (OCI distribution-spec, "Error Codes").
Errors of the shared kinds (:mod:`wharf.errors`) that reach the edge are converted by
:func:`from_kind`, so no handler matches message text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wharf import errors

__all__ = ["CODES", "ErrorCode", "RegistryError", "from_kind"]


@dataclass(frozen=True)
class ErrorCode:
    """One registered error code.

    Attributes:
        name: the wire code, e.g. ``BLOB_UNKNOWN``.
        message: the spec's one-line description.
        status: the HTTP status it is sent with.
    """

    name: str
    message: str
    status: int


def _table(*codes: ErrorCode) -> dict[str, ErrorCode]:
    return {c.name: c for c in codes}


CODES = _table(
    ErrorCode("BLOB_UNKNOWN", "blob unknown to registry", 404),
    ErrorCode("BLOB_UPLOAD_INVALID", "blob upload invalid", 400),
    ErrorCode("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", 404),
    ErrorCode("DIGEST_INVALID", "provided digest did not match uploaded content", 400),
    ErrorCode(
        "MANIFEST_BLOB_UNKNOWN", "manifest references a manifest or blob unknown to registry", 400
    ),
    ErrorCode("MANIFEST_INVALID", "manifest invalid", 400),
    ErrorCode("MANIFEST_UNKNOWN", "manifest unknown to registry", 404),
    ErrorCode("NAME_INVALID", "invalid repository name", 400),
    ErrorCode("NAME_UNKNOWN", "repository name not known to registry", 404),
    ErrorCode("SIZE_INVALID", "provided length did not match content length", 400),
    ErrorCode("TAG_INVALID", "manifest tag did not match URI", 400),
    ErrorCode("UNAUTHORIZED", "authentication required", 401),
    ErrorCode("DENIED", "requested access to the resource is denied", 403),
    ErrorCode("UNSUPPORTED", "the operation is unsupported", 405),
    ErrorCode("TOOMANYREQUESTS", "too many requests", 429),
    ErrorCode("RANGE_INVALID", "invalid content range", 416),
    ErrorCode("MANIFEST_TOO_LARGE", "manifest exceeds the size limit", 413),
    ErrorCode("PAGINATION_NUMBER_INVALID", "invalid number of results requested", 400),
    ErrorCode("UNAVAILABLE", "service unavailable", 503),
    ErrorCode("UNKNOWN", "unknown error", 500),
)


class RegistryError(errors.WharfError):
    """An error with a registry code, raised anywhere in the server and sent at the edge.

    Args:
        code: a name from :data:`CODES`.
        detail: what exactly was wrong, naming the object and the expectation.
        headers: extra response headers (``Www-Authenticate``, ``Range``...).
    """

    def __init__(self, code: str, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.code = CODES[code]
        self.detail = detail
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The spec's JSON error body."""
        return {
            "errors": [
                {"code": self.code.name, "message": self.code.message, "detail": self.detail}
            ]
        }


_KIND_CODES: tuple[tuple[type[errors.WharfError], str], ...] = (
    (errors.DataLoss, "DIGEST_INVALID"),
    (errors.InvalidArgument, "BLOB_UPLOAD_INVALID"),
    (errors.Unauthenticated, "UNAUTHORIZED"),
    (errors.PermissionDenied, "DENIED"),
    (errors.Unimplemented, "UNSUPPORTED"),
    (errors.Unavailable, "UNAVAILABLE"),
    (errors.NotFound, "NAME_UNKNOWN"),
)


def from_kind(exc: errors.WharfError) -> RegistryError:
    """The registry error for a shared-kind error that reached the HTTP edge."""
    if isinstance(exc, RegistryError):
        return exc
    for kind, code in _KIND_CODES:
        if isinstance(exc, kind):
            return RegistryError(code, str(exc))
    return RegistryError("UNKNOWN", str(exc))
