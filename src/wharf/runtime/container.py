"""Container lifecycle across processes, for the ``wharf-runtime`` CLI (runc's model).

``create`` launches pid 1 blocked on ``ROOT/ID/exec.fifo`` and records it; the creating
process then exits and pid 1 is re-parented. ``start`` writes one byte to the fifo and
removes it. ``state``/``containers`` derive the status live; ``kill`` signals pid 1 (or every
process of the cgroup with ``all``); ``delete`` kills when forced, destroys the cgroup,
runs poststop hooks and removes the state directory. ``run`` = create + start + wait +
delete in one process, which stays pid 1's parent and returns its exit code.

Every failing step undoes the earlier ones: no state directory, cgroup or process is
left behind (the mounts live in pid 1's mount namespace and die with it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import select
import signal
import socket
import struct
import termios
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from wharf.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from wharf.runtime.cgroups import Cgroup, FreezerState, Resources, open_cgroup
from wharf.runtime.config import plan_container, plan_exec, plan_process
from wharf.runtime.hooks import run_hooks
from wharf.runtime.init import ChildHandles
from wharf.runtime.launch import cgroup_join_fds, launch, launch_exec, prepare_security
from wharf.runtime.spec import Process, Spec
from wharf.runtime.state import Record, StateStore, Status, process_start_time

__all__ = ["ContainerInfo", "Runtime", "signal_number"]


@dataclass(frozen=True)
class ContainerInfo:
    """A container as ``list`` shows it."""

    record: Record
    status: Status


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"


def _connect_console(path: str) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise NotFound(f"console socket {path!r}: cannot connect: {exc.strerror}") from None
    return sock.detach()


def _open_console(path: str, fd: int) -> int:
    if fd >= 0:
        return os.dup(fd)
    return _connect_console(path) if path else -1


def _relay_console(master: int) -> None:
    """Copy our stdin to the pty and the pty to our stdout until the container closes it
    (runc's foreground terminal); our terminal is raw meanwhile and lends its size."""
    stdin_tty = os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_tty else None
    if stdin_tty:
        tty.setraw(0, termios.TCSANOW)  # TCSAFLUSH would drop typed-ahead input
    readers = [master, 0]
    try:
        while True:
            ready, _, _ = select.select(readers, [], [])
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every slave fd is closed, the process is gone
                    break
                if not data:
                    break
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    readers.remove(0)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


# What a foreground run/exec passes on to its process instead of dying (runc's list).
_FORWARDED: Final = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGCONT,
    signal.SIGWINCH,
)


@contextlib.contextmanager
def _forwarding_signals(pid: int, master: int = -1) -> Iterator[None]:
    """While waiting for ``pid``, forward the signals we get to it; with a relayed pty
    (``master``), a resize of our terminal resizes the container's instead."""

    def forward(sig: int, _frame: object) -> None:
        if sig == signal.SIGWINCH and master >= 0 and os.isatty(0):
            size = fcntl.ioctl(0, termios.TIOCGWINSZ, bytes(8))
            fcntl.ioctl(master, termios.TIOCSWINSZ, size)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    saved = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _receive_master(sock: socket.socket) -> int:
    """The pty master the container sent, sized like our terminal (if we have one)."""
    _, fds, _, _ = socket.recv_fds(sock, 4096, 1)
    if not fds:
        raise FailedPrecondition("console: the container sent no pty")
    if os.isatty(0):
        fcntl.ioctl(fds[0], termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, bytes(8)))
    return fds[0]


def _our_size() -> tuple[int, int] | None:
    if not os.isatty(0):
        return None
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, bytes(8)))
    return rows, cols


