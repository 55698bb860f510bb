"""``docker build`` of a 10-step Dockerfile: Wharf vs Debian's dockerd 20.10 classic builder.

Both engines are driven by the same docker CLI (``DOCKER_BUILDKIT=0``), interleaved round by
round: a cold build (``--no-cache``) and a no-change rebuild (all steps cached). Prints the
median and p90 of each and the Wharf/dockerd ratios (targets: cached <= 0.3x, cold <= 1.0x).

Run as root: ``.venv/bin/python benchmarks/build_dockerfile.py [--rounds 5]``. Private roots
under /tmp/b2-*; dockerd is started by ``tests.peers`` (own cgroup parent); everything is
stopped and removed afterwards, no cgroup left behind.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import subprocess
import sys
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


if __name__ == "__main__":
    main()
