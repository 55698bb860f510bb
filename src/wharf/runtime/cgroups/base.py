"""The :class:`Cgroup` protocol both hierarchies implement, and helpers they share."""

from __future__ import annotations

import contextlib
import enum
import errno
import itertools
import os
import time
from collections.abc import Iterable
from typing import Final, Protocol

from wharf.errors import Conflict, InvalidArgument, WharfError
from wharf.runtime.cgroups import _fs
from wharf.runtime.cgroups.resources import Resources
from wharf.runtime.cgroups.stats import CgroupStats, parse_flat_keyed
from wharf.runtime.syscalls import error_from_errno

__all__ = [
    "Cgroup",
    "FreezerState",
    "check_path",
    "old_value",
    "remove_dirs",
    "rollback",
    "signal_all",
    "write_all",
]

_RMDIR_POLL_S: Final = 0.002


class FreezerState(enum.Enum):
    """A cgroup's freezer state (v1 ``freezer.state`` words)."""

    THAWED = "THAWED"
    FREEZING = "FREEZING"
    FROZEN = "FROZEN"


class Cgroup(Protocol):
    """One container's cgroup, in every hierarchy it spans.

    Lifecycle: ``open_cgroup(path)`` (no side effect) -> :meth:`create` -> the container's
    first process joins (:meth:`join_fds` from the child, :meth:`dir_fd` with clone3, or
    :meth:`add_process`) -> :meth:`update` / :meth:`freeze` / :meth:`stats` while it runs
    -> :meth:`destroy`. A fresh ``open_cgroup`` with the same path finds it again (after an
    engine restart): the kernel is the only state.
    """

    @property
    def path(self) -> str:
        """The cgroupsPath this object was opened with, normalised (absolute)."""
        ...

    @property
    def version(self) -> int:
        """1 or 2."""
        ...

    @property
    def devices_enforced(self) -> bool:
        """Whether :meth:`create` enforces ``linux.resources.devices`` on this host."""
        ...

    def exists(self) -> bool:
        """True when the cgroup directory exists in at least one hierarchy."""
        ...

    def create(self, resources: Resources, *, spare: Cgroup | None = None) -> None:
        """Make the cgroup (and missing parents) and write its limits.

        Args:
            spare: an empty cgroup made ahead under the same parent (a pool slot's): on
                v1 its directories are renamed into place instead of made; what is not
                taken stays the spare's owner's to remove. v2 cannot rename a cgroup.

        Raises:
            Conflict: the cgroup exists already.
            InvalidArgument: the kernel refused a value, or cpus/mems the parent lacks;
                the message names the ``linux.resources`` field.
            FailedPrecondition: a limit needs a controller this host (or this cgroup's
                ``controllers``) lacks.
            On any failure, every directory it made is removed again.
        """
        ...

    def update(self, resources: Resources) -> None:
        """Write new limits to the existing cgroup (``runc update``, ``docker update``).
        Device rules are left as created. If the kernel refuses a value (e.g. a memory
        limit below what the container uses: Conflict), the values already written are
        put back, so the cgroup keeps its previous limits."""
        ...

    def join_fds(self) -> list[int]:
        """Open the files a new single-threaded child writes ``b"0"`` to, to join.

        The fds are O_CLOEXEC. The caller owns them: it hands them to the child (which
        writes ``b"0"`` to each before execve) and closes its copies after clone.
        """
        ...

    def dir_fd(self) -> int:
        """An O_CLOEXEC directory fd for ``clone3(CLONE_INTO_CGROUP)`` (v2 only); the
        caller closes it."""
        ...

    def add_process(self, pid: int) -> None:
        """Move the process ``pid`` (all its threads) into this cgroup."""
        ...

    def pids(self) -> list[int]:
        """The processes in the cgroup (host pid namespace numbers)."""
        ...

    def freeze(self) -> None:
        """Freeze every task; returns once the kernel reports FROZEN."""
        ...

    def thaw(self) -> None:
        """Resume every task."""
        ...

    def state(self) -> FreezerState:
        """The freezer state."""
        ...

    def kill_all(self, sig: int) -> int:
        """Send ``sig`` to every process, freezing first so none can fork away.

        Returns:
            how many processes were signalled.
        """
        ...

    def stats(self) -> CgroupStats:
        """A snapshot of the counters.

        Raises:
            NotFound: the cgroup does not exist (any more).
        """
        ...

    def oom_kills(self) -> int:
        """How many processes the OOM killer killed in this cgroup (one small read; for
        deciding "OOMKilled" at exit without a full :meth:`stats`). 0 when the memory
        controller is not in this cgroup."""
        ...

    def destroy(self, *, kill: bool = False, timeout: float = 5.0) -> None:
        """Remove the cgroup's directories, waiting up to ``timeout`` for exiting tasks to
        drain; with ``kill``, SIGKILL what is left first. Removing a missing cgroup is a
        no-op. Parents (``/wharf`` of ``/wharf/<id>``) stay: other containers share them.

        Raises:
            Conflict: tasks are still there after ``timeout`` (without ``kill``).
        """
        ...


