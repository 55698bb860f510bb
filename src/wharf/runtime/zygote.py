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
monitor, not copied into each. A small pool is forked ahead: each member is a warm slot,
an idle monitor with its container's pid 1 already cloned (:mod:`._monitor_slot`). The
zygote sends each slot's socket to the engine, which hands a request straight to it (no
hop through the zygote) and asks the zygote for replacements, made as the last answer
said (namespace flags, cgroup parent), a few ms after a container is deleted if no
request came meanwhile (a slot made beside a starting container slows it), or at once
when no slot is left.
With none ready, the request goes to the zygote, which forks a monitor for it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import signal
import socket
import threading
import time
from typing import NoReturn

from wharf.errors import FailedPrecondition, InvalidArgument, Unavailable
from wharf.runtime._engine_request import LaunchRequest, parse_request, warm_up
from wharf.runtime._monitor_slot import DEFAULT_FLAGS, SPARE_PREFIX, background, serve_slot
from wharf.runtime.monitor import run_monitor

__all__ = ["SPARE_PREFIX", "Zygote", "start_zygote"]

_MAX_MESSAGE = 4 << 20


_SPAWN = b"spawn:"  # engine -> zygote: spawn:FLAGS:CGROUP_PARENT, one more slot
_CLOSE_WAIT = 5.0  # seconds close() waits for the idle slots to go
# A slot taken by a deleted container is remade once the engine has had no request for
# this long: making one (~13 ms of CPU) beside a container starting costs it ~40 %.
_QUIET = 0.004
_IDLE = b"idle"  # zygote -> engine: here is an idle slot's socket (SCM_RIGHTS)


class Zygote:
    """The engine's handle on its zygote process and on the idle monitors it made.

    Thread-safe: the daemon may create containers from several threads.
    """

    def __init__(self, pid: int, sock: socket.socket, pool_size: int) -> None:
        self.pid = pid
        self._sock = sock
        self._lock = threading.Condition()
        self._pool_size = pool_size
        self._flags = DEFAULT_FLAGS  # the namespace flags of the slots asked for next
        self._cgroup_parent = "/"  # and where their spare cgroups go
        self._idle: list[socket.socket] = []
        self._pending = pool_size  # the zygote sends the first pool on its own
        self._refill_at: float | None = None  # when the slots taken are to be remade
        self._refiller: threading.Thread | None = None
        self._closed = False

    def _collect(self, wait: float = 0.0) -> None:
        """Take every idle-monitor socket the zygote has sent so far, waiting up to
        ``wait`` seconds for those still on their way."""
        deadline = time.monotonic() + wait
        while self._pending:
            try:
                msg, fds, _, _ = socket.recv_fds(self._sock, 64, 1, socket.MSG_DONTWAIT)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left > 0 and select.select([self._sock], [], [], left)[0]:
                    continue
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
        data = request.encode()
        try:
            with self._lock:
                if self._refill_at is not None:  # not while this request is served
                    self._refill_at = time.monotonic() + _QUIET
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
        socket.send_fds(self._sock, [data], [reply_fd])

    def replenish_later(self) -> None:
        """Ask the zygote for the idle slots that requests have taken once the engine has
        had no request for a few ms (a container is deleted: its slot is to be remade).
        Making a slot (a fork, a clone, their warm-ups: ~13 ms of CPU) beside a container
        starting slows it by ~40 %, even at low priority."""
        with self._lock:
            if self._closed:
                return
            self._refill_at = time.monotonic() + _QUIET
            if self._refiller is None:
                self._refiller = threading.Thread(
                    target=self._refill, name="wharf-zygote-refill", daemon=True
                )
                self._refiller.start()
            self._lock.notify()

    def _refill(self) -> None:
        with self._lock:
            while not self._closed:
                due = self._refill_at
                if due is None or due > time.monotonic():
                    self._lock.wait(None if due is None else due - time.monotonic())
                    continue
                self._refill_at = None
                with contextlib.suppress(Unavailable):  # the next spawn reports it
                    self._top_up()

    def replenish(
        self,
        flags: int | None = None,
        cgroup_parent: str | None = None,
        *,
        only_if_empty: bool = False,
    ) -> None:
        """Ask the zygote for the idle slots that requests have taken, now.

        The engine asks right after an answer, only when no slot is left
        (``only_if_empty``); otherwise :meth:`replenish_later`.

        Args:
            flags: the namespace flags the answer said the next slot should have (the
                last request's); None or negative: keep those asked for before.
            cgroup_parent: the cgroup the answer said the next slot should make its spare
                cgroup in (the last request's parent); None: keep the one before.
            only_if_empty: ask only if no slot is idle or on its way.

        Raises:
            Unavailable: the zygote is gone.
        """
        with self._lock:
            if flags is not None and flags >= 0:
                self._flags = flags
            if cgroup_parent is not None and "\n" not in cgroup_parent:
                self._cgroup_parent = cgroup_parent
            self._collect()
            if only_if_empty and (self._idle or self._pending):
                return
            self._top_up()

    def _top_up(self) -> None:
        """(Holding the lock.) Ask for slots up to the pool size."""
        try:
            while len(self._idle) + self._pending < self._pool_size:
                self._sock.send(_SPAWN + f"{self._flags}:{self._cgroup_parent}".encode())
                self._pending += 1
        except OSError as exc:
            raise Unavailable(f"runtime zygote (pid {self.pid}): {exc.strerror}") from None

    def close(self) -> None:
        """Let the zygote and the idle monitors exit, and wait (a few ms) until the idle
        ones have removed their pid 1 and spare cgroup. Running monitors and containers
        are not affected."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lock.notify()
            with contextlib.suppress(Unavailable):  # then nothing more is on its way
                self._collect(wait=_CLOSE_WAIT)
            for member in self._idle:
                with contextlib.suppress(OSError):
                    member.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + _CLOSE_WAIT
            for member in self._idle:
                # Its EOF: the slot has cleaned up and exited.
                select.select([member], [], [], max(0.0, deadline - time.monotonic()))
                member.close()
            self._idle.clear()
            self._sock.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def start_zygote(*, pool_size: int = 2) -> Zygote:
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


def _spawn_idle(engine: socket.socket, flags: int, cgroup_parent: str) -> None:
    """Fork an idle slot (:func:`~._monitor_slot.serve_slot`); send the engine the socket
    its request goes to."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.fork() == 0:
        try:
            engine.close()
            mine.close()
            os.setsid()  # a monitor outlives the engine: not in its session
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            serve_slot(theirs, flags, cgroup_parent)
        finally:
            os._exit(0)  # the engine closed us (shutdown), sent garbage, or went away
    theirs.close()
    try:
        socket.send_fds(engine, [_IDLE], [mine.fileno()])
    except OSError:
        os._exit(0)  # the engine is gone: so is the zygote's reason to live
    finally:
        mine.close()


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
    background(True)  # its forks are slots, made with spare CPU time only
    for _ in range(pool_size):
        _spawn_idle(sock, DEFAULT_FLAGS, "/")
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 1)
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)  # the engine is gone
        if msg.startswith(_SPAWN):
            flags, _, parent = msg[len(_SPAWN) :].decode(errors="replace").partition(":")
            with contextlib.suppress(ValueError):
                _spawn_idle(sock, int(flags), parent or "/")
            continue
        launch = parse_request(msg, fds)
        if launch is not None and os.fork() == 0:
            try:
                sock.close()
                background(False)  # a request waits for this one
                run_monitor(launch, socket.socket(fileno=fds[0]))
            finally:
                os._exit(1)
        for fd in fds:
            os.close(fd)
