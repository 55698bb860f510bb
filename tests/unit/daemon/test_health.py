"""Health checks: the check a container runs (its own over its image's) and how results move
its status."""

from __future__ import annotations

from typing import Any

import pytest

from wharf.apitypes.health import HealthConfig, HealthResult, HealthState
from wharf.daemon.health import HealthService, effective_check
from wharf.errors import InvalidArgument

_S = 1_000_000_000


def test_own_check_fields_override_the_images_and_none_disables() -> None:
    image = {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5 * _S, "Retries": 5}
    assert effective_check(None, image) == HealthConfig(
        test=("CMD-SHELL", "curl -f localhost"), interval=5 * _S, retries=5
    )
    own = HealthConfig(interval=2 * _S, timeout=_S)  # no test: the image's
    assert effective_check(own, image) == HealthConfig(
        test=("CMD-SHELL", "curl -f localhost"), interval=2 * _S, timeout=_S, retries=5
    )
    assert effective_check(HealthConfig(test=("NONE",)), image) is None
    assert effective_check(None, None) is None
    assert effective_check(None, {"Test": ["BOGUS"]}) is None  # a bad image check: none


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Test": ["CMD"]}, "Healthcheck.Test: expected"),
        ({"Test": ["CMD-SHELL", "a", "b"]}, "Healthcheck.Test: expected"),
        ({"Test": ["NONE", "x"]}, "Healthcheck.Test: expected"),
        ({"Test": ["echo"]}, "Healthcheck.Test: expected"),
        ({"Interval": 999}, "Healthcheck.Interval: expected 0 or at least 1ms"),
        ({"Timeout": -1}, "Healthcheck.Timeout"),
        ({"Retries": -2}, "Healthcheck.Retries: expected 0 or more"),
        ({"StartPeriod": "1s"}, "Healthcheck.StartPeriod"),
    ],
)
def test_bad_checks_are_refused_by_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        HealthConfig.from_json(body)


class _Containers:
    """What the service's bookkeeping uses of ContainerService: hooks, get and emit."""

    def __init__(self) -> None:
        self.start_hooks: list[Any] = []
        self.exit_hooks: list[Any] = []
        self.removal_hooks: list[Any] = []
        self.events: list[str] = []

    def get(self, ref: str) -> str:
        return ref

    def emit(self, record: str, action: str) -> None:
        self.events.append(action)


def _result(code: int) -> HealthResult:
    return HealthResult("s", "e", code, f"out {code}")


def test_failures_in_a_row_make_it_unhealthy_and_a_success_resets_them() -> None:
    containers = _Containers()
    service = HealthService(containers)  # type: ignore[arg-type]
    check = HealthConfig(test=("CMD", "true"), retries=2)
    for code in (1, 1, 0, 1):
        service._record("c", check, _result(code), in_start_period=False)
    state = containers.health_of("c")  # type: ignore[attr-defined]
    assert state == HealthState("healthy", 1, (_result(1), _result(1), _result(0), _result(1)))
    assert containers.events == ["health_status: unhealthy", "health_status: healthy"]
    for _ in range(3):
        service._record("c", check, _result(7), in_start_period=False)
    state = containers.health_of("c")  # type: ignore[attr-defined]
    assert (state.status, state.failing_streak, len(state.log)) == ("unhealthy", 4, 5)


def test_start_period_failures_do_not_count_until_a_success() -> None:
    containers = _Containers()
    service = HealthService(containers)  # type: ignore[arg-type]
    check = HealthConfig(test=("CMD", "true"), retries=1)
    service._record("c", check, _result(1), in_start_period=True)
    assert containers.health_of("c").status == "starting"  # type: ignore[attr-defined]
    service._record("c", check, _result(0), in_start_period=True)
    service._record("c", check, _result(1), in_start_period=True)
    assert containers.health_of("c").status == "unhealthy"  # type: ignore[attr-defined]
