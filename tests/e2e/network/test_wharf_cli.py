"""The ``wharf`` CLI's network and volume commands and run flags against a private daemon."""

from __future__ import annotations

import time

import httpx

from tests.e2e.daemon.harness import Daemon
from tests.e2e.network.helpers import ok as _ok


def test_wharf_network_volume_and_run_flags(daemon: Daemon) -> None:
    _ok(daemon.wharf("network", "create", "--subnet", "10.203.0.0/24", "net-cli"))
    _ok(daemon.wharf("volume", "create", "net-clivol"))
    try:
        assert "net-cli" in _ok(daemon.wharf("network", "ls"))
        assert "net-clivol" in _ok(daemon.wharf("volume", "ls", "-q")).split()
        _ok(
            daemon.wharf(
                "run",
                "-d",
                "--name",
                "cweb",
                "--network",
                "net-cli",
                "--network-alias",
                "front",
                "-p",
                "127.0.0.1:15406:80",
                "-v",
                "net-clivol:/www",
                "busybox",
                "sh",
                "-c",
                "echo cli > /www/index.html; httpd -f -p 80 -h /www",
            )
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                body = httpx.get("http://127.0.0.1:15406/", timeout=5).text
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert body == "cli\n"
        out = _ok(
            daemon.wharf(
                "run",
                "--rm",
                "--network",
                "net-cli",
                "busybox",
                "timeout",
                "10",
                "wget",
                "-qO-",
                "http://front/",
            )
        )
        assert out == "cli\n"
        inspect = _ok(daemon.wharf("network", "inspect", "net-cli"))
        assert "10.203.0." in inspect
        busy = daemon.wharf("volume", "rm", "net-clivol")
        assert busy.returncode != 0
        assert b"in use" in busy.stderr
        bad = daemon.wharf("run", "--rm", "-p", "1:2:3:4", "busybox", "true")
        assert bad.returncode != 0
    finally:
        daemon.wharf("rm", "-f", "cweb")
        daemon.wharf("network", "rm", "net-cli")
        daemon.wharf("volume", "rm", "net-clivol")
    assert "net-cli" not in _ok(daemon.wharf("network", "ls"))
    assert "net-clivol" not in _ok(daemon.wharf("volume", "ls", "-q"))


def test_wharf_volume_options_and_port_range(daemon: Daemon) -> None:
    _ok(
        daemon.wharf(
            "volume",
            "create",
            "--opt",
            "type=tmpfs",
            "--opt",
            "device=tmpfs",
            "--opt",
            "o=size=8m",
            "n2-clitmp",
        )
    )
    try:
        out = _ok(
            daemon.wharf(
                "run",
                "--rm",
                "-v",
                "n2-clitmp:/t",
                "-p",
                "127.0.0.1:15640-15642:80",
                "busybox",
                "sh",
                "-c",
                "grep ' /t ' /proc/mounts",
            )
        )
        assert " /t tmpfs " in out
        assert "size=8192k" in out
        bad = daemon.wharf("volume", "create", "--opt", "colour=red", "n2-clibad")
        assert bad.returncode != 0
        assert b'invalid option key: "colour"' in bad.stderr
    finally:
        daemon.wharf("volume", "rm", "n2-clitmp")
