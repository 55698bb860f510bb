"""Fixtures: registry applications in-process on real sockets (ports 15130-15189)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from registry_flows import Running, listen_socket, run_app

from wharf.registry.app import make_app
from wharf.registry.config import RegistryConfig


@pytest.fixture
def start_registry(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start registries with a config (root defaults to a fresh temp dir)."""
    running: list[Running] = []

    def start(cfg: RegistryConfig | None = None, **changes: Any) -> Running:
        base = cfg or RegistryConfig(root=tmp_path / "root", gc_grace=0)
        sock = listen_socket()
        port = sock.getsockname()[1]
        cfg = replace(base, addr=f"127.0.0.1:{port}", **changes)
        app = make_app(cfg)
        stop = run_app(app, sock)
        r = Running(cfg, f"http://127.0.0.1:{port}", app, stop)
        running.append(r)
        return r

    try:
        yield start
    finally:
        for r in running:
            r.stop()


@pytest.fixture(params=["filesystem", "inmemory"])
def registry(request: pytest.FixtureRequest, start_registry: Callable[..., Running]) -> Running:
    """One registry per storage driver: the flows must not depend on the driver."""
    return start_registry(driver=request.param)


@pytest.fixture
def client(registry: Running) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, timeout=30) as c:
        yield c
