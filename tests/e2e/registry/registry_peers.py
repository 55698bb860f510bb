"""Real registry processes (Wharf's and Debian's docker-registry) and test images.

Every process is started with private state under a ``/tmp/registry-*`` directory, on
a port in 15100-15199, and stopped by its pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

PORTS = range(15100, 15130)
_next = [0]


def free_port() -> int:
    """A free port of 15100-15129 (the API tests use 15130-15189)."""
    for _ in range(len(PORTS)):
        port = PORTS[_next[0] % len(PORTS)]
        _next[0] += 1
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 15100-15129")


def temp_dir(tag: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"registry-{tag}-", dir="/tmp"))


@dataclass
class Server:
    """A registry process."""

    kind: str
    host: str
    root: Path
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.kind} exited: {server.log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/v2/", timeout=1).status_code in {200, 401}:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{server.kind} did not answer on {server.url}")


def start_server(
    kind: str, workdir: Path, config: dict[str, Any] | None = None, port: int = 0
) -> Server:
    """Start ``wharf`` or ``distribution`` with ``config`` merged into a minimal one."""
    port = port or free_port()
    root = workdir / f"{kind}-{port}-root"
    cfg: dict[str, Any] = {
        "version": 0.1,
        "http": {"addr": f"127.0.0.1:{port}"},
        "storage": {"filesystem": {"rootdirectory": str(root)}, "delete": {"enabled": True}},
        "log": {"level": "warn", "accesslog": {"disabled": True}},
    }
    for key, value in (config or {}).items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    if kind == "wharf":
        cfg.pop("log")
    path = workdir / f"{kind}-{port}.yml"
    path.write_text(yaml.safe_dump(cfg))
    log = workdir / f"{kind}-{port}.log"
    if kind == "wharf":
        argv = [sys.executable, "-m", "wharf.registry", "serve", str(path)]
    else:
        argv = ["docker-registry", "serve", str(path)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    server = Server(kind, f"127.0.0.1:{port}", root, proc, log)
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def running(
    kind: str, workdir: Path, config: dict[str, Any] | None = None, port: int = 0
) -> Iterator[Server]:
    server = start_server(kind, workdir, config, port)
    try:
        yield server
    finally:
        server.stop()


def make_oci_layout(workdir: Path) -> Path:
    """An OCI image layout ``img:latest`` of busybox-static, built offline with umoci."""
    rootfs = workdir / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
    (rootfs / "hello.txt").write_text("hello from wharf tests\n")
    tar = workdir / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
    layout = workdir / "img"
    for argv in (
        ["umoci", "init", "--layout", str(layout)],
        ["umoci", "new", "--image", f"{layout}:latest"],
        ["umoci", "raw", "add-layer", "--image", f"{layout}:latest", str(tar)],
        ["umoci", "config", "--image", f"{layout}:latest", "--config.cmd", "/bin/sh"],
        ["umoci", "gc", "--layout", str(layout)],
    ):
        subprocess.run(argv, check=True, capture_output=True)
    return layout


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run skopeo with TLS off for 127.0.0.1 and a private blob-info cache."""
    env = {**os.environ, "TMPDIR": "/tmp"}
    return subprocess.run(
        ["skopeo", *args], check=check, capture_output=True, text=True, env=env, timeout=300
    )


def docker(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run the docker CLI against a private dockerd; fails the test on an error."""
    result = subprocess.run(
        ["docker", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        input=stdin,
    )
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()
