"""Restart policies: no, always, unless-stopped, on-failure[:N] (Docker's semantics).

After an exit that was not a user's stop, ``always`` and ``unless-stopped`` restart; ``on-failure``
restarts on a non-zero exit while the restart count is below the maximum (0: no maximum). The
delay starts at 100 ms and doubles up to a minute, reset when a run lasted 10 s or more. On a
daemon start, ``always`` containers come back, and ``unless-stopped`` ones unless a user stopped
them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Final

from wharf.daemon.logs import parse_rfc3339
from wharf.daemon.store import ContainerRecord
from wharf.errors import NotFound, WharfError

if TYPE_CHECKING:
    from wharf.daemon.containers import ContainerService

__all__ = ["RestartManager", "should_restart"]

log = logging.getLogger("wharf.daemon.restart")

_FIRST_DELAY: Final = 0.1
_MAX_DELAY: Final = 60.0
_RESET_AFTER: Final = 10.0


def should_restart(record: ContainerRecord, *, daemon_start: bool = False) -> bool:
    """Whether the policy restarts ``record`` after its exit."""
    policy = record.spec.host_config.restart_policy
    if record.manually_stopped and not (daemon_start and policy.name == "always"):
        return False
    if policy.name == "always":
        return True
    if policy.name == "unless-stopped":
        return not record.manually_stopped
    if policy.name == "on-failure":
        if record.exit_code == 0:
            return False
        return not policy.maximum_retry_count or record.restart_count < policy.maximum_retry_count
    return False


class RestartManager:
    """Schedules restarts on the event loop; one pending restart per container."""

    def __init__(self, service: ContainerService) -> None:
        self._service = service
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._delay: dict[str, float] = {}

    def on_exit(self, record: ContainerRecord) -> None:
        """An exit was recorded: schedule a restart if the policy says so."""
        if not should_restart(record):
            self._delay.pop(record.id, None)
            return
        ran = parse_rfc3339(record.finished_at) - parse_rfc3339(record.started_at)
        delay = self._delay.get(record.id, _FIRST_DELAY / 2) * 2
        if ran >= _RESET_AFTER:
            delay = _FIRST_DELAY
        delay = min(delay, _MAX_DELAY)
        self._delay[record.id] = delay
        self._service.store.save(record.with_(status="restarting"))
        self._schedule(record.id, delay)

    def on_daemon_start(self, record: ContainerRecord) -> None:
        """A stopped container found at daemon start: bring it back per its policy."""
        if should_restart(
            record, daemon_start=True
        ) and record.spec.host_config.restart_policy.name in (
            "always",
            "unless-stopped",
        ):
            self._schedule(record.id, 0)

    def _schedule(self, container_id: str, delay: float) -> None:
        self.cancel(container_id)
        loop = asyncio.get_running_loop()
        self._pending[container_id] = loop.call_later(delay, self._fire, container_id)

    def cancel(self, container_id: str) -> None:
        """Drop a pending restart (the user started, stopped or removed the container)."""
        handle = self._pending.pop(container_id, None)
        if handle is not None:
            handle.cancel()
            try:
                record = self._service.store.get(container_id)
            except NotFound:
                return
            if record.status == "restarting":
                self._service.store.save(record.with_(status="exited"))

    def _fire(self, container_id: str) -> None:
        self._pending.pop(container_id, None)
        try:
            record = self._service.store.get(container_id)
        except NotFound:
            return
        if record.status not in ("restarting", "exited"):
            return
        started = time.monotonic()
        try:
            self._service.restart_now(record)
        except WharfError as exc:
            log.warning("container %s: restart failed: %s", container_id, exc)
            failed = self._service.store.get(container_id).with_(
                status="exited", restart_count=record.restart_count + 1
            )
            self._service.store.save(failed)
            self.on_exit(failed)
        log.debug("container %s restarted in %.3fs", container_id, time.monotonic() - started)
