"""The events bus: a bounded history plus live subscribers, with Docker's filters."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Final

from wharf.apitypes import Event, Filters
from wharf.errors import InvalidArgument

__all__ = ["EventBus", "matches"]

_HISTORY: Final = 1024
_KNOWN_FILTERS: Final = frozenset(
    {"type", "event", "container", "image", "label", "scope", "network", "volume", "daemon"}
)


def matches(event: Event, filters: Filters) -> bool:
    """Whether ``event`` passes every filter (values of one filter are alternatives)."""
    for key, values in filters.items():
        if not values:
            continue
        if key == "type" and event.type not in values:
            return False
        if key == "event" and not any(
            event.action == v or event.action.split(":")[0] == v for v in values
        ):
            return False
        if key == "container" and (
            event.type != "container"
            or not any(
                event.actor_id.startswith(v) or event.attributes.get("name") == v for v in values
            )
        ):
            return False
        if key == "image" and not any(
            event.attributes.get("image") == v or (event.type == "image" and event.actor_id == v)
            for v in values
        ):
            return False
        if key == "label" and not all(_label_ok(event, v) for v in values):
            return False
    return True


def _label_ok(event: Event, selector: str) -> bool:
    key, sep, value = selector.partition("=")
    if key not in event.attributes:
        return False
    return not sep or event.attributes[key] == value


class EventBus:
    """Publishes events to subscribers and keeps the last ones for ``since`` queries."""

    def __init__(self) -> None:
        self._history: deque[Event] = deque(maxlen=_HISTORY)
        self._subscribers: set[asyncio.Queue[Event]] = set()

    def publish(self, type_: str, action: str, actor_id: str, attributes: dict[str, str]) -> Event:
        """Record and broadcast one event, stamped now."""
        event = Event(
            type=type_,
            action=action,
            actor_id=actor_id,
            attributes=dict(attributes),
            time_nano=time.time_ns(),
        )
        self._history.append(event)
        for queue in self._subscribers:
            queue.put_nowait(event)
        return event

    @property
    def subscribers(self) -> int:
        """Live listeners (``/info`` NEventsListener)."""
        return len(self._subscribers)

    def stream(
        self, *, since: float | None, until: float | None, filters: Filters
    ) -> AsyncIterator[Event]:
        """Past events from ``since``, then live ones until ``until`` (None: forever).

        Raises:
            InvalidArgument: at once (before any streaming) for an unknown filter name, or
                ``until`` before ``since``.
        """
        unknown = set(filters) - _KNOWN_FILTERS
        if unknown:
            raise InvalidArgument(f"filters: invalid filter {sorted(unknown)[0]!r}")
        if since is not None and until is not None and until < since:
            raise InvalidArgument(f"until ({until}) is before since ({since})")
        return self._stream(since=since, until=until, filters=filters)

    async def _stream(
        self, *, since: float | None, until: float | None, filters: Filters
    ) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            if since is not None:
                since_ns = int(since * 1e9)
                for event in list(self._history):
                    if event.time_nano >= since_ns and matches(event, filters):
                        if until is not None and event.time_nano > until * 1e9:
                            return
                        yield event
            while True:
                timeout = None if until is None else until - time.time()
                if timeout is not None and timeout <= 0:
                    return
                try:
                    event = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    return
                if since is not None and event.time_nano < since * 1e9:
                    continue
                if matches(event, filters):
                    yield event
        finally:
            with contextlib.suppress(KeyError):
                self._subscribers.remove(queue)
