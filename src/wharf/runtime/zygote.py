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

The zygote runs a launch's code paths once on a sample spec before it forks anything, so
the bytecode they specialise and the caches they fill are its pages, shared by every
monitor, not copied into each. A small pool is forked ahead: each member is an idle
monitor that has forked its launcher (:func:`_pool_member`). The zygote sends each
member's socket to the engine, which hands a request straight to its launcher (no hop
through the zygote) and, once the request is answered, asks the zygote for a replacement.
With none ready, the request goes to the zygote, which forks a monitor for it.
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
from wharf.runtime._engine_request import LaunchRequest, warm_up
from wharf.runtime.monitor import adopt, launch_for, run_monitor, warm_up_adopt

__all__ = ["Zygote", "start_zygote"]

_MAX_MESSAGE = 4 << 20


_SPAWN = b"spawn"  # engine -> zygote: fork one more idle monitor and send me its socket
_IDLE = b"idle"  # zygote -> engine: here is an idle monitor's socket (SCM_RIGHTS)
_FORWARD = b"F"  # pool launcher -> its monitor: run this request yourself
_MAX_HANDOFF = 1 << 20  # the hand-off: pids, state, hooks, a slim request
_MAX_HANDOFF_FDS = 16


class Zygote:
    """The engine's handle on its zygote process and on the idle monitors it made.

    Thread-safe: the daemon may create containers from several threads.
    """

    def __init__(self, pid: int, sock: socket.socket, pool_size: int) -> None:
        self.pid = pid
        self._sock = sock
        self._lock = threading.Lock()
        self._pool_size = pool_size
        self._idle: list[socket.socket] = []
        self._pending = pool_size  # the zygote sends the first pool on its own
        self._owed = 0  # idle monitors taken, not yet asked for again

    def _collect(self) -> None:
        """Take every idle-monitor socket the zygote has sent so far (never blocks)."""
        while self._pending:
            try:
                msg, fds, _, _ = socket.recv_fds(self._sock, 64, 1, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            if msg != _IDLE or not fds:
                raise Unavailable(f"runtime zygote (pid {self.pid}): has exited")
            self._pending -= 1
            self._idle.append(socket.socket(fileno=fds[0]))

    def spawn(self, request: LaunchRequest) -> socket.socket:
        """Hand ``request`` to a monitor; returns the engine's end of its reply/control
        session. A warm idle monitor takes it directly (ask the zygote for a replacement
        with :meth:`replenish` once it is answered); with none ready, the zygote forks one
        for it.

        Raises:
            Unavailable: the zygote is gone.
        """
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        data = json.dumps(request.to_json()).encode()
        try:
            with self._lock:
                self._send(data, theirs.fileno())
        except OSError as exc:
            mine.close()
            raise Unavailable(f"runtime zygote (pid {self.pid}): {exc.strerror}") from None
        finally:
            theirs.close()
        return mine

    def _send(self, data: bytes, reply_fd: int) -> None:
        self._collect()
        while self._idle:
            member = self._idle.pop(0)
            try:
                socket.send_fds(member, [data], [reply_fd])
                return
            except OSError:
                continue  # that idle monitor died; try the next
            finally:
                member.close()
                self._owed += 1
        socket.send_fds(self._sock, [data], [reply_fd])

    def replenish(self) -> None:
        """Ask the zygote for the idle monitors that requests have taken. The engine calls
        it once a request is answered: forking and warming up a replacement while a launch
        runs would take CPU from that launch.

        Raises:
            Unavailable: the zygote is gone.
        """
        with self._lock:
            try:
                while self._owed:
                    self._sock.send(_SPAWN)
                    self._owed -= 1
                    self._pending += 1
            except OSError as exc:
                raise Unavailable(f"runtime zygote (pid {self.pid}): {exc.strerror}") from None

    def close(self) -> None:
        """Let the zygote and the idle monitors exit (running monitors and containers
        are not affected)."""
        with self._lock:
            for member in self._idle:
                member.close()
            self._idle.clear()
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
        try:
            parent.close()
            _serve(child, pool_size)
        finally:
            os._exit(1)  # a fork must never unwind into the caller's code (its cleanups)
    child.close()
    return Zygote(pid, parent, pool_size)


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


def _spawn_idle(engine: socket.socket) -> None:
    """Fork an idle pool member (:func:`_pool_member`); send the engine the socket its
    request goes to."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.fork() == 0:
        try:
            engine.close()
            mine.close()
            _pool_member(theirs)
        finally:
            os._exit(0)  # the engine closed us (shutdown), sent garbage, or went away
    theirs.close()
    try:
        socket.send_fds(engine, [_IDLE], [mine.fileno()])
    except OSError:
        os._exit(0)  # the engine is gone: so is the zygote's reason to live
    finally:
        mine.close()


def _pool_member(requests: socket.socket) -> None:
    """An idle monitor M that has forked its launcher L, which takes the request.

    L warms up (its pages, not M's, take the first-touch faults), launches a native
    container with pid 1 cloned as M's child and hands M the pid, the fds and the few
    values M serves with (:func:`~wharf.runtime.monitor.adopt`), answers the engine and
    exits: the set-up's memory (request, plan, seccomp, cgroup writes) dies with L, and
    M, which lives as long as the container, stays as small as an idle fork. Other
    requests (exec, runc-compatible binaries) L forwards to M, which runs them whole.
    Returns only when there is nothing to serve (the engine closed the pool).
    """
    os.setsid()  # a monitor outlives the engine: not in its session
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    launcher = os.fork()
    if launcher == 0:
        mine.close()
        warm_up()
        msg, fds, _, _ = socket.recv_fds(requests, _MAX_MESSAGE, 1)
        launch = _parse(msg, fds) if msg else None
        if launch is None:
            return
        requests.close()
        if launch.kind == "container" and not launch.binary:
            launch_for(launch, socket.socket(fileno=fds[0]), theirs)
        socket.send_fds(theirs, [_FORWARD + msg], fds)
        return
    requests.close()
    theirs.close()
    warm_up_adopt()
    data, fds, _, _ = socket.recv_fds(mine, _MAX_HANDOFF, _MAX_HANDOFF_FDS)
    mine.close()
    if data.startswith(_FORWARD):
        launch = _parse(data[len(_FORWARD) :], fds)
        if launch is not None:
            run_monitor(launch, socket.socket(fileno=fds[0]), reap=launcher)
    elif data:
        adopt(data, fds, launcher=launcher)


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
    # Warm up here, once, then freeze: objects that exist now are never collected, so a
    # monitor's collections do not touch (and copy) the zygote's pages.
    warm_up()
    gc.freeze()
    for _ in range(pool_size):
        _spawn_idle(sock)
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 1)
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)  # the engine is gone
        if msg == _SPAWN:
            _spawn_idle(sock)
            continue
        launch = _parse(msg, fds)
        if launch is not None and os.fork() == 0:
            try:
                sock.close()
                run_monitor(launch, socket.socket(fileno=fds[0]))
            finally:
                os._exit(1)
        for fd in fds:
            os.close(fd)
