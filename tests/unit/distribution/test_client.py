"""The registry client's protocol logic over an in-memory httpx transport."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from wharf.content.local import LocalContentStore
from wharf.distribution import Credentials, Endpoint, RegistryAuth, RegistryHosts, Repository
from wharf.distribution.progress import Event, Message
from wharf.distribution.pull import PullTarget, pull
from wharf.errors import NotFound, Unauthenticated, Unavailable
from wharf.oci import Digest
from wharf.oci.digest import DigestMismatch

LIST_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
BLOB = bytes(range(256)) * 4096
BLOB_DIGEST = Digest.from_bytes(BLOB)


class _Broken(httpx.SyncByteStream):
    """A body that breaks off after ``cut`` bytes."""

    def __init__(self, data: bytes, cut: int) -> None:
        self.data, self.cut = data, cut

    def __iter__(self) -> Iterator[bytes]:
        yield self.data[: self.cut]
        raise httpx.ReadError("connection reset by peer")


Handler = Callable[[httpx.Request], httpx.Response]


def _repo(handler: Handler, creds: Credentials | None = None) -> Repository:
    return Repository(
        Endpoint("http://reg.test"),
        "a/b",
        RegistryAuth(creds or Credentials(), ("repository:a/b:pull",)),
        transport=httpx.MockTransport(handler),
    )


def test_dropped_download_resumes_with_range(tmp_path: Path) -> None:
    ranges: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Range")
        if header is None:
            return httpx.Response(200, stream=_Broken(BLOB, 100_000))
        ranges.append(header)
        start = int(header.removeprefix("bytes=").rstrip("-"))
        return httpx.Response(206, content=BLOB[start:])

    store = LocalContentStore(tmp_path)
    seen: list[int] = []
    with _repo(handler) as repo:
        repo.fetch_blob(store, BLOB_DIGEST, len(BLOB), seen.append)
    assert ranges == ["bytes=100000-"]
    assert store.read_bytes(BLOB_DIGEST, limit=len(BLOB)) == BLOB
    assert sum(seen) == len(BLOB)


def test_registry_ignoring_range_restarts_the_ingest(tmp_path: Path) -> None:
    calls = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        if calls[0] == 1:
            return httpx.Response(200, stream=_Broken(BLOB, 5000))
        return httpx.Response(200, content=BLOB)

    store = LocalContentStore(tmp_path)
    with _repo(handler) as repo:
        repo.fetch_blob(store, BLOB_DIGEST, len(BLOB), lambda _: None)
    assert store.read_bytes(BLOB_DIGEST, limit=len(BLOB)) == BLOB


def test_wrong_bytes_are_not_stored(tmp_path: Path) -> None:
    bad = b"\1" + BLOB[1:]
    store = LocalContentStore(tmp_path)
    with (
        _repo(lambda r: httpx.Response(200, content=bad)) as repo,
        pytest.raises(DigestMismatch, match=rf"blob {BLOB_DIGEST} from reg\.test/a/b"),
    ):
        repo.fetch_blob(store, BLOB_DIGEST, len(BLOB), lambda _: None)
    assert not store.exists(BLOB_DIGEST)
    assert list((tmp_path / "ingest").iterdir()) == []


def test_every_retry_failing_is_unavailable(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    with (
        _repo(lambda r: httpx.Response(200, stream=_Broken(BLOB, 0))) as repo,
        pytest.raises(Unavailable, match="5 attempts"),
    ):
        repo.fetch_blob(store, BLOB_DIGEST, len(BLOB), lambda _: None)
    assert list((tmp_path / "ingest").iterdir()) == []


def _token_registry(
    password: str, tokens: list[httpx.Request]
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            tokens.append(request)
            expected = "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return httpx.Response(401)
            return httpx.Response(200, json={"token": "T0K"})
        if request.headers.get("Authorization") != "Bearer T0K":
            return httpx.Response(
                401,
                headers={"WWW-Authenticate": 'Bearer realm="http://auth.test/token",service="s"'},
            )
        return httpx.Response(200, json={})

    return handler


def test_bearer_flow_sends_scope_service_and_account_once() -> None:
    tokens: list[httpx.Request] = []
    with _repo(_token_registry("pw", tokens), Credentials("alice", "pw")) as repo:
        repo.ping()
        repo.ping()
    assert len(tokens) == 1
    params = tokens[0].url.params
    assert params.get_list("scope") == ["repository:a/b:pull"]
    assert params["service"] == "s"
    assert params["account"] == "alice"


def test_wrong_password_is_docker_s_unauthorized() -> None:
    with (
        _repo(_token_registry("pw", []), Credentials("alice", "nope")) as repo,
        pytest.raises(Unauthenticated, match="unauthorized: incorrect username or password"),
    ):
        repo.ping()


def test_basic_challenge_without_credentials_is_authentication_required() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})

    with (
        _repo(handler) as repo,
        pytest.raises(Unauthenticated, match="unauthorized: authentication required"),
    ):
        repo.get_manifest("v1")


def test_chunked_upload_when_the_registry_asks() -> None:
    patches: list[str] = []
    data = b"x" * (40 << 20)
    digest = Digest.from_bytes(data)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(
                202, headers={"Location": "/v2/a/b/blobs/uploads/u1", "OCI-Chunk-Min-Length": "1"}
            )
        if request.method == "PATCH":
            patches.append(request.headers["Content-Range"])
            return httpx.Response(202, headers={"Location": "/v2/a/b/blobs/uploads/u1"})
        assert request.method == "PUT"
        assert request.url.params["digest"] == str(digest)
        return httpx.Response(201)

    import io

    with _repo(handler) as repo:
        repo.upload_blob(digest, len(data), io.BytesIO(data), lambda _: None)
    m = 16 << 20
    assert patches == [f"0-{m - 1}", f"{m}-{2 * m - 1}", f"{2 * m}-{len(data) - 1}"]


# -- pull over a fake store -------------------------------------------------------------


class _Sink:
    def __init__(self, root: Path) -> None:
        self.content = LocalContentStore(root)
        self.registered: list[tuple[bytes, Sequence[str]]] = []
        self.unpacked: list[Digest] = []

    @contextlib.contextmanager
    def lease(self) -> Iterator[Callable[[Digest], None]]:
        yield lambda _: None

    def has_layers(self, diff_ids: Sequence[Digest]) -> int:
        return 0

    def tagged_manifest(self, reference: str) -> Digest | None:
        return None

    def unpack_layer(self, blob: Digest, diff_ids: Sequence[Digest]) -> None:
        assert self.content.exists(blob)
        self.unpacked.append(diff_ids[-1])

    def register_pulled(self, manifest: bytes, references: Sequence[str]) -> None:
        self.registered.append((manifest, references))


def _image() -> tuple[bytes, dict[str, bytes]]:
    layer = b"layer-bytes"
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [str(Digest.from_bytes(b"diff"))]},
        }
    ).encode()

    def desc(mt: str, b: bytes) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(b).hexdigest()
        return {"mediaType": mt, "digest": digest, "size": len(b)}

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": desc("application/vnd.docker.container.image.v1+json", config),
            "layers": [desc("application/vnd.docker.image.rootfs.diff.tar.gzip", layer)],
        }
    ).encode()
    blobs = {str(Digest.from_bytes(b)): b for b in (config, layer)}
    blobs[str(Digest.from_bytes(manifest))] = manifest
    return manifest, blobs


def test_pull_tries_the_mirror_then_the_origin_and_picks_amd64(tmp_path: Path) -> None:
    manifest, blobs = _image()
    arm = {
        "digest": "sha256:" + "0" * 64,
        "size": 1,
        "platform": {"architecture": "arm64", "os": "linux"},
    }
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    **arm,
                },
                {
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "digest": str(Digest.from_bytes(manifest)),
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                },
            ],
        }
    ).encode()
    hosts_seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts_seen.append(request.url.host)
        if request.url.host == "mirror.test":
            return httpx.Response(503)
        ref = request.url.path.rsplit("/", 1)[1]
        if "/manifests/" in request.url.path:
            if ref == "v1":
                return httpx.Response(
                    200,
                    content=index,
                    headers={"Content-Type": LIST_TYPE},
                )
            return httpx.Response(
                200,
                content=blobs[ref],
                headers={"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"},
            )
        return httpx.Response(200, content=blobs[ref])

    sink = _Sink(tmp_path)
    events: list[Event] = []
    target = PullTarget("docker.io", "library/x", "v1", "docker.io/library/x:v1", "x:v1")
    digest = pull(
        target,
        sink,
        RegistryHosts(mirrors=("http://mirror.test",), docker_hub=True),
        Credentials(),
        events.append,
        transport=httpx.MockTransport(handler),
    )
    assert digest == Digest.from_bytes(manifest)
    assert hosts_seen[0] == "mirror.test"
    assert "registry-1.docker.io" in hosts_seen
    assert sink.registered == [(manifest, ["docker.io/library/x:v1"])]
    assert sink.unpacked == [Digest.from_bytes(b"diff")]
    statuses = [e.status for e in events if isinstance(e, Message)]
    assert statuses[0] == "Pulling from library/x"
    assert "Pulling fs layer" in statuses and "Pull complete" in statuses
    assert statuses[-1] == "Status: Downloaded newer image for x:v1"


def test_pull_of_a_missing_tag_names_it_and_registers_nothing(tmp_path: Path) -> None:
    sink = _Sink(tmp_path)
    target = PullTarget("reg.test", "a/b", "nope", "reg.test/a/b:nope", "reg.test/a/b:nope")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})

    with pytest.raises(NotFound, match=r"manifest for reg\.test/a/b:nope not found"):
        pull(
            target,
            sink,
            RegistryHosts(insecure=("reg.test",)),
            Credentials(),
            lambda _: None,
            transport=httpx.MockTransport(handler),
        )
    assert sink.registered == []
