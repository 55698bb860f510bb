"""The per-container (and per-exec) monitor: a small process that outlives the engine.

A monitor is a fork of the zygote in its own session, so it is no one's child that dies
with the engine. It:

1. prepares stdio (a pty, or pipes), the cgroup (native containers) and two pipes to talk
   to its child, and launches pid 1: one raw ``clone(2)`` running
   ``wharf.runtime.init.child_main``, or ``runc create`` / ``crun create`` (then it is
   the container's subreaper) -- the launching half, :mod:`._monitor_launch`;
2. answers the engine on the request's reply socket (``{"state": ...}`` or an error
   kind), and keeps that socket as the engine's control session;
3. serves until pid 1 exits: copies output to the json-file log and to attach clients,
   feeds stdin from attach clients, and answers control messages (``start``, ``resize``,
   ``close_stdin``) on the session or on ``control.sock``;
4. once pid 1 has exited and its output has drained, writes ``exit.json`` atomically,
   removes the cgroup, runs the poststop hooks, closes every control connection (the
   engine's ``exit_fd`` is one: its EOF means "exit status on disk"; the engine need not
   wait for this process's own exit, ~1 ms of teardown) and exits.

:func:`run_monitor` does all of it in one process. A warm slot of the zygote's pool
(:mod:`._monitor_slot`) does step 1 with a pid 1 its idle process clones, which plans
and sets itself up, so the set-up's memory (spec, plan, seccomp) is that process's, freed
once pid 1 has exec'd; the long-lived monitor stays near the size of an idle fork.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import select
import selectors
import signal
import socket
import subprocess
import time
import traceback
from collections.abc import Callable
from typing import Any, Final, NoReturn

from wharf.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    WharfError,
)
from wharf.runtime import syscalls
from wharf.runtime._engine_binary import binary_command
from wharf.runtime._engine_io import stdcopy_frame
from wharf.runtime._engine_request import (
    LaunchRequest,
    binary_error,
    error_kind,
)
from wharf.runtime._engine_state import (
    ATTACH_SOCK,
    CONTROL_SOCK,
    EXIT_FILE,
    MONITOR_LOG,
    now_rfc3339,
    process_start_time,
    write_json_atomic,
)
from wharf.runtime._engine_types import ContainerIO
from wharf.runtime._monitor_launch import (
    Client,
    MonitorLaunch,
    PoolLeftover,
    exit_if_clone,
    set_winsize,
)
from wharf.runtime.cgroups import Cgroup, open_cgroup
from wharf.runtime.hooks import run_hooks
from wharf.runtime.sync import START

__all__ = [
    "PoolLeftover",
    "background",
    "drop_spare",
    "pool_hint",
    "run_monitor",
    "wait_readable",
    "warm_up_monitor",
]

_PR_SET_CHILD_SUBREAPER: Final = 36
_DRAIN_SECONDS: Final = 2.0
_REPLY_TIMEOUT: Final = 30.0
_MAX_CLIENT_BUFFER: Final = 8 << 20
_EXEC_REPLAY_LIMIT: Final = 1 << 20


def _nonblock(fd: int) -> None:
    os.set_blocking(fd, False)


class _Monitor(MonitorLaunch):
    """The serving half: I/O, attach, control, exit (launching is the base's)."""

    # -- serve -----------------------------------------------------------------------

    def serve(self, session: socket.socket) -> None:
        """Serve until pid 1 has exited and its output is drained, then :meth:`_finish`.

        Args:
            session: the engine's control session.
        """
        sel = self.sel
        self.serving = True
        if self.leftover is not None:
            pidfd = syscalls.pidfd_open(self.leftover.pid or self.leftover.holder)
            sel.register(pidfd, selectors.EVENT_READ, self._on_reap)
        if self.holder:
            pidfd = syscalls.pidfd_open(self.holder)
            sel.register(pidfd, selectors.EVENT_READ, self._on_holder_exit)
        self._watch()
        if self.stdin_w >= 0:
            _nonblock(self.stdin_w)
        sel.register(self.control, selectors.EVENT_READ, self._on_control_accept)
        sel.register(self.attach, selectors.EVENT_READ, self._on_attach_accept)
        self._add_control(session)
        deadline: float | None = None
        while self.outputs or self.status is None:
            if self.status is not None and deadline is None:
                deadline = time.monotonic() + _DRAIN_SECONDS
                sel.unregister(self.pidfd)
                os.close(self.pidfd)
                self._kill_survivors()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            events = sel.select(timeout)
            if deadline is not None and not events and time.monotonic() >= deadline:
                break
            # Waiting attach connections first: a client that connected before the
            # process started (docker run attaches, then starts) must get all its output.
            events.sort(key=lambda event: event[0].fileobj is not self.attach)
            for key, mask in events:
                callback: Callable[[int, int], None] = key.data
                callback(key.fd, mask)
        self._finish()

    def _watch(self) -> None:
        """Once serving: poll pid 1's pidfd and every output fd not yet watched."""
        if not self.serving:
            return
        if self.pid and self.pidfd < 0:
            self.pidfd = syscalls.pidfd_open(self.pid)
            self.sel.register(self.pidfd, selectors.EVENT_READ, self._on_exit)
        watched = self.sel.get_map()
        for fd in self.outputs:
            if fd not in watched:
                _nonblock(fd)
                self.sel.register(fd, selectors.EVENT_READ, self._on_output)

    def _kill_survivors(self) -> None:
        """Pid 1 has exited: SIGKILL what is left in the container's cgroup. Only a
        container without a pid namespace of its own (``--pid host``, ``container:``) has
        any (the kernel kills the rest of a namespace with its pid 1): they would hold
        its output open for the drain's whole time, and outlive it as runc's do until its
        ``delete``."""
        if self.req.kind == "container" and self.cgroup is not None:
            with contextlib.suppress(WharfError, OSError):
                if self.cgroup.pids():
                    self.cgroup.kill_all(signal.SIGKILL)

    def _on_reap(self, fd: int, mask: int) -> None:
        self.sel.unregister(fd)
        os.close(fd)
        self._reap_leftover()

    def _on_holder_exit(self, fd: int, mask: int) -> None:
        self.sel.unregister(fd)
        os.close(fd)
        self._reap_holder()

    def _reap_holder(self) -> None:
        """Reap the slot's holder (it exits once pid 1 has exec'd; SIGKILL: pid 1 died
        and left it waiting for the GIL)."""
        if self.holder:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.holder, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.holder, 0)
            self.holder = 0

    def _reap_leftover(self) -> None:
        if self.leftover is not None:
            reap_leftover(self.leftover)
            self.leftover = None

    def _on_exit(self, fd: int, mask: int) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1 if self.req.binary else self.pid, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == self.pid:
                self.status = status
        if self.status is None and process_start_time(self.pid) is None:
            self.status = 255 << 8  # not our child (re-parented elsewhere) and gone

    def _on_output(self, fd: int, mask: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: the pty's last slave holder is gone
            data = b""
        if not data:
            self.sel.unregister(fd)
            os.close(fd)
            del self.outputs[fd]
            if fd == self.master:
                self.master = -1
            return
        stream = self.outputs[fd]
        self.log.write(stream, data)
        out = data if self.io.terminal else stdcopy_frame(stream, data)
        if self.replay is not None:
            self.replay += out
            del self.replay[: max(0, len(self.replay) - _EXEC_REPLAY_LIMIT)]
        for client in list(self.clients.values()):
            self._send(client, out)

    # attach clients: live output out, stdin in

    def _on_attach_accept(self, fd: int, mask: int) -> None:
        listener = self.sel.get_key(fd).fileobj
        assert isinstance(listener, socket.socket)
        while True:  # every waiting one, before any output is read
            try:
                sock, _ = listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            client = Client(sock)
            self.clients[sock.fileno()] = client
            self.sel.register(sock, selectors.EVENT_READ, self._on_attach_io)
            if self.replay:
                self._send(client, bytes(self.replay))
            self.replay = None

    def _send(self, client: Client, data: bytes) -> None:
        if not client.out:
            try:
                n = client.sock.send(data)
            except BlockingIOError:
                n = 0
            except OSError:
                self._drop(client)
                return
            data = data[n:]
        if data:
            if len(client.out) + len(data) > _MAX_CLIENT_BUFFER:
                self._drop(client)  # a client that does not read must not stall the container
                return
            client.out += data
            self._update(client)

    def _update(self, client: Client) -> None:
        events = (selectors.EVENT_READ if client.reading else 0) | (
            selectors.EVENT_WRITE if client.out else 0
        )
        fd = client.sock.fileno()
        if events:
            self.sel.modify(fd, events, self._on_attach_io)
        else:
            self.sel.unregister(fd)
            self.sel.register(fd, selectors.EVENT_WRITE, self._on_attach_io)

    def _drop(self, client: Client) -> None:
        fd = client.sock.fileno()
        if self.clients.pop(fd, None) is not None:
            self.sel.unregister(fd)
            client.sock.close()

    def _on_attach_io(self, fd: int, mask: int) -> None:
        client = self.clients[fd]
        if mask & selectors.EVENT_WRITE and client.out:
            try:
                n = client.sock.send(client.out)
                del client.out[:n]
            except BlockingIOError:
                pass
            except OSError:
                self._drop(client)
                return
        if mask & selectors.EVENT_READ and client.reading:
            try:
                data = client.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if data:
                self._feed_stdin(data)
            else:
                client.reading = False
                if self.io.stdin_once:
                    self._close_stdin()
        if not client.reading and not client.out and mask & selectors.EVENT_WRITE:
            pass
        self._update(client)

    def _feed_stdin(self, data: bytes) -> None:
        fd = self.master if self.io.terminal else self.stdin_w
        if fd < 0:
            return
        self.stdin_buf += data
        self._flush_stdin(fd, 0)

    def _flush_stdin(self, fd: int, mask: int) -> None:
        target = self.master if self.io.terminal else self.stdin_w
        if target < 0:
            self.stdin_buf.clear()
            return
        try:
            n = os.write(target, self.stdin_buf)
            del self.stdin_buf[:n]
        except BlockingIOError:
            pass
        except OSError:
            self.stdin_buf.clear()
        if target == self.stdin_w:
            registered = target in self.sel.get_map()
            if self.stdin_buf and not registered:
                self.sel.register(target, selectors.EVENT_WRITE, self._flush_stdin)
            elif not self.stdin_buf and registered:
                self.sel.unregister(target)
                if self.io.stdin_once and not any(c.reading for c in self.clients.values()):
                    self._close_stdin()

    def _close_stdin(self) -> None:
        if self.io.terminal:
            if self.master >= 0:
                with contextlib.suppress(OSError):
                    os.write(self.master, b"\x04")
            return
        if self.stdin_w >= 0 and not self.stdin_buf:
            if self.stdin_w in self.sel.get_map():
                self.sel.unregister(self.stdin_w)
            os.close(self.stdin_w)
            self.stdin_w = -1

    # control: start, resize, close_stdin

    def _add_control(self, sock: socket.socket) -> None:
        sock.setblocking(True)
        self.sel.register(sock, selectors.EVENT_READ, self._on_control)

    def _on_control_accept(self, fd: int, mask: int) -> None:
        listener = self.sel.get_key(fd).fileobj
        assert isinstance(listener, socket.socket)
        with contextlib.suppress(BlockingIOError):
            self._add_control(listener.accept()[0])

    def _on_control(self, fd: int, mask: int) -> None:
        sock = self.sel.get_key(fd).fileobj
        assert isinstance(sock, socket.socket)
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(fd)
            sock.close()
            return
        try:
            reply = self._control(json.loads(data))
        except WharfError as exc:
            reply = {"kind": error_kind(exc), "message": str(exc)}
        except (ValueError, KeyError, TypeError) as exc:
            reply = {"kind": "InvalidArgument", "message": f"control message: {exc}"}
        with contextlib.suppress(OSError):
            sock.send(json.dumps(reply).encode())
        after, self.after_reply = self.after_reply, None
        if after is not None:
            after()

    def _control(self, msg: dict[str, Any]) -> dict[str, Any]:
        op = msg["op"]
        if op == "start":
            self._start(direct=bool(msg.get("direct")))
            return {"ok": True, "started_at": self.started_at}
        if op == "resize":
            if self.master < 0:
                raise FailedPrecondition(f"{self._name()}: has no terminal to resize")
            set_winsize(self.master, int(msg["height"]), int(msg["width"]))
            return {"ok": True}
        if op == "close_stdin":
            self._close_stdin()
            return {"ok": True}
        if op == "ping":
            return {"ok": True}
        raise InvalidArgument(f"control message: unknown op {op!r}")

    def _start(self, *, direct: bool = False) -> None:
        """Start pid 1 (exec: launch the process); ``direct``: the engine has sent pid 1
        its ``START`` itself (on the line, before telling us)."""
        if self.started_at is not None:
            raise Conflict(f"{self._name()}: already started")
        if self.status is not None and not direct:  # direct: it ran, and has exited already
            raise Conflict(f"{self._name()}: cannot start, it has exited")
        if self.req.kind == "exec":
            try:
                if self.req.binary:
                    self._binary_start_exec()
                else:
                    self._exec_launch()
            except WharfError as exc:
                # Nothing runs: record the shell's code for "not found" / "not executable".
                self.status = (126 if isinstance(exc, PermissionDenied) else 127) << 8
                raise
            self.write_state("running")
            return
        if self.req.binary:
            proc = subprocess.run(
                binary_command(
                    self.req.binary, self.req.binary_root, "start", self.req.container_id
                ),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
            if proc.returncode != 0:
                message = proc.stderr.decode(errors="replace").strip()
                raise binary_error(self.req, message or f"start exited with {proc.returncode}")
        else:
            assert self.sync is not None
            if not direct:
                self.sync.send(START)
            self.sync.close()
            self.sync = None
        self.started_at = now_rfc3339()
        if self.status is not None:
            return  # exit.json says the rest
        if not self.poststart:
            # Answer first: the engine knows it started (its reply has started_at), and
            # readers of the state file may see "created" for that long.
            self.after_reply = lambda: self.write_state("running")
            return
        self.write_state("running")
        run_hooks(self.poststart, self._oci_state(self.pid, "running"), point="poststart")

    # -- exit ------------------------------------------------------------------------

    def _finish(self) -> None:
        """Record the exit, tell the engine, clean up (before this process exits).

        The control connections (the engine's session and each ``exit_fd``) are closed
        once ``exit.json`` is on disk and attach clients have their last output: the
        engine's ``delete`` can start meanwhile. The listeners are closed last, once the
        cgroup is gone and poststop hooks have run (runc runs them at delete): ``delete``
        waits for that (a connection refused, or reset), so that a container made right
        after with the same cgroup path is not touched by this process. What is left of a
        slot's spare cgroup (see ``_monitor_slot``) goes after.
        """
        self._record_exit()
        self._flush_clients()
        self._close_controls()
        self._reap_leftover()  # if its exit was not seen yet
        if self.req.kind == "container" and self.cgroup is not None and not self.req.binary:
            with contextlib.suppress(WharfError, OSError):
                self.cgroup.destroy(kill=True)
        if self.poststop:
            try:
                run_hooks(self.poststop, self._oci_state(self.pid, "stopped"), point="poststop")
            except WharfError as exc:  # runc only warns
                os.write(2, f"{self._name()}: {exc}\n".encode())
        # What is left (and this process's exit) is nobody's wait: let the engine's
        # delete, which wakes as the listener closes, have the CPU first.
        background(True, session=True)
        self._stop_listening()
        self._reap_holder()
        if self.spare is not None:
            drop_spare(self.spare)

    def _record_exit(self) -> None:
        """Flush the log, write ``exit.json``."""
        self.log.flush()
        self.log.close()
        status = self.status if self.status is not None else 255 << 8
        code = os.waitstatus_to_exitcode(status)
        oom = self.cgroup is not None and self.req.kind == "container" and _oom_killed(self.cgroup)
        write_json_atomic(
            os.path.join(self.req.state_dir, EXIT_FILE),
            {
                "exit_code": 128 - code if code < 0 else code,
                "signal": -code if code < 0 else 0,
                "oom_killed": oom,
                "finished_at": now_rfc3339(),
            },
        )

    def _stop_listening(self) -> None:
        """Close the listeners and remove their sockets: done with the container. A
        client that connects from now on finds no socket (or is refused); one still in
        the backlog is reset."""
        self.control.close()
        self.attach.close()
        for name in (CONTROL_SOCK, ATTACH_SOCK):
            with contextlib.suppress(FileNotFoundError):  # or the directory is gone
                os.unlink(name, dir_fd=self.state_dir_fd)
        os.close(self.state_dir_fd)

    def _flush_clients(self) -> None:
        """Send attach clients what they have not read yet (within a second), close them."""
        end = time.monotonic() + 1.0
        for client in list(self.clients.values()):
            client.sock.setblocking(True)
            client.sock.settimeout(max(0.01, end - time.monotonic()))
            with contextlib.suppress(OSError):
                client.sock.sendall(client.out)
            client.sock.close()
        self.clients.clear()

    def _close_controls(self) -> None:
        """Close every control connection: EOF is what the engine's ``exit_fd`` waits for."""
        for key in list(self.sel.get_map().values()):
            if key.data == self._on_control:
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                self.sel.unregister(key.fd)
                sock.close()


def _oom_killed(cgroup: Cgroup) -> bool:
    """Whether the OOM killer killed a process of ``cgroup`` (its ``oom_kill`` count; one
    small file, not stats())."""
    if cgroup.version == 1:
        path = f"/sys/fs/cgroup/memory{cgroup.path}/memory.oom_control"
    else:
        path = f"/sys/fs/cgroup{cgroup.path}/memory.events"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    for line in data.splitlines():
        key, _, value = line.partition(b" ")
        if key == b"oom_kill":
            return int(value) > 0
    return False


def _detach(state_dir: str) -> None:
    """Leave the zygote's session (unless already a session leader) and signals; stdin and
    stdout on /dev/null, stderr on ``state_dir/monitor.log``."""
    if os.getsid(0) != os.getpid():
        os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    null = os.open("/dev/null", os.O_RDWR)
    logfd = os.open(
        os.path.join(state_dir, MONITOR_LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
    )
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(logfd, 2)
    os.close(null)
    os.close(logfd)


def _last_defence(me: int, reply: socket.socket, exc: BaseException) -> None:
    """An unexpected exception in a detached process: log it, tell the engine."""
    exit_if_clone(me)
    with contextlib.suppress(BaseException):
        os.write(2, "".join(traceback.format_exception(exc)).encode())
    with contextlib.suppress(BaseException):
        reply.send(json.dumps({"kind": "FailedPrecondition", "message": repr(exc)}).encode())


def _launched(monitor: _Monitor, reply: socket.socket) -> bool:
    """Launch, listen and write the state; on a WharfError answer the engine, False."""
    try:
        monitor.launch()
        monitor.listen()
        monitor.write_state("running" if monitor.started_at else "created")
    except WharfError as exc:
        exit_if_clone(monitor.me)
        reply.send(json.dumps({"kind": error_kind(exc), "message": str(exc)}).encode())
        return False
    return True


def run_monitor(
    req: LaunchRequest, reply: socket.socket, *, leftover: PoolLeftover | None = None
) -> NoReturn:
    """The monitor's whole life (called in the zygote's forked child; never returns).

    Args:
        req: the request.
        reply: the engine's end: the answer, then its control session.
        leftover: for a pool slot that did not take ``req``: its unused pid 1 to reap and
            spare cgroup to remove, and the namespace flags the next slot should have
            (told to the engine with the answer, see :func:`pool_hint`).
    """
    me = os.getpid()
    code = 1
    monitor: _Monitor | None = None
    try:
        _detach(req.state_dir)
        monitor = _Monitor(req)
        monitor.leftover = leftover
        if _launched(monitor, reply):
            answer: dict[str, Any] = {"ok": True, "state": monitor.state}
            if leftover is not None:
                answer["pool"] = pool_hint(leftover.flags, monitor.cgroup)
            reply.send(json.dumps(answer).encode())
            monitor.serve(reply)
            code = 0
    except BaseException as exc:  # the last line of defence of a detached process
        _last_defence(me, reply, exc)
    if monitor is not None:
        monitor._reap_leftover()  # if serving did not (a failed launch)
    elif leftover is not None:
        reap_leftover(leftover)
    os._exit(code)


def pool_hint(flags: int, cgroup: Cgroup | None) -> list[Any]:
    """An answer's ``pool``: what the next slot should be made with, this request's
    namespace flags and cgroup parent (its spare cgroup goes there)."""
    return [flags, posixpath.dirname(cgroup.path) if cgroup is not None else "/"]


def reap_leftover(leftover: PoolLeftover) -> None:
    """Reap the unused pid 1 (if it was cloned) and holder of the slot we came from
    (waits: SIGKILLed, they have exited or soon will), then remove its spare cgroup."""
    for pid in (leftover.pid, leftover.holder):
        if pid:  # 0: no pid 1 was cloned
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    drop_spare(leftover.spare)


def background(idle: bool, *, session: bool = False) -> None:
    """Make a slot (the fork, the clone, the warm-ups: ~13 ms of CPU) at nice 19 (the
    zygote runs so), so that a container starting or exiting beside it gets the CPU;
    serve requests at nice 0; and end (once done with the container) at nice 19 again.

    ``session``: the whole session too, for a monitor's own (``setsid``): with autogroup
    scheduling on, the kernel shares the CPU between sessions first and by nice only
    within one, so a slot's session at nice 0 took as much CPU as the engine's.

    Not SCHED_IDLE: a SCHED_IDLE task preempted inside an RCU read-side section (the
    kernel is preemptible) does not run again while others want the CPU, and the RCU
    grace period a container's pivot_root waits for (the old root's lazy umount) took
    1.6 ms instead of 0.06 (median, measured)."""
    nice = 19 if idle else 0
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    if session:
        with contextlib.suppress(OSError):
            fd = os.open("/proc/self/autogroup", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, b"%d" % nice)
            finally:
                os.close(fd)


def drop_spare(spare: Cgroup) -> None:
    """Remove what is left of a slot's spare cgroup (nothing once a container took it);
    its pid 1 is dead or past its cgroup set-up."""
    with contextlib.suppress(WharfError, OSError):
        spare.destroy(kill=False, timeout=0)


def warm_up_monitor() -> None:
    """Run a monitor's own code paths once on a sample, in an idle pool slot: the pages
    this dirties are pages launching and serving dirty anyway, and no request waits for
    their faults."""
    req = LaunchRequest("container", "warm", "", "/", "/", "/", {}, (), ContainerIO())
    monitor = _Monitor(LaunchRequest.from_json(json.loads(json.dumps(req.to_json()))))
    monitor.cgroup = open_cgroup("/warm")
    monitor.state = {"pid_start": process_start_time(os.getpid()), "started_at": now_rfc3339()}
    json.dumps(monitor.state).encode()
    monitor._oci_state(1, "running")
    _oom_killed(monitor.cgroup)  # 0.2 ms of first-run faults on the way to exit.json
    monitor.sel.close()


def wait_readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` became readable within ``timeout`` seconds."""
    return bool(select.select([fd], [], [], timeout)[0])
