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
import datetime as _dt
import json
import os
import select
import signal
import socket
from dataclasses import dataclass
from typing import Any

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
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _connect_console(path: str) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise NotFound(f"console socket {path!r}: cannot connect: {exc.strerror}") from None
    return sock.detach()


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
        pid_file: str = "",
    ) -> Record:
        """Create the container from ``bundle`` and leave pid 1 waiting for :meth:`start`.

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
            console = -1
            if console_socket:
                console = _connect_console(console_socket)
                opened.append(console)
            cgroup = open_cgroup(plan.cgroups_path or f"/{container_id}")
            cgroup.create(resources)
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
            if cgroup is not None and cgroup.exists():
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

    # -- delete -----------------------------------------------------------------------

    def delete(self, container_id: str, *, force: bool = False) -> None:
        """Remove a stopped (or created) container; ``force`` kills a running one first.

        Raises:
            Conflict: it runs and ``force`` is not set.
        """
        record = self.store.load(container_id)
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
    ) -> int:
        """create + start, then (unless ``detach``) wait and delete; returns the exit code."""
        record = self.create(
            container_id, bundle=bundle, console_socket=console_socket, pid_file=pid_file
        )
        try:
            self.start(container_id)
        except BaseException:
            self.delete(container_id, force=True)
            raise
        if detach:
            return 0
        try:
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
        ``detach``). The container's seccomp profile applies, as with runc.

        Raises:
            Conflict: the container is not running.
            ExecutableNotFound / NotExecutable: ``process.args[0]`` (exit 127 / 126).
        """
        record = self.store.load(container_id)
        status = self.status(record)
        if status is not Status.RUNNING:
            raise Conflict(f'container {container_id}: cannot exec, status is "{status}"')
        plan = plan_process(process)
        namespaces = plan_exec(record.pid, container_id=container_id)
        seccomp = Spec.from_json(record.config).linux.seccomp
        caps, bpf = prepare_security(plan, seccomp)
        opened: list[int] = []
        try:
            cgroup_fds = cgroup_join_fds(record.pid)
            opened.extend(cgroup_fds)
            console = -1
            if console_socket:
                console = _connect_console(console_socket)
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
        finally:
            for fd in opened:
                os.close(fd)
        if pid_file:
            _write_pid_file(pid_file, pid)
        if detach:
            return 0
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
