"""The engine-facing runtime interface, and ``WharfRuntime``, its native fast path.

The daemon codes against :class:`Runtime`. Two implementations:

- :class:`WharfRuntime` (here): containers made by the zygote's monitors with one raw
  ``clone(2)`` each; no fork of the daemon per container.
- :class:`wharf.runtime.runc.OCIBinaryRuntime`: any runc-compatible binary (runc, crun),
  behind the same monitors, so logs, attach and exit status work the same.

Model. Every container has a state directory ``<state_root>/<id>/`` and a monitor process
that owns its stdio, writes its json-file log, serves ``attach.sock`` and ``control.sock``
and, when pid 1 exits, writes ``exit.json`` and exits. Monitors are in their own session
and are not killed with the engine: after a SIGKILL of the daemon, a new ``WharfRuntime``
on the same ``state_root`` finds every container with :meth:`Runtime.list`, and can signal,
exec into, attach to and delete them. ``exit_fd`` is a connection to the monitor's control
socket that the monitor closes once the exit status is on disk (before its own exit and
clean-up), or its pidfd when it is exiting; either way "readable" means "exited, and the
exit status is on disk".

Docker's order works unchanged: ``create`` (pid 1 set up, waiting before execve), connect
to ``attach_path``, ``start``; for exec, ``exec(..., start=False)``, connect to
``exec_attach_path``, ``exec_start``. Errors are Wharf's kinds: ``NotFound`` for a missing
``args[0]`` (the daemon's exit 127), ``PermissionDenied`` for a non-executable one (126),
``InvalidArgument`` naming the spec field, ``Conflict`` for a wrong state; a failed
``create`` or ``exec`` leaves no state directory, cgroup, mount or process behind.

Usage (the daemon, first thing, before threads)::

    zygote = start_zygote()          # forks; keeps a warm monitor ready
    runtime = WharfRuntime("/run/wharf/runtime", zygote=zygote)
    runtime.create("c1", bundle_dir=..., spec=spec, rootfs=mounts, io=ContainerIO(...))
    runtime.start("c1")
    loop.add_reader(runtime.exit_fd("c1"), on_exit)   # then state("c1").exit_code
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Sequence
from typing import Any, Protocol

from wharf.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, Unavailable, WharfError
from wharf.mount import Mount
from wharf.runtime import syscalls
from wharf.runtime._engine_request import ERROR_KINDS, LaunchRequest
from wharf.runtime._engine_state import (
    ATTACH_SOCK,
    CONTROL_SOCK,
    EXIT_FILE,
    STATE_FILE,
    SocketDirs,
    check_id,
    process_start_time,
    read_json,
    remove_state_dir,
)
from wharf.runtime._engine_types import ContainerIO, ContainerState, ExecState, Status
from wharf.runtime.cgroups import Cgroup, CgroupStats, FreezerState, Resources, open_cgroup
from wharf.runtime.config import plan_process
from wharf.runtime.monitor import wait_readable
from wharf.runtime.spec import Process
from wharf.runtime.sync import START
from wharf.runtime.zygote import SPARE_PREFIX, Zygote, start_zygote

__all__ = [
    "SPARE_PREFIX",
    "CgroupStats",
    "ContainerIO",
    "ContainerState",
    "ExecState",
    "MonitoredRuntime",
    "Runtime",
    "WharfRuntime",
    "Zygote",
    "start_zygote",
]

_REPLY_TIMEOUT = 60.0
_DELETE_TIMEOUT = 10.0
_NOT_LISTENING = -2  # _connect_exit: the monitor no longer listens


class Runtime(Protocol):
    """What the daemon needs from a container runtime (ours, runc or crun)."""

    def create(
        self,
        container_id: str,
        *,
        bundle_dir: str,
        spec: dict[str, Any],
        rootfs: Sequence[Mount],
        io: ContainerIO,
    ) -> ContainerState: ...
    def start(self, container_id: str) -> None: ...
    def state(self, container_id: str) -> ContainerState: ...
    def list(self) -> list[ContainerState]: ...
    def kill(self, container_id: str, signal: int, *, all: bool = False) -> None: ...
    def pause(self, container_id: str) -> None: ...
    def resume(self, container_id: str) -> None: ...
    def delete(self, container_id: str, *, force: bool = False) -> None: ...
    def update(self, container_id: str, resources: dict[str, Any]) -> None: ...
    def stats(self, container_id: str) -> CgroupStats: ...
    def exit_fd(self, container_id: str) -> int: ...
    def attach_path(self, container_id: str) -> str: ...
    def resize(self, container_id: str, height: int, width: int) -> None: ...
    def exec(
        self,
        container_id: str,
        exec_id: str,
        *,
        process: dict[str, Any],
        io: ContainerIO,
        start: bool = True,
    ) -> ExecState: ...
    def exec_start(self, container_id: str, exec_id: str) -> None: ...
    def exec_state(self, container_id: str, exec_id: str) -> ExecState: ...
    def exec_exit_fd(self, container_id: str, exec_id: str) -> int: ...
    def exec_attach_path(self, container_id: str, exec_id: str) -> str: ...
    def exec_delete(self, container_id: str, exec_id: str) -> None: ...
    def exec_resize(self, container_id: str, exec_id: str, height: int, width: int) -> None: ...
    def close(self) -> None: ...


def _raise_reply(reply: dict[str, Any]) -> None:
    if "kind" in reply:
        raise ERROR_KINDS.get(reply["kind"], WharfError)(reply["message"])


def _cgroup(state: dict[str, Any]) -> Cgroup | None:
    return open_cgroup(state["cgroup"]) if state.get("cgroup") else None


def _cgroup_of(container_id: str, state: dict[str, Any]) -> Cgroup:
    cgroup = _cgroup(state)
    if cgroup is None:
        raise NotFound(f"container {container_id}: has no cgroup")
    return cgroup


def _frozen(state: dict[str, Any]) -> bool:
    cgroup = _cgroup(state)
    try:
        return cgroup is not None and cgroup.state() is not FreezerState.THAWED
    except (WharfError, OSError):
        return False


def _exited_fd() -> int:
    """An fd that is already readable (EOF): for monitors that have already exited."""
    r, w = os.pipe()
    os.close(w)
    return r


class MonitoredRuntime:
    """What both runtimes share: state directories, monitors, sessions, exec, attach."""

    binary = ""

    def __init__(self, state_root: str, *, zygote: Zygote | None = None) -> None:
        """
        Args:
            state_root: directory for the containers' state (created if missing); any
                length (long socket paths are reached through ``/proc/PID/fd``, so an
                :meth:`attach_path` is valid in this process's lifetime).
            zygote: the daemon's zygote, or None to start one here (a fork of the
                caller); :meth:`close` closes it either way.
        """
        self.state_root = os.path.abspath(state_root)
        os.makedirs(self.state_root, mode=0o711, exist_ok=True)
        self._zygote = zygote if zygote is not None else start_zygote()
        self._sessions: dict[str, socket.socket] = {}
        self._lines: dict[str, socket.socket] = {}  # to pid 1s created here, until started
        self._socket_dirs = SocketDirs()
        self._started: dict[str, str | None] = {}  # started here: started_at

    def close(self) -> None:
        """Close control sessions and the zygote (its idle slots go; containers and their
        monitors keep running)."""
        for sock in [*self._sessions.values(), *self._lines.values()]:
            sock.close()
        self._sessions.clear()
        self._lines.clear()
        self._socket_dirs.close()
        self._zygote.close()

    # -- paths and on-disk state ---------------------------------------------------------

    def _dir(self, container_id: str, exec_id: str = "") -> str:
        check_id("container", container_id)
        base = os.path.join(self.state_root, container_id)
        return os.path.join(base, "exec", check_id("exec", exec_id)) if exec_id else base

    def _load(self, container_id: str, exec_id: str = "") -> tuple[str, dict[str, Any]]:
        d = self._dir(container_id, exec_id)
        state = read_json(os.path.join(d, STATE_FILE))
        if state is None:
            what = f"exec {exec_id} in container {container_id}" if exec_id else container_id
            raise NotFound(
                f"container {what}: no such container or exec"
                if exec_id
                else f"container {what}: no such container"
            )
        return d, state

    @staticmethod
    def _monitor_alive(state: dict[str, Any]) -> bool:
        pid = int(state.get("monitor_pid", 0))
        return bool(pid) and process_start_time(pid) == state.get("monitor_start")

    @staticmethod
    def _pid_alive(state: dict[str, Any]) -> bool:
        pid = int(state.get("pid", 0))
        return bool(pid) and process_start_time(pid) == state.get("pid_start")

    def _request(
        self, req: LaunchRequest
    ) -> tuple[socket.socket, dict[str, Any], socket.socket | None]:
        """Launch ``req``; returns the control session, the state its monitor answered
        and the line to its pid 1 (:meth:`Zygote.spawn`)."""
        session, line = self._zygote.spawn(req)
        reply: dict[str, Any] = {}
        try:
            session.settimeout(_REPLY_TIMEOUT)
            data = session.recv(1 << 20)
            if not data:
                raise Unavailable(f"monitor for {req.container_id}: exited without a reply")
            reply = json.loads(data)
            _raise_reply(reply)
        except BaseException:
            session.close()
            if line is not None:
                line.close()
            raise
        finally:
            flags, parent = reply.get("pool") or (None, None)
            self._zygote.replenish(flags, parent)
        session.settimeout(None)
        return session, reply["state"], line

    def _control(self, d: str, key: str, msg: dict[str, Any]) -> dict[str, Any]:
        """Send one control message to the monitor of ``d``; reconnects after re-adoption."""
        sock = self._sessions.get(key)
        for attempt in (0, 1):
            if sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                try:
                    sock.connect(self._socket_dirs.address(d, CONTROL_SOCK))
                except (FileNotFoundError, ConnectionRefusedError):
                    sock.close()
                    raise Conflict(f"{key}: its monitor has exited") from None
                self._sessions[key] = sock
            try:
                sock.send(json.dumps(msg).encode())
                data = sock.recv(1 << 16)
            except OSError:
                data = b""
            if data:
                reply: dict[str, Any] = json.loads(data)
                _raise_reply(reply)
                return reply
            sock.close()
            del self._sessions[key]
            sock = None
            if attempt:
                break
        raise Conflict(f"{key}: its monitor has exited")

    # -- containers ----------------------------------------------------------------------

    def _prepare(
        self,
        container_id: str,
        bundle_dir: str,
        spec: dict[str, Any],
        rootfs: Sequence[Mount],
        io: ContainerIO,
    ) -> dict[str, Any]:
        """The spec to launch: ``process.terminal`` and ``consoleSize`` from ``io``; with
        rootfs Mounts, ``root.path`` is a directory in the container's state dir that they
        are mounted on (inside its mount namespace). The monitor validates it."""
        process = spec.get("process")
        if not isinstance(process, dict):
            raise InvalidArgument("process: expected an object")
        process = {**process, "terminal": io.terminal}  # copies: the caller's spec stays
        spec = {**spec, "process": process}
        if io.console_size:
            process["consoleSize"] = {"height": io.console_size[0], "width": io.console_size[1]}
        if rootfs:
            target = os.path.join(self._dir(container_id), "rootfs")
            os.makedirs(target, exist_ok=True)
            spec["root"] = {**(spec.get("root") or {}), "path": target}
        return spec

    def _unprepare(self, container_id: str, bundle: str) -> None:
        """Undo :meth:`_prepare`'s side effects (hook for the binary runtime)."""

    def create(
        self,
        container_id: str,
        *,
        bundle_dir: str,
        spec: dict[str, Any],
        rootfs: Sequence[Mount],
        io: ContainerIO,
    ) -> ContainerState:
        """Create the container; returns once pid 1 is set up and waits before execve.

        Raises:
            InvalidArgument: a malformed spec field, id or io option (named).
            NotFound: the rootfs, a mount source or ``args[0]`` does not exist (exit 127).
            PermissionDenied: ``args[0]`` is not executable (exit 126).
            AlreadyExists: a container with this id exists.
        """
        d = self._dir(container_id)
        try:
            os.mkdir(d, 0o711)
        except FileExistsError:
            raise AlreadyExists(f"container {container_id}: already exists") from None
        try:
            if io.log_path:
                os.makedirs(os.path.dirname(os.path.abspath(io.log_path)), exist_ok=True)
            launch_spec = self._prepare(container_id, bundle_dir, spec, rootfs, io)
            req = LaunchRequest(
                kind="container",
                container_id=container_id,
                exec_id="",
                state_dir=d,
                container_dir=d,
                bundle_dir=os.path.abspath(bundle_dir),
                spec=launch_spec,
                rootfs_mounts=tuple(rootfs) if not self.binary else (),
                io=io,
                binary=self.binary,
                binary_root=os.path.join(self.state_root, ".binary"),
            )
            session, state, line = self._request(req)
        except BaseException:
            self._unprepare(container_id, os.path.abspath(bundle_dir))
            shutil.rmtree(d, ignore_errors=True)
            raise
        self._sessions[container_id] = session
        if line is not None:
            self._lines[container_id] = line
        return self._container_state(container_id, d, state, answered=True)

    def start(self, container_id: str) -> None:
        """Let pid 1 execve; returns once its monitor knows (it records the start).

        Pid 1 created here is told straight on its line, then its monitor (``direct``);
        otherwise the monitor tells it."""
        self._zygote.busy()
        if container_id in self._sessions:  # created here: no need to read its state
            d = self._dir(container_id)
        else:
            d, _ = self._load(container_id)
        msg: dict[str, Any] = {"op": "start"}
        line = self._lines.pop(container_id, None)
        if line is not None:
            with line, contextlib.suppress(OSError):  # pid 1 is gone: the monitor says so
                line.send(START)
                msg["direct"] = True
        try:
            reply = self._control(d, container_id, msg)
        except WharfError:
            if "direct" in msg:
                if os.path.exists(os.path.join(d, EXIT_FILE)):
                    # It ran and exited, and its monitor finished, before reading "start".
                    self._started[container_id] = None
                    return
                with contextlib.suppress(WharfError, OSError):  # nothing would log it
                    self.kill(container_id, signal.SIGKILL, all=True)
            raise
        # The monitor answers before it records "running" on disk: until it has, this is
        # what the state says.
        self._started[container_id] = reply.get("started_at")

    def _container_state(
        self, container_id: str, d: str, state: dict[str, Any], *, answered: bool = False
    ) -> ContainerState:
        """The state from ``state`` (state.json), ``exit.json`` and /proc; ``answered``:
        the monitor has just answered with ``state`` (alive, nothing exited: no reads)."""
        exit_info = None if answered else read_json(os.path.join(d, EXIT_FILE))
        monitor_alive = answered or self._monitor_alive(state)
        error = ""
        status: Status
        if exit_info is not None:
            status = "stopped"
        elif not monitor_alive and not self._pid_alive(state):
            status, error = "stopped", "the monitor exited without recording an exit status"
        else:
            status = state.get("status", "created")
            if status == "created" and container_id in self._started:
                status = "running"
                state = {**state, "started_at": self._started[container_id]}
            if not monitor_alive:
                error = "the monitor has exited; output is no longer logged"
            if status == "running" and _frozen(state):
                status = "paused"
        return ContainerState(
            id=container_id,
            status=status,
            pid=0 if status == "stopped" else int(state.get("pid", 0)),
            exit_code=exit_info["exit_code"] if exit_info else None,
            oom_killed=bool(exit_info and exit_info.get("oom_killed")),
            started_at=state.get("started_at"),
            finished_at=exit_info["finished_at"] if exit_info else None,
            error=error,
            monitor_pid=int(state["monitor_pid"]) if monitor_alive else 0,
        )

    def state(self, container_id: str) -> ContainerState:
        """The container's state, read from disk and /proc (no monitor round trip)."""
        d, state = self._load(container_id)
        return self._container_state(container_id, d, state)

    def list(self) -> list[ContainerState]:
        """Every container under the state root, running or not (re-adoption)."""
        out = []
        for name in sorted(os.listdir(self.state_root)):
            if name.startswith(".") or not os.path.isdir(os.path.join(self.state_root, name)):
                continue
            with contextlib.suppress(NotFound, InvalidArgument):
                out.append(self.state(name))
        return out

    def _running(self, container_id: str, verb: str) -> tuple[str, dict[str, Any]]:
        d, state = self._load(container_id)
        st = self._container_state(container_id, d, state)
        if st.status == "stopped":
            raise Conflict(f'container {container_id}: cannot {verb}, state is "stopped"')
        return d, state

    def kill(self, container_id: str, signal: int, *, all: bool = False) -> None:
        """Send ``signal`` to pid 1 (or, with ``all``, to every process of the container).

        Raises:
            Conflict: the container is stopped.
            InvalidArgument: ``signal`` is not a signal number.
        """
        if not 0 < signal < 65:
            raise InvalidArgument(f"signal {signal}: expected a number from 1 to 64")
        _, state = self._running(container_id, "kill")
        pids = [int(state["pid"])]
        cgroup = _cgroup(state)
        if all and cgroup is not None:
            pids = cgroup.pids() or pids
        for pid in pids:
            try:
                fd = syscalls.pidfd_open(pid)
            except WharfError:
                continue
            try:
                if pid != int(state["pid"]) or process_start_time(pid) == state["pid_start"]:
                    syscalls.pidfd_send_signal(fd, signal)
            except WharfError as exc:
                if getattr(exc, "errno", 0) != errno.ESRCH:
                    raise
            finally:
                os.close(fd)
        if signal == 9 and _frozen(state) and cgroup is not None:
            cgroup.thaw()  # frozen tasks die only once thawed

    def pause(self, container_id: str) -> None:
        _, state = self._running(container_id, "pause")
        _cgroup_of(container_id, state).freeze()

    def resume(self, container_id: str) -> None:
        _, state = self._running(container_id, "resume")
        _cgroup_of(container_id, state).thaw()

    def delete(self, container_id: str, *, force: bool = False) -> None:
        """Remove the container's state, cgroup and monitor.

        A created (never started) container is killed; a running one only with ``force``.

        Raises:
            Conflict: it is running or paused and ``force`` is false.
        """
        self._zygote.busy()
        d, state = self._load(container_id)
        st = self._container_state(container_id, d, state)
        if st.status in ("running", "paused") and not force:
            raise Conflict(
                f'container {container_id}: cannot delete, state is "{st.status}" '
                "(stop it first or force)"
            )
        if st.status != "stopped":
            self.kill(container_id, 9, all=True)
        if st.monitor_pid and not self._wait_done(d, state, _DELETE_TIMEOUT):
            raise Conflict(f"container {container_id}: its monitor did not exit")
        for sock in [k for k in self._sessions if k == container_id or k.startswith(f"{d}/")]:
            self._sessions.pop(sock).close()
        line = self._lines.pop(container_id, None)
        if line is not None:
            line.close()
        self._socket_dirs.forget(d)
        self._started.pop(container_id, None)
        self._unprepare(container_id, state.get("bundle", ""))
        cgroup = _cgroup(state)
        if cgroup is not None and cgroup.exists():
            cgroup.destroy(kill=True)
        remove_state_dir(d)

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """Change the running container's cgroup limits (OCI ``linux.resources`` shape)."""
        _, state = self._running(container_id, "update")
        _cgroup_of(container_id, state).update(Resources.from_spec(resources))

    def stats(self, container_id: str) -> CgroupStats:
        _, state = self._running(container_id, "read stats of")
        return _cgroup_of(container_id, state).stats()

    def _connect_exit(self, d: str) -> int:
        """A connection to the monitor's control socket: it sends nothing, and the monitor
        closes it once ``exit.json`` is on disk (or dies), so EOF is "exited"; one it has
        not accepted by then is reset once it stops listening. Else :data:`_NOT_LISTENING`
        (the socket is gone or refused: the monitor stops listening only once done with
        the container, or it died) or -1 (a full backlog)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_NONBLOCK)
        try:
            sock.connect(self._socket_dirs.address(d, CONTROL_SOCK))
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            return _NOT_LISTENING
        except OSError:  # EAGAIN
            sock.close()
            return -1
        return sock.detach()

    @staticmethod
    def _unless_recorded(d: str, fd: int) -> int:
        """``fd``, a connection to the monitor; or, if the exit is already on disk (the
        monitor then accepts no more, and only resets the connection once it is done), an
        fd already readable."""
        if not os.path.exists(os.path.join(d, EXIT_FILE)):
            return fd
        os.close(fd)
        return _exited_fd()

    def _exit_fd(self, d: str, state: dict[str, Any]) -> int:
        """:meth:`_connect_exit`; when it cannot connect: an fd already readable if
        ``exit.json`` exists or the monitor is gone, else (a full backlog) the monitor's
        pidfd."""
        fd = self._connect_exit(d)
        if fd >= 0:
            return self._unless_recorded(d, fd)
        if fd == _NOT_LISTENING or os.path.exists(os.path.join(d, EXIT_FILE)):
            return _exited_fd()
        return self._monitor_exit_fd(state)

    def _monitor_exit_fd(self, state: dict[str, Any]) -> int:
        """The monitor's pidfd; an fd already readable if it is gone."""
        if not self._monitor_alive(state):
            return _exited_fd()
        try:
            fd = syscalls.pidfd_open(int(state["monitor_pid"]))
        except WharfError:
            return _exited_fd()
        if not self._monitor_alive(state):  # the pid was recycled between the two checks
            os.close(fd)
            return _exited_fd()
        return fd

    def _wait_done(self, d: str, state: dict[str, Any], timeout: float) -> bool:
        """Wait until the monitor is done with the container: it stops listening once the
        exit is recorded, the cgroup removed and poststop hooks run (not waiting for its
        own exit spares a delete ~0.6 ms, its interpreter's teardown); with a full backlog,
        until it exits. False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            fd = self._connect_exit(d)
            if fd == _NOT_LISTENING:
                return True
            connected = fd >= 0
            if not connected:
                fd = self._monitor_exit_fd(state)
            try:
                if not wait_readable(fd, max(0.0, deadline - time.monotonic())):
                    return False
            finally:
                os.close(fd)
            if not connected:
                return True

    def exit_fd(self, container_id: str) -> int:
        """An fd that becomes readable once the container has exited and its exit status
        is on disk (EOF of a connection to its monitor, or the monitor's pidfd). The
        caller closes it; it is never read."""
        d = self._dir(container_id)
        fd = self._connect_exit(d)  # no state read when it can
        return self._unless_recorded(d, fd) if fd >= 0 else self._exit_fd(*self._load(container_id))

    def attach_path(self, container_id: str) -> str:
        return self._socket_dirs.address(self._dir(container_id), ATTACH_SOCK)

    def resize(self, container_id: str, height: int, width: int) -> None:
        d, _ = self._load(container_id)
        self._control(d, container_id, {"op": "resize", "height": height, "width": width})

    # -- exec ------------------------------------------------------------------------------

    def exec(
        self,
        container_id: str,
        exec_id: str,
        *,
        process: dict[str, Any],
        io: ContainerIO,
        start: bool = True,
    ) -> ExecState:
        """Run ``process`` (an OCI ``process`` object) inside the running container, in
        its namespaces and cgroup.

        With ``start`` false the process waits (set up, before execve) until
        :meth:`exec_start`, so an attach client can connect first, as ``docker exec``
        does. Output goes to attach clients only (the first one also gets what was
        printed before it connected, up to 1 MiB); ``io.log_path`` is normally empty.

        Raises:
            Conflict: the container is not running.
            NotFound / PermissionDenied: ``args[0]`` is missing / not executable.
            AlreadyExists: an exec with this id exists.
        """
        cd, _ = self._running(container_id, "exec")
        if not isinstance(process, dict):
            raise InvalidArgument("process: expected an object")
        process = {**process, "terminal": io.terminal}
        if io.console_size:
            process["consoleSize"] = {"height": io.console_size[0], "width": io.console_size[1]}
        plan_process(Process.from_process_json(process))
        d = self._dir(container_id, exec_id)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        try:
            os.mkdir(d, 0o711)
        except FileExistsError:
            raise AlreadyExists(
                f"exec {exec_id} in container {container_id}: already exists"
            ) from None
        req = LaunchRequest(
            kind="exec",
            container_id=container_id,
            exec_id=exec_id,
            state_dir=d,
            container_dir=cd,
            bundle_dir="",
            spec={"process": process},
            rootfs_mounts=(),
            io=io,
            binary=self.binary,
            binary_root=os.path.join(self.state_root, ".binary"),
            start_now=start,
        )
        try:
            session, state, line = self._request(req)
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise
        if line is not None:  # only a container's pid 1 has one
            line.close()
        self._sessions[d] = session
        return self._exec_state(container_id, exec_id, d, state)

    def _exec_state(
        self, container_id: str, exec_id: str, d: str, state: dict[str, Any]
    ) -> ExecState:
        exit_info = read_json(os.path.join(d, EXIT_FILE))
        alive = self._monitor_alive(state)
        return ExecState(
            container_id=container_id,
            exec_id=exec_id,
            pid=int(state["pid"]),
            running=exit_info is None and (alive or self._pid_alive(state)),
            exit_code=exit_info["exit_code"] if exit_info else None,
            started_at=state.get("started_at"),
            finished_at=exit_info["finished_at"] if exit_info else None,
            monitor_pid=int(state["monitor_pid"]) if alive else 0,
        )

    def exec_start(self, container_id: str, exec_id: str) -> None:
        """Let an exec created with ``start=False`` execve; returns once it has.

        Raises:
            NotFound / PermissionDenied: its ``args[0]`` (runc and crun report it here).
            Conflict: it was started already, or has exited.
        """
        d, _ = self._load(container_id, exec_id)
        self._control(d, d, {"op": "start"})

    def exec_state(self, container_id: str, exec_id: str) -> ExecState:
        d, state = self._load(container_id, exec_id)
        return self._exec_state(container_id, exec_id, d, state)

    def exec_exit_fd(self, container_id: str, exec_id: str) -> int:
        return self._exit_fd(*self._load(container_id, exec_id))

    def exec_attach_path(self, container_id: str, exec_id: str) -> str:
        return self._socket_dirs.address(self._dir(container_id, exec_id), ATTACH_SOCK)

    def exec_delete(self, container_id: str, exec_id: str) -> None:
        """Forget an exec that has exited: its state directory and sockets (a container's
        execs otherwise go with it).

        Raises:
            NotFound: no such exec.
            Conflict: it is still running, or its monitor is not done with it.
        """
        d, state = self._load(container_id, exec_id)
        if self._exec_state(container_id, exec_id, d, state).running:
            raise Conflict(f"exec {exec_id} in container {container_id}: still running")
        if not self._wait_done(d, state, _DELETE_TIMEOUT):
            raise Conflict(f"exec {exec_id} in container {container_id}: its monitor did not exit")
        session = self._sessions.pop(d, None)
        if session is not None:
            session.close()
        self._socket_dirs.forget(d)
        remove_state_dir(d)

    def exec_resize(self, container_id: str, exec_id: str, height: int, width: int) -> None:
        d, _ = self._load(container_id, exec_id)
        self._control(d, d, {"op": "resize", "height": height, "width": width})


class WharfRuntime(MonitoredRuntime):
    """The native fast path: pid 1 is a raw ``clone(2)`` of the container's monitor."""
