"""Health checks: ``Config.Healthcheck`` (``--health-*``, Dockerfile ``HEALTHCHECK``) and the
``State.Health`` of inspect.

Durations are nanoseconds on the wire; 0 means "inherit" (from the image, then Docker's
defaults: every 30 s, a 30 s timeout, no start period, 3 retries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from wharf.apitypes.common import Obj, get_int, get_str_list
from wharf.errors import InvalidArgument

__all__ = ["HEALTH_LOG_ENTRIES", "HealthConfig", "HealthResult", "HealthState"]

_MIN_DURATION: Final = 1_000_000  # 1 ms, dockerd's minimum for each duration
HEALTH_LOG_ENTRIES: Final = 5  # results kept in State.Health.Log, as dockerd


@dataclass(frozen=True)
class HealthConfig:
    """A container's health check.

    Attributes:
        test: ``()`` inherit the image's; ``("NONE",)`` none; ``("CMD", arg, ...)`` or
            ``("CMD-SHELL", command)``.
    """

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0

    @classmethod
    def from_json(cls, data: Obj, field: str = "Healthcheck") -> HealthConfig:
        """Parse and validate.

        Raises:
            InvalidArgument: a test that is not NONE, CMD or CMD-SHELL, a duration between 0
                and 1 ms or negative, negative retries.
        """
        test = get_str_list(data, "Test", f"{field}.Test") or ()
        if test and not (
            (test[0] == "NONE" and len(test) == 1)
            or (test[0] == "CMD" and len(test) > 1)
            or (test[0] == "CMD-SHELL" and len(test) == 2)
        ):
            raise InvalidArgument(
                f'{field}.Test: expected [] (the image\'s), ["NONE"], ["CMD", args...] or '
                f'["CMD-SHELL", command], got {list(test)!r}'
            )
        values = {}
        for key, name in (
            ("Interval", "interval"),
            ("Timeout", "timeout"),
            ("StartPeriod", "start_period"),
        ):
            value = get_int(data, key, f"{field}.{key}")
            if value < 0 or 0 < value < _MIN_DURATION:
                raise InvalidArgument(
                    f"{field}.{key}: expected 0 or at least 1ms (in nanoseconds), got {value}"
                )
            values[name] = value
        retries = get_int(data, "Retries", f"{field}.Retries")
        if retries < 0:
            raise InvalidArgument(f"{field}.Retries: expected 0 or more, got {retries}")
        return cls(test=test, retries=retries, **values)

    def to_json(self) -> dict[str, Any]:
        """Wire form (durations in nanoseconds)."""
        return {
            "Test": list(self.test),
            "Interval": self.interval,
            "Timeout": self.timeout,
            "StartPeriod": self.start_period,
            "Retries": self.retries,
        }


@dataclass(frozen=True)
class HealthResult:
    """One probe: when it ran, its exit code (-1: it timed out) and its output."""

    start: str
    end: str
    exit_code: int
    output: str

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "Start": self.start,
            "End": self.end,
            "ExitCode": self.exit_code,
            "Output": self.output,
        }


@dataclass(frozen=True)
class HealthState:
    """``State.Health``: the status, the failures in a row, the last results."""

    status: Literal["starting", "healthy", "unhealthy"]
    failing_streak: int = 0
    log: tuple[HealthResult, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "Status": self.status,
            "FailingStreak": self.failing_streak,
            "Log": [r.to_json() for r in self.log],
        }
