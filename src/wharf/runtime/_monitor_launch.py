"""The launching half of a monitor (:mod:`wharf.runtime.monitor` serves).

:class:`MonitorLaunch` holds a monitor's state and makes what it will serve: stdio (a
pty through the console socket, or pipes), the cgroup and pid 1 by one raw ``clone(2)``
(:mod:`wharf.runtime.launch`), an exec into a running container at ``start``, or the same
through a runc-compatible binary (then the monitor is the container's subreaper); then
the state file and the ``control.sock``/``attach.sock`` listeners.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import selectors
import socket
import struct
import subprocess
import termios
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from wharf.errors import Conflict, FailedPrecondition, Unavailable
from wharf.runtime import syscalls
from wharf.runtime._engine_binary import binary_command
from wharf.runtime._engine_io import STDERR, STDOUT, LogWriter
from wharf.runtime._engine_request import LaunchRequest, binary_cgroup, binary_error, last_error
from wharf.runtime._engine_state import (
    ATTACH_SOCK,
    CONTROL_SOCK,
    REQUEST_FILE,
    STATE_FILE,
    SocketDirs,
    now_rfc3339,
    process_start_time,
    read_json,
    write_json_atomic,
)
from wharf.runtime.cgroups import Cgroup, open_cgroup
from wharf.runtime.config import ProcessPlan, plan_container, plan_exec, plan_process
from wharf.runtime.hooks import run_hooks
from wharf.runtime.init import ChildHandles
from wharf.runtime.launch import (
    cgroup_join_fds,
    container_cgroup,
    launch,
    launch_exec,
    prepare_security,
    start_exec_allowed,
)
from wharf.runtime.spec import Hook, Process, Spec
from wharf.runtime.sync import SyncChannel

__all__ = ["Client", "MonitorLaunch", "PoolLeftover", "exit_if_clone", "set_winsize"]

_PR_SET_CHILD_SUBREAPER: Final = 36
_REPLY_TIMEOUT: Final = 30.0


@dataclass
class Client:
    """An attach client: its socket, output not yet sent, whether it still sends stdin."""

    sock: socket.socket
    out: bytearray = field(default_factory=bytearray)
    reading: bool = True


@dataclass(frozen=True)
class PoolLeftover:
    """What a pool slot that did not take a request leaves the monitor serving it: the
    unused pid 1 (our child; 0 if it was not cloned) and its holder to reap, then the
    spare cgroup; and the namespace flags the next slot should have."""

    pid: int
    spare: Cgroup
    flags: int
    holder: int


def set_winsize(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


class MonitorLaunch:
    """A monitor's state and its launching half: stdio, cgroup, pid 1 (or the exec, or
    the runc-compatible binary), the state file and the listening sockets. The serving
    half (:class:`wharf.runtime.monitor._Monitor`) builds on it."""

    def __init__(self, req: LaunchRequest) -> None:
        self.req = req
        self.io = req.io
        self.pid = 0
        self.status: int | None = None
        self.cgroup: Cgroup | None = None
        self.master = -1  # pty master (terminal)
        self.stdin_w = -1  # container stdin (pipes)
        self.outputs: dict[int, int] = {}  # fd -> stream
        self.sync: SyncChannel | None = None
        self.poststart: tuple[Hook, ...] = ()
        self.poststop: tuple[Hook, ...] = ()
        self.console_sock: socket.socket | None = None
        self.socket_dirs = SocketDirs()  # the binary's console socket under a long root
        self.after_reply: Callable[[], None] | None = None  # work put off until answered
        self.pid1 = 0
        self.exec_process: ProcessPlan | None = None
        self.exec_seccomp: Mapping[str, Any] | None = None
        self.exec_stdio: tuple[int, int, int] = (-1, -1, -1)
        self.started_at: str | None = None
        self.clients: dict[int, Client] = {}
        self.stdin_buf = bytearray()
        self.replay: bytearray | None = (
            bytearray() if req.kind == "exec" else None
        )  # exec output kept for the first attach client (it starts before attach)
        self.me = os.getpid()
        self.sel = selectors.DefaultSelector()
        self.log = LogWriter(req.io.log_path, req.io.log_max_size, req.io.log_max_files)
        self.state: dict[str, Any] = {}
        self.binary_stdio: tuple[int, int, int] = (-1, -1, -1)
        self.serving = False
        self.pidfd = -1
        self.leftover: PoolLeftover | None = None
        self.holder = 0  # a slot's holder of pid 1's first address space, to reap
        self.spare: Cgroup | None = None  # a slot's spare cgroup, removed once done
        self.state_dir_fd = -1  # our sockets' directory (listen), for unlinking them

    # -- launch ----------------------------------------------------------------------

    def _child_stdio(self) -> tuple[int, int, int]:
        """(stdin, stdout, stderr) pipes for the child; keeps the monitor's ends."""
        if self.io.stdin:
            stdin_r, self.stdin_w = os.pipe()
        else:
            stdin_r = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.outputs[out_r] = STDOUT
        self.outputs[err_r] = STDERR
        return stdin_r, out_w, err_w

    def launch(self) -> None:
        req = self.req
        if req.binary:
            self._launch_binary()
        elif req.kind == "container":
            self._launch_container()
        else:
            self._exec_prepare()
            if req.start_now:
                self._start()

    def _console(self) -> int:
        """With a terminal: the child's end of a console socket (runc's protocol: the
        child makes the pty inside the container and sends its master back)."""
        if not self.io.terminal:
            return -1
        self.console_sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        return theirs.detach()

    def _take_console(self) -> None:
        sock = self.console_sock
        assert sock is not None
        sock.settimeout(_REPLY_TIMEOUT)
        try:
            _, fds, _, _ = socket.recv_fds(sock, 4096, 1)
        except TimeoutError:
            raise Unavailable(f"{self._name()}: the init sent no terminal in time") from None
        finally:
            sock.close()
        self.console_sock = None
        if not fds:
            raise FailedPrecondition(f"{self._name()}: the init sent no terminal")
        self.master = fds[0]
        self.outputs[self.master] = STDOUT

    def _launch_container(self) -> None:
        req = self.req
        write_json_atomic(os.path.join(req.state_dir, REQUEST_FILE), req.to_json())
        plan = plan_container(
            Spec.from_json(req.spec),
            container_id=req.container_id,
            bundle=req.bundle_dir,
            rootfs=req.rootfs_mounts,
        )
        caps, bpf = prepare_security(plan.process, plan.seccomp)
        cgroup, resources = container_cgroup(plan)
        created = False
        opened: list[int] = []

        def make_cgroups() -> tuple[int, ...]:
            # After the clone: pid 1 makes its first mounts meanwhile, then joins.
            nonlocal created
            cgroup.create(resources)
            created = True
            self.cgroup = open_cgroup(cgroup.path)  # every hierarchy: update may add cpu
            join = tuple(cgroup.join_fds())
            opened.extend(join)
            return join

        try:
            console = self._console()
            if console >= 0:
                opened.append(console)
            stdio = None if self.io.terminal else self._child_stdio()
            if stdio is not None:
                opened.extend(set(stdio))

            def on_hooks(pid: int) -> bytes:
                state = self._oci_state(pid, "creating")
                run_hooks(plan.hooks.prestart, state, point="prestart")
                run_hooks(plan.hooks.create_runtime, state, point="createRuntime")
                return self._oci_state(pid, "created")

            gc.disable()  # nothing to collect in a short fork-free window; keeps clone cheap
            try:
                launched = launch(
                    plan,
                    handles=ChildHandles(
                        console_socket=console,
                        stdio=stdio,
                        capabilities=caps,
                        seccomp=bpf,
                        cgroups_later=True,
                        start_exec=start_exec_allowed(plan.seccomp),
                    ),
                    on_hooks=on_hooks,
                    cgroup_setup=make_cgroups,
                )
            finally:
                gc.enable()
            self.pid = launched.pid
            self.sync = launched.sync
            self.poststart = plan.hooks.poststart
            self.poststop = plan.hooks.poststop
            if self.io.terminal:
                self._take_console()
        except BaseException:
            exit_if_clone(self.me)
            if created:  # not a cgroup that existed already (Conflict)
                cgroup.destroy(kill=True)
            raise
        finally:
            for fd in opened:
                os.close(fd)

    def _oci_state(self, pid: int, status: str) -> bytes:
        return json.dumps(
            {
                "ociVersion": "1.0.2",
                "id": self.req.container_id,
                "status": status,
                "pid": pid,
                "bundle": self.req.bundle_dir,
                "annotations": self.req.spec.get("annotations") or {},
            }
        ).encode()

    def _exec_prepare(self) -> None:
        """Check the exec request and the container; the process starts at ``start``."""
        req = self.req
        self.exec_process = plan_process(Process.from_process_json(req.spec["process"]))
        cstate = read_json(os.path.join(req.container_dir, STATE_FILE)) or {}
        self.pid1 = int(cstate.get("pid", 0))
        if not self.pid1 or process_start_time(self.pid1) != cstate.get("pid_start"):
            raise Conflict(f"container {req.container_id}: cannot exec, it is not running")
        spec = (read_json(os.path.join(req.container_dir, REQUEST_FILE)) or {}).get("spec")
        self.exec_seccomp = Spec.from_json(spec).linux.seccomp if spec else None
        if not self.io.terminal:
            self.exec_stdio = self._child_stdio()

    def _exec_launch(self) -> None:
        req = self.req
        process = self.exec_process
        assert process is not None
        caps, bpf = prepare_security(process, self.exec_seccomp)
        namespaces = plan_exec(self.pid1, container_id=req.container_id)
        join = cgroup_join_fds(self.pid1)
        opened = list(join)
        try:
            console = self._console()
            if console >= 0:
                opened.append(console)
            gc.disable()
            try:
                self.pid = launch_exec(
                    process,
                    namespaces,
                    container_id=req.container_id,
                    handles=ChildHandles(
                        cgroup_fds=join,
                        console_socket=console,
                        stdio=None if self.io.terminal else self.exec_stdio,
                        capabilities=caps,
                        seccomp=bpf,
                    ),
                )
            finally:
                gc.enable()
            if self.io.terminal:
                self._take_console()
        finally:
            for fd in opened:
                os.close(fd)
            if not self.io.terminal:
                for fd in set(self.exec_stdio):
                    os.close(fd)
        self.started_at = now_rfc3339()
        self._watch()

    def _launch_binary(self) -> None:
        """pid 1 through a runc-compatible binary; we become the container's subreaper.

        An exec that is not started at once runs ``BINARY exec`` only at ``start``.
        """
        req = self.req
        syscalls.prctl(_PR_SET_CHILD_SUBREAPER, 1)
        if not self.io.terminal:
            self.binary_stdio = self._child_stdio()
        if req.kind == "container":
            pid_file = os.path.join(req.state_dir, "init.pid")
            self._binary_run(["create", "--bundle", req.bundle_dir, "--pid-file", pid_file])
        else:
            process_file = os.path.join(req.state_dir, "process.json")
            with open(process_file, "w") as f:
                json.dump(req.spec["process"], f)
            if req.start_now:
                self._binary_start_exec()
        self.cgroup = open_cgroup(binary_cgroup(req))

    def _binary_start_exec(self) -> None:
        req = self.req
        process_file = os.path.join(req.state_dir, "process.json")
        pid_file = os.path.join(req.state_dir, "init.pid")
        self._binary_run(["exec", "--detach", "--process", process_file, "--pid-file", pid_file])
        self.started_at = now_rfc3339()

    def _binary_run(self, args: list[str]) -> None:
        """Run ``BINARY create|exec ...`` with our stdio (or console socket); sets self.pid."""
        req = self.req
        log_file = os.path.join(req.state_dir, "runtime.log")
        pid_file = os.path.join(req.state_dir, "init.pid")
        listener = None
        console_args: list[str] = []
        if self.io.terminal:
            console_sock = self.socket_dirs.address(req.state_dir, "console.sock")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(console_sock)
            listener.listen(1)
            console_args = ["--console-socket", console_sock]
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            stdio = (null, null, null)
        else:
            stdio = self.binary_stdio
        argv = ["--log", log_file, "--log-format", "json", *args, *console_args, req.container_id]
        proc = subprocess.Popen(
            binary_command(req.binary, req.binary_root, *argv),
            stdin=stdio[0],
            stdout=stdio[1],
            stderr=stdio[2],
        )
        if listener is not None:
            self._receive_console(listener, proc)
        rc = proc.wait()
        self.socket_dirs.close()
        for fd in set(stdio):
            os.close(fd)
        if rc != 0:
            raise binary_error(req, last_error(log_file) or f"{req.binary} exited with {rc}")
        with open(pid_file) as f:
            self.pid = int(f.read().strip())
        self._watch()

    def _receive_console(self, listener: socket.socket, proc: subprocess.Popen[bytes]) -> None:
        listener.settimeout(30)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            proc.kill()
            raise Unavailable(f"{self.req.binary}: never sent the console fd") from None
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        listener.close()
        self.master = fds[0]
        if self.io.console_size:
            set_winsize(self.master, *self.io.console_size)
        self.outputs[self.master] = STDOUT

    def _watch(self) -> None:
        """Start watching pid 1 and new output fds (the serving monitor does)."""

    def _start(self) -> None:
        """Let the process execve (the serving monitor does, at the ``start`` op)."""
        raise NotImplementedError

    def write_state(self, status: str) -> None:
        me = self.me
        old = self.state  # start times do not change: read /proc once per process
        same = old.get("pid") == self.pid and old.get("pid_start") is not None
        self.state = {
            "kind": self.req.kind,
            "id": self.req.container_id,
            "exec_id": self.req.exec_id,
            "pid": self.pid,
            "pid_start": old["pid_start"] if same else process_start_time(self.pid),
            "monitor_pid": me,
            "monitor_start": old.get("monitor_start") or process_start_time(me),
            "status": status,
            "started_at": self.started_at,
            "cgroup": self.cgroup.path if self.cgroup else "",
            "binary": self.req.binary,
            "binary_root": self.req.binary_root,
            "bundle": self.req.bundle_dir,
            "terminal": self.io.terminal,
        }
        write_json_atomic(os.path.join(self.req.state_dir, STATE_FILE), self.state)

    def listen(self) -> None:
        """Bind control.sock and attach.sock (before the engine hears of the container);
        keep their directory open: once ``delete`` has removed it, its path may be the
        next container's of that name, whose sockets are not ours to unlink."""
        self.state_dir_fd = os.open(self.req.state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.control = self._listen(CONTROL_SOCK, socket.SOCK_SEQPACKET)
        self.attach = self._listen(ATTACH_SOCK, socket.SOCK_STREAM)

    def _listen(self, name: str, kind: int) -> socket.socket:
        path = os.path.join(self.req.state_dir, name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, kind)
        dirs = SocketDirs()
        try:
            s.bind(dirs.address(self.req.state_dir, name))
        finally:
            dirs.close()
        s.listen(16)
        s.setblocking(False)
        return s

    def _name(self) -> str:
        r = self.req
        return (
            f"exec {r.exec_id} in container {r.container_id}"
            if r.exec_id
            else (f"container {r.container_id}")
        )


def exit_if_clone(monitor_pid: int) -> None:
    """Exit at once if this is a clone child of the monitor unwinding through its code.

    The container's init and exec helpers are raw clones of the monitor; if one ever
    raised past its own handlers, it must not run the monitor's error paths (destroy the
    cgroup, answer the engine on the shared reply socket).
    """
    if os.getpid() != monitor_pid:
        os._exit(127)
