"""Test tiers: unit and api run anywhere; privileged and e2e need root and --run-privileged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_ROOT_TIERS = {"privileged", "e2e"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-privileged",
        action="store_true",
        help="run the tiers that need root: real namespaces, mounts, cgroups, daemons",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    enabled = config.getoption("--run-privileged")
    for item in items:
        tier = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        if tier not in _ROOT_TIERS:
            continue
        item.add_marker(getattr(pytest.mark, tier))
        if not enabled:
            item.add_marker(pytest.mark.skip(reason=f"{tier} test: pass --run-privileged"))
        elif os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason=f"{tier} test: needs root"))
