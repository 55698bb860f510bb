"""What the network and volume e2e tests share: a checked docker result, and an HTTP GET
that waits for a published port to answer."""

from __future__ import annotations

import subprocess
import time

import httpx


def ok(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The command's stdout; fails the test with its stderr if it did not exit 0."""
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def fetch(url: str) -> httpx.Response:
    """GET ``url``, retrying connection errors for up to 10 s (a port being set up)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
