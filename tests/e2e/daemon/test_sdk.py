"""The docker SDK for Python against a private wharf daemon."""

from __future__ import annotations

import docker
import pytest

from tests.e2e.daemon.harness import Daemon


@pytest.fixture
def client(daemon: Daemon):
    c = docker.DockerClient(base_url=daemon.host)
    yield c
    c.close()


def test_containers_run_returns_output(client) -> None:
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"
    assert client.containers.run("busybox", ["sh", "-c", "echo a; echo b"]) == b"a\nb\n"


def test_sdk_lifecycle_and_errors(client) -> None:
    container = client.containers.run(
        "busybox",
        "sleep 100",
        detach=True,
        name="sdk",
        labels={"team": "wharf"},
        environment={"X": "1"},
    )
    container.reload()
    assert container.status == "running"
    assert container.labels == {"team": "wharf"}
    assert [c.name for c in client.containers.list(filters={"label": "team=wharf"})] == ["sdk"]
    code, output = container.exec_run("sh -c 'echo $X'")
    assert (code, output) == (0, b"1\n")
    container.stop(timeout=1)
    assert container.wait()["StatusCode"] == 137
    container.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("sdk")
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.run("nope:latest", "true")
    with pytest.raises(docker.errors.ContainerError) as info:
        client.containers.run("busybox", "sh -c 'exit 2'", remove=True)
    assert info.value.exit_status == 2


def test_sdk_images(client) -> None:
    image = client.images.get("busybox")
    assert "busybox:latest" in image.tags
    assert client.api.version()["ApiVersion"] == "1.41"
    assert client.ping() is True
