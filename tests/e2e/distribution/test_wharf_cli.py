"""``wharf login/push/pull/search/logout`` against a basic-auth registry; credentials are
shared with the docker CLI through the Docker config file."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from tests.e2e.daemon.harness import Daemon
from tests.e2e.distribution.peers import htpasswd, registry


def _ok(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_wharf_cli_login_push_pull_search_logout(daemon: Daemon, workdir: Path) -> None:
    users = htpasswd(workdir / "cli-htpasswd", "bob", "pa55")
    auth = {"auth": {"htpasswd": {"realm": "r", "path": str(users)}}}
    config = Path(daemon.env["DOCKER_CONFIG"]) / "config.json"
    with registry("wharf", workdir, auth) as reg:
        ref = f"{reg.host}/cli/busybox:v2"
        _ok(daemon.wharf("tag", "busybox:latest", ref))
        denied = daemon.wharf("push", ref)
        assert denied.returncode != 0
        assert "authentication required" in denied.stderr.decode()
        wrong = daemon.wharf("login", "-u", "bob", "--password-stdin", reg.host, input=b"x\n")
        assert wrong.returncode != 0
        assert "401 Unauthorized" in wrong.stderr.decode()
        assert not config.exists() or reg.host not in json.loads(config.read_text())["auths"]
        out = _ok(daemon.wharf("login", "-u", "bob", "--password-stdin", reg.host, input=b"pa55\n"))
        assert "Login Succeeded" in out
        stored = json.loads(config.read_text())["auths"][reg.host]["auth"]
        assert base64.b64decode(stored) == b"bob:pa55"
        pushed = _ok(daemon.wharf("push", ref))
        assert "v2: digest: sha256:" in pushed
        _ok(daemon.wharf("rmi", ref))
        pulled = _ok(daemon.wharf("pull", ref))
        assert "Downloaded newer image" in pulled
        assert pulled.rstrip().endswith(ref)
        # the docker CLI uses the same stored login
        assert "Image is up to date" in _ok(daemon.docker("pull", ref))
        found = _ok(daemon.wharf("search", f"{reg.host}/busybox"))
        assert "cli/busybox" in found
        assert "Removing login credentials" in _ok(daemon.wharf("logout", reg.host))
        assert reg.host not in json.loads(config.read_text())["auths"]
        _ok(daemon.wharf("rmi", ref))
