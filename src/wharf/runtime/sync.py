"""The sync channel between a launcher (the parent) and the clone child it set up.

One ``socketpair(AF_UNIX, SOCK_SEQPACKET)``: each message is one datagram starting with a
one-byte tag. Both ends stay usable across clone (the fd table is copied) and the child
only calls ``os.read``/``os.write`` on it, which is safe there.

Child -> parent:
  ``H``  mounts are made, before pivot_root: run prestart/createRuntime hooks, answer ``h``.
  ``R``  set-up is complete; the child now waits for the start signal.
  ``P``  (exec) the pid of the process that will execve, as decimal text.
  ``E``  set-up failed; the payload is JSON ``{"step", "errno", "kind", "message"}``
         (``kind`` ``wharf:<class>``: a ``wharf.errors`` kind raised with ``message``).
  ``X``  (a pooled pid 1) the request needs other namespace flags than the slot has, or
         none can take it: the payload is the flags a slot should have, or ``-1``.
Parent (or engine) -> child:
  ``Q``  (to a pooled pid 1, from the engine on its line) the launch request, JSON.
  ``I``  (to a pooled pid 1, with fds) its stdio, or the console socket for a terminal.
  ``M``  the uid/gid maps of the new user namespace are written.
  ``C``  (with fds, SCM_RIGHTS) the cgroups' ``tasks`` files to join, made while the
         child set up its first mounts.
  ``h``  the runtime hooks ran.
  ``S``  start: execve now (when no start fifo is used; a pooled pid 1 may get it from the
         engine, on its line).
"""

from __future__ import annotations

import json
import os
import socket
from typing import Final

from wharf import errors
from wharf.errors import NotFound, PermissionDenied, WharfError
from wharf.runtime import syscalls

__all__ = [
    "CGROUPS",
    "FAILED",
    "HOOKS",
    "HOOKS_DONE",
    "MAPPED",
    "MISMATCH",
    "PID",
    "READY",
    "REQUEST",
    "START",
    "STDIO",
    "ExecutableNotFound",
    "NotExecutable",
    "SetupFailed",
    "SyncChannel",
    "error_from_failure",
    "sync_pair",
]

HOOKS: Final = b"H"
READY: Final = b"R"
PID: Final = b"P"
FAILED: Final = b"E"
MAPPED: Final = b"M"
HOOKS_DONE: Final = b"h"
CGROUPS: Final = b"C"
START: Final = b"S"
REQUEST: Final = b"Q"
MISMATCH: Final = b"X"
STDIO: Final = b"I"

_MAX_MESSAGE: Final = 65536
_MAX_FDS: Final = 32


class ExecutableNotFound(NotFound):
    """``process.args[0]`` does not exist in the container (a shell would exit 127)."""


class NotExecutable(PermissionDenied):
    """``process.args[0]`` exists but cannot be executed (a shell would exit 126)."""


class SetupFailed(WharfError):
    """The child died during set-up without saying why (killed, or crashed)."""


class SyncChannel:
    """One end of the sync socket; see the module docstring for the messages."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def send(self, tag: bytes, payload: bytes = b"") -> None:
        os.write(self.fd, tag + payload)

    def recv(self) -> tuple[bytes, bytes]:
        """The next message as (tag, payload); (b"", b"") when the other end is gone."""
        try:
            data = os.read(self.fd, _MAX_MESSAGE)
        except ConnectionResetError:
            # The other end closed with a message of ours unread: the kernel reports that
            # once, ahead of what it sent before it closed (its failure report). Read on.
            try:
                data = os.read(self.fd, _MAX_MESSAGE)
            except ConnectionResetError:
                data = b""
        return data[:1], data[1:]

    def send_fds(self, tag: bytes, fds: list[int]) -> None:
        """Send ``tag`` with ``fds`` attached (SCM_RIGHTS)."""
        sock = socket.socket(fileno=os.dup(self.fd))
        try:
            socket.send_fds(sock, [tag], fds)
        finally:
            sock.close()

    def recv_fds(self) -> tuple[bytes, list[int]]:
        """The next message's tag and the fds attached to it ((b"", []) at EOF)."""
        tag, _, fds = self.recv_message(_MAX_MESSAGE)
        return tag, fds

    def recv_message(self, size: int) -> tuple[bytes, bytes, list[int]]:
        """The next message (up to ``size`` bytes) as (tag, payload, attached fds);
        (b"", b"", []) at EOF."""
        data: bytes = b""
        fds: list[int] = []
        with socket.socket(fileno=os.dup(self.fd)) as sock:
            for _ in range(2):  # once more after a reset, as in recv()
                try:
                    data, fds, _, _ = socket.recv_fds(sock, size, _MAX_FDS)
                    break
                except ConnectionResetError:
                    continue
        return data[:1], data[1:], fds

    def fail(self, step: str, err: int, kind: str, message: str) -> None:
        """Report a set-up failure (child side)."""
        payload = {"step": step, "errno": err, "kind": kind, "message": message}
        self.send(FAILED, json.dumps(payload).encode())

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def sync_pair() -> tuple[SyncChannel, SyncChannel]:
    """(parent end, child end), both close-on-exec."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    return SyncChannel(a.detach()), SyncChannel(b.detach())


def error_from_failure(payload: bytes, container_id: str) -> WharfError:
    """The error kind for an ``E`` message, with ``step`` and ``errno`` kept as attributes."""
    try:
        failure = json.loads(payload)
        step, err, kind, message = (
            str(failure["step"]),
            int(failure["errno"]),
            str(failure["kind"]),
            str(failure["message"]),
        )
    except (ValueError, KeyError, TypeError):
        return SetupFailed(f"container {container_id}: set-up failed: {payload!r}")
    text = f"container {container_id}: {step}: {message}"
    exc: WharfError
    if kind.startswith("wharf:"):  # a wharf error raised as is (``kind`` is its class name)
        cls = getattr(errors, kind.removeprefix("wharf:"), WharfError)
        exc = (
            cls(message)
            if isinstance(cls, type) and issubclass(cls, WharfError)
            else WharfError(message)
        )
    elif kind == "exec-not-found":
        exc = ExecutableNotFound(text)
    elif kind == "exec-denied":
        exc = NotExecutable(text)
    elif err:
        exc = syscalls.error_from_errno(err, text)
        exc.args = (text,)
    else:
        exc = SetupFailed(text)
    exc.step = step  # type: ignore[attr-defined]
    exc.errno = err  # type: ignore[attr-defined]
    return exc
