"""Webhook notifications with a durable on-disk queue (distribution's notifications).

Every event is first written as one file per endpoint under
``<root>/_events/<endpoint>/<time>-<id>.json`` (temp file + rename), before the request
that caused it is answered. A sender task per endpoint POSTs queued events in order, in
batches, with distribution's envelope (``{"events": [...]}``, media type
``application/vnd.docker.distribution.events.v1+json``), deletes them on a 2xx and backs
off exponentially otherwise. An event therefore survives a crash or restart of the
registry until some process has delivered it. Processes sharing a root coordinate with
``flock`` on each event file: the holder of the lock sends it, the others skip it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wharf.registry.config import Endpoint

__all__ = ["EVENTS_MEDIA_TYPE", "Notifier", "RequestInfo", "make_event"]

EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
_BATCH = 32
_POLL = 1.0


@dataclass(frozen=True)
class RequestInfo:
    """The request part of an event."""

    id: str
    addr: str
    host: str
    method: str
    useragent: str


def make_event(
    action: str,
    target: dict[str, Any],
    request: RequestInfo,
    actor: str,
    source: dict[str, str],
) -> dict[str, Any]:
    """One event in distribution's shape (``id, timestamp, action, target, request...``)."""
    now = datetime.now(UTC)
    return {
        "id": str(uuid.uuid4()),
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "action": action,
        "target": target,
        "request": {
            "id": request.id,
            "addr": request.addr,
            "host": request.host,
            "method": request.method,
            "useragent": request.useragent,
        },
        "actor": {"name": actor} if actor else {},
        "source": source,
    }


class _Queue:
    """One endpoint's directory of pending events."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)

    def put(self, event: dict[str, Any]) -> None:
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex}.json"
        tmp = self.dir / f".tmp-{name}"
        with open(tmp, "w") as f:
            json.dump(event, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.dir / name)

    def claim(self, limit: int) -> list[tuple[int, Path, dict[str, Any]]]:
        """Lock up to ``limit`` oldest events no other process is sending."""
        claimed: list[tuple[int, Path, dict[str, Any]]] = []
        for name in sorted(n for n in os.listdir(self.dir) if n.endswith(".json")):
            if len(claimed) >= limit or name.startswith("."):
                continue
            path = self.dir / name
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.fstat(fd).st_ino != os.stat(path).st_ino:
                    raise FileNotFoundError(path)
                with os.fdopen(os.dup(fd)) as f:
                    event = json.load(f)
            except (BlockingIOError, FileNotFoundError, json.JSONDecodeError):
                os.close(fd)
                continue
            claimed.append((fd, path, event))
        return claimed

    @staticmethod
    def release(claimed: list[tuple[int, Path, dict[str, Any]]], *, delivered: bool) -> None:
        for fd, path, _ in claimed:
            if delivered:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            os.close(fd)

    def pending(self) -> int:
        return sum(1 for n in os.listdir(self.dir) if n.endswith(".json"))


class Notifier:
    """Queues events for each endpoint and delivers them in the background.

    Args:
        root: the registry's storage root (the queues live in ``_events/``).
        endpoints: where to send.
    """

    def __init__(self, root: Path, endpoints: tuple[Endpoint, ...]) -> None:
        self.endpoints = endpoints
        self.queues = {e.name: _Queue(root / "_events" / e.name) for e in endpoints}
        self._wake = {e.name: asyncio.Event() for e in endpoints}
        self._tasks: list[asyncio.Task[None]] = []
        self.delivered = 0
        self.failures = 0

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Persist ``events`` for every endpoint (durable before this returns)."""
        for endpoint in self.endpoints:
            queue = self.queues[endpoint.name]
            for event in events:
                queue.put(event)
            self._wake[endpoint.name].set()

    def start(self) -> None:
        for endpoint in self.endpoints:
            self._tasks.append(asyncio.create_task(self._run(endpoint)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def pending(self) -> int:
        return sum(q.pending() for q in self.queues.values())

    async def _run(self, endpoint: Endpoint) -> None:
        import httpx  # only registries with endpoints pay for the client

        queue = self.queues[endpoint.name]
        wake = self._wake[endpoint.name]
        headers = {**endpoint.headers, "Content-Type": EVENTS_MEDIA_TYPE}
        backoff = endpoint.backoff
        async with httpx.AsyncClient(timeout=endpoint.timeout) as client:
            while True:
                claimed = await asyncio.to_thread(queue.claim, _BATCH)
                if not claimed:
                    wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), _POLL)
                    continue
                body = json.dumps({"events": [e for _, _, e in claimed]})
                try:
                    resp = await client.post(endpoint.url, content=body, headers=headers)
                    ok = 200 <= resp.status_code < 300
                except httpx.HTTPError:
                    ok = False
                queue.release(claimed, delivered=ok)
                if ok:
                    self.delivered += len(claimed)
                    backoff = endpoint.backoff
                    continue
                self.failures += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, endpoint.max_backoff)
