"""The container service: lifecycle, waits, restart policies and live restore.

State model (Docker's): created -> running <-> paused -> exited -> (start again | removed).
The runtime holds the processes: a container's pid 1 is created (blocked before execve, so
attach can connect first) when the container is created, released on start, and re-created
on every later start. Exits arrive through ``loop.add_reader`` on the runtime's exit fd (a pidfd
of the monitor, which records the status on disk before exiting), so they are noticed whether
the daemon started the container or re-adopted it after a restart.

Concurrency: everything here runs on the event loop thread; runtime calls are fast and
synchronous; image-store calls that touch many files run in the default executor.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import logging
import os
import secrets
import shutil
import signal as signal_module
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from wharf.api.backends import AttachOptions, ByteStream, LogOptions
from wharf.apitypes import (
    Change,
    ContainerCreate,
    ContainerView,
    Filters,
    PathStat,
    PruneReport,
    TopResult,
    WaitResult,
)
from wharf.apitypes.containers import ContainerUpdate, validate_name
from wharf.apitypes.health import HealthState
from wharf.apitypes.stats import StatsSample
from wharf.daemon import spec as specs
from wharf.daemon.archive import ContainerArchive
from wharf.daemon.attach import StreamSession, parse_detach_keys
from wharf.daemon.devices import blkio_entries, host_devices, mapped_devices, rule_entries
from wharf.daemon.events import EventBus
from wharf.daemon.inotify import FileWatcher
from wharf.daemon.logs import read_logs
from wharf.daemon.names import generate_name
from wharf.daemon.ports import ContainerIO, ImageRecord, ImageStore, Runtime
from wharf.daemon.restart import RestartManager
from wharf.daemon.rootfs import container_etc_files
from wharf.daemon.shm import SharedShm
from wharf.daemon.stats import network_counters, sample_stream
from wharf.daemon.store import ZERO_TIME, ContainerRecord, ContainerStore
from wharf.daemon.streams import from_writer
from wharf.daemon.views import check_filters, container_view, matches_filters
from wharf.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    NotModified,
    PermissionDenied,
    Unimplemented,
    WharfError,
)
from wharf.mount import Mount

__all__ = ["ContainerHook", "ContainerService", "StartFailed", "now_rfc3339"]

log = logging.getLogger("wharf.daemon.containers")

_DEFAULT_STOP_TIMEOUT: Final = 10


def now_rfc3339() -> str:
    """Now, RFC 3339 with nanoseconds, UTC."""
    ns = time.time_ns()
    base = datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ns % 1_000_000_000:09d}Z"


class ContainerHook(Protocol):
    """What networks and volumes do at a container's create, runtime set-up, exit and removal."""

    def check(self, record: ContainerRecord, image: ImageRecord) -> None:
        """Validate a new container (raise to refuse it)."""
        ...

    def prepare(
        self, record: ContainerRecord, spec: dict[str, Any], image: ImageRecord
    ) -> builtins.list[dict[str, Any]]:
        """Set up before the runtime creates the container; may edit ``spec``; OCI mounts."""
        ...

    def release(self, container_id: str) -> None:
        """Undo :meth:`prepare` (the container exited or its set-up failed)."""
        ...

    def removed(self, record: ContainerRecord, volumes: bool) -> None:
        """The container is gone."""
        ...


@dataclass
class _Waiters:
    next_exit: list[asyncio.Future[WaitResult]] = field(default_factory=list)
    removed: list[asyncio.Future[WaitResult]] = field(default_factory=list)


