"""Container records rendered for the API: inspect/list views, status texts, list filters."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from wharf.apitypes import ContainerState, ContainerView, Filters
from wharf.apitypes.health import HealthState
from wharf.daemon.logs import parse_rfc3339
from wharf.daemon.store import ContainerRecord
from wharf.errors import InvalidArgument

__all__ = ["check_filters", "container_view", "human_duration", "matches_filters", "status_text"]


def human_duration(seconds: float) -> str:
    """``5 seconds``, ``About a minute``, ``3 hours``."""
    seconds = int(seconds)
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"


_HEALTH_TEXT: Final = {
    "starting": " (health: starting)",
    "healthy": " (healthy)",
    "unhealthy": " (unhealthy)",
}


def status_text(record: ContainerRecord, health: HealthState | None = None) -> str:
    """Docker's STATUS column: ``Up 5 seconds (healthy)``, ``Exited (0) 2 minutes ago``..."""
    if record.status in ("running", "paused"):
        started = parse_rfc3339(record.started_at)
        text = f"Up {human_duration(time.time() - started)}"
        if record.status == "paused":
            return text + " (Paused)"
        return text + (_HEALTH_TEXT[health.status] if health is not None else "")
    if record.status == "restarting":
        return f"Restarting ({record.exit_code})"
    if record.status == "exited" and record.has_been_started:
        finished = parse_rfc3339(record.finished_at)
        return f"Exited ({record.exit_code}) {human_duration(time.time() - finished)} ago"
    if record.status == "removing":
        return "Removal In Progress"
    return "Created"


def container_view(
    record: ContainerRecord, log_path: str, health: HealthState | None = None
) -> ContainerView:
    """The API view of a record (``health``: its health check's state, if it has one)."""
    status = "exited" if record.status == "exited" else record.status
    state = ContainerState(
        status=status,  # type: ignore[arg-type]
        pid=record.pid,
        exit_code=record.exit_code,
        oom_killed=record.oom_killed,
        error=record.error,
        started_at=record.started_at,
        finished_at=record.finished_at,
        health=health,
    )
    created = parse_rfc3339(record.created)
    return ContainerView(
        id=record.id,
        name=record.name,
        created=record.created,
        created_unix=int(created),
        path=record.path,
        args=record.args,
        image_id=record.image_id,
        state=state,
        config=record.spec.config,
        host_config=record.spec.host_config,
        status_text=status_text(record, health),
        log_path=log_path,
        restart_count=record.restart_count,
        exec_ids=record.exec_ids,
    )


def check_filters(filters: Filters) -> None:
    """Refuse unknown filter names and statuses.

    Raises:
        InvalidArgument: naming the filter.
    """
    known = {
        "status",
        "id",
        "name",
        "label",
        "exited",
        "ancestor",
        "before",
        "since",
        "network",
        "volume",
        "health",
        "isolation",
        "is-task",
        "publish",
        "expose",
    }
    unknown = set(filters) - known
    if unknown:
        raise InvalidArgument(f"filters: invalid filter {sorted(unknown)[0]!r}")
    statuses = {"created", "restarting", "running", "removing", "paused", "exited", "dead"}
    for value in filters.get("status", []):
        if value not in statuses:
            raise InvalidArgument(
                f"filters.status: invalid filter 'status={value}'; expected one of "
                + ", ".join(sorted(statuses))
            )
    for value in filters.get("health", []):
        if value not in ("starting", "healthy", "unhealthy", "none"):
            raise InvalidArgument(
                f"filters.health: unrecognised filter value for health: {value!r}; expected "
                "starting, healthy, unhealthy or none"
            )


def matches_filters(
    record: ContainerRecord,
    filters: Filters,
    image_id: Callable[[str], str | None],
    health: HealthState | None = None,
) -> bool:
    """Whether a container passes ``docker ps`` filters (status, id, name, label, exited,
    ancestor, health); ``image_id`` resolves an image reference (None: no such image),
    ``health`` is the container's health check state (None: it has none)."""
    for key, values in filters.items():
        if not values:
            continue
        if key == "health" and (health.status if health is not None else "none") not in values:
            return False
        if key == "status" and record.status not in values:
            return False
        if key == "id" and not any(record.id.startswith(v) for v in values):
            return False
        if key == "name" and not any(v.lstrip("/") in record.name for v in values):
            return False
        if key == "label":
            labels = record.spec.config.labels
            for selector in values:
                k, sep, v = selector.partition("=")
                if k not in labels or (sep and labels[k] != v):
                    return False
        if key == "exited" and (record.status != "exited" or str(record.exit_code) not in values):
            return False
        if key == "ancestor" and not any(
            record.spec.config.image == ref or image_id(ref) == record.image_id for ref in values
        ):
            return False
    return True
