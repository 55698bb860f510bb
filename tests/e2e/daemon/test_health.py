"""Health checks through the real docker CLI: ``--health-*``, an image's ``HEALTHCHECK``,
``docker ps`` status and filter, inspect and events."""

from __future__ import annotations

import json
import os
import subprocess
import time

from tests.e2e.daemon.harness import DOCKER, Daemon


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def _health(daemon: Daemon, name: str) -> dict:
    return json.loads(_ok(daemon.docker("inspect", "-f", "{{json .State.Health}}", name)))


def _until(daemon: Daemon, name: str, status: str) -> dict:
    deadline = time.monotonic() + 15
    while (health := _health(daemon, name))["Status"] != status:
        assert time.monotonic() < deadline, f"{name} never became {status}: {health}"
        time.sleep(0.1)
    return health


def test_a_check_moves_starting_unhealthy_healthy(daemon: Daemon) -> None:
    since = str(int(time.time()) - 1)
    _ok(
        daemon.docker(
            "run",
            "-d",
            "--name",
            "hc",
            "--health-cmd",
            "test -f /tmp/ok && echo fine",
            "--health-interval",
            "200ms",
            "--health-retries",
            "2",
            "busybox",
            "sleep",
            "300",
        )
    )
    try:
        assert _health(daemon, "hc")["Status"] == "starting"
        assert "(health: starting)" in _ok(daemon.docker("ps", "--filter", "name=hc"))
        bad = _until(daemon, "hc", "unhealthy")
        assert bad["FailingStreak"] >= 2 and bad["Log"][-1]["ExitCode"] == 1
        assert "(unhealthy)" in _ok(daemon.docker("ps", "--filter", "name=hc"))
        _ok(daemon.docker("exec", "hc", "touch", "/tmp/ok"))
        good = _until(daemon, "hc", "healthy")
        assert good["FailingStreak"] == 0 and good["Log"][-1]["Output"] == "fine\n"
        assert len(good["Log"]) <= 5
        healthy = _ok(daemon.docker("ps", "--filter", "health=healthy", "--format", "{{.Names}}"))
        assert healthy.split() == ["hc"]
        events = _ok(
            daemon.docker(
                "events",
                "--since",
                since,
                "--until",
                str(int(time.time()) + 1),
                "--filter",
                "event=health_status",
                "--format",
                "{{.Action}}",
            )
        )
        assert events.split("\n")[:2] == ["health_status: unhealthy", "health_status: healthy"]
        # Each probe's runtime exec is gone once it is recorded.
        cid = _ok(daemon.docker("inspect", "-f", "{{.Id}}", "hc")).strip()
        execs = daemon.root / "rt" / cid / "exec"
        assert len(os.listdir(execs)) <= 2  # the docker exec above, and a probe under way
    finally:
        daemon.docker("rm", "-f", "hc")


def test_a_probe_over_its_timeout_is_killed_and_fails(daemon: Daemon) -> None:
    _ok(
        daemon.docker(
            "run",
            "-d",
            "--name",
            "slow",
            "--health-cmd",
            "sleep 7",
            "--health-interval",
            "200ms",
            "--health-timeout",
            "300ms",
            "--health-retries",
            "1",
            "busybox",
            "sleep",
            "300",
        )
    )
    try:
        result = _until(daemon, "slow", "unhealthy")["Log"][0]
        assert result["ExitCode"] == -1
        assert result["Output"] == "Health check exceeded timeout (0.3s)"
        top = _ok(daemon.docker("top", "slow"))
        assert "sleep 7" not in top
    finally:
        daemon.docker("rm", "-f", "slow")


def test_an_images_healthcheck_runs_unless_the_container_says_none(daemon: Daemon) -> None:
    dockerfile = b"FROM busybox\nHEALTHCHECK --interval=200ms CMD echo from-image\n"
    build = subprocess.run(
        [DOCKER, "build", "-q", "-t", "hcimg", "-"],
        input=dockerfile,
        capture_output=True,
        env={**daemon.env, "DOCKER_BUILDKIT": "0"},
        check=False,
    )
    assert build.returncode == 0, build.stderr
    _ok(daemon.docker("run", "-d", "--name", "inherits", "hcimg", "sleep", "300"))
    _ok(
        daemon.docker(
            "run", "-d", "--name", "opts-out", "--no-healthcheck", "hcimg", "sleep", "300"
        )
    )
    try:
        assert _until(daemon, "inherits", "healthy")["Log"][-1]["Output"] == "from-image\n"
        shown = _ok(daemon.docker("inspect", "-f", "{{json .State.Health}}", "opts-out"))
        assert shown.strip() == "null"
        none = _ok(daemon.docker("ps", "--filter", "health=none", "--format", "{{.Names}}"))
        assert "opts-out" in none.split() and "inherits" not in none.split()
    finally:
        daemon.docker("rm", "-f", "inherits", "opts-out")
        daemon.docker("rmi", "hcimg")
