"""``docker build`` of a 10-step Dockerfile: Wharf vs Debian's dockerd 20.10 classic builder.

Both engines are driven by the same docker CLI (``DOCKER_BUILDKIT=0``), interleaved round by
round: a cold build (``--no-cache``) and a no-change rebuild (all steps cached). Prints the
median and p90 of each and the Wharf/dockerd ratios (targets: cached <= 0.3x, cold <= 1.0x).
Then what the CLI waits on in a cached rebuild, without the CLI: the same context tar
POSTed to ``/build`` over the unix socket, timed to the end of the upload, the first and
the last response byte; and the CLI's own floor (``docker version``, two requests).

Run as root: ``.venv/bin/python benchmarks/build_dockerfile.py [--rounds 5]``. Private roots
under /tmp/b2-*; dockerd is started by ``tests.peers`` (own cgroup parent); everything is
stopped and removed afterwards, no cgroup left behind.
"""

from __future__ import annotations

import argparse
import http.client
import io
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.daemon.harness import Daemon, busybox_archive  # noqa: E402
from tests.peers import DOCKER, dockerd_peer, peer_cgroups  # noqa: E402

DOCKERFILE = """\
FROM busybox
ENV APP=/srv/app MODE=bench
WORKDIR /srv/app
COPY src/ ./src/
RUN mkdir -p out && cp -r src out/ && echo built > out/stamp
RUN for i in 1 2 3 4 5; do echo line $i >> out/log; done
COPY config.txt /etc/app.conf
LABEL org.example.bench=yes
EXPOSE 8080
CMD ["cat", "/srv/app/out/stamp"]
"""


def _root(tag: str) -> Path:
    path = Path(f"/tmp/b2-{tag}{secrets.token_hex(2)}")
    path.mkdir()
    return path


def _time_build(env: dict[str, str], context: Path, *extra: str) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [DOCKER, "build", "-q", "--network", "none", *extra, "-t", "bench:1", str(context)],
        env={**env, "DOCKER_BUILDKIT": "0"},
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"build failed: {result.stderr.decode()}")
    return elapsed


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def _phases(sock: Path, body: bytes) -> tuple[float, float, float]:
    """A quiet cached ``POST /build``: seconds to the end of the upload, to the first and
    to the last response byte."""
    conn = _UnixConnection(str(sock))
    start = time.perf_counter()
    conn.request(
        "POST",
        "/v1.41/build?t=bench:1&q=1&networkmode=none&rm=1&dockerfile=Dockerfile",
        body=body,
        headers={"Content-Type": "application/x-tar"},
    )
    uploaded = time.perf_counter()
    response = conn.getresponse()
    response.read(1)
    first = time.perf_counter()
    rest = response.read()
    last = time.perf_counter()
    conn.close()
    if response.status != 200 or b"errorDetail" in rest:
        raise SystemExit(f"POST /build: {response.status} {rest[-300:]!r}")
    return uploaded - start, first - start, last - start


def _context_tar(context: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(context.rglob("*")):
            tar.add(path, arcname=path.relative_to(context).as_posix(), recursive=False)
    return buf.getvalue()


def _stats(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return statistics.median(ordered), p90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    context = Path(tempfile.mkdtemp(prefix="b2-benchctx-"))
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "src").mkdir()
    for i in range(20):
        (context / "src" / f"f{i}.txt").write_text(f"file {i}\n" * 100)
    (context / "config.txt").write_text("key=value\n")
    wharf = Daemon(_root("w"))
    wharf.cgroup_parent = f"b2-bench-{secrets.token_hex(2)}"
    peer_root = _root("d")
    try:
        archive = busybox_archive(wharf.root)
        wharf.start()
        with dockerd_peer(peer_root) as peer:
            for load in (
                wharf.docker("load", "-i", str(archive)),
                peer.docker("load", "-i", str(archive)),
            ):
                if load.returncode != 0:
                    raise SystemExit(load.stderr.decode())
            engines = {"wharf": wharf.env, "dockerd": peer.env}
            times = _rounds(engines, context, args.rounds)
            sockets = {"wharf": wharf.socket, "dockerd": peer.socket}
            phases, floor = _api_rounds(engines, sockets, _context_tar(context), args.rounds)
    finally:
        wharf.cleanup()
        shutil.rmtree(peer_root, ignore_errors=True)
        shutil.rmtree(context, ignore_errors=True)
    print(f"10-step Dockerfile, {args.rounds} interleaved rounds")
    print(f"{'case':8} {'engine':8} {'median s':>9} {'p90 s':>8}")
    for case in ("cold", "cached"):
        for name in engines:
            median, p90 = _stats(times[(name, case)])
            print(f"{case:8} {name:8} {median:9.3f} {p90:8.3f}")
        ratio = _stats(times[("wharf", case)])[0] / _stats(times[("dockerd", case)])[0]
        print(f"{case:8} ratio wharf/dockerd = {ratio:.2f}")
    print("cached rebuild over the API (no CLI), medians in ms: upload / first byte / last byte")
    for name in engines:
        upload, first, last = (statistics.median(p[i] for p in phases[name]) for i in range(3))
        print(f"  {name:8} {upload * 1e3:7.2f} {first * 1e3:7.2f} {last * 1e3:7.2f}")
    for name in engines:
        print(f"docker version (CLI floor) {name:8} {statistics.median(floor[name]) * 1e3:7.2f} ms")
    left = peer_cgroups(peer_root.name) + peer_cgroups(wharf.cgroup_parent)
    print("cgroups left behind:", [str(p) for p in left] or "none")


def _rounds(
    engines: dict[str, dict[str, str]], context: Path, rounds: int
) -> dict[tuple[str, str], list[float]]:
    times: dict[tuple[str, str], list[float]] = {}
    for env in engines.values():  # warm-up: page cache, first-use costs
        _time_build(env, context, "--no-cache")
    for _ in range(rounds):
        for name, env in engines.items():
            times.setdefault((name, "cold"), []).append(_time_build(env, context, "--no-cache"))
            times.setdefault((name, "cached"), []).append(_time_build(env, context))
    return times


def _api_rounds(
    engines: dict[str, dict[str, str]], sockets: dict[str, Path], body: bytes, rounds: int
) -> tuple[dict[str, list[tuple[float, float, float]]], dict[str, list[float]]]:
    phases: dict[str, list[tuple[float, float, float]]] = {name: [] for name in engines}
    floor: dict[str, list[float]] = {name: [] for name in engines}
    for name in engines:  # the API's context differs from the CLI's: cache it once
        _phases(sockets[name], body)
    for _ in range(rounds * 3):
        for name, env in engines.items():
            phases[name].append(_phases(sockets[name], body))
            start = time.perf_counter()
            subprocess.run([DOCKER, "version"], env=env, capture_output=True, check=True)
            floor[name].append(time.perf_counter() - start)
    return phases, floor


if __name__ == "__main__":
    main()
