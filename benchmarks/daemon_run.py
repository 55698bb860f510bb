"""Wharf's daemon vs Debian's dockerd 20.10, driven by the same docker CLI, interleaved.

Measures: ``docker run --rm --network none busybox true`` (N runs each), 50x ``run -d`` then
``rm -f``, ``docker ps`` with 200 running containers, and the RSS of each engine with those 200
containers (Wharf: daemon + zygote + monitors; Docker: dockerd + containerd + shims); then the
CPU time each daemon process spends in 10 s with 50 idle ``docker logs -f`` followers of a
silent container, and how long a line takes from a container's stdin to ``docker logs -f``.

Run as root: ``.venv/bin/python benchmarks/daemon_run.py [--runs 30] [--containers 200]
[--followers 50] [--only run,cycle,ps,follow]``.
Both daemons get private roots and sockets under /tmp/api-b*; dockerd is started by
``tests.peers`` (its own cgroup parent); everything, cgroups included, is removed after.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

DOCKER = "/usr/local/bin/docker"
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.peers import DockerdPeer, dockerd_peer  # noqa: E402


def _docker(host: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "DOCKER_HOST": host}
    return subprocess.run([DOCKER, *args], env=env, capture_output=True, check=False)


def _wait_socket(path: Path, proc: subprocess.Popen[bytes], host: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"daemon for {host} exited early")
        if path.exists() and _docker(host, "version").returncode == 0:
            return
        time.sleep(0.1)
    raise SystemExit(f"daemon for {host} did not come up")


class Engine:
    def __init__(self, name: str, root: Path, argv: list[str], sock: Path) -> None:
        self.name = name
        self.root = root
        self.sock = sock
        self.host = f"unix://{sock}"
        log = open(root / "daemon.log", "wb")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        log.close()
        _wait_socket(sock, self.proc, self.host)

    def docker(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return _docker(self.host, *args)

    def tree_rss_kb(self, field: str = "Rss:") -> int:
        """RSS (or PSS) of the daemon's session: the daemon and what it started (kB)."""
        sid = os.getsid(self.proc.pid)
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.getsid(int(entry)) != sid:
                    continue
                total += _mem_kb(int(entry), field)
            except (OSError, ProcessLookupError):
                continue
        return total

    def stop(self) -> None:
        ids = self.docker("ps", "-aq").stdout.split()
        if ids:
            self.docker("rm", "-f", *[i.decode() for i in ids])
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class PeerEngine:
    """dockerd as :mod:`tests.peers` runs it (stopped when its context exits)."""

    def __init__(self, name: str, peer: DockerdPeer) -> None:
        self.name = name
        self.root = peer.root
        self.peer = peer
        self.host = peer.host
        self.proc = peer.proc

    def docker(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return self.peer.docker(*args)

    def stop(self) -> None:
        """Nothing: :func:`tests.peers.dockerd_peer` stops it."""


def _mem_kb(pid: int, field: str) -> int:
    """``Rss:`` or ``Pss:`` of a process from smaps_rollup (kB); PSS shares pages fairly."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _monitors_rss_kb(state_root: Path, field: str = "Rss:") -> int:
    """Wharf's monitors leave the daemon's session (they survive it): add them by state dir."""
    total = 0
    for state in state_root.glob("*/state.json"):
        import json

        try:
            pid = int(json.loads(state.read_text()).get("monitor_pid", 0))
            total += _mem_kb(pid, field)
        except (OSError, ValueError):
            continue
    return total


def _docker_session_rss_kb(engine: PeerEngine, field: str = "Rss:") -> int:
    """dockerd + containerd + shims: every process whose command line names the private root."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if str(engine.root).encode() not in f.read():
                    continue
            total += _mem_kb(int(entry), field)
        except OSError:
            continue
    return total


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _report(label: str, wharf: list[float], docker: list[float]) -> None:
    def stats(xs: list[float]) -> str:
        xs = sorted(xs)
        p90 = xs[int(0.9 * (len(xs) - 1))]
        return f"median {statistics.median(xs) * 1000:8.1f} ms  p90 {p90 * 1000:8.1f} ms"

    ratio = statistics.median(wharf) / statistics.median(docker)
    print(f"{label}\n  wharf  : {stats(wharf)}\n  dockerd: {stats(docker)}")
    print(f"  ratio wharf/dockerd = {ratio:.2f}")


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _idle_followers(
    engines: list[Engine | PeerEngine], followers: int, seconds: float = 10.0
) -> None:
    """Each daemon's CPU seconds over ``seconds`` while ``followers`` ``logs -f`` wait."""
    for e in engines:
        cid = e.docker("run", "-d", "--network", "none", "busybox", "sleep", "3600")
        name = cid.stdout.decode().strip()
        env = {**os.environ, "DOCKER_HOST": e.host}
        procs = [
            subprocess.Popen(
                [DOCKER, "logs", "-f", name],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(followers)
        ]
        try:
            time.sleep(3)  # every follower connected and waiting
            before = _cpu_seconds(e.proc.pid)
            time.sleep(seconds)
            used = _cpu_seconds(e.proc.pid) - before
            print(
                f"{e.name}: {followers} idle `docker logs -f` followers: daemon CPU "
                f"{used * 1000:.0f} ms in {seconds:.0f} s ({used / seconds * 100:.2f}% of a core)"
            )
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
            e.docker("rm", "-f", name)


def _follow_latency(engines: list[Engine | PeerEngine], lines: int = 30) -> None:
    """Time from writing a line to a container's stdin until ``docker logs -f`` prints it."""
    times: dict[str, list[float]] = {e.name: [] for e in engines}
    sessions = []
    try:
        for e in engines:
            env = {**os.environ, "DOCKER_HOST": e.host}
            name = f"echo-{secrets.token_hex(3)}"
            runner = subprocess.Popen(
                [DOCKER, "run", "-i", "--rm", "--network", "none", "--name", name, "busybox",
                 "sh", "-c", "while read x; do echo $x; done"],
                env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            while b"true" not in e.docker("inspect", "-f", "{{.State.Running}}", name).stdout:
                time.sleep(0.05)
            follower = subprocess.Popen(
                [DOCKER, "logs", "-f", name], env=env, stdout=subprocess.PIPE
            )
            sessions.append((e, runner, follower))
        time.sleep(1)
        for i in range(lines):
            for e, runner, follower in sessions:
                assert runner.stdin is not None and follower.stdout is not None
                start = time.perf_counter()
                runner.stdin.write(f"line{i}\n".encode())
                runner.stdin.flush()
                follower.stdout.readline()
                times[e.name].append(time.perf_counter() - start)
            time.sleep(0.05)
    finally:
        for _e, runner, follower in sessions:
            if runner.stdin is not None:
                runner.stdin.close()
            runner.wait(30)
            follower.kill()
            follower.wait()
    _report(
        f"stdin line -> `docker logs -f` output ({lines} lines each, interleaved)",
        times["wharf"],
        times["dockerd"],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--followers", type=int, default=50)
    parser.add_argument("--only", default="run,cycle,ps,follow", help="sections to run")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    busybox = REPO / "build" / "busybox-latest.tar"
    if not busybox.is_file():
        subprocess.run([sys.executable, "-m", "wharf.images.busybox", str(busybox)], check=True)

    base = Path(f"/tmp/api-b{secrets.token_hex(2)}")
    base.mkdir()
    wroot, droot = base / "w", base / f"b2-d{secrets.token_hex(2)}"  # droot names its cgroup
    wroot.mkdir()
    droot.mkdir()
    cg = f"api-bench-{secrets.token_hex(2)}"
    engines: list[Engine | PeerEngine] = []
    stack = contextlib.ExitStack()
    try:
        wharf = Engine(
            "wharf",
            wroot,
            [
                sys.executable,
                "-m",
                "wharf.cli.main",
                "daemon",
                "-H",
                f"unix://{wroot}/s",
                "--data-root",
                str(wroot / "data"),
                "--exec-root",
                str(wroot),
                "--pidfile",
                str(wroot / "pid"),
                "--cgroup-parent",
                cg,
                "--log-level",
                "warn",
            ],
            wroot / "s",
        )
        engines.append(wharf)
        peer = stack.enter_context(dockerd_peer(droot, args=["--storage-driver", "overlay2"]))
        docker = PeerEngine("dockerd", peer)
        engines.append(docker)
        for e in engines:
            assert e.docker("load", "-i", str(busybox)).returncode == 0, e.name

        run_args = ("run", "--rm", "--network", "none", "busybox", "true")
        for e in engines:  # warm up
            e.docker(*run_args)
        w_times: list[float] = []
        d_times: list[float] = []
        if "run" in sections:
            for _ in range(args.runs):
                w_times.append(_time(lambda: wharf.docker(*run_args)))
                d_times.append(_time(lambda: docker.docker(*run_args)))
            _report(
                f"docker run --rm busybox true ({args.runs} runs each, interleaved)",
                w_times,
                d_times,
            )

        w_times, d_times = [], []
        for _ in range(50 if "cycle" in sections else 0):
            for e, times in ((wharf, w_times), (docker, d_times)):

                def cycle(e: Engine | PeerEngine = e) -> None:
                    cid = e.docker("run", "-d", "--network", "none", "busybox", "sleep", "60")
                    e.docker("rm", "-f", cid.stdout.decode().strip())

                times.append(_time(cycle))
        if w_times:
            _report("run -d + rm -f (50 each, interleaved)", w_times, d_times)

        if "follow" in sections:
            _idle_followers(engines, args.followers)
            _follow_latency(engines)
        if "ps" not in sections:
            return
        for e in engines:
            for _ in range(args.containers):
                e.docker("run", "-d", "--network", "none", "busybox", "sleep", "3600")
        w_times, d_times = [], []
        for e in engines:  # warm up
            e.docker("ps")
        for _ in range(30):
            w_times.append(_time(lambda: wharf.docker("ps")))
            d_times.append(_time(lambda: docker.docker("ps")))
        _report(f"docker ps with {args.containers} running containers (30 each)", w_times, d_times)
        for field in ("Rss:", "Pss:"):
            w_mem = wharf.tree_rss_kb(field) + _monitors_rss_kb(wroot / "rt", field)
            d_mem = _docker_session_rss_kb(docker, field)
            print(
                f"{field[:-1].upper()} with {args.containers} containers: wharf (daemon, zygote, "
                f"monitors) {w_mem / 1024:.1f} MiB, dockerd+containerd+shims "
                f"{d_mem / 1024:.1f} MiB, ratio {w_mem / max(d_mem, 1):.2f}"
            )
    finally:
        for e in reversed(engines):
            e.stop()
        stack.close()  # dockerd: containers removed, stopped by pid, mounts and cgroups gone
        subprocess.run(
            ["sh", "-c", f"grep -o ' {base}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l"],
            check=False,
        )
        for controller in Path("/sys/fs/cgroup").iterdir():
            for name in (cg,):
                d = controller / name
                if d.is_dir():
                    for child in sorted(d.rglob("*"), key=lambda p: -len(str(p))):
                        if child.is_dir():
                            with contextlib.suppress(OSError):
                                child.rmdir()
                    with contextlib.suppress(OSError):
                        d.rmdir()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
