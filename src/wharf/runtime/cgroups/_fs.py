"""Reading and writing cgroup control files, with errno translated to error kinds."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence

from wharf.errors import Conflict, InvalidArgument, NotFound, WharfError
from wharf.runtime.syscalls import error_from_errno

__all__ = ["read", "read_or_none", "write", "write_each"]


def write(path: str, value: str, *, field: str) -> None:
    """Write ``value`` to the control file at ``path`` in one write(2).

    Args:
        field: the spec field the value comes from, named in errors.

    Raises:
        see :func:`write_each`.
    """
    write_each(path, [(value, field)])


def write_each(path: str, items: Sequence[tuple[str, str]]) -> None:
    """Write each (value, field) to the control file at ``path``, one write(2) per value
    through one open file (``devices.allow`` takes one rule per write).

    Raises:
        InvalidArgument: the kernel rejected the value (EINVAL, ERANGE, EOVERFLOW; ENODEV
            for a device that does not exist).
        Conflict: the value conflicts with the cgroup's current use (EBUSY; e.g. a
            memory limit below current usage that cannot be reclaimed).
        NotFound: the control file does not exist (controller missing on this host).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise _error(exc, f"{items[0][1]}: cannot open {path}") from exc
    try:
        for value, field in items:
            try:
                os.write(fd, value.encode())
            except OSError as exc:
                raise _error(exc, f"{field}: {path} rejected {value!r}") from exc
    finally:
        os.close(fd)


def read(path: str) -> str:
    """The text of a control file."""
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except OSError as exc:
        raise _error(exc, f"cannot read {path}") from exc


def read_or_none(path: str) -> str | None:
    """The text of a control file, or None when the host does not have it, or its cgroup
    is gone (ENODEV: removed while we opened it)."""
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENODEV:
            return None
        raise _error(exc, f"cannot read {path}") from exc


def _error(exc: OSError, what: str) -> WharfError:
    err = exc.errno or errno.EIO
    if err in (errno.EINVAL, errno.ERANGE, errno.EOVERFLOW, errno.ENODEV):
        return InvalidArgument(f"{what}: {os.strerror(err)}")
    if err == errno.EBUSY:
        return Conflict(f"{what}: {os.strerror(err)}")
    if err == errno.ENOENT:
        return NotFound(f"{what}: no such control file on this host")
    return error_from_errno(err, what)
