"""skopeo with basic and token auth, a Wharf mirror in front of docker-registry, and
webhooks received by a test listener, all against real processes."""

from __future__ import annotations

import datetime
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import bcrypt
import httpx
import oras.client
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from registry_peers import Server, docker, free_port, running, skopeo

KINDS = ["wharf", "distribution"]


def htpasswd(path: Path, user: str, password: str) -> Path:
    path.write_text(f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(5)).decode()}\n")
    return path


def oras_roundtrip(host: str, user: str, password: str, tmp_path: Path, realm: str = "") -> None:
    """oras-py logs in, pushes an artifact and pulls it back.

    With ``realm`` (token auth) the client is given a pull+push token up front: oras-py
    0.2 only renews a token on 403, while distribution (and Wharf, like it) answers an
    insufficient scope with 401, so its challenge-driven push fails on both servers.
    """
    artifact = tmp_path / "note.txt"
    artifact.write_text("pushed with credentials\n")
    client = oras.client.OrasClient(
        hostname=host, insecure=True, auth_backend="token" if realm else "basic"
    )
    client.login(user, password, hostname=host, config_path=str(tmp_path / "oras.json"))
    if realm:
        scope = "repository:demo/oras-auth:pull,push"
        token = httpx.get(realm, params={"scope": scope}, auth=(user, password)).json()["token"]
        client.auth.set_token_auth(token)
    target = f"{host}/demo/oras-auth:v1"
    client.push(files=[str(artifact)], target=target, disable_path_validation=True)
    out = tmp_path / "pulled"
    client.pull(target=target, outdir=str(out))
    assert (out / "note.txt").read_text() == artifact.read_text()


@pytest.mark.parametrize("kind", KINDS)
def test_skopeo_and_oras_with_basic_auth(
    kind: str, oci_layout: Path, workdir: Path, tmp_path: Path
) -> None:
    users = htpasswd(tmp_path / "htpasswd", "alice", "s3cret")
    cfg = {"auth": {"htpasswd": {"realm": "basic-realm", "path": str(users)}}}
    with running(kind, workdir, cfg) as reg:
        dest = f"docker://{reg.host}/demo/auth:v1"
        denied = skopeo(
            "copy", "--dest-tls-verify=false", f"oci:{oci_layout}:latest", dest, check=False
        )
        assert denied.returncode != 0
        assert "unauthorized" in denied.stderr.lower() or "401" in denied.stderr
        wrong = skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "alice:nope",
            f"oci:{oci_layout}:latest",
            dest,
            check=False,
        )
        assert wrong.returncode != 0
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "alice:s3cret",
            f"oci:{oci_layout}:latest",
            dest,
        )
        out = skopeo("inspect", "--tls-verify=false", "--creds", "alice:s3cret", dest)
        assert json.loads(out.stdout)["Name"].endswith("demo/auth")
        oras_roundtrip(reg.host, "alice", "s3cret", tmp_path)