class ContainerService:
    """Implements :class:`wharf.api.backends.ContainerBackend` over a runtime and an image store."""

    def __init__(
        self,
        *,
        store: ContainerStore,
        runtime: Runtime,
        images: ImageStore,
        events: EventBus,
        cgroup_parent: str = "wharf",
        init_path: str = "",
        init_default: bool = False,
    ) -> None:
        """``init_path``: the ``--init`` binary ("" = ``docker-init`` on $PATH);
        ``init_default``: whether containers that do not say run with ``--init``."""
        self.store = store
        self._shm = SharedShm(store.root)
        self.runtime = runtime
        self.images = images
        self.events = events
        self._cgroup_parent = cgroup_parent
        self._init_path = init_path
        self._init_default = init_default
        self._waiters: dict[str, _Waiters] = {}
        self._watched: dict[str, int] = {}
        self._exited: dict[str, asyncio.Event] = {}
        self.log_watcher = FileWatcher()
        self.removal_hooks: builtins.list[Callable[[str], None]] = []
        # Called with a container that has started (or was re-adopted running), and with the
        # id of one whose process has exited.
        self.start_hooks: builtins.list[Callable[[ContainerRecord], None]] = []
        self.exit_hooks: builtins.list[Callable[[str], None]] = []
        self.health_of: Callable[[str], HealthState | None] = lambda container_id: None
        self.hooks: builtins.list[ContainerHook] = []
        self.restore_hooks: builtins.list[Callable[[set[str]], None]] = []
        self.view_extras: Callable[[ContainerRecord], dict[str, Any]] | None = None
        # What a list entry needs of the extras (no hosts/resolv.conf paths): ps stays cheap.
        self.summary_extras: Callable[[ContainerRecord], dict[str, Any]] | None = None
        self.restarts = RestartManager(self)
        self.archive = ContainerArchive(self)

    # ---- helpers ----------------------------------------------------------------------------

    def emit(self, record: ContainerRecord, action: str, **extra: str) -> None:
        """Publish a container event with Docker's attributes (image, name, labels)."""
        attributes = {"image": record.spec.config.image, "name": record.name}
        attributes.update(record.spec.config.labels)
        attributes.update(extra)
        self.events.publish("container", action, record.id, attributes)

    def get(self, ref: str) -> ContainerRecord:
        """The record of ``ref`` (id, name or prefix)."""
        return self.store.get(ref)

    def _running(self, record: ContainerRecord) -> bool:
        # "restarting" has no live process: it waits for the restart manager's timer.
        return record.status in ("running", "paused")

    def is_running(self, container_id: str) -> bool:
        """Whether the container has a live process (used by logs follow)."""
        try:
            return self._running(self.store.get(container_id))
        except NotFound:
            return False

    def _io(self, record: ContainerRecord) -> ContainerIO:
        config = record.spec.config
        size = record.spec.host_config.console_size
        logging = record.spec.host_config.log_config
        return ContainerIO(
            terminal=config.tty,
            stdin=config.open_stdin,
            stdin_once=config.stdin_once,
            log_path="" if logging.type == "none" else str(self.store.log_path(record.id)),
            console_size=size if all(size) else None,
            log_max_size=logging.max_size,
            log_max_files=logging.max_files,
        )

    def _spec(
        self, record: ContainerRecord, image_config: dict[str, Any], mounts: builtins.list[Mount]
    ) -> dict[str, Any]:
        config = record.spec.config
        user = config.user or str(image_config.get("User") or "")
        files = container_etc_files(self.images, record.id, ("passwd", "group"), mounts)
        uid, gid, gids = specs.user_ids(user, files, record.spec.host_config.group_add)
        env = specs.merge_env(image_config.get("Env") or (), config.env)
        if config.tty and not any(e.startswith("TERM=") for e in env):
            env.append("TERM=xterm")
        host = record.spec.host_config
        if host.namespaces.uts == "host":
            hostname = os.uname().nodename
        else:
            hostname = config.hostname or record.id[:12]
        if not any(e.startswith("HOSTNAME=") for e in env):
            env.append(f"HOSTNAME={hostname}")
        process = specs.process_spec(
            args=[record.path, *record.args],
            env=env,
            cwd=config.working_dir or str(image_config.get("WorkingDir") or "/"),
            uid=uid,
            gid=gid,
            gids=gids,
            terminal=config.tty,
            console_size=record.spec.host_config.console_size,
            capabilities=specs.container_capabilities(record.spec.host_config),
        )
        donors = {
            kind: self._donor(kind, ref)
            for kind in ("pid", "ipc")
            if (ref := host.namespaces.donor(kind))
        }
        devices, rules = mapped_devices(host.devices)
        rules += rule_entries(host.device_cgroup_rules)
        if host.privileged:
            devices = host_devices() + devices
        init = self._init_default if host.init is None else host.init
        return specs.build_spec(
            container_id=record.id,
            config=config,
            host=host,
            process=process,
            hostname=hostname,
            cgroup_parent=host.cgroup_parent or self._cgroup_parent,
            init_path=self._init_binary() if init else None,
            devices=devices,
            device_rules=rules,
            donors={kind: d.pid for kind, d in donors.items()},
            shm=self._shm_source(record, donors.get("ipc")),
            block_io=blkio_entries(host.blkio_devices),
        )

    def _shm_source(self, record: ContainerRecord, donor: ContainerRecord | None) -> str | None:
        """What the container's ``/dev/shm`` is (:func:`specs.build_spec`'s ``shm``)."""
        mode = record.spec.host_config.namespaces.ipc
        if mode == "none":
            return None
        if donor is not None:
            if donor.spec.host_config.namespaces.ipc == "host":
                return "/dev/shm"
            return str(self._shm.path(donor.id))
        if mode == "host":
            return "/dev/shm"
        if mode == "shareable":
            return self._shm.mount(record.id, record.spec.host_config.options.shm_size)
        return ""

    def _donor(self, kind: str, ref: str) -> ContainerRecord:
        """``ref``, a running container whose ``kind`` namespace a container joins.

        Raises:
            NotFound: there is no such container.
            Conflict: it is not running, or (IPC) it did not make its namespace shareable.
        """
        what = kind.upper()
        try:
            donor = self.store.get(ref)
        except NotFound as exc:
            raise NotFound(f"cannot join {what} of a non running container: {ref}: {exc}") from None
        if donor.status not in ("running", "paused") or not donor.pid:
            raise Conflict(f"cannot join {what} of a non running container: {ref}")
        if kind == "ipc" and donor.spec.host_config.namespaces.ipc not in ("shareable", "host"):
            raise Conflict(
                f"cannot join IPC of container {ref}: non-shareable IPC (hint: use "
                "IpcMode:shareable for the donor container)"
            )
        return donor

    def _init_binary(self) -> str:
        """The host's init binary for ``--init``.

        Raises:
            InvalidArgument: it is not there.
        """
        path = self._init_path or shutil.which("docker-init") or ""
        if not path or not os.path.isfile(path):
            raise InvalidArgument(
                f"--init: the init binary {path or 'docker-init'!r} was not found (install tini "
                "as /usr/bin/docker-init or start the daemon with --init-path)"
            )
        return path

    def _prime(
        self,
        record: ContainerRecord,
        image: ImageRecord | None = None,
        mounts: builtins.list[Mount] | None = None,
    ) -> None:
        """Create the runtime container (pid 1 blocked before execve) if it does not exist.

        ``image`` and ``mounts`` save a store lookup when the caller has them already.
        """
        try:
            state = self.runtime.state(record.id)
        except NotFound:
            state = None
        if state is not None and state.status == "created":
            return
        if state is not None:
            self.runtime.delete(record.id, force=True)
        image = image or self.images.resolve(record.image_id)
        mounts = self.images.container_mounts(record.id) if mounts is None else mounts
        bundle = self.store.dir(record.id) / "bundle"
        # runc/crun mount the rootfs at <bundle>/rootfs; the spec names it before it is mounted.
        (bundle / "rootfs").mkdir(parents=True, exist_ok=True)
        spec = self._spec(record, image.config, mounts)
        try:
            for hook in self.hooks:
                spec["mounts"] += hook.prepare(record, spec, image)
        except BaseException:
            for hook in self.hooks:
                hook.release(record.id)
            raise
        try:
            self.runtime.create(
                record.id,
                bundle_dir=str(bundle),
                spec=spec,
                rootfs=mounts,
                io=self._io(record),
            )
        except BaseException as exc:
            for hook in self.hooks:
                hook.release(record.id)
            if isinstance(exc, NotFound):
                raise StartFailed(
                    f"failed to create task for container: exec: {record.path!r}: executable "
                    f"file not found in $PATH: {exc}",
                    exit_code=127,
                ) from exc
            if isinstance(exc, PermissionDenied):
                raise StartFailed(
                    f"failed to create task for container: exec: {record.path!r}: permission "
                    f"denied: {exc}",
                    exit_code=126,
                ) from exc
            raise

    def _watch(self, container_id: str) -> None:
        """Call :meth:`_on_exit` when the container's process exits."""
        if container_id in self._watched:
            return
        fd = self.runtime.exit_fd(container_id)
        self._watched[container_id] = fd
        self._exited[container_id] = asyncio.Event()
        asyncio.get_running_loop().add_reader(fd, self._on_exit, container_id)

    def _unwatch(self, container_id: str) -> None:
        fd = self._watched.pop(container_id, None)
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            with contextlib.suppress(OSError):
                os.close(fd)

    def _on_exit(self, container_id: str) -> None:
        self._unwatch(container_id)
        try:
            record = self.store.get(container_id)
            state = self.runtime.state(container_id)
        except NotFound:
            return
        if state.status != "stopped":
            # A spurious wake-up (the pidfd belongs to the monitor): watch again.
            self._watch(container_id)
            return
        self._record_exit(record, state.exit_code, state.finished_at, state.oom_killed)

    def _record_exit(
        self, record: ContainerRecord, exit_code: int | None, finished_at: str | None, oom: bool
    ) -> None:
        code = 255 if exit_code is None else exit_code
        record = record.with_(
            status="exited",
            pid=0,
            exit_code=code,
            oom_killed=oom,
            finished_at=finished_at or now_rfc3339(),
        )
        self.store.save(record, durable=False)  # the runtime recorded the exit: see store.py
        for hook in self.hooks:
            hook.release(record.id)
        self._shm.release(record.id)
        for exit_hook in self.exit_hooks:
            exit_hook(record.id)
        if oom:
            self.emit(record, "oom")
        self.emit(record, "die", exitCode=str(code))
        event = self._exited.pop(record.id, None)
        if event is not None:
            event.set()
        waiters = self._waiters.get(record.id)
        if waiters is not None:
            for future in waiters.next_exit:
                if not future.done():
                    future.set_result(WaitResult(status_code=code))
            waiters.next_exit.clear()
        if record.spec.host_config.auto_remove:
            asyncio.get_running_loop().create_task(self._auto_remove(record.id))
        else:
            self.restarts.on_exit(record)

    async def _auto_remove(self, container_id: str) -> None:
        with contextlib.suppress(NotFound, Conflict):
            await self.remove(container_id, force=True, volumes=True)

    # ---- create / start / stop ----------------------------------------------------------------

    def create(self, spec: ContainerCreate, *, name: str | None) -> tuple[str, list[str]]:
        try:
            image = self.images.resolve(spec.config.image)
        except NotFound:
            raise NotFound(f"No such image: {spec.config.image}") from None
        path, args = specs.merge_command(spec.config, image.config)
        # Bad --device, --cap-add/--cap-drop or block device values fail create, as they would
        # fail start.
        mapped_devices(spec.host_config.devices)
        blkio_entries(spec.host_config.blkio_devices)
        specs.container_capabilities(spec.host_config)
        warnings: list[str] = []
        container_id = secrets.token_hex(32)
        name = validate_name(name) if name else generate_name(self.store.name_taken)
        record = ContainerRecord(
            id=container_id,
            name=name,
            created=now_rfc3339(),
            spec=spec,
            image_id=image.id,
            path=path,
            args=args,
        )
        for hook in self.hooks:
            hook.check(record, image)
        self.store.reserve(record)
        try:
            mounts = self.images.prepare_container(container_id, image.id)
        except BaseException:
            self.store.delete(container_id)
            raise
        try:
            self._prime(record, image, mounts)
        except WharfError as exc:
            # Docker reports a bad command at start; keep the container, remember nothing.
            log.info("container %s: runtime set-up deferred to start: %s", container_id, exc)
        self.emit(record, "create")
        return container_id, warnings

    def start(self, ref: str) -> None:
        record = self.store.get(ref)
        if record.status == "running":
            raise NotModified(f"container {ref} is already running")
        if record.status == "paused":
            raise Conflict(f"cannot start a paused container {ref}, try unpause instead")
        self.restarts.cancel(record.id)
        try:
            self._start(record)
        except WharfError:
            if record.spec.host_config.auto_remove:
                # Docker removes an auto-remove container whose start failed (the CLI waits
                # for "removed" before reporting the error).
                asyncio.get_running_loop().create_task(self._auto_remove(record.id))
            raise

    def _start(self, record: ContainerRecord, *, restart: bool = False) -> None:
        try:
            self._prime(record)
        except WharfError as exc:
            code = exc.exit_code if isinstance(exc, StartFailed) else 128
            self.store.save(record.with_(error=str(exc), exit_code=code))
            raise
        self.runtime.start(record.id)
        state = self.runtime.state(record.id)
        record = record.with_(
            status="running",
            pid=state.pid,
            error="",
            exit_code=0,
            oom_killed=False,
            started_at=state.started_at or now_rfc3339(),
            finished_at=ZERO_TIME if not record.has_been_started else record.finished_at,
            manually_stopped=False,
            has_been_started=True,
            restart_count=record.restart_count + 1 if restart else record.restart_count,
        )
        self.store.save(record, durable=False)  # the runtime's state shows it running
        self._watch(record.id)
        self.emit(record, "start")
        for start_hook in self.start_hooks:
            start_hook(record)
        if state.status == "stopped":
            self._on_exit(record.id)  # it already exited: record it now

    async def stop(self, ref: str, *, timeout: int | None) -> None:
        self.restarts.cancel(self.store.get(ref).id)
        record = self.store.get(ref)  # cancel() may have turned "restarting" into "exited"
        if not self._running(record):
            if record.manually_stopped:
                raise NotModified(f"container {ref} is already stopped")
            self.store.save(record.with_(manually_stopped=True))
            raise NotModified(f"container {ref} is already stopped")
        record = record.with_(manually_stopped=True)
        self.store.save(record)
        if timeout is None:
            timeout = record.spec.config.stop_timeout
        if timeout is None:
            timeout = _DEFAULT_STOP_TIMEOUT
        stop_signal = specs.parse_signal(record.spec.config.stop_signal, signal_module.SIGTERM)
        if record.status == "paused":
            self.runtime.resume(record.id)
            self.store.save(record.with_(status="running"))
        exited = self._exited.get(record.id)
        if timeout != 0:
            self._signal(record, stop_signal)
            if exited is not None and timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(exited.wait(), timeout)
            elif exited is not None:
                await exited.wait()
        if self._running(self.store.get(record.id)):
            self._signal(record, signal_module.SIGKILL)
            if exited is not None:
                await exited.wait()
        self.emit(self.store.get(record.id), "stop")

    def _signal(self, record: ContainerRecord, number: int) -> None:
        with contextlib.suppress(NotFound, Conflict):
            self.runtime.kill(record.id, number, all=number == signal_module.SIGKILL)

    def restart_now(self, record: ContainerRecord) -> None:
        """Start again after an exit, counting a restart (the restart manager's entry point)."""
        self._start(record, restart=True)
        self.emit(self.store.get(record.id), "restart")

    async def restart(self, ref: str, *, timeout: int | None) -> None:
        record = self.store.get(ref)
        with contextlib.suppress(NotModified):
            await self.stop(record.id, timeout=timeout)
        self._start(self.store.get(record.id))
        self.emit(self.store.get(record.id), "restart")

    def kill(self, ref: str, *, signal: str) -> None:
        record = self.store.get(ref)
        number = specs.parse_signal(signal or "KILL")
        if not self._running(record):
            raise Conflict(f"Cannot kill container: {ref}: Container {record.id} is not running")
        if number == signal_module.SIGKILL:
            self.store.save(record.with_(manually_stopped=True))
        self.runtime.kill(record.id, number)
        self.emit(record, "kill", signal=str(number))

    def pause(self, ref: str) -> None:
        record = self.store.get(ref)
        if record.status == "paused":
            raise Conflict(f"Container {record.id} is already paused")
        if record.status != "running":
            raise Conflict(f"Container {record.id} is not running")
        self.runtime.pause(record.id)
        self.store.save(record.with_(status="paused"))
        self.emit(record, "pause")

    def unpause(self, ref: str) -> None:
        record = self.store.get(ref)
        if record.status != "paused":
            raise Conflict(f"Container {record.id} is not paused")
        self.runtime.resume(record.id)
        self.store.save(record.with_(status="running"))
        self.emit(record, "unpause")

    # ---- wait / remove ------------------------------------------------------------------------

    def wait(self, ref: str, *, condition: str) -> Awaitable[WaitResult]:
        record = self.store.get(ref)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WaitResult] = loop.create_future()
        waiters = self._waiters.setdefault(record.id, _Waiters())
        if condition == "removed":
            waiters.removed.append(future)
        elif condition == "not-running" and not self._running(record):
            future.set_result(WaitResult(status_code=record.exit_code))
        else:
            waiters.next_exit.append(future)
        return future

    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None:
        record = self.store.get(ref)
        if self._running(record):
            if not force:
                raise Conflict(
                    f"You cannot remove a running container {record.id}. Stop the container "
                    "before attempting removal or force remove"
                )
            exited = self._exited.get(record.id)
            self.store.save(record.with_(manually_stopped=True))
            if record.status == "paused":
                with contextlib.suppress(WharfError):
                    self.runtime.resume(record.id)
            self._signal(record, signal_module.SIGKILL)
            if exited is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(exited.wait(), 10)
        try:
            current = self.store.get(record.id)
        except NotFound:
            return  # AutoRemove removed it while we waited for the exit
        if current.status == "removing":
            # Another removal (AutoRemove after the kill above) is under way: answer once it
            # is done, as dockerd does, instead of removing the filesystem a second time.
            await self.wait(record.id, condition="removed")
            return
        # Shielded: a client that disconnects mid-request must not leave a half-removed container.
        await asyncio.shield(self._remove_now(current, volumes=volumes))

    async def _remove_now(self, record: ContainerRecord, *, volumes: bool = False) -> None:
        # An AutoRemove container's removal is redone by restore; a user's rm is made durable.
        self.store.save(
            record.with_(status="removing"), durable=not record.spec.host_config.auto_remove
        )
        self.restarts.cancel(record.id)
        self._unwatch(record.id)
        with contextlib.suppress(NotFound):
            self.runtime.delete(record.id, force=True)
        self._shm.release(record.id)
        await asyncio.get_running_loop().run_in_executor(
            None, self.images.remove_container, record.id
        )
        self.store.delete(record.id)
        for container_hook in self.hooks:
            container_hook.removed(record, volumes)
        for hook in self.removal_hooks:
            hook(record.id)
        self.emit(record, "destroy")
        waiters = self._waiters.pop(record.id, None)
        if waiters is not None:
            for future in [*waiters.removed, *waiters.next_exit]:
                if not future.done():
                    future.set_result(WaitResult(status_code=record.exit_code))

    # ---- views ----------------------------------------------------------------------------------

    def _view(self, record: ContainerRecord) -> ContainerView:
        view = container_view(
            record, str(self.store.log_path(record.id)), self.health_of(record.id)
        )
        if self.view_extras is not None:
            view = dataclasses.replace(view, **self.view_extras(record))
        return view

    def _summary_view(self, record: ContainerRecord) -> ContainerView:
        view = container_view(record, "", self.health_of(record.id))
        if self.summary_extras is not None:
            view = dataclasses.replace(view, **self.summary_extras(record))
        return view

    def inspect(self, ref: str, *, size: bool = False) -> ContainerView:
        return self._view(self.store.get(ref))

    def list(self, *, all: bool, limit: int, size: bool, filters: Filters) -> list[ContainerView]:
        check_filters(filters)
        records = self.store.all()
        out = []
        for record in records:
            if not all and not self._running(record) and not filters.get("status"):
                continue
            if not self._filter(record, filters):
                continue
            out.append(self._summary_view(record))
            if limit > 0 and len(out) >= limit:
                break
        return out

    def _filter(self, record: ContainerRecord, filters: Filters) -> bool:
        return matches_filters(record, filters, self._image_id, self.health_of(record.id))

    def _image_id(self, ref: str) -> str | None:
        try:
            image: ImageRecord = self.images.resolve(ref)
        except NotFound:
            return None
        return image.id

    # ---- misc verbs -----------------------------------------------------------------------------

    def rename(self, ref: str, new_name: str) -> None:
        record = self.store.get(ref)
        old = record.name
        updated = self.store.rename(record.id, validate_name(new_name))
        self.emit(updated, "rename", oldName="/" + old)

    def update(self, ref: str, update: ContainerUpdate) -> builtins.list[str]:
        record = self.store.get(ref)
        host = record.spec.host_config
        resources = host.resources.merged(update.resources, update.present)
        new_host = dataclasses.replace(
            host,
            resources=resources,
            restart_policy=update.restart_policy or host.restart_policy,
        )
        if new_host.auto_remove and new_host.restart_policy.name != "no":
            raise InvalidArgument(
                "RestartPolicy: cannot set a restart policy on a container with AutoRemove"
            )
        if self._running(record) and update.present:
            self.runtime.update(record.id, specs.resources_update(new_host))
        spec = ContainerCreate(config=record.spec.config, host_config=new_host)
        self.store.save(record.with_(spec=spec))
        self.emit(record, "update")
        return []

    async def changes(self, ref: str) -> builtins.list[Change]:
        record = self.store.get(ref)
        return await asyncio.get_running_loop().run_in_executor(
            None, self.images.changes, record.id
        )

    def export(self, ref: str) -> ByteStream:
        record = self.store.get(ref)
        self.emit(record, "export")

        def write(out: Any) -> None:
            self.images.export_container(record.id, out)

        return ByteStream(from_writer(write))

    async def archive_stat(self, ref: str, path: str) -> PathStat:
        return await self.archive.stat(self.store.get(ref), path)

    async def archive_get(self, ref: str, path: str) -> tuple[PathStat, ByteStream]:
        return await self.archive.get(self.store.get(ref), path)

    async def archive_put(
        self, ref: str, path: str, body: AsyncIterator[bytes], *, no_overwrite_dir_non_dir: bool
    ) -> None:
        await self.archive.put(
            self.store.get(ref), path, body, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir
        )

    def logs(self, ref: str, options: LogOptions) -> ByteStream:
        record = self.store.get(ref)
        if record.spec.host_config.log_config.type == "none":
            raise Unimplemented(
                "configured logging driver does not support reading (the container logs "
                "with the none driver)"
            )
        tty = record.spec.config.tty
        chunks = read_logs(
            self.store.log_path(record.id),
            options,
            tty=tty,
            running=lambda: self.is_running(record.id),
            watcher=self.log_watcher,
            exited=self._exited.get(record.id),
        )
        return ByteStream(chunks, tty=tty)

    def attach(self, ref: str, options: AttachOptions) -> StreamSession:
        record = self.store.get(ref)
        keys = parse_detach_keys(options.detach_keys)
        if record.status == "paused":
            raise Conflict(f"You cannot attach to a paused container {record.id}, unpause it first")
        if not self._running(record):
            with contextlib.suppress(WharfError):
                self._prime(record)
        self.emit(record, "attach")
        return StreamSession(
            self.runtime.attach_path(record.id),
            tty=record.spec.config.tty,
            stdin=options.stdin and record.spec.config.open_stdin,
            stdout=options.stdout,
            stderr=options.stderr,
            detach_keys=keys,
        )

    def resize(self, ref: str, *, height: int, width: int) -> None:
        record = self.store.get(ref)
        if height <= 0 or width <= 0:
            raise InvalidArgument(f"resize: height and width must be > 0, got {height}x{width}")
        if not record.spec.config.tty:
            return
        if not self._running(record) and record.status != "created":
            raise Conflict(f"Container {record.id} is not running")
        self.runtime.resize(record.id, height, width)

    async def top(self, ref: str, ps_args: str) -> TopResult:
        record = self.store.get(ref)
        if not self._running(record):
            raise Conflict(f"Container {record.id} is not running")
        from wharf.daemon.top import processes

        return await asyncio.get_running_loop().run_in_executor(None, processes, record.pid)

    async def prune(self, filters: Filters) -> PruneReport:
        deleted = []
        for record in self.store.all():
            if record.status in ("exited", "created", "dead") and self._filter(
                record, {k: v for k, v in filters.items() if k == "label"}
            ):
                with contextlib.suppress(WharfError):
                    await self.remove(record.id, force=False, volumes=False)
                    deleted.append(record.id)
        return PruneReport(deleted=tuple(deleted), space_reclaimed=0)

    def stats(
        self, ref: str, *, stream: bool, one_shot: bool = False
    ) -> AsyncIterator[StatsSample]:
        record = self.store.get(ref)
        own_network = record.spec.host_config.network_mode != "host"

        def networks() -> dict[str, dict[str, int]] | None:
            pid = self.store.get(record.id).pid
            return network_counters(pid) if own_network and pid else None

        return sample_stream(
            container_id=record.id,
            name=record.name,
            read=lambda: self.runtime.stats(record.id),
            running=lambda: self.is_running(record.id),
            now=now_rfc3339,
            stream=stream,
            one_shot=one_shot,
            networks=networks,
        )

    # ---- live restore ---------------------------------------------------------------------------

    async def restore(self) -> None:
        """Re-adopt containers after a daemon (re)start; record exits that happened meanwhile."""
        self.store.load()
        states = {s.id: s for s in self.runtime.list()}
        for stored in self.store.all():
            state = states.get(stored.id)
            record = stored
            if stored.status == "created" and state is not None and state.started_at:
                # It was started, and its (atomic-only) "running" record lost with a power cut.
                record = stored.with_(
                    status="running", has_been_started=True, started_at=state.started_at
                )
            if record.status == "removing" or (
                record.spec.host_config.auto_remove and record.status == "exited"
            ):
                # A removal under way, or an AutoRemove one lost with a power cut (as dockerd).
                await self.remove(record.id, force=True, volumes=record.status == "exited")
            elif state is not None and state.status in ("running", "paused"):
                status = "paused" if state.status == "paused" else "running"
                record = record.with_(status=status, pid=state.pid)
                self.store.save(record, durable=False)
                self._watch(record.id)
                for start_hook in self.start_hooks:
                    start_hook(record)
            elif self._running(record):
                if state is not None and state.status == "stopped":
                    self._record_exit(record, state.exit_code, state.finished_at, state.oom_killed)
                else:
                    lost = record.with_(error="container process lost while the daemon was down")
                    self._record_exit(lost, 255, None, False)
            elif record.has_been_started and record.status in ("exited", "restarting"):
                self.restarts.on_daemon_start(record.with_(status="exited"))
        running = {r.id for r in self.store.all() if r.status in ("running", "paused")}
        for reconcile in self.restore_hooks:
            reconcile(running)


class StartFailed(InvalidArgument):
    """The container's process could not be started; ``exit_code`` is Docker's 126 or 127."""

    def __init__(self, message: str, *, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
