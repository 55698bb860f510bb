"""Debian's docker-compose 1.29 (a real docker-SDK client) brings a two-service app up and down."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.daemon.harness import Daemon, network_leftovers

COMPOSE = shutil.which("docker-compose")

APP = """\
version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo served-by-web > /www/index.html && httpd -f -p 80 -h /www"]
    volumes:
      - site:/www
    ports:
      - "127.0.0.1:15405:80"
  client:
    image: busybox
    command:
      - sh
      - -c
      - >-
        for i in 1 2 3 4 5 6 7 8 9 10;
        do timeout 5 wget -qO- http://web/ && exit 0; sleep 0.5; done; exit 1
    depends_on:
      - web
volumes:
  site:
"""


@pytest.fixture
def app_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="net-compose-"))
    (path / "docker-compose.yml").write_text(APP)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _compose(daemon: Daemon, app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert COMPOSE is not None
    return subprocess.run(
        [COMPOSE, "-p", "netapp", *args],
        cwd=app,
        env=daemon.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed (scripts/setup)")
def test_compose_up_and_down(daemon: Daemon, app_dir: Path) -> None:
    try:
        up = _compose(daemon, app_dir, "up", "-d")
        assert up.returncode == 0, up.stderr
        deadline = time.monotonic() + 30
        while True:
            state = (
                daemon.docker(
                    "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "netapp_client_1"
                )
                .stdout.decode()
                .strip()
            )
            if state.startswith("exited") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert state == "exited 0"
        logs = _compose(daemon, app_dir, "logs", "--no-color", "client")
        assert "served-by-web" in logs.stdout
        assert httpx.get("http://127.0.0.1:15405/", timeout=5).text == "served-by-web\n"
        assert "netapp_site" in daemon.docker("volume", "ls", "-q").stdout.decode()
        # The embedded resolver answers the service name (compose's alias) and the container
        # name on the project network.
        web_ip = (
            daemon.docker(
                "inspect",
                "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                "netapp_web_1",
            )
            .stdout.decode()
            .strip()
        )
        for name in ("web", "netapp_web_1"):
            lookup = daemon.docker(
                "run", "--rm", "--network", "netapp_default", "busybox", "nslookup", name
            )
            assert f"Address: {web_ip}" in lookup.stdout.decode(), lookup
    finally:
        down = _compose(daemon, app_dir, "down", "-v")
    assert down.returncode == 0, down.stderr
    assert daemon.docker("ps", "-aq").stdout == b""
    assert b"netapp" not in daemon.docker("network", "ls").stdout
    assert b"netapp" not in daemon.docker("volume", "ls").stdout
    deadline = time.monotonic() + 5
    while network_leftovers(daemon.stem) != [f"nft table {daemon.stem}"]:
        assert time.monotonic() < deadline, network_leftovers(daemon.stem)
        time.sleep(0.05)
    assert os.listdir(daemon.root / "netns") == []


HEALTHY_FIRST = """\
version: "3.8"
services:
  db:
    image: busybox
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 300"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
      retries: 30
  app:
    image: busybox
    command: ["sh", "-c", "echo app saw a healthy db"]
    depends_on:
      db:
        condition: service_healthy
"""


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed (scripts/setup)")
def test_compose_waits_for_a_healthy_dependency(daemon: Daemon, app_dir: Path) -> None:
    (app_dir / "docker-compose.yml").write_text(HEALTHY_FIRST)
    try:
        up = _compose(daemon, app_dir, "up", "-d")
        assert up.returncode == 0, up.stderr
        db = daemon.docker("inspect", "-f", "{{.State.Health.Status}}", "netapp_db_1")
        assert db.stdout.decode().strip() == "healthy"  # compose started app only then
        # The app started after the db's first healthy probe, which came a second in.
        health = json.loads(
            daemon.docker("inspect", "-f", "{{json .State.Health}}", "netapp_db_1").stdout
        )
        healthy_at = next(r["End"] for r in health["Log"] if r["ExitCode"] == 0)
        started = daemon.docker("inspect", "-f", "{{json .State.StartedAt}}", "netapp_app_1")
        assert healthy_at < json.loads(started.stdout)
    finally:
        down = _compose(daemon, app_dir, "down")
    assert down.returncode == 0, down.stderr
