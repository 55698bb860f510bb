"""A private ``wharf daemon`` for end-to-end tests: own socket, roots and cgroup parent.

Exec roots must stay short (the runtime's unix sockets live under ``<exec-root>/rt/<64-hex
id>/exec/<id>/`` and socket paths are limited to 108 bytes), hence ``/tmp/api-XXXX``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wharf.runtime.engine import SPARE_PREFIX

REPO = Path(__file__).resolve().parents[3]
WHARF = [sys.executable, "-m", "wharf.cli.main"]
DOCKER = "/usr/local/bin/docker"


def short_root() -> Path:
    """A fresh ``/tmp/api-XXXX`` directory."""
    while True:
        path = Path(f"/tmp/api-{secrets.token_hex(2)}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


def busybox_archive(tmp: Path) -> Path:
    """The default image archive: ``build/busybox-latest.tar`` or built into ``tmp``."""
    built = REPO / "build" / "busybox-latest.tar"
    if built.is_file():
        return built
    out = tmp / "busybox.tar"
    subprocess.run([sys.executable, "-m", "wharf.images.busybox", str(out)], check=True)
    return out


class Daemon:
    """One ``wharf daemon`` process on a private socket, data root and exec root."""

    def __init__(self, root: Path, *, runtime: str = "wharf", bip: str = "10.201.0.1/16") -> None:
        self.root = root
        self.bip = bip
        self.socket = root / "d.sock"
        self.host = f"unix://{self.socket}"
        self.cgroup_parent = f"api-{root.name.removeprefix('api-')}-{secrets.token_hex(2)}"
        self.runtime = runtime
        # Links and the nft table are named from the bridge's stem (``net-XXXX``).
        self.bridge = f"net-{root.name[-4:]}0"
        self.stem = self.bridge[:-1]
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra_args: list[str] = []  # more ``wharf daemon`` flags
        self.env = {**os.environ, "DOCKER_HOST": self.host, "WHARF_HOST": self.host}
        self.env.pop("DOCKER_CONTEXT", None)

    def start(self) -> None:
        if self.socket.exists():
            self.socket.unlink()  # left by a daemon killed with SIGKILL
        log = open(self.root / "daemon.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [
                *WHARF,
                "daemon",
                "-H",
                self.host,
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root),
                "--pidfile",
                str(self.root / "d.pid"),
                "--cgroup-parent",
                self.cgroup_parent,
                "--runtime",
                self.runtime,
                "--log-level",
                "debug",
                "--bridge",
                self.bridge,
                "--bip",
                self.bip,
                *self.extra_args,
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("wharf daemon did not start:\n" + self.log())
            time.sleep(0.05)

    def log(self) -> str:
        return (self.root / "daemon.log").read_text(errors="replace")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        """SIGTERM, and fail loudly if the daemon does not exit."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("wharf daemon ignored SIGTERM") from None
        finally:
            self.proc = None

    def docker(
        self, *args: str, input: bytes | None = None, timeout: float = 60, check: bool = False
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [DOCKER, *args],
            input=input,
            capture_output=True,
            env=self.env,
            timeout=timeout,
            check=check,
        )

    def wharf(
        self, *args: str, input: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*WHARF, *args],
            input=input,
            capture_output=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )

    def cleanup(self) -> None:
        """Remove every container, stop the daemon, and leave nothing behind."""
        if self.proc is not None and self.proc.poll() is None:
            ids = self.docker("ps", "-aq").stdout.split()
            if ids:
                self.docker("rm", "-f", *[i.decode() for i in ids])
        self.stop()
        left = leftover_cgroups(self.cgroup_parent, spares=True)
        _kill_leftovers(self.root, self.cgroup_parent)
        _unmount_under(self.root)
        _remove_cgroups(self.cgroup_parent)
        remove_network_leftovers(self.stem)
        shutil.rmtree(self.root, ignore_errors=True)
        assert not left, f"cgroups left once the daemon stopped: {left}"


def network_leftovers(stem: str) -> list[str]:
    """Links named from ``stem`` (the bridge excepted) and the nft table ``stem``."""
    links = [
        name
        for name in os.listdir("/sys/class/net")
        if name.startswith(stem[:7]) and name != stem + "0"
    ]
    table = subprocess.run(["nft", "list", "table", "ip", stem], capture_output=True, check=False)
    return links + ([f"nft table {stem}"] if table.returncode == 0 else [])


def remove_network_leftovers(stem: str) -> None:
    """Delete the bridge, links and nft table a daemon with bridge ``stem0`` made."""
    for name in os.listdir("/sys/class/net"):
        if name.startswith(stem[:7]):
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
    subprocess.run(["nft", "delete", "table", "ip", stem], capture_output=True, check=False)


def _kill_leftovers(root: Path, parent: str) -> None:
    """SIGKILL what a failed test may have left: container processes in our cgroups and
    monitors (zygote forks, whose command line names our exec root)."""
    pids: set[int] = set()
    for controller in Path("/sys/fs/cgroup").iterdir():
        base = controller / parent
        if base.is_dir():
            for procs in base.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(p) for p in procs.read_text().split())
    marker = f"--exec-root {root} ".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" "):
                    pids.add(int(entry.name))
    pids.discard(os.getpid())
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if pids:
        time.sleep(0.5)


def _unmount_under(root: Path) -> None:
    with open("/proc/self/mounts") as f:
        targets = [line.split()[1] for line in f if line.split()[1].startswith(str(root))]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False)


def _remove_cgroups(parent: str) -> None:
    for controller in Path("/sys/fs/cgroup").iterdir():
        base = controller / parent
        if not base.is_dir():
            continue
        for child in sorted(base.rglob("*"), key=lambda p: len(str(p)), reverse=True):
            if child.is_dir():
                with contextlib.suppress(OSError):
                    child.rmdir()
        with contextlib.suppress(OSError):
            base.rmdir()


def leftover_cgroups(parent: str, *, spares: bool = False) -> list[str]:
    """Container cgroups still present under ``parent``; with ``spares``, also the spare
    cgroups (``.wharf-slot-*``) the runtime's idle pool slots keep there while it runs."""
    out = []
    for controller in Path("/sys/fs/cgroup").iterdir():
        base = controller / parent
        if base.is_dir():
            out += [
                str(p)
                for p in base.iterdir()
                if p.is_dir() and (spares or not p.name.startswith(SPARE_PREFIX))
            ]
    return out


def run_in_pty(
    argv: Sequence[str], keys: bytes, env: dict[str, Any], timeout: float = 20
) -> tuple[bytes, int]:
    """Run ``argv`` on a 40x120 pty, type ``keys`` after a second; (output, exit code)."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvpe(argv[0], list(argv), env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    out = b""
    sent = False
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not sent and time.monotonic() - start > 1.0:
            os.write(fd, keys)
            sent = True
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return out, os.waitstatus_to_exitcode(status)
