"""Reference peers started privately by the e2e tests and the benchmarks (Debian's dockerd
20.10).

Every dockerd here runs on a private root, socket, exec root, pid file and cgroup parent named
after its state directory, and is stopped by the pid we started: its containers are removed,
it gets SIGTERM, the mounts it leaves under the state directory are unmounted and its cgroups
removed, so no ``/sys/fs/cgroup/*/docker`` (dockerd's shared default parent) is left behind.
The benchmarks import this module with the repository root on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["DOCKER", "DockerdPeer", "dockerd_peer", "peer_cgroups", "private_dockerd"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
DOCKER = "/usr/local/bin/docker" if Path("/usr/local/bin/docker").exists() else "docker"


class DockerdPeer:
    """A running private dockerd: the docker CLI's environment and a way to call it."""

    def __init__(self, state: Path, proc: subprocess.Popen[bytes]) -> None:
        self.root = state
        self.proc = proc
        self.socket = state / "d.sock"
        self.host = f"unix://{self.socket}"
        self.cgroup_parent = state.name
        self.env = {
            **os.environ,
            "DOCKER_HOST": self.host,
            "DOCKER_CONFIG": str(state / "cfg"),
            "DOCKER_BUILDKIT": "0",
        }
        self.env.pop("DOCKER_CONTEXT", None)

    def docker(
        self, *args: str, input: bytes | None = None, timeout: float = 180, check: bool = False
    ) -> subprocess.CompletedProcess[bytes]:
        """Run the docker CLI against this dockerd."""
        return subprocess.run(
            [DOCKER, *args],
            env=self.env,
            capture_output=True,
            input=input,
            timeout=timeout,
            check=check,
        )

    def log(self) -> str:
        return (self.root / "dockerd.log").read_text(errors="replace")


def peer_cgroups(name: str) -> list[Path]:
    """The cgroup directories named ``name`` at the top of each hierarchy."""
    return [h / name for h in CGROUP_ROOT.iterdir() if (h / name).is_dir()]


@contextlib.contextmanager
def dockerd_peer(state: Path, *, args: Sequence[str] = ()) -> Iterator[DockerdPeer]:
    """Run dockerd with everything under ``state`` (keep it short: unix socket paths are
    limited); ``args`` are extra dockerd flags (``--bridge=none`` etc. are the defaults
    they may override). Its containers live under the cgroup parent ``/<state.name>``.
    """
    flags = dict.fromkeys(["--bridge=none", "--iptables=false", "--ip-masq=false"])
    given = {a.split("=", 1)[0] for a in args}
    defaults = [f for f in flags if f.split("=", 1)[0] not in given]
    with open(state / "dockerd.log", "wb") as log:
        proc = subprocess.Popen(
            [
                "dockerd",
                *defaults,
                f"--cgroup-parent=/{state.name}",
                "--data-root", str(state / "data"),
                "--exec-root", str(state / "x"),
                "--pidfile", str(state / "d.pid"),
                "-H", f"unix://{state / 'd.sock'}",
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    peer = DockerdPeer(state, proc)
    try:
        deadline = time.monotonic() + 60
        while not peer.socket.exists() or peer.docker("version").returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("dockerd did not come up: " + peer.log()[-3000:])
            time.sleep(0.2)
        yield peer
    finally:
        _stop(peer)


def _stop(peer: DockerdPeer) -> None:
    if peer.proc.poll() is None:
        with contextlib.suppress(subprocess.SubprocessError):
            ids = peer.docker("ps", "-aq", timeout=30).stdout.decode().split()
            if ids:
                peer.docker("rm", "-f", *ids, timeout=60)
        peer.proc.send_signal(signal.SIGTERM)
        try:
            peer.proc.wait(30)
        except subprocess.TimeoutExpired:
            peer.proc.kill()
            peer.proc.wait()
    for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
        target = line.split()[1]
        if target == str(peer.root) or target.startswith(f"{peer.root}/"):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True)
    for top in peer_cgroups(peer.cgroup_parent):
        for dirpath, _, _ in os.walk(top, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


@contextlib.contextmanager
def private_dockerd(state: Path, *, args: Sequence[str] = ()) -> Iterator[dict[str, str]]:
    """:func:`dockerd_peer`, yielding only the docker CLI's environment."""
    with dockerd_peer(state, args=args) as peer:
        yield peer.env
