"""The network service's clean-up at a daemon (re)start, on the real kernel.

Links are named ``net-q<hex>...`` and removed in ``finally``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharf.daemon.networks import NetworkConfig, NetworkService
from wharf.daemon.store import ContainerStore


@pytest.fixture
def stem() -> Iterator[str]:
    """``net-q<2 hex>``: 7 characters, the prefix every link of the service starts with."""
    prefix = f"net-q{secrets.token_hex(1)}"
    try:
        yield prefix
    finally:
        for link in os.listdir("/sys/class/net"):
            if link.startswith(prefix):
                subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
        for letter in "bv":
            subprocess.run(
                ["nft", "delete", "table", "ip", prefix + letter], capture_output=True, check=False
            )


@pytest.mark.parametrize("letter", ["b", "v"])
def test_restart_keeps_a_default_bridge_named_like_a_stale_link(
    tmp_path: Path, stem: str, letter: str
) -> None:
    # A bridge "net-q1ab0" has the stem "net-q1ab", whose first 7 characters are the prefix
    # of the service's links: the bridge itself looks like a user network's bridge ("b") or
    # an endpoint's host end ("v"). The e2e daemons (net-<4 hex>) hit it 1 time in 16.
    bridge = f"{stem}{letter}0"
    stale = f"{stem}v0000000"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)  # the last daemon's
    subprocess.run(
        ["ip", "link", "add", stale, "type", "veth", "peer", "name", f"{stem}v0000001"],
        check=True,
    )
    service = NetworkService(
        NetworkConfig(tmp_path / "data", tmp_path / "exec", bridge, "10.215.0.1/24"),
        ContainerStore(tmp_path / "data"),
    )
    try:
        service.reconcile(set())
    finally:
        service.close()
    links = os.listdir("/sys/class/net")
    assert bridge in links
    assert stale not in links
    addr = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", bridge], capture_output=True, text=True, check=True
    )
    assert "inet 10.215.0.1/24" in addr.stdout
