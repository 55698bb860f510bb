"""Reference peers started privately by the e2e tests (Debian's dockerd 20.10)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@contextlib.contextmanager
def private_dockerd(state: Path) -> Iterator[dict[str, str]]:
    """Run dockerd with its root, socket, pid file and cgroup parent under ``state`` (which
    must be short: unix socket paths are limited); yield the docker CLI's environment.

    Its containers live under a cgroup parent named after ``state`` (not dockerd's shared
    ``/docker``), removed with the mounts dockerd leaves when it is stopped by its pid.
    """
    sock = state / "d.sock"
    cgroup_parent = f"/{state.name}"
    with open(state / "dockerd.log", "wb") as log:
        proc = subprocess.Popen(
            [
                "dockerd",
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                f"--cgroup-parent={cgroup_parent}",
                "--data-root",
                str(state / "data"),
                "--exec-root",
                str(state / "x"),
                "--pidfile",
                str(state / "d.pid"),
                "-H",
                f"unix://{sock}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(state / "cfg")}
        try:
            deadline = time.monotonic() + 60
            while (
                subprocess.run(
                    ["docker", "info"], check=False, env=env, capture_output=True
                ).returncode
                != 0
            ):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((state / "dockerd.log").read_text()[-3000:])
                time.sleep(0.3)
            yield env
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
                target = line.split()[1]
                if target.startswith(str(state)):
                    subprocess.run(["umount", "-l", target], check=False)
            for hierarchy in CGROUP_ROOT.iterdir():
                with contextlib.suppress(OSError):
                    (hierarchy / state.name).rmdir()
