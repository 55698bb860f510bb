"""Debian's dockerd 20.10 as the classic-builder peer: private root, socket and exec root,
no bridge, no iptables; stopped by its pid. Also used by ``benchmarks/build_*.py``."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
import subprocess
import tarfile
import time
from pathlib import Path

from wharf.mount import unmount

DOCKER = "/usr/local/bin/docker"
# created by a container's runtime, not by a build
RUNTIME_PATHS = frozenset(
    {".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab"}
)


class Dockerd:
    """One dockerd on ``root`` (keep it short: containerd's sockets live under it)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.env = {**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0"}
        self.env.pop("DOCKER_CONTEXT", None)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.root / "dockerd.log", "wb")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [
                "dockerd",
                "--bridge=none", "--iptables=false", "--ip-masq=false",
                "--data-root", str(self.root / "data"),
                "--exec-root", str(self.root / "x"),
                "--pidfile", str(self.root / "docker.pid"),
                "-H", self.host,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dockerd exited: " + self.log()[-2000:])
            if self.socket.exists() and self.docker("version").returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("dockerd did not come up within 60 s: " + self.log()[-2000:])

    def log(self) -> str:
        return (self.root / "dockerd.log").read_text(errors="replace")

    def docker(
        self, *args: str, input: bytes | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [DOCKER, *args],
            env=self.env,
            capture_output=True,
            input=input,
            timeout=timeout,
            check=False,
        )

    def stop(self) -> None:
        """SIGTERM by pid, then unmount whatever it left under its root."""
        if self.proc is not None and self.proc.poll() is None:
            ids = self.docker("ps", "-aq").stdout.split()
            if ids:
                self.docker("rm", "-f", *[i.decode() for i in ids])
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        for target in reversed(mounts):
            if target.startswith(str(self.root) + "/"):
                with contextlib.suppress(OSError):
                    unmount(target, detach=True)


def listing(docker: object, image: str) -> dict[str, tuple[str, int, int, int, str]]:
    """The image's filesystem via ``docker create`` + ``export``: path -> (type, mode, uid,
    gid, content sha256 or link target); runtime-made paths left out."""
    run = docker  # a Daemon or Dockerd: both have .docker(*args)
    created = run.docker("create", image)  # type: ignore[attr-defined]
    assert created.returncode == 0, created.stderr
    cid = created.stdout.decode().strip()
    try:
        exported = run.docker("export", cid)  # type: ignore[attr-defined]
        assert exported.returncode == 0, exported.stderr
    finally:
        run.docker("rm", "-f", cid)  # type: ignore[attr-defined]
    out: dict[str, tuple[str, int, int, int, str]] = {}
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as tar:
        for member in tar:
            name = member.name.strip("/").removeprefix("./")
            top = name.split("/")[0]
            if not name or name in RUNTIME_PATHS or top in ("dev", "proc", "sys"):
                continue
            if member.isfile():
                data = tar.extractfile(member)
                assert data is not None
                detail = hashlib.sha256(data.read()).hexdigest()[:16]
            else:
                detail = member.linkname
            kind = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "link", tarfile.LNKTYPE: "hard"}
            out[name] = (
                kind.get(member.type, "file"),
                member.mode & 0o7777,
                member.uid,
                member.gid,
                detail,
            )
    return out
