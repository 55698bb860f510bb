"""The zygote: a small single-threaded process, forked by the engine before it starts any
thread, that forks one monitor per container or exec.

Forking the daemon itself would copy its page tables (tens of ms for a 1 GB daemon) and
risk locks held by other threads; forking the zygote, which has imported everything the
monitors and the cloned children need and resolved every ctypes symbol, costs well under a
millisecond. The engine talks to it over a ``socketpair(SOCK_SEQPACKET)``: each request is
one JSON message (a :class:`~wharf.runtime.monitor.LaunchRequest`) carrying, through
SCM_RIGHTS, one end of a fresh reply socketpair that the monitor answers on and then keeps
as the engine's control session. The zygote never waits for anything: monitors are
reaped automatically (SIGCHLD ignored) and it exits when the engine's end closes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
from typing import Any, NoReturn

from wharf.errors import FailedPrecondition, Unavailable
from wharf.runtime.monitor import LaunchRequest, run_monitor

__all__ = ["Zygote", "start_zygote"]

_MAX_MESSAGE = 4 << 20


class Zygote:
    """The engine's handle on its zygote process."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self._sock = sock
        self._lock = threading.Lock()

    def spawn(self, request: LaunchRequest) -> socket.socket:
        """Ask for a monitor; returns the engine's end of its reply/control session.

        Raises:
            Unavailable: the zygote is gone.
        """
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        data = json.dumps(request.to_json()).encode()
        try:
            with self._lock:
                socket.send_fds(self._sock, [data], [theirs.fileno()])
        except OSError as exc:
            mine.close()
            raise Unavailable(f"runtime zygote (pid {self.pid}): {exc.strerror}") from None
        finally:
            theirs.close()
        return mine

    def close(self) -> None:
        """Let the zygote exit (running monitors and containers are not affected)."""
        self._sock.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def start_zygote() -> Zygote:
    """Fork the zygote. Call it first thing, before the caller starts threads.

    Raises:
        FailedPrecondition: the caller already runs other threads (forking would copy
            their locks in whatever state they are).
    """
    if threading.active_count() > 1:
        raise FailedPrecondition(
            f"runtime zygote: must be started before threads ({threading.active_count()} running)"
        )
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        parent.close()
        _serve(child)
    child.close()
    return Zygote(pid, parent)


def _serve(sock: socket.socket) -> NoReturn:
    # Hold no descriptor of the engine's (listening sockets, pipes of a test harness):
    # monitors inherit ours and outlive the engine.
    keep = sock.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, 65536)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    os.close(null)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 1)
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        try:
            request: dict[str, Any] = json.loads(msg)
            launch = LaunchRequest.from_json(request)
        except (ValueError, KeyError, TypeError) as exc:
            for fd in fds:
                reply = socket.socket(fileno=fd)
                reply.send(json.dumps({"kind": "InvalidArgument", "message": str(exc)}).encode())
                reply.close()
            continue
        if os.fork() == 0:
            sock.close()
            run_monitor(launch, socket.socket(fileno=fds[0]))
        for fd in fds:
            os.close(fd)