def _write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` (not necessarily our child) has exited."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(pidfd)


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


class Runtime:
    """The containers under one ``--root`` directory."""

    def __init__(self, root: str) -> None:
        self.store = StateStore(root)

    # -- create / start ---------------------------------------------------------------

    def create(
        self,
        container_id: str,
        *,
        bundle: str,
        console_socket: str = "",
        console_fd: int = -1,
        pid_file: str = "",
        preserve_fds: int = 0,
    ) -> Record:
        """Create the container from ``bundle`` and leave pid 1 waiting for :meth:`start`.

        ``console_socket`` is a unix socket path to send the pty master to (runc's
        ``--console-socket``); ``console_fd`` an already connected one (``run`` relays).

        Raises:
            AlreadyExists: the id is taken.
            InvalidArgument / NotFound: a bad config.json or a missing rootfs, by field.
            ExecutableNotFound / NotExecutable: ``process.args[0]`` (exit 127 / 126).
        """
        bundle = os.path.abspath(bundle)
        spec_obj, spec = self._load_spec(bundle)
        plan = plan_container(spec, container_id=container_id, bundle=bundle)
        resources = Resources.from_spec(plan.resources)
        caps, seccomp = prepare_security(plan.process, plan.seccomp)
        self.store.reserve(container_id)
        cgroup: Cgroup | None = None
        opened: list[int] = []
        try:
            fifo = self.store.fifo(container_id)
            os.mkfifo(fifo, 0o622)
            opened.append(os.open(fifo, os.O_RDWR | os.O_CLOEXEC))
            console = _open_console(console_socket, console_fd)
            if console >= 0:
                opened.append(console)
            wanted = open_cgroup(plan.cgroups_path or f"/{container_id}")
            wanted.create(resources)  # Conflict if it exists: then it is not ours to remove
            cgroup = wanted
            cgroup_fds = tuple(cgroup.join_fds())
            opened.extend(cgroup_fds)
            created = _now()

            def on_hooks(pid: int) -> bytes:
                record = Record(container_id, pid, 0, bundle, plan.rootfs, created)
                state = json.dumps(record.oci_state(Status.CREATING)).encode()
                run_hooks(plan.hooks.prestart, state, point="prestart")
                run_hooks(plan.hooks.create_runtime, state, point="createRuntime")
                return json.dumps(record.oci_state(Status.CREATED)).encode()

            launched = launch(
                plan,
                handles=ChildHandles(
                    cgroup_fds=cgroup_fds,
                    console_socket=console,
                    start_fifo=opened[0],
                    capabilities=caps,
                    seccomp=seccomp,
                    preserve_fds=preserve_fds,
                ),
                on_hooks=on_hooks,
            )
            launched.sync.close()
            record = Record(
                id=container_id,
                pid=launched.pid,
                start_time=process_start_time(launched.pid),
                bundle=bundle,
                rootfs=plan.rootfs,
                created=created,
                cgroups_path=cgroup.path,
                annotations=spec.annotations,
                config=spec_obj,
            )
            self.store.save(record)
            if pid_file:
                _write_pid_file(pid_file, launched.pid)
        except BaseException:
            if cgroup is not None:
                cgroup.destroy(kill=True)
            self.store.remove(container_id)
            raise
        finally:
            for fd in opened:
                os.close(fd)
        return record

    @staticmethod
    def _load_spec(bundle: str) -> tuple[dict[str, Any], Spec]:
        path = os.path.join(bundle, "config.json")
        spec = Spec.load(path)
        with open(path, "rb") as f:
            return json.loads(f.read()), spec

    def start(self, container_id: str) -> None:
        """Let pid 1 execve; then run poststart hooks.

        Raises:
            NotFound: no such container.
            Conflict: it is not in the "created" state.
        """
        record = self.store.load(container_id)
        status = self.status(record)
        if status is not Status.CREATED:
            raise Conflict(f'container {container_id}: cannot start, status is "{status}"')
        fifo = self.store.fifo(container_id)
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise Conflict(f"container {container_id}: cannot start: {exc.strerror}") from None
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
        os.unlink(fifo)
        hooks = Spec.from_json(record.config).hooks.poststart
        if hooks:
            state = json.dumps(record.oci_state(Status.RUNNING)).encode()
            run_hooks(hooks, state, point="poststart")

    # -- state ------------------------------------------------------------------------

    def cgroup(self, record: Record) -> Cgroup:
        return open_cgroup(record.cgroups_path or f"/{record.id}")

    def status(self, record: Record) -> Status:
        frozen = False
        if record.alive():
            cgroup = self.cgroup(record)
            with contextlib.suppress(NotFound, FailedPrecondition, OSError):
                frozen = cgroup.exists() and cgroup.state() is FreezerState.FROZEN
        return self.store.status(record, frozen=frozen)

    def state(self, container_id: str) -> dict[str, Any]:
        """The runtime-spec state object."""
        record = self.store.load(container_id)
        return record.oci_state(self.status(record))

    def containers(self) -> list[ContainerInfo]:
        out = []
        for cid in self.store.ids():
            with contextlib.suppress(NotFound):
                record = self.store.load(cid)
                out.append(ContainerInfo(record, self.status(record)))
        return out

    def ps(self, container_id: str) -> list[int]:
        """Host pids of the container's processes (those in its pid namespace)."""
        record = self.store.load(container_id)
        if not record.alive():
            return []
        try:
            ns = os.stat(f"/proc/{record.pid}/ns/pid").st_ino
        except FileNotFoundError:
            return []
        pids = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                with contextlib.suppress(OSError):
                    if os.stat(f"/proc/{name}/ns/pid").st_ino == ns:
                        pids.append(int(name))
        return sorted(pids)

    # -- signals, pause ---------------------------------------------------------------

    def kill(self, container_id: str, sig: int, *, all_processes: bool = False) -> None:
        """Send ``sig`` to pid 1 (or every process in its cgroup).

        Raises:
            Conflict: the container is stopped.
        """
        record = self.store.load(container_id)
        status = self.status(record)
        if status is Status.STOPPED:
            raise Conflict(f"container {container_id}: cannot kill, it is not running")
        if all_processes:
            self.cgroup(record).kill_all(sig)
            return
        os.kill(record.pid, sig)

    def pause(self, container_id: str) -> None:
        record = self.store.load(container_id)
        status = self.status(record)
        if status is not Status.RUNNING:
            raise Conflict(f'container {container_id}: cannot pause, status is "{status}"')
        self.cgroup(record).freeze()

    def resume(self, container_id: str) -> None:
        record = self.store.load(container_id)
        status = self.status(record)
        if status is not Status.PAUSED:
            raise Conflict(f'container {container_id}: cannot resume, status is "{status}"')
        self.cgroup(record).thaw()

    def update(self, container_id: str, resources: Any) -> None:
        """Change the limits of a live container (a ``linux.resources`` object; fields
        left out keep their values; device rules are fixed at creation, as in runc).

        Raises:
            InvalidArgument: a bad resources object, naming the field.
            Conflict: the container is stopped.
        """
        parsed = Resources.from_spec(resources)
        record = self.store.load(container_id)
        status = self.status(record)
        if status is Status.STOPPED:
            raise Conflict(f"container {container_id}: cannot update, it is stopped")
        self.cgroup(record).update(parsed)

    # -- delete -----------------------------------------------------------------------

    def delete(self, container_id: str, *, force: bool = False) -> None:
        """Remove a stopped (or created) container; ``force`` kills a running one first.

        A directory left without ``state.json`` (a ``create`` killed half-way) is
        removed too, so the id can be used again.

        Raises:
            NotFound: no such container.
            Conflict: it runs and ``force`` is not set.
        """
        try:
            record = self.store.load(container_id)
        except NotFound:
            if not os.path.isdir(self.store.path(container_id)):
                raise
            self.store.remove(container_id)
            return
        status = self.status(record)
        if status in (Status.RUNNING, Status.PAUSED) and not force:
            raise Conflict(
                f'container {container_id}: cannot delete, status is "{status}" (use --force)'
            )
        cgroup = self.cgroup(record)
        if status is not Status.STOPPED:
            if status is Status.PAUSED:
                cgroup.thaw()
            os.kill(record.pid, signal.SIGKILL)
            _wait_gone(record.pid, 10.0)
        if cgroup.exists():
            cgroup.destroy(kill=True)
        self.store.remove(container_id)
        hooks = Spec.from_json(record.config).hooks.poststop
        if hooks:
            state = json.dumps(record.oci_state(Status.STOPPED)).encode()
            run_hooks(hooks, state, point="poststop")

    # -- run / exec -------------------------------------------------------------------

    def run(
        self,
        container_id: str,
        *,
        bundle: str,
        console_socket: str = "",
        pid_file: str = "",
        detach: bool = False,
        keep: bool = False,
        preserve_fds: int = 0,
    ) -> int:
        """create + start, then (unless ``detach``) wait and delete; returns the exit code.

        A terminal process without ``console_socket`` runs in the foreground with its pty
        relayed to our stdin/stdout, as runc does.
        """
        relay = None
        if not console_socket and not detach:
            spec = Spec.load(os.path.join(os.path.abspath(bundle), "config.json"))
            if spec.process is not None and spec.process.terminal:
                relay = socket.socketpair()
        master = -1
        try:
            record = self.create(
                container_id,
                bundle=bundle,
                console_socket=console_socket,
                console_fd=relay[1].fileno() if relay else -1,
                pid_file=pid_file,
                preserve_fds=preserve_fds,
            )
            if relay:
                master = _receive_master(relay[0])
        finally:
            if relay:
                relay[0].close()
                relay[1].close()
        try:
            self.start(container_id)
        except BaseException:
            self.delete(container_id, force=True)
            raise
        if detach:
            return 0
        try:
            with _forwarding_signals(record.pid, master):
                if master >= 0:
                    _relay_console(master)
                    os.close(master)
                _, wait_status = os.waitpid(record.pid, 0)
        finally:
            if not keep:
                self.delete(container_id, force=True)
        return _exit_code(wait_status)

    def exec(
        self,
        container_id: str,
        process: Process,
        *,
        console_socket: str = "",
        pid_file: str = "",
        detach: bool = False,
    ) -> int:
        """Run ``process`` inside the running container; returns its exit code (0 when
        ``detach``). The container's seccomp profile applies, as with runc. A terminal
        process without ``console_socket`` gets its pty relayed to our stdin/stdout.

        Raises:
            Conflict: the container is not running.
            ExecutableNotFound / NotExecutable: ``process.args[0]`` (exit 127 / 126).
        """
        record = self.store.load(container_id)
        status = self.status(record)
        if status is not Status.RUNNING:
            raise Conflict(f'container {container_id}: cannot exec, status is "{status}"')
        relay = None
        if process.terminal and not console_socket and not detach:
            relay = socket.socketpair()
        plan = plan_process(process)
        if relay and plan.console_size is None:
            # The process runs as soon as it is set up: give it our size up front.
            plan = dataclasses.replace(plan, console_size=_our_size())
        namespaces = plan_exec(record.pid, container_id=container_id)
        seccomp = Spec.from_json(record.config).linux.seccomp
        caps, bpf = prepare_security(plan, seccomp)
        opened: list[int] = []
        master = -1
        try:
            cgroup_fds = cgroup_join_fds(record.pid)
            opened.extend(cgroup_fds)
            console = _open_console(console_socket, relay[1].fileno() if relay else -1)
            if console >= 0:
                opened.append(console)
            pid = launch_exec(
                plan,
                namespaces,
                container_id=container_id,
                handles=ChildHandles(
                    cgroup_fds=cgroup_fds,
                    console_socket=console,
                    capabilities=caps,
                    seccomp=bpf,
                ),
            )
            if relay:
                master = _receive_master(relay[0])
        finally:
            for fd in opened:
                os.close(fd)
            if relay:
                relay[0].close()
                relay[1].close()
        if pid_file:
            _write_pid_file(pid_file, pid)
        if detach:
            return 0
        with _forwarding_signals(pid, master):
            if master >= 0:
                _relay_console(master)
                os.close(master)
            _, wait_status = os.waitpid(pid, 0)
        return _exit_code(wait_status)


def signal_number(text: str) -> int:
    """``"KILL"``, ``"SIGKILL"`` or ``"9"`` -> 9.

    Raises:
        InvalidArgument: not a known signal.
    """
    if text.isdigit():
        number = int(text)
        if number in signal.valid_signals():
            return number
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else f"SIG{name}"
        member = signal.Signals.__members__.get(name)
        if member is not None:
            return int(member)
    raise InvalidArgument(f"signal {text!r}: not a known signal name or number")
