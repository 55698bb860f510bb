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
an idle monitor and the idle process that clones its container's pid 1, warm, in the
namespaces it needs (:mod:`._monitor_slot`). The zygote sends each slot's sockets to the
engine (its monitor's, and a line to that process, then to its pid 1),
which hands a request straight to them (no hop through the zygote) and asks the zygote for
replacements, made as the last answer said (namespace flags, cgroup parent), once the
engine has been quiet for a few ms (a slot made beside a starting container slows it), or
at the latest 0.1 s after the first was taken.
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
from wharf.runtime._engine_request import MAX_REQUEST, LaunchRequest, parse_request, roomy, warm_up
from wharf.runtime._monitor_slot import DEFAULT_FLAGS, DIRECT, SPARE_PREFIX, serve_slot
from wharf.runtime.monitor import background, run_monitor
from wharf.runtime.sync import REQUEST

__all__ = ["SPARE_PREFIX", "Zygote", "start_zygote"]

_TAGS = 16  # room for a tag before a request, within MAX_REQUEST

_SPAWN = b"spawn:"  # engine -> zygote: spawn:FLAGS:CGROUP_PARENT, one more slot
_CLOSE_WAIT = 5.0  # seconds close() waits for the idle slots to go
# A slot taken is remade once the engine has had no request for this long (making one,
# ~13 ms of CPU, beside a container starting slowed it by ~40 %), and at the latest this
# long after it was taken (a steady stream of requests still gets slots).
_QUIET = 0.004
_MAX_DEFER = 0.1
_COLLECT_POLL = 0.1  # seconds between the refill thread's looks at a closing zygote
_IDLE = b"idle"  # zygote -> engine: an idle slot's monitor socket and line (SCM_RIGHTS)


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
        self._idle: list[tuple[socket.socket, socket.socket]] = []  # (monitor, line)
        self._pending = pool_size  # the zygote sends the first pool on its own
        self._refill_at: float | None = None  # when the slots taken are to be remade
        self._owed_since: float | None = None  # since when one is
        self._refiller: threading.Thread | None = None
        self._closed = False

    def _collect(self, wait: float = 0.0) -> None:
        """Take every idle-monitor socket the zygote has sent so far, waiting up to
        ``wait`` seconds for those still on their way."""
        deadline = time.monotonic() + wait
        while self._pending:
            try:
                msg, fds, _, _ = socket.recv_fds(self._sock, 64, 2, socket.MSG_DONTWAIT)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left > 0 and select.select([self._sock], [], [], left)[0]:
                    continue
                return
            if msg != _IDLE or len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                raise Unavailable(f"runtime zygote (pid {self.pid}): has exited")
            self._pending -= 1
            self._idle.append((socket.socket(fileno=fds[0]), socket.socket(fileno=fds[1])))

    def spawn(self, request: LaunchRequest) -> tuple[socket.socket, socket.socket | None]:
        """Hand ``request`` to a monitor; returns the engine's end of its reply/control
        session, and of the line to its pid 1 when a warm slot took a native container's
        request (send ``START`` on it, then tell the monitor), else None.

        A warm idle monitor takes it directly (say what its replacement should be with
        :meth:`replenish` once it is answered), its pid 1 as well; with none ready, the
        zygote forks one for it.

        Raises:
            Unavailable: the zygote is gone.
        """
        data = request.encode()
        if len(data) > MAX_REQUEST - _TAGS:
            raise InvalidArgument(
                f"container {request.container_id}: its request (spec and mounts) is"
                f" {len(data)} bytes, over the {MAX_REQUEST >> 20} MiB limit"
            )
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        native = request.kind == "container" and not request.binary
        try:
            with self._lock:
                line = self._send(data, theirs.fileno(), native)
                self._postpone()  # slots owed are not made while this is served
        except OSError as exc:
            mine.close()
            raise Unavailable(f"runtime zygote (pid {self.pid}): {exc.strerror}") from None
        finally:
            theirs.close()
        return mine, line

    def _send(self, data: bytes, reply_fd: int, native: bool) -> socket.socket | None:
        if not self._idle:  # receiving an fd took up to ~1 ms: only when none is at hand
            self._collect()
        while self._idle:
            monitor, line = self._idle.pop(0)
            direct = False
            if native:
                # Too big for one message, or P is gone: the monitor launches it itself.
                with contextlib.suppress(OSError):
                    line.sendmsg([REQUEST, data])
                    direct = True
            try:
                socket.send_fds(monitor, [DIRECT, data] if direct else [data], [reply_fd])
            except OSError:
                line.close()
                continue  # that idle monitor died; try the next
            finally:
                monitor.close()
            if direct:
                return line
            line.close()
            return None
        socket.send_fds(self._sock, [data], [reply_fd])
        return None

    def replenish(self, flags: int | None = None, cgroup_parent: str | None = None) -> None:
        """Say what the slots that replace those taken should be (an answer's ``pool``:
        the last request's namespace flags and cgroup parent); they are made once the
        engine has had no request for a few ms (:data:`_QUIET`), or at the latest
        :data:`_MAX_DEFER` after the first was taken.

        Args:
            flags: the namespace flags; None or negative: keep those said before.
            cgroup_parent: where their spare cgroups go; None: keep the one said before.
        """
        with self._lock:
            if flags is not None and flags >= 0:
                self._flags = flags
            if cgroup_parent is not None and "\n" not in cgroup_parent:
                self._cgroup_parent = cgroup_parent
            self._owe()

    def busy(self) -> None:
        """The engine is busy with a container (starting, deleting it): slots owed are made
        only once it has been quiet for :data:`_QUIET` again."""
        with self._lock:
            self._postpone()

    def _postpone(self) -> None:
        """(Holding the lock.) Push a refill owed back to :data:`_QUIET` from now."""
        if self._owed_since is not None:
            self._refill_at = min(time.monotonic() + _QUIET, self._owed_since + _MAX_DEFER)

    def _owe(self) -> None:
        """(Holding the lock.) Have the pool topped up once the engine is quiet."""
        if self._closed:
            return
        if self._owed_since is None:
            self._owed_since = time.monotonic()
        self._postpone()
        if self._refiller is None:
            self._refiller = threading.Thread(
                target=self._refill, name="wharf-zygote-refill", daemon=True
            )
            self._refiller.start()
        self._lock.notify()

    def _refill(self) -> None:
        """The refill thread: asks for the slots taken once the engine is quiet, and takes
        in the sockets of slots on their way as the zygote sends them, so that a request
        does not wait for that."""
        while True:
            with self._lock:
                if self._closed:
                    return
                due = self._refill_at
                if due is not None and due <= time.monotonic():
                    self._refill_at = self._owed_since = due = None
                    with contextlib.suppress(Unavailable):  # the next spawn reports it
                        self._top_up()
                if not self._pending:
                    self._lock.wait(None if due is None else due - time.monotonic())
                    continue
                poll = _COLLECT_POLL if due is None else min(_COLLECT_POLL, due - time.monotonic())
            try:  # without the lock: requests go on meanwhile
                ready = select.select([self._sock], [], [], max(0.0, poll))[0]
            except (OSError, ValueError):  # closed meanwhile
                return
            if ready:
                with self._lock, contextlib.suppress(Unavailable, OSError, ValueError):
                    if not self._closed:
                        self._collect()

    def _top_up(self) -> None:
        """(Holding the lock.) Ask for slots up to the pool size."""
        try:
            while len(self._idle) + self._pending < self._pool_size:
                self._sock.send(_SPAWN + f"{self._flags}:{self._cgroup_parent}".encode())
                self._pending += 1
            self._lock.notify()  # the refill thread takes them in
        except OSError as exc:
            raise Unavailable(f"runtime zygote (pid {self.pid}): {exc.strerror}") from None

    def close(self) -> None:
        """Let the zygote and the idle monitors exit, and wait (a few ms) until the idle
        ones have removed their idle process and spare cgroup. Running monitors and containers
        are not affected."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lock.notify()
            with contextlib.suppress(Unavailable):  # then nothing more is on its way
                self._collect(wait=_CLOSE_WAIT)
            for member, line in self._idle:
                line.close()
                with contextlib.suppress(OSError):
                    member.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + _CLOSE_WAIT
            for member, _ in self._idle:
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
    roomy(parent)
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
    its request goes to and the line to its pid 1."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    line, pid1_line = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.fork() == 0:
        try:
            engine.close()
            mine.close()
            line.close()
            os.setsid()  # a monitor outlives the engine: not in its session
            background(True, session=True)  # the zygote's nice 19 is not the session's
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            serve_slot(theirs, pid1_line, flags, cgroup_parent)
        finally:
            os._exit(0)  # the engine closed us (shutdown), sent garbage, or went away
    theirs.close()
    pid1_line.close()
    roomy(mine)  # the engine sends requests on these
    roomy(line)
    try:
        socket.send_fds(engine, [_IDLE], [mine.fileno(), line.fileno()])
    except OSError:
        os._exit(0)  # the engine is gone: so is the zygote's reason to live
    finally:
        mine.close()
        line.close()


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
            msg, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 1)
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
