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

A small pool of monitors is forked ahead and warmed up (the code paths of a launch run
once on a sample spec, faulting in the pages they touch); a request goes to an idle one
and the zygote forks its replacement after dispatching, off the request's path.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import threading
from typing import Any, NoReturn

from wharf.errors import FailedPrecondition, InvalidArgument, Unavailable
from wharf.runtime.monitor import LaunchRequest, run_monitor, warm_up

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


def start_zygote(*, pool_size: int = 1) -> Zygote:
    """Fork the zygote. Call it first thing, before the caller starts threads.

    Args:
        pool_size: monitors kept forked and warmed up ahead of requests, so a request
            pays neither the fork nor the first-touch page faults of a fresh fork.

    Raises:
        FailedPrecondition: the caller already runs other threads (forking would copy
            their locks in whatever state they are).
        InvalidArgument: a negative pool size.
    """
    if pool_size < 0:
        raise InvalidArgument(f"zygote pool_size {pool_size}: expected >= 0")
    if threading.active_count() > 1:
        raise FailedPrecondition(
            f"runtime zygote: must be started before threads ({threading.active_count()} running)"
        )
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        parent.close()
        _serve(child, pool_size)
    child.close()
    return Zygote(pid, parent)


def _parse(msg: bytes, fds: list[int]) -> LaunchRequest | None:
    """The request in ``msg``; None (after answering on its reply fd) when malformed."""
    try:
        request: dict[str, Any] = json.loads(msg)
        return LaunchRequest.from_json(request)
    except (ValueError, KeyError, TypeError) as exc:
        for fd in fds:
            reply = socket.socket(fileno=fd)
            with contextlib.suppress(OSError):
                reply.send(json.dumps({"kind": "InvalidArgument", "message": str(exc)}).encode())
            reply.close()
        return None


def _spawn_idle(zygote_sock: socket.socket) -> socket.socket:
    """Fork a monitor that warms up, then waits for one request from the zygote."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.fork() == 0:
        zygote_sock.close()
        mine.close()
        warm_up()
        try:
            msg, fds, _, _ = socket.recv_fds(theirs, _MAX_MESSAGE, 1)
        except OSError:
            os._exit(0)
        launch = _parse(msg, fds) if msg else None
        if launch is None:
            os._exit(0)
        theirs.close()
        run_monitor(launch, socket.socket(fileno=fds[0]))
    theirs.close()
    return mine


def _serve(sock: socket.socket, pool_size: int) -> NoReturn:
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
    # Objects that exist now are never collected: a monitor's collections then do not
    # touch (and copy) the zygote's pages.
    gc.freeze()
    idle = [_spawn_idle(sock) for _ in range(pool_size)]
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 1)
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)  # the engine is gone; idle monitors see EOF and exit too
        dispatched = False
        while idle and not dispatched:
            member = idle.pop(0)
            try:
                socket.send_fds(member, [msg], fds)
                dispatched = True
            except OSError:
                pass  # that idle monitor died: try the next, or fork one
            member.close()
        if not dispatched:
            launch = _parse(msg, fds)
            if launch is not None and os.fork() == 0:
                sock.close()
                run_monitor(launch, socket.socket(fileno=fds[0]))
        for fd in fds:
            os.close(fd)
        while len(idle) < pool_size:
            idle.append(_spawn_idle(sock))
