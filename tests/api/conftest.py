"""Fixtures: the API app over fakes, in-process (aiohttp test client) or on a unix socket."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.api.fakes import make_backends
from wharf.api import Backends, make_app


@pytest.fixture
def backends() -> Backends:
    return make_backends()


@pytest.fixture
async def client(backends: Backends) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(make_app(backends))) as test_client:
        yield test_client


@pytest.fixture
async def unix_socket(backends: Backends) -> AsyncIterator[str]:
    """The app served on a unix socket under /tmp/api-*, for raw-socket tests."""
    with tempfile.TemporaryDirectory(prefix="api-") as tmp:
        path = os.path.join(tmp, "api.sock")
        runner = web.AppRunner(make_app(backends), handler_cancellation=True)
        await runner.setup()
        site = web.UnixSite(runner, path)
        await site.start()
        try:
            yield path
        finally:
            await runner.cleanup()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
