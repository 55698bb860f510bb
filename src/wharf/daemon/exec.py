"""The exec service: ``docker exec`` processes inside running containers.

An exec is created (recorded only), then started: the runtime starts the process at once with its
own monitor and attach socket; the exit arrives like a container's, through an exit fd.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from dataclasses import dataclass
from typing import Any

from wharf.apitypes import ExecConfig, ExecView
from wharf.daemon import spec as specs
from wharf.daemon.attach import StreamSession, parse_detach_keys
from wharf.daemon.containers import ContainerService
from wharf.daemon.ports import ContainerIO
from wharf.daemon.rootfs import read_etc_files
from wharf.daemon.store import ContainerRecord
from wharf.errors import Conflict, InvalidArgument, NotFound, PermissionDenied, WharfError

__all__ = ["ExecService", "exec_process"]


def exec_process(
    containers: ContainerService, record: ContainerRecord, config: ExecConfig
) -> dict[str, Any]:
    """The OCI process of ``config`` run in ``record``: its user, env and working directory
    over the container's and its image's, and the container's capabilities (all of them
    with ``privileged``, as Docker)."""
    image = containers.images.resolve(record.image_id)
    user = config.user or record.spec.config.user or str(image.config.get("User") or "")
    files = read_etc_files(("passwd", "group"), pid=record.pid)
    uid, gid, gids = specs.user_ids(user, files, record.spec.host_config.group_add)
    env = specs.merge_env([*(image.config.get("Env") or ()), *record.spec.config.env], config.env)
    process = specs.process_spec(
        args=config.cmd,
        env=env,
        cwd=config.working_dir
        or record.spec.config.working_dir
        or str(image.config.get("WorkingDir") or "/"),
        uid=uid,
        gid=gid,
        gids=gids,
        terminal=config.tty,
        capabilities=specs.all_capabilities()
        if config.privileged
        else specs.container_capabilities(record.spec.host_config),
    )
    process.update(specs.container_process_options(record.spec.host_config))
    return process


@dataclass
class _Exec:
    id: str
    container_id: str
    config: ExecConfig
    runtime_id: str
    started: bool = False
    running: bool = False
    exit_code: int | None = None
    pid: int = 0


class ExecService:
    """Implements :class:`wharf.api.backends.ExecBackend`."""

    def __init__(self, containers: ContainerService) -> None:
        self._containers = containers
        self._execs: dict[str, _Exec] = {}
        containers.removal_hooks.append(self.forget_container)

    def _get(self, exec_id: str) -> _Exec:
        found = self._execs.get(exec_id)
        if found is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return found

    def create(self, ref: str, config: ExecConfig) -> str:
        record = self._containers.get(ref)
        if record.status == "paused":
            raise Conflict(f"Container {record.id} is paused, unpause the container before exec")
        if record.status not in ("running",):
            raise Conflict(f"Container {record.id} is not running")
        parse_detach_keys(config.detach_keys)
        exec_id = secrets.token_hex(32)
        # The runtime's id is short: its unix sockets sit under <container dir>/exec/<id>/, and
        # socket paths are limited to 108 bytes.
        taken = {e.runtime_id for e in self._execs.values() if e.container_id == record.id}
        runtime_id = exec_id[:6]
        while runtime_id in taken:
            runtime_id = secrets.token_hex(3)
        self._execs[exec_id] = _Exec(
            id=exec_id, container_id=record.id, config=config, runtime_id=runtime_id
        )
        self._containers.store.save(record.with_(exec_ids=(*record.exec_ids, exec_id)))
        self._containers.emit(record, "exec_create: " + " ".join(config.cmd), execID=exec_id)
        return exec_id

    def start(self, exec_id: str, *, detach: bool, tty: bool) -> StreamSession | None:
        ex = self._get(exec_id)
        if ex.started:
            raise Conflict(f"exec {exec_id} has already been started")
        record = self._containers.get(ex.container_id)
        if record.status != "running":
            raise Conflict(f"Container {record.id} is not running")
        config = ex.config
        runtime = self._containers.runtime
        process = exec_process(self._containers, record, config)
        io = ContainerIO(terminal=config.tty, stdin=config.attach_stdin, stdin_once=True)
        ex.started = True
        try:
            state = runtime.exec(record.id, ex.runtime_id, process=process, io=io, start=detach)
        except NotFound as exc:
            ex.exit_code = 127
            raise InvalidArgument(
                f"OCI runtime exec failed: exec failed: unable to start container process: exec: "
                f'"{config.cmd[0]}": executable file not found in $PATH: {exc}'
            ) from exc
        except PermissionDenied as exc:
            ex.exit_code = 126
            raise InvalidArgument(
                f"OCI runtime exec failed: exec failed: unable to start container process: exec: "
                f'"{config.cmd[0]}": permission denied: {exc}'
            ) from exc
        ex.running = state.running
        ex.pid = state.pid
        ex.exit_code = state.exit_code
        self._containers.emit(record, "exec_start: " + " ".join(config.cmd), execID=exec_id)
        self._watch(ex)
        if detach:
            return None

        def release() -> None:
            # The attach socket is connected: let the process run (no output is lost).
            try:
                runtime.exec_start(record.id, ex.runtime_id)
            except WharfError as exc:
                # Docker's codes for a process that never ran: 127 not found, else 126.
                ex.running, ex.exit_code = False, 127 if isinstance(exc, NotFound) else 126
                raise
            self._refresh_after_start(ex)

        return StreamSession(
            runtime.exec_attach_path(record.id, ex.runtime_id),
            tty=config.tty,
            stdin=config.attach_stdin,
            stdout=config.attach_stdout,
            stderr=config.attach_stderr,
            detach_keys=parse_detach_keys(config.detach_keys),
            on_connected=release,
        )

    def _refresh_after_start(self, ex: _Exec) -> None:
        ex.running = True
        self._refresh(ex)

    def _watch(self, ex: _Exec) -> None:
        if not ex.running:
            return
        loop = asyncio.get_running_loop()
        fd = self._containers.runtime.exec_exit_fd(ex.container_id, ex.runtime_id)

        def exited() -> None:
            loop.remove_reader(fd)
            with contextlib.suppress(OSError):
                os.close(fd)
            self._refresh(ex)
            if ex.running:
                self._watch(ex)
                return
            with contextlib.suppress(NotFound):
                record = self._containers.get(ex.container_id)
                self._containers.emit(record, "exec_die", execID=ex.id, exitCode=str(ex.exit_code))

        loop.add_reader(fd, exited)

    def _refresh(self, ex: _Exec) -> None:
        if not ex.running:
            return
        try:
            state = self._containers.runtime.exec_state(ex.container_id, ex.runtime_id)
        except NotFound:
            ex.running = False
            return
        ex.running = state.running
        ex.exit_code = state.exit_code
        ex.pid = state.pid

    def resize(self, exec_id: str, *, height: int, width: int) -> None:
        ex = self._get(exec_id)
        if height <= 0 or width <= 0:
            raise InvalidArgument(f"resize: height and width must be > 0, got {height}x{width}")
        if not ex.config.tty:
            return
        if not ex.running:
            raise Conflict(f"exec {exec_id} is not running")
        self._containers.runtime.exec_resize(ex.container_id, ex.runtime_id, height, width)

    def inspect(self, exec_id: str) -> ExecView:
        ex = self._get(exec_id)
        self._refresh(ex)
        return ExecView(
            id=ex.id,
            container_id=ex.container_id,
            config=ex.config,
            running=ex.running,
            exit_code=None if ex.running else ex.exit_code,
            pid=ex.pid,
        )

    def forget_container(self, container_id: str) -> None:
        """Drop the execs of a removed container."""
        for exec_id in [e.id for e in self._execs.values() if e.container_id == container_id]:
            del self._execs[exec_id]
