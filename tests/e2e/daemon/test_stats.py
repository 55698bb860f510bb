"""``docker stats`` and ``GET /containers/{id}/stats`` in Docker's v1.41 cgroup-v1 shape."""

from __future__ import annotations

import json
import subprocess

import docker
import pytest

from tests.e2e.daemon.harness import Daemon


def out(result) -> str:
    return result.stdout.decode()


@pytest.fixture
def sdk(daemon: Daemon):
    client = docker.DockerClient(base_url=daemon.host, version="1.41")
    yield client
    client.close()


def test_stats_stream_carries_the_previous_sample_as_precpu(daemon: Daemon, sdk) -> None:
    daemon.docker(
        "run", "-d", "--name", "spin", "--pids-limit", "20", "busybox", "sh", "-c",
        "while true; do :; done",
    )  # fmt: skip
    try:
        container = sdk.containers.get("spin")
        stream = container.stats(stream=True, decode=True)
        first, second = next(stream), next(stream)
        stream.close()
        assert second["precpu_stats"] == first["cpu_stats"]
        assert second["preread"] == first["read"]
        used = (
            second["cpu_stats"]["cpu_usage"]["total_usage"]
            - first["cpu_stats"]["cpu_usage"]["total_usage"]
        )
        assert used > 100_000_000  # a busy loop for ~1 s: well over 0.1 s of CPU
        assert second["pids_stats"] == {"current": 1, "limit": 20}
        assert second["cpu_stats"]["online_cpus"] >= 1
        assert len(second["cpu_stats"]["cpu_usage"]["percpu_usage"]) >= 1
        one = container.stats(stream=False)
        assert one["precpu_stats"]["cpu_usage"]["total_usage"] > 0  # sampled a moment before
        assert one["memory_stats"]["usage"] > 0
        assert one["memory_stats"]["limit"] > 0
        assert "total_inactive_file" in one["memory_stats"]["stats"]
        shot = json.loads(
            subprocess.run(
                [
                    "curl", "-sf", "--unix-socket", str(daemon.socket),
                    f"http://x/v1.41/containers/{container.id}/stats?stream=false&one-shot=true",
                ],
                capture_output=True, check=True,
            ).stdout
        )  # fmt: skip
        assert shot["precpu_stats"]["cpu_usage"]["total_usage"] == 0
        assert shot["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    finally:
        daemon.docker("rm", "-f", "spin")


def test_network_counters_for_a_bridged_container_only(daemon: Daemon, sdk) -> None:
    daemon.docker("run", "-d", "--name", "bridged", "busybox", "sleep", "300")
    daemon.docker("run", "-d", "--name", "isolated", "--network", "none", "busybox", "sleep", "300")
    try:
        bridged = sdk.containers.get("bridged").stats(stream=False)
        assert set(bridged["networks"]) == {"eth0"}
        assert set(bridged["networks"]["eth0"]) == {
            "rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
            "tx_bytes", "tx_packets", "tx_errors", "tx_dropped",
        }  # fmt: skip
        assert "networks" not in sdk.containers.get("isolated").stats(stream=False)
        table = daemon.docker(
            "stats", "--no-stream", "--format", "{{.Name}} {{.NetIO}} {{.BlockIO}} {{.PIDs}}",
            "bridged", "isolated",
        )  # fmt: skip
        assert table.returncode == 0, table.stderr
        rows = {line.split()[0]: line for line in out(table).splitlines()}
        assert set(rows) == {"bridged", "isolated"}
        assert rows["isolated"].split()[1:4] == ["0B", "/", "0B"]
        assert rows["bridged"].endswith(" 1")
    finally:
        daemon.docker("rm", "-f", "bridged", "isolated")


def test_stats_of_stopped_and_missing_containers(daemon: Daemon) -> None:
    daemon.docker("create", "--name", "idle", "busybox", "true")
    try:
        result = daemon.docker(
            "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}}", "idle"
        )
        assert result.returncode == 0, result.stderr
        assert out(result).split() == ["idle", "0.00%", "0B", "/", "0B"]
    finally:
        daemon.docker("rm", "idle")
    missing = daemon.docker("stats", "--no-stream", "d2-no-such-container")
    assert missing.returncode != 0
    assert b"No such container: d2-no-such-container" in missing.stderr
