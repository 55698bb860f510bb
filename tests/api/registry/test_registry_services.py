"""Auth, webhooks, mirror, search, metrics, health and garbage collection."""

from __future__ import annotations

import time
from pathlib import Path

import bcrypt
import httpx
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from registry_flows import digest_of, error_codes, listen_socket, push_blob, push_image, run_app

from wharf.registry.config import (
    Endpoint,
    Grant,
    HtpasswdAuth,
    ProxyConfig,
    RegistryConfig,
    TokenAuth,
    TokenServer,
)
from wharf.registry.gc import collect
from wharf.registry.storage.filesystem import FilesystemDriver
from wharf.registry.storage.store import Store


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    lines = [
        f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode()}" for u, p in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_basic_auth(start_registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": "secret"})
    reg = start_registry(htpasswd=HtpasswdAuth("wharf-test", htpasswd))
    with httpx.Client(base_url=reg.url) as c:
        r = c.get("/v2/")
        assert r.status_code == 401
        assert r.headers["Www-Authenticate"] == 'Basic realm="wharf-test"'
        assert error_codes(r) == ["UNAUTHORIZED"]
        assert c.get("/v2/", auth=("alice", "wrong")).status_code == 401
        assert c.get("/v2/", auth=("bob", "secret")).status_code == 401
    with httpx.Client(base_url=reg.url, auth=("alice", "secret")) as c:
        push_image(c, "demo/auth", "v1")
        assert c.get("/v2/demo/auth/manifests/v1").status_code == 200


@pytest.fixture
def token_registry(start_registry, tmp_path):  # type: ignore[no-untyped-def]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "pub.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    htpasswd = write_htpasswd(tmp_path / "users", {"alice": "pw", "bob": "pw"})
    sock = listen_socket()
    port = sock.getsockname()[1]
    realm = f"http://127.0.0.1:{port}/auth/token"
    from dataclasses import replace

    cfg = RegistryConfig(
        root=tmp_path / "root",
        token=TokenAuth(realm, "wharf-test", "wharf-issuer", tmp_path / "pub.pem"),
        token_server=TokenServer(
            private_key=tmp_path / "key.pem",
            htpasswd=htpasswd,
            grants=(
                Grant("alice", "*", ("*",)),
                Grant("bob", "demo/*", ("pull",)),
            ),
        ),
    )
    from wharf.registry.app import make_app

    cfg = replace(cfg, addr=f"127.0.0.1:{port}")
    stop = run_app(make_app(cfg), sock)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop()


