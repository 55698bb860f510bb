"""Fixtures: a container service over the fake runtime and image store, on a temp data root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.daemon.fakes import FakeImages, FakeRuntime
from wharf.daemon.containers import ContainerService
from wharf.daemon.events import EventBus
from wharf.daemon.store import ContainerStore


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def runtime() -> Iterator[FakeRuntime]:
    rt = FakeRuntime()
    yield rt
    rt.close()


@pytest.fixture
def images() -> FakeImages:
    return FakeImages()


@pytest.fixture
def service(tmp_path: Path, runtime: FakeRuntime, images: FakeImages) -> ContainerService:
    return ContainerService(
        store=ContainerStore(tmp_path), runtime=runtime, images=images, events=EventBus()
    )
