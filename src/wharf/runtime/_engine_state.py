"""On-disk state of the engine's containers and execs, shared by the engine and the monitors.

Layout under the engine's ``state_root``::

    <id>/request.json      the launch request, spec included (exec reads its seccomp profile)
    <id>/state.json        written by the monitor: pids, start times, status, started_at
    <id>/exit.json         written by the monitor once pid 1 has exited and its output is logged
    <id>/control.sock      the monitor's control channel (SOCK_SEQPACKET, JSON messages)
    <id>/attach.sock       the monitor's attach socket (SOCK_STREAM)
    <id>/exec/<exec_id>/   the same four files for each exec

Unix socket paths are limited to 107 bytes; under a longer state root a socket is bound
and reached through ``/proc/PID/fd/N/NAME``, N an ``O_PATH`` fd of its directory
(:class:`SocketDirs`), so any state root works.

Every file is written whole to a temporary name and renamed, so a reader (a new engine
after a SIGKILL of the old one, or of a monitor) sees the old content or the new, never
half of it. There is no fsync: this is runtime state of live processes (runc keeps its
own in /run), which a reboot ends anyway; an fsync per state change cost ~1 ms.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from typing import Any, Final

from wharf.errors import InvalidArgument

__all__ = [
    "ATTACH_SOCK",
    "CONTROL_SOCK",
    "EXIT_FILE",
    "MONITOR_LOG",
    "REQUEST_FILE",
    "STATE_FILE",
    "SocketDirs",
    "check_id",
    "now_rfc3339",
    "process_start_time",
    "read_json",
    "remove_state_dir",
    "rfc3339",
    "write_atomic",
    "write_json_atomic",
]

REQUEST_FILE: Final = "request.json"
STATE_FILE: Final = "state.json"
EXIT_FILE: Final = "exit.json"
MONITOR_LOG: Final = "monitor.log"  # the monitor's stderr
CONTROL_SOCK: Final = "control.sock"
ATTACH_SOCK: Final = "attach.sock"

_SUN_PATH_MAX: Final = 107  # bytes of a unix socket path (sun_path[108] with its NUL)
_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_id(kind: str, value: str) -> str:
    """Return ``value`` if it is a safe container or exec id (a single path component).

    Raises:
        InvalidArgument: the id is empty, too long, or has characters outside
            ``[A-Za-z0-9_.-]``.
    """
    if not _ID_RE.match(value):
        raise InvalidArgument(
            f"{kind} id {value!r}: expected 1-128 characters of [A-Za-z0-9_.-], "
            "starting with a letter or digit"
        )
    return value


def rfc3339(ns: int) -> str:
    """``ns`` nanoseconds since the epoch as RFC 3339 UTC with nine fractional digits."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def now_rfc3339() -> str:
    return rfc3339(time.time_ns())


def write_json_atomic(path: str, value: dict[str, Any]) -> None:
    """Write ``value`` as JSON to ``path`` through a temp file and a rename."""
    write_atomic(path, json.dumps(value, separators=(",", ":")).encode())


def write_atomic(path: str, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` through a temp file and a rename."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def remove_state_dir(d: str) -> None:
    """Remove a state directory: the files a monitor leaves, one unlink each, then the
    directory; the whole tree only when more is there (execs). Half the syscalls of
    ``shutil.rmtree`` on the way to a container's delete."""
    try:
        # The sockets too: a monitor past its controls may not have unlinked them yet.
        for name in (STATE_FILE, EXIT_FILE, REQUEST_FILE, MONITOR_LOG, CONTROL_SOCK, ATTACH_SOCK):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(d, name))
        os.rmdir(d)
    except FileNotFoundError:
        pass
    except OSError:  # not empty, or not what a monitor leaves
        shutil.rmtree(d, ignore_errors=True)


def read_json(path: str) -> dict[str, Any] | None:
    """The JSON object at ``path``, or None when the file does not exist."""
    try:
        with open(path, "rb") as f:
            value = json.load(f)
    except FileNotFoundError:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument(f"state file {path}: expected a JSON object")
    return value


def process_start_time(pid: int) -> int | None:
    """Field 22 of ``/proc/PID/stat`` (start time in clock ticks), or None if ``pid`` is gone.

    Stored beside every pid so that a recycled pid is never mistaken for our process.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


class SocketDirs:
    """Addresses of unix sockets in directories of any path length.

    A path that fits is returned as is; a longer one goes through ``/proc/PID/fd/N/NAME``,
    N an ``O_PATH`` fd of the directory that this object keeps open until :meth:`forget`
    or :meth:`close`. Such an address works in any process (root) while this one lives.
    """

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}

    def address(self, directory: str, name: str) -> str:
        path = os.path.join(directory, name)
        if len(os.fsencode(path)) <= _SUN_PATH_MAX:
            return path
        fd = self._fds.get(directory)
        if fd is None:
            fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            self._fds[directory] = fd
        return f"/proc/{os.getpid()}/fd/{fd}/{name}"

    def forget(self, directory: str) -> None:
        """Close the fds of ``directory`` and of every directory under it."""
        for d in [d for d in self._fds if d == directory or d.startswith(f"{directory}/")]:
            os.close(self._fds.pop(d))

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
