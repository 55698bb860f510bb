"""skopeo with basic and token auth, a Wharf mirror in front of docker-registry, and
webhooks received by a test listener, all against real processes."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import bcrypt
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from registry_peers import free_port, running, skopeo


def htpasswd(path: Path, user: str, password: str) -> Path:
    path.write_text(f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(5)).decode()}\n")
    return path


def test_skopeo_with_basic_auth(oci_layout: Path, workdir: Path, tmp_path: Path) -> None:
    users = htpasswd(tmp_path / "htpasswd", "alice", "s3cret")
    cfg = {"auth": {"htpasswd": {"realm": "wharf", "path": str(users)}}}
    with running("wharf", workdir, cfg) as reg:
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


def test_skopeo_with_token_auth_and_mount(oci_layout: Path, workdir: Path, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    users = htpasswd(tmp_path / "users", "alice", "pw")
    port = free_port()
    cfg = {
        "auth": {
            "token": {
                "realm": f"http://127.0.0.1:{port}/auth/token",
                "service": "wharf-e2e",
                "issuer": "wharf-e2e-issuer",
                "publickey": str(tmp_path / "key.pem"),
            }
        },
        "tokenserver": {
            "privatekey": str(tmp_path / "key.pem"),
            "htpasswd": str(users),
            "grants": [{"account": "alice", "repository": "demo/*", "actions": ["*"]}],
        },
    }
    with running("wharf", workdir, cfg, port=port) as reg:
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
        httpx.Client().close()
