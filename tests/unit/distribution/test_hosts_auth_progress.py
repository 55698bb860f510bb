"""Endpoints, challenges, X-Registry-Auth and the progress messages the docker CLI reads."""

from __future__ import annotations

import base64
import json

import pytest

from wharf.distribution.auth import decode_registry_auth, parse_challenge
from wharf.distribution.hosts import Endpoint, RegistryHosts
from wharf.distribution.progress import Message, Progress, PushResult, human_size
from wharf.errors import InvalidArgument, NotFound


def test_loopback_and_listed_hosts_are_plain_http_others_https() -> None:
    hosts = RegistryHosts(insecure=("reg.example:5000", "10.1.0.0/16"))
    assert hosts.origin("127.0.0.1:5000").url == "http://127.0.0.1:5000"
    assert hosts.origin("127.8.9.10:5000").url == "http://127.8.9.10:5000"
    assert hosts.origin("localhost:5000").url == "http://localhost:5000"
    assert hosts.origin("reg.example:5000").url == "http://reg.example:5000"
    assert hosts.origin("10.1.2.3").url == "http://10.1.2.3"
    assert hosts.origin("10.2.0.1").url == "https://10.2.0.1"
    assert hosts.origin("quay.io").url == "https://quay.io"
    with pytest.raises(NotFound, match="Docker Hub is not enabled"):
        hosts.origin("docker.io")
    assert RegistryHosts(docker_hub=True).origin("docker.io").url == "https://registry-1.docker.io"


def test_mirrors_come_first_for_docker_hub_only() -> None:
    hosts = RegistryHosts(mirrors=("http://127.0.0.1:5001/",), docker_hub=True)
    assert hosts.pull_endpoints("docker.io") == [
        Endpoint("http://127.0.0.1:5001", mirror=True),
        Endpoint("https://registry-1.docker.io"),
    ]
    assert hosts.pull_endpoints("quay.io") == [Endpoint("https://quay.io")]
    hubless = RegistryHosts(mirrors=("http://127.0.0.1:5001",))
    assert hubless.pull_endpoints("docker.io") == [Endpoint("http://127.0.0.1:5001", mirror=True)]
    with pytest.raises(NotFound, match="--registry-mirror"):
        RegistryHosts().pull_endpoints("docker.io")


@pytest.mark.parametrize("mirror", ["127.0.0.1:5000", "ftp://x", "http://x/a/b"])
def test_bad_mirror_is_refused_by_name(mirror: str) -> None:
    with pytest.raises(InvalidArgument, match="--registry-mirror"):
        RegistryHosts(mirrors=(mirror,)).validate()


def test_bad_insecure_cidr_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"--insecure-registry '10\.0\.0\.0/99'"):
        RegistryHosts(insecure=("10.0.0.0/99",)).validate()


def test_bearer_challenge_parameters() -> None:
    challenge = parse_challenge(
        'Bearer realm="http://127.0.0.1:1/token",service="reg",'
        'scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope"'
    )
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.params["realm"] == "http://127.0.0.1:1/token"
    assert challenge.params["scope"] == "repository:a/b:pull,push repository:c:pull"
    assert parse_challenge("") is None
    basic = parse_challenge('Basic realm="r"')
    assert basic is not None and basic.scheme == "basic"


def test_registry_auth_header_decodes_docker_cli_forms() -> None:
    body = {"username": "u", "password": "p:w", "serveraddress": "127.0.0.1:5000"}
    header = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    creds, server = decode_registry_auth(header)
    assert (creds.username, creds.password, server) == ("u", "p:w", "127.0.0.1:5000")
    empty, _ = decode_registry_auth("e30=")
    assert not empty
    with pytest.raises(InvalidArgument, match="X-Registry-Auth"):
        decode_registry_auth("%%%")


def test_progress_messages_have_docker_shape() -> None:
    assert Progress("Downloading", "abc", 500, 1000).to_json() == {
        "status": "Downloading",
        "progressDetail": {"current": 500, "total": 1000},
        "progress": "[========================>                         ] 500B/1kB",
        "id": "abc",
    }
    assert Message("Pull complete", "abc").to_json() == {
        "status": "Pull complete",
        "progressDetail": {},
        "id": "abc",
    }
    assert Message("Digest: sha256:x").to_json() == {"status": "Digest: sha256:x"}
    assert PushResult("v1", "sha256:x", 527).to_json()["aux"] == {
        "Tag": "v1",
        "Digest": "sha256:x",
        "Size": 527,
    }
    assert human_size(2_140_000) == "2.14MB"