@pytest.fixture
def token_service(workdir: Path, tmp_path: Path) -> Iterator[TokenService]:
    """A Wharf registry whose built-in token service signs for ``wharf-e2e``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "key.pem").write_bytes(pem)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wharf-e2e-issuer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    users = htpasswd(tmp_path / "users", "alice", "pw")
    port = free_port()
    realm = f"http://127.0.0.1:{port}/auth/token"
    token = {
        "realm": realm,
        "service": "wharf-e2e",
        "issuer": "wharf-e2e-issuer",
        "rootcertbundle": str(tmp_path / "cert.pem"),
    }
    cfg = {
        "auth": {"token": token},
        "tokenserver": {
            "privatekey": str(tmp_path / "key.pem"),
            "htpasswd": str(users),
            "grants": [{"account": "alice", "repository": "demo/*", "actions": ["*"]}],
        },
    }
    with running("wharf", workdir, cfg, port=port) as server:
        yield TokenService(server, {"auth": {"token": token}})


@dataclass
class TokenService:
    server: Server
    registry_config: dict[str, object]


@pytest.mark.parametrize("kind", KINDS)
def test_skopeo_and_oras_with_token_auth(
    kind: str, token_service: TokenService, oci_layout: Path, workdir: Path, tmp_path: Path
) -> None:
    # Wharf's token service signs for both Wharf and distribution (kid = libtrust key id).
    with running(kind, workdir, token_service.registry_config) as reg:
        creds = ("--dest-creds", "alice:pw")
        first = f"docker://{reg.host}/demo/first:v1"
        skopeo("copy", "--dest-tls-verify=false", *creds, f"oci:{oci_layout}:latest", first)
        # The second push of the same layers to another repository mounts them across.
        second = f"docker://{reg.host}/demo/second:v1"
        skopeo("copy", "--dest-tls-verify=false", *creds, f"oci:{oci_layout}:latest", second)
        tags = skopeo(
            "list-tags",
            "--tls-verify=false",
            "--creds",
            "alice:pw",
            f"docker://{reg.host}/demo/second",
        )
        assert json.loads(tags.stdout)["Tags"] == ["v1"]
        outside = skopeo(
            "copy",
            "--dest-tls-verify=false",
            *creds,
            f"oci:{oci_layout}:latest",
            f"docker://{reg.host}/other/repo:v1",
            check=False,
        )
        assert outside.returncode != 0
        skopeo("delete", "--tls-verify=false", "--creds", "alice:pw", second)
        realm = str(token_service.registry_config["auth"]["token"]["realm"])  # type: ignore[index]
        oras_roundtrip(reg.host, "alice", "pw", tmp_path, realm)


def test_mirror_in_front_of_distribution(oci_layout: Path, workdir: Path, tmp_path: Path) -> None:
    with running("distribution", workdir) as upstream:
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            f"oci:{oci_layout}:latest",
            f"docker://{upstream.host}/library/busybox:latest",
        )
        with running("wharf", workdir, {"proxy": {"remoteurl": upstream.url}}) as mirror:
            src = f"docker://{mirror.host}/library/busybox:latest"
            skopeo("copy", "--src-tls-verify=false", src, f"oci:{tmp_path / 'a'}:latest")
            upstream.stop()
            # The upstream is gone: the mirror serves its cached copy.
            skopeo("copy", "--src-tls-verify=false", src, f"oci:{tmp_path / 'b'}:latest")
    a = json.loads((tmp_path / "a" / "index.json").read_text())["manifests"][0]["digest"]
    b = json.loads((tmp_path / "b" / "index.json").read_text())["manifests"][0]["digest"]
    assert a == b


class _Hook(BaseHTTPRequestHandler):
    events: list[dict] = []  # type: ignore[type-arg]  # noqa: RUF012

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.events.extend(json.loads(body)["events"])
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_webhooks_from_a_skopeo_push(oci_layout: Path, workdir: Path) -> None:
    hook = ThreadingHTTPServer(("127.0.0.1", free_port()), _Hook)
    thread = threading.Thread(target=hook.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{hook.server_address[1]}/events"
        cfg = {"notifications": {"endpoints": [{"name": "t", "url": url, "backoff": "100ms"}]}}
        with running("wharf", workdir, cfg) as reg:
            skopeo(
                "copy",
                "--dest-tls-verify=false",
                f"oci:{oci_layout}:latest",
                f"docker://{reg.host}/demo/hooked:v1",
            )
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not any(
                e["target"].get("tag") == "v1" for e in _Hook.events
            ):
                time.sleep(0.1)
        pushes = [e for e in _Hook.events if e["action"] == "push"]
        manifest = next(e for e in pushes if e["target"].get("tag") == "v1")
        assert manifest["target"]["repository"] == "demo/hooked"
        assert manifest["request"]["useragent"].startswith("skopeo")
        assert sum(1 for e in pushes if e["target"]["mediaType"] == "application/octet-stream") == 2
    finally:
        hook.shutdown()
        hook.server_close()


def test_dockerd_login_push_pull_with_token_auth(
    dockerd: dict[str, str], token_service: TokenService, oci_layout: Path, workdir: Path
) -> None:
    archive = workdir / "docker-archive-token.tar"
    skopeo("copy", f"oci:{oci_layout}:latest", f"docker-archive:{archive}:demo/busybox:tok")
    docker(dockerd, "load", "-i", str(archive))
    with running("wharf", workdir, token_service.registry_config) as reg:
        ref = f"{reg.host}/demo/busybox:tok"
        docker(dockerd, "tag", "demo/busybox:tok", ref)
        denied = subprocess.run(
            ["docker", "push", ref], env=dockerd, capture_output=True, text=True, check=False
        )
        assert denied.returncode != 0
        login = docker(dockerd, "login", reg.host, "-u", "alice", "--password-stdin", stdin="pw")
        assert "Login Succeeded" in login
        docker(dockerd, "push", ref)
        docker(dockerd, "rmi", ref)
        docker(dockerd, "pull", ref)
