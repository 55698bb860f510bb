"""``wharf registry`` as a program: bad configs, and garbage-collect with --dry-run."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import httpx
import yaml
from registry_peers import running


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wharf.registry", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_bad_config_and_address_fail_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("storage: {delete: {enabled: maybe}}\n")
    result = cli("serve", str(bad))
    assert result.returncode != 0
    assert "storage.delete.enabled" in result.stderr
    assert "Traceback" not in result.stderr
    result = cli("serve", "--addr", "nonsense", "--root", str(tmp_path / "r"))
    assert result.returncode != 0
    assert "HOST:PORT" in result.stderr


def test_garbage_collect_dry_run_then_sweep(workdir: Path, tmp_path: Path) -> None:
    with running("wharf", workdir, {"gc": {"grace": "0s"}}) as reg:
        data = b"an orphan blob"
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with httpx.Client(base_url=reg.url) as c:
            r = c.post("/v2/demo/gc/blobs/uploads/", params={"digest": digest}, content=data)
            assert r.status_code == 201
        config = tmp_path / "gc.yml"
        config.write_text(
            yaml.safe_dump(
                {"storage": {"filesystem": {"rootdirectory": str(reg.root)}}, "gc": {"grace": 0}}
            )
        )
        dry = cli("garbage-collect", str(config), "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert f"would remove blob {digest}" in dry.stdout
        assert httpx.get(f"{reg.url}/v2/demo/gc/blobs/{digest}").status_code == 200
        real = cli("garbage-collect", str(config))
        assert real.returncode == 0, real.stderr
        assert f"removed blob {digest}" in real.stdout
        assert httpx.get(f"{reg.url}/v2/demo/gc/blobs/{digest}").status_code == 404
