"""A registry that misbehaves: corrupt bytes, a connection killed mid-download, a stall;
and token auth through Wharf's registry's token service."""

from __future__ import annotations

import datetime
import subprocess
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.e2e.daemon.harness import Daemon
from tests.e2e.distribution.peers import faulty_registry, free_port, htpasswd, registry
from wharf.content.local import LocalContentStore
from wharf.distribution import Credentials, Endpoint, RegistryAuth, Repository
from wharf.errors import Unavailable
from wharf.oci import Digest, Manifest


def _ok(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def _listed(daemon: Daemon, repo: str) -> bool:
    out = _ok(daemon.docker("images", "--format", "{{.Repository}}"))
    return repo in out.split()


def test_corrupt_blob_is_rejected_nothing_tagged_then_retry_works(daemon: Daemon) -> None:
    with faulty_registry("corrupt") as reg:
        ref = f"{reg.host}/faulty/img:v1"
        bad = daemon.docker("pull", ref)
        assert bad.returncode != 0
        err = bad.stderr.decode()
        assert "digest mismatch" in err
        assert f"{reg.host}/faulty/img" in err
        assert not _listed(daemon, f"{reg.host}/faulty/img")
        reg.mode = "ok"
        assert "Downloaded newer image" in _ok(daemon.docker("pull", ref))
        assert _listed(daemon, f"{reg.host}/faulty/img")
        _ok(daemon.docker("rmi", ref))


def test_connection_killed_mid_download_resumes_with_range(daemon: Daemon) -> None:
    with faulty_registry("drop") as reg:
        ref = f"{reg.host}/faulty/img:v1"
        out = _ok(daemon.docker("pull", ref))
        assert "Downloaded newer image" in out
        assert reg.dropped == 1
        assert len(reg.ranges) == 1
        assert reg.ranges[0].startswith("bytes=") and not reg.ranges[0].startswith("bytes=0-")
        _ok(daemon.docker("rmi", ref))


def test_stalled_registry_times_out_with_a_clear_error() -> None:
    with faulty_registry("stall") as reg, tempfile.TemporaryDirectory(prefix="dist-") as tmp:
        store = LocalContentStore(Path(tmp))
        manifest = Manifest.from_bytes(reg.manifest)
        layer = manifest.layers[0]
        repo = Repository(
            Endpoint(f"http://{reg.host}"), "faulty/img", RegistryAuth(Credentials()), timeout=0.5
        )
        with repo, pytest.raises(Unavailable) as caught:
            repo.fetch_blob(store, layer.digest, layer.size, lambda _: None)
        assert str(layer.digest) in str(caught.value)
        assert f"{reg.host}/faulty/img" in str(caught.value)
        assert not store.exists(layer.digest)
        assert list((Path(tmp) / "ingest").iterdir()) == []
        assert not store.exists(Digest.from_bytes(b"x"))


def _token_service_config(tmp: Path) -> tuple[dict[str, object], int]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dist-e2e-issuer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    port = free_port()
    users = htpasswd(tmp / "users", "alice", "pw")
    config: dict[str, object] = {
        "auth": {
            "token": {
                "realm": f"http://127.0.0.1:{port}/auth/token",
                "service": "dist-e2e",
                "issuer": "dist-e2e-issuer",
                "rootcertbundle": str(tmp / "cert.pem"),
            }
        },
        "tokenserver": {
            "privatekey": str(tmp / "key.pem"),
            "htpasswd": str(users),
            "grants": [{"account": "alice", "repository": "e2e/*", "actions": ["*"]}],
        },
    }
    return config, port


def test_token_auth_login_push_pull(daemon: Daemon, workdir: Path) -> None:
    config, port = _token_service_config(workdir)
    with registry("wharf", workdir, config, port=port) as reg:
        ref = f"{reg.host}/e2e/tokened:v1"
        _ok(daemon.docker("tag", "busybox:latest", ref))
        wrong = daemon.docker("login", "-u", "alice", "--password-stdin", reg.host, input=b"no")
        assert wrong.returncode != 0
        assert "401 Unauthorized" in wrong.stderr.decode()
        _ok(daemon.docker("login", "-u", "alice", "--password-stdin", reg.host, input=b"pw"))
        out = _ok(daemon.docker("push", ref))
        assert "v1: digest: sha256:" in out
        second = f"{reg.host}/e2e/mounted:v1"
        _ok(daemon.docker("tag", ref, second))
        _ok(daemon.docker("rmi", ref))
        _ok(daemon.docker("pull", ref))
        assert "Mounted from e2e/tokened" in _ok(daemon.docker("push", second))
        _ok(daemon.docker("logout", reg.host))
        _ok(daemon.docker("rmi", ref, second))
