"""Health checks of running containers (``--health-cmd``, Dockerfile ``HEALTHCHECK``), as
dockerd runs them.

A container whose check (its own ``Config.Healthcheck`` over its image's) has a test starts
``starting``. Every interval the test runs in the container, as an exec would (the
container's user, env and working directory; its own runtime exec, deleted after): exit 0 is
healthy and resets the failure count; anything else, or no exit within the timeout, is a
failure; ``retries`` failures in a row make it ``unhealthy``. Failures within the start
period do not count until a probe has succeeded. Each change of status is a
``health_status: <status>`` event; inspect shows the status, the failures in a row and the
last five results (their output cut at 4 KiB). The check stops with the container's process
and starts over, ``starting``, when it starts again (or the daemon re-adopts it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import time
from typing import Final

from wharf.apitypes import ExecConfig
from wharf.apitypes.health import HEALTH_LOG_ENTRIES, HealthConfig, HealthResult, HealthState
from wharf.daemon.containers import ContainerService, now_rfc3339
from wharf.daemon.exec import exec_process
from wharf.daemon.ports import ContainerIO
from wharf.daemon.store import ContainerRecord
from wharf.errors import InvalidArgument, NotFound, WharfError

__all__ = ["HealthService", "effective_check"]

log = logging.getLogger("wharf.daemon.health")

_SECOND: Final = 1_000_000_000
DEFAULT_INTERVAL: Final = 30 * _SECOND
DEFAULT_TIMEOUT: Final = 30 * _SECOND
DEFAULT_RETRIES: Final = 3
_MAX_OUTPUT: Final = 4096


def effective_check(own: HealthConfig | None, image: object) -> HealthConfig | None:
    """The check a container runs: its own over its image's (``image``: the image config's
    ``Healthcheck`` object, or None), the fields it leaves at 0 or empty taken from the image
    (moby's merge). None: no check (none given, or ``NONE``)."""
    base = HealthConfig()
    if isinstance(image, dict):
        with contextlib.suppress(InvalidArgument):  # a bad image check is no check
            base = HealthConfig.from_json(image, "image Healthcheck")
    if own is None:
        check = base
    else:
        check = HealthConfig(
            test=own.test or base.test,
            interval=own.interval or base.interval,
            timeout=own.timeout or base.timeout,
            start_period=own.start_period or base.start_period,
            retries=own.retries or base.retries,
        )
    return None if not check.test or check.test[0] == "NONE" else check


def _command(test: tuple[str, ...]) -> tuple[str, ...]:
    return test[1:] if test[0] == "CMD" else ("/bin/sh", "-c", test[1])


class HealthService:
    """Runs the health checks of running containers; ``ContainerService.health_of`` reads
    their state."""

    def __init__(self, containers: ContainerService) -> None:
        self._containers = containers
        self._states: dict[str, HealthState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        containers.start_hooks.append(self.started)
        containers.exit_hooks.append(self.stopped)
        containers.removal_hooks.append(self.forget)
        containers.health_of = self._states.get

    def started(self, record: ContainerRecord) -> None:
        """The container runs: (re)start its check, if it has one."""
        self.stopped(record.id)
        try:
            image = self._containers.images.resolve(record.image_id).config.get("Healthcheck")
        except NotFound:
            image = None
        check = effective_check(record.spec.config.healthcheck, image)
        if check is None:
            self._states.pop(record.id, None)
            return
        self._states[record.id] = HealthState("starting")
        self._tasks[record.id] = asyncio.get_running_loop().create_task(self._run(record.id, check))

    def stopped(self, container_id: str) -> None:
        """The container's process has exited: stop probing (inspect keeps the last state)."""
        task = self._tasks.pop(container_id, None)
        if task is not None:
            task.cancel()

    def forget(self, container_id: str) -> None:
        """The container is removed."""
        self.stopped(container_id)
        self._states.pop(container_id, None)

    async def _run(self, container_id: str, check: HealthConfig) -> None:
        began = time.monotonic()
        while True:
            await asyncio.sleep((check.interval or DEFAULT_INTERVAL) / _SECOND)
            result = await self._probe(container_id, check)
            starting = time.monotonic() - began < check.start_period / _SECOND
            self._record(container_id, check, result, in_start_period=starting)

    def _record(
        self, container_id: str, check: HealthConfig, result: HealthResult, *, in_start_period: bool
    ) -> None:
        old = self._states.get(container_id, HealthState("starting"))
        streak, status = old.failing_streak, old.status
        if result.exit_code == 0:
            streak, status = 0, "healthy"
        elif not (in_start_period and status == "starting"):
            streak += 1
            if streak >= (check.retries or DEFAULT_RETRIES):
                status = "unhealthy"
        log = (*old.log, result)[-HEALTH_LOG_ENTRIES:]
        self._states[container_id] = HealthState(status, streak, log)
        if status != old.status:
            with contextlib.suppress(NotFound):
                record = self._containers.get(container_id)
                self._containers.emit(record, f"health_status: {status}")

    async def _probe(self, container_id: str, check: HealthConfig) -> HealthResult:
        """Run the test once in the container; its result (exit code -1: it could not run,
        or did not exit within the timeout, and was killed)."""
        start = now_rfc3339()
        runtime = self._containers.runtime
        exec_id = "hc" + secrets.token_hex(2)
        output = self._containers.store.dir(container_id) / f"health-{exec_id}.log"
        try:
            record = self._containers.get(container_id)
            process = exec_process(self._containers, record, ExecConfig(cmd=_command(check.test)))
            state = runtime.exec(
                container_id, exec_id, process=process, io=ContainerIO(log_path=str(output))
            )
        except WharfError as exc:
            output.unlink(missing_ok=True)
            return HealthResult(start, now_rfc3339(), -1, str(exc))
        try:
            timeout = (check.timeout or DEFAULT_TIMEOUT) / _SECOND
            if await self._exited(container_id, exec_id, timeout):
                exit_code = runtime.exec_state(container_id, exec_id).exit_code
                text = _read_output(output)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(state.pid, signal.SIGKILL)
                await self._exited(container_id, exec_id, 5.0)
                exit_code, text = -1, f"Health check exceeded timeout ({timeout:g}s)"
            return HealthResult(start, now_rfc3339(), -1 if exit_code is None else exit_code, text)
        finally:
            with contextlib.suppress(WharfError):
                runtime.exec_delete(container_id, exec_id)
            output.unlink(missing_ok=True)

    async def _exited(self, container_id: str, exec_id: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the exec's exit; whether it came."""
        fd = self._containers.runtime.exec_exit_fd(container_id, exec_id)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not done.done():
                done.set_result(None)

        loop.add_reader(fd, readable)
        try:
            await asyncio.wait_for(done, timeout)
        except TimeoutError:
            return False
        finally:
            loop.remove_reader(fd)
            os.close(fd)
        return True


def _read_output(path: os.PathLike[str]) -> str:
    """What the probe printed (stdout and stderr, in order), cut at 4 KiB as dockerd does."""
    text = []
    size = 0
    with contextlib.suppress(OSError), open(path) as f:
        for line in f:
            with contextlib.suppress(ValueError, KeyError):
                chunk = json.loads(line)["log"]
                text.append(chunk)
                size += len(chunk)
            if size >= _MAX_OUTPUT:
                break
    return "".join(text)[:_MAX_OUTPUT]