def check_path(path: str) -> str:
    """Validate an OCI ``linux.cgroupsPath`` and return it without trailing slashes.

    Raises:
        InvalidArgument: empty, ``..``/``.`` components, or characters the kernel refuses.
    """
    name = "linux.cgroupsPath"
    if not isinstance(path, str) or not path.strip("/"):
        raise InvalidArgument(f"{name}: must be a non-empty path like '/wharf/<id>', got {path!r}")
    parts = [p for p in path.split("/") if p]
    for part in parts:
        if part in (".", "..") or "\0" in part or "\n" in part:
            raise InvalidArgument(f"{name}: component {part!r} is not allowed in {path!r}")
    return ("/" if path.startswith("/") else "") + "/".join(parts)


def remove_dirs(dirs: Iterable[str], *, timeout: float, what: str) -> None:
    """rmdir each directory (deepest first as given), retrying EBUSY until ``timeout``.

    Raises:
        Conflict: a directory still has tasks after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    for d in dirs:
        while True:
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno == errno.ENODEV:
                    break  # being removed by someone else (the monitor, on exit)
                if exc.errno != errno.EBUSY:
                    raise error_from_errno(exc.errno or errno.EIO, f"{what}: rmdir {d}") from exc
                if time.monotonic() >= deadline:
                    raise Conflict(
                        f"{what}: {d} still has processes after {timeout:g}s"
                        " (pass kill=True to kill them)"
                    ) from exc
                time.sleep(_RMDIR_POLL_S)


def rollback(created: Iterable[str]) -> None:
    """Best-effort rmdir of directories a failed create made (no task joined them yet)."""
    for d in reversed(list(created)):
        with contextlib.suppress(OSError):
            os.rmdir(d)


def signal_all(pids: Iterable[int], sig: int) -> int:
    """Send ``sig`` to each pid that still exists; returns how many were signalled."""
    count = 0
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
            count += 1
    return count


def old_value(path: str, new: str) -> str:
    """What to write back to the control file ``path`` to undo writing ``new`` to it.

    Per-device files (v1 ``blkio.throttle.*``, v2 ``io.max``, ``io.bfq.weight``) hold one
    ``major:minor ...`` line per device: the device's old line, or a value that removes
    the setting (``0`` on v1, ``key=max`` / ``default`` on v2).
    """
    text = _fs.read(path)
    first, _, rest = new.partition(" ")
    if ":" in first:
        for line in text.splitlines():
            if line.startswith(first + " "):
                return line
        if "=" in rest:
            return f"{first} {rest.split('=', 1)[0]}=max"
        return f"{first} default" if path.endswith("io.bfq.weight") else f"{first} 0"
    if path.endswith("memory.oom_control"):
        return str(parse_flat_keyed(text).get("oom_kill_disable", 0))
    if text.startswith("default "):
        return text.splitlines()[0]
    return text.strip()


def write_all(targets: Iterable[tuple[str, str, str]], *, undo: bool, what: str) -> None:
    """Write each (path, value, field) in order. With ``undo``, a failure puts back the
    values already replaced (best effort), so a refused update changes nothing."""
    if not undo:
        for path, group in itertools.groupby(targets, key=lambda t: t[0]):
            _fs.write_each(path, [(value, field) for _, value, field in group])
        return
    done: list[tuple[str, str]] = []
    try:
        for path, value, field in targets:
            try:
                done.append((path, old_value(path, value)))
            except WharfError as exc:
                raise type(exc)(f"{field}: {exc}") from exc
            _fs.write(path, value, field=field)
    except BaseException:
        for path, old in reversed(done):
            with contextlib.suppress(WharfError):
                _fs.write(path, old, field=f"{what}: restore")
        raise