def test_token_auth_challenge_and_scopes(token_registry: str) -> None:
    url = token_registry
    with httpx.Client(base_url=url) as c:
        r = c.get("/v2/demo/x/manifests/latest")
        assert r.status_code == 401
        challenge = r.headers["Www-Authenticate"]
        assert challenge.startswith(f'Bearer realm="{url}/auth/token",service="wharf-test"')
        assert 'scope="repository:demo/x:pull"' in challenge
        r = c.post("/v2/demo/x/blobs/uploads/", params={"mount": digest_of(b"a"), "from": "demo/y"})
        assert (
            'scope="repository:demo/x:pull,push repository:demo/y:pull"'
            in r.headers["Www-Authenticate"]
        )
        # Repeated scope parameters (skopeo) and one space-separated one (conformance suite).
        repeated = c.get(
            "/auth/token",
            params=[
                ("service", "wharf-test"),
                ("scope", "repository:demo/x:pull,push"),
                ("scope", "repository:demo/y:pull"),
            ],
            auth=("alice", "pw"),
        ).json()
        spaced = c.get(
            "/auth/token",
            params={
                "service": "wharf-test",
                "scope": "repository:demo/x:pull,push repository:demo/y:pull",
            },
            auth=("alice", "pw"),
        ).json()
        for body in (repeated, spaced):
            claims = jwt.decode(body["token"], options={"verify_signature": False})
            assert claims["access"] == [
                {"type": "repository", "name": "demo/x", "actions": ["pull", "push"]},
                {"type": "repository", "name": "demo/y", "actions": ["pull"]},
            ]
            assert claims["aud"] == "wharf-test"
            assert claims["iss"] == "wharf-issuer"
            assert body["access_token"] == body["token"]
        assert c.get("/auth/token", params={"scope": "x"}, auth=("alice", "bad")).status_code == 401
        # The OAuth2 password grant (POST form) that docker login may use.
        oauth = c.post(
            "/auth/token",
            data={
                "grant_type": "password",
                "username": "alice",
                "password": "pw",
                "service": "wharf-test",
                "scope": "repository:demo/x:pull",
                "client_id": "test",
            },
        )
        assert oauth.status_code == 200
        claims = jwt.decode(oauth.json()["access_token"], options={"verify_signature": False})
        assert claims["sub"] == "alice"
        assert claims["access"][0]["actions"] == ["pull"]
        bad = c.post("/auth/token", data={"username": "alice", "password": "no", "scope": ""})
        assert bad.status_code == 401
        alice = {"Authorization": f"Bearer {repeated['token']}"}
        data = b"token pushed"
        r = c.post(
            "/v2/demo/x/blobs/uploads/",
            params={"digest": digest_of(data)},
            content=data,
            headers=alice,
        )
        assert r.status_code == 201
        # bob may only pull demo/*: his push token grants nothing to push.
        bob = c.get(
            "/auth/token", params={"scope": "repository:demo/x:pull,push"}, auth=("bob", "pw")
        ).json()
        assert jwt.decode(bob["token"], options={"verify_signature": False})["access"][0][
            "actions"
        ] == ["pull"]
        r = c.post("/v2/demo/x/blobs/uploads/", headers={"Authorization": f"Bearer {bob['token']}"})
        assert r.status_code == 401
        assert 'error="insufficient_scope"' in r.headers["Www-Authenticate"]
        r = c.get(
            f"/v2/demo/x/blobs/{digest_of(data)}",
            headers={"Authorization": f"Bearer {bob['token']}"},
        )
        assert r.content == data
        forged = jwt.encode(
            {
                "iss": "wharf-issuer",
                "aud": "wharf-test",
                "exp": 2**33,
                "access": [{"type": "repository", "name": "demo/x", "actions": ["*"]}],
            },
            "k" * 32,
            algorithm="HS256",
        )
        assert c.get("/v2/", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


class Listener:
    """A webhook receiver on its own port; ``fail`` makes it answer 500."""

    def __init__(self) -> None:
        self.events: list[dict] = []  # type: ignore[type-arg]
        self.content_types: list[str] = []
        self.fail = False
        sock = listen_socket()
        self.port = sock.getsockname()[1]
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self.stop = run_app(app, sock)

    async def hook(self, request: web.Request) -> web.Response:
        if self.fail:
            return web.Response(status=500)
        self.content_types.append(request.headers["Content-Type"])
        self.events.extend((await request.json())["events"])
        return web.Response()

    def wait_for(self, count: int) -> list[dict]:  # type: ignore[type-arg]
        deadline = time.monotonic() + 15
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.events


def test_webhooks_push_pull_mount_delete_survive_restart(start_registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    listener = Listener()
    try:
        endpoint = Endpoint("hook", f"http://127.0.0.1:{listener.port}/hook", backoff=0.1)
        reg = start_registry(endpoints=(endpoint,))
        with httpx.Client(base_url=reg.url) as c:
            d = push_image(c, "demo/events", "v1")
            c.get("/v2/demo/events/manifests/v1")
            layer = digest_of(b"layer-x")
            c.post("/v2/demo/other/blobs/uploads/", params={"mount": layer, "from": "demo/events"})
            c.delete("/v2/demo/events/manifests/v1")
        events = listener.wait_for(6)
        actions = [(e["action"], e["target"].get("tag", "")) for e in events]
        assert ("push", "v1") in actions
        assert ("pull", "v1") in actions
        assert ("delete", "v1") in actions
        assert any(
            e["action"] == "mount" and e["target"]["fromRepository"] == "demo/events"
            for e in events
        )
        push = next(e for e in events if e["action"] == "push" and e["target"].get("tag"))
        assert push["target"]["digest"] == d
        assert push["target"]["repository"] == "demo/events"
        assert push["request"]["method"] == "PUT"
        assert listener.content_types[0] == "application/vnd.docker.distribution.events.v1+json"
        # The endpoint is down while a push happens and the registry restarts.
        listener.fail = True
        before = len(listener.events)
        reg.stop()
        reg2 = start_registry(endpoints=(endpoint,))
        with httpx.Client(base_url=reg2.url) as c:
            push_image(c, "demo/later", "v9", seed=b"later")
        reg2.stop()
        assert reg2.registry.notifier.pending() > 0
        listener.fail = False
        start_registry(endpoints=(endpoint,))
        events = listener.wait_for(before + 3)
        assert any(e["target"].get("tag") == "v9" for e in events[before:])
    finally:
        listener.stop()


def test_mirror_caches_and_serves_when_upstream_is_down(start_registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    upstream = start_registry(RegistryConfig(root=tmp_path / "upstream"))
    with httpx.Client(base_url=upstream.url) as c:
        d = push_image(c, "library/busybox", "latest")
        layer = digest_of(b"layer-x")
    mirror = start_registry(
        RegistryConfig(root=tmp_path / "mirror", proxy=ProxyConfig(upstream.url))
    )
    with httpx.Client(base_url=mirror.url) as c:
        r = c.get("/v2/library/busybox/manifests/latest")
        assert r.status_code == 200
        assert r.headers["Docker-Content-Digest"] == d
        assert c.get(f"/v2/library/busybox/blobs/{layer}").content == b"layer-x"
        assert c.post("/v2/library/busybox/blobs/uploads/").status_code == 405
        upstream.stop()
        r = c.get("/v2/library/busybox/manifests/latest")
        assert r.status_code == 200
        assert r.headers["Docker-Content-Digest"] == d
        assert c.get(f"/v2/library/busybox/blobs/{layer}").content == b"layer-x"
        r = c.get(f"/v2/library/busybox/blobs/{digest_of(b'never cached')}")
        assert r.status_code == 404


def test_search_metrics_and_health(client: httpx.Client) -> None:
    for name in ("demo/busybox", "tools/busy-worker", "demo/alpine"):
        push_image(client, name, "v1")
    r = client.get("/v1/search", params={"q": "busy"})
    assert r.status_code == 200
    names = [x["name"] for x in r.json()["results"]]
    assert sorted(names) == ["demo/busybox", "tools/busy-worker"]
    assert r.json()["num_results"] == 2
    r = client.get("/v1/search", params={"q": "alpine", "n": 1})
    assert [x["name"] for x in r.json()["results"]] == ["demo/alpine"]
    assert client.get("/health").json()["status"] == "ok"
    metrics = client.get("/metrics").text
    assert (
        'wharf_registry_http_requests_total{method="PUT",route="manifest",code="201"} 3' in metrics
    )
    assert 'wharf_registry_bytes_total{direction="received"}' in metrics
    assert 'wharf_registry_duration_seconds_count{transfer="upload"}' in metrics
    d = push_blob(client, "demo/alpine", b"download me")
    assert client.get(f"/v2/demo/alpine/blobs/{d}").content == b"download me"
    metrics = client.get("/metrics").text
    assert 'wharf_registry_duration_seconds_count{transfer="download"} 1' in metrics
    assert 'wharf_registry_bytes_total{direction="sent"} 11' in metrics


def test_garbage_collection_dry_run_sweep_and_grace(start_registry) -> None:  # type: ignore[no-untyped-def]
    registry = start_registry()
    client = httpx.Client(base_url=registry.url)
    push_image(client, "demo/gc", "v1", seed=b"kept")
    orphan = push_blob(client, "demo/gc", b"orphan blob")
    old = push_image(client, "demo/gc", "v2", seed=b"old")
    client.delete(f"/v2/demo/gc/manifests/{old}")
    store = Store(FilesystemDriver(registry.cfg.root))
    report = collect(store, grace=0, dry_run=True)
    doomed = {str(d) for d in report.blobs}
    assert orphan in doomed
    assert old in doomed
    assert digest_of(b"layer-kept") not in doomed
    assert client.get(f"/v2/demo/gc/blobs/{orphan}").status_code == 200
    # A push in flight: its blob is unreferenced but fresh, so the grace period keeps it.
    in_flight = push_blob(client, "demo/gc", b"in flight")
    report = collect(store, grace=3600, dry_run=False)
    assert report.blobs == []
    assert client.get(f"/v2/demo/gc/blobs/{in_flight}").status_code == 200
    report = collect(store, grace=0, dry_run=False)
    assert orphan in {str(d) for d in report.blobs}
    assert client.get(f"/v2/demo/gc/blobs/{orphan}").status_code == 404
    assert client.get("/v2/demo/gc/manifests/v1").status_code == 200
    for layer in (digest_of(b"layer-kept"),):
        assert client.get(f"/v2/demo/gc/blobs/{layer}").content == b"layer-kept"


def test_mirror_of_a_token_auth_upstream(token_registry: str, start_registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=token_registry) as c:
        token = c.get(
            "/auth/token", params={"scope": "repository:demo/up:pull,push"}, auth=("alice", "pw")
        ).json()["token"]
        c.headers["Authorization"] = f"Bearer {token}"
        d = push_image(c, "demo/up", "v1", seed=b"up")
    mirror = start_registry(
        RegistryConfig(root=tmp_path / "mirror", proxy=ProxyConfig(token_registry, "alice", "pw"))
    )
    with httpx.Client(base_url=mirror.url) as c:
        assert c.get("/v2/demo/up/manifests/v1").headers["Docker-Content-Digest"] == d
        assert c.get(f"/v2/demo/up/blobs/{digest_of(b'layer-up')}").content == b"layer-up"
        assert c.get("/v2/demo/up/tags/list").json()["tags"] == ["v1"]
    wrong = start_registry(
        RegistryConfig(root=tmp_path / "wrong", proxy=ProxyConfig(token_registry, "alice", "bad"))
    )
    with httpx.Client(base_url=wrong.url) as c:
        assert c.get("/v2/demo/up/manifests/v1").status_code == 404


def test_events_name_the_authenticated_actor(start_registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    listener = Listener()
    try:
        htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": "secret"})
        endpoint = Endpoint("hook", f"http://127.0.0.1:{listener.port}/hook", backoff=0.1)
        reg = start_registry(htpasswd=HtpasswdAuth("wharf-test", htpasswd), endpoints=(endpoint,))
        with httpx.Client(base_url=reg.url, auth=("alice", "secret")) as c:
            push_image(c, "demo/actor", "v1")
        events = listener.wait_for(3)
        assert {e["actor"]["name"] for e in events} == {"alice"}
        assert {e["source"]["instanceID"] for e in events} == {reg.registry.instance_id}
        assert all(e["request"]["addr"].startswith("127.0.0.1:") for e in events)
    finally:
        listener.stop()
