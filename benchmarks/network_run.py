"""Network set-up cost and published-port throughput: Wharf vs Debian's dockerd 20.10, interleaved.

0. The network set-up alone, in-process (namespace, veth, address, route), N times.
1. ``docker run --rm busybox true`` on the default bridge and with ``--network none``, on both
   engines, interleaved; the bridge-minus-none difference of the medians is the per-container
   network set-up (veth, address, route, hosts/resolv.conf files, nft table, teardown).
2. HTTP throughput through a published port on 127.0.0.1: a busybox ``httpd`` serving a 1 MiB
   file, fetched N times with httpx by each engine in turn (Wharf: the daemon's userland proxy;
   dockerd: docker-proxy).

Run as root: ``.venv/bin/python benchmarks/network_run.py [--runs 30] [--fetches 50]``.
Everything is private: roots under /tmp/nb-bench-*, Wharf's bridge ``nb-bw0`` (10.211.0.1/16),
dockerd's bridge ``nb-bd0`` (made here, 10.212.0.1/16, ``--iptables=false``), ``nb-bp0``
(10.215.0.0/24) for the in-process part, ports
127.0.0.1:15690-15691. All of it is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from daemon_run import (  # type: ignore[import-not-found]
    REPO,
    Engine,
    PeerEngine,
    _report,
    _time,
    dockerd_peer,
)

WHARF_PORT = 15690  # and 15691 for dockerd; --port moves both


def _fetch_all(url: str, count: int) -> tuple[float, int]:
    deadline = time.monotonic() + 15
    with httpx.Client(timeout=10) as client:
        while True:
            try:
                client.get(url)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        start = time.perf_counter()
        total = 0
        for _ in range(count):
            total += len(client.get(url).content)
        return time.perf_counter() - start, total


def _primitives(runs: int, base: Path) -> None:
    """The set-up itself, in-process: pinned namespace + veth on a bridge + address + route
    (what the daemon does per bridge container), and the host veth deletion it reaps later."""
    from wharf import network as net

    net.ensure_bridge("nb-bp0", ipaddress.IPv4Network("10.215.0.0/24"), "10.215.0.1")
    setup: list[float] = []
    reap: list[float] = []
    try:
        for i in range(runs):
            path = str(base / f"ns{i}")
            start = time.perf_counter()
            inside = net.new_sandbox(path)
            net.attach_endpoint(
                path,
                ifname="eth0",
                host_ifname=f"nb-bpv{i}",
                bridge="nb-bp0",
                address=f"10.215.0.{i % 250 + 2}",
                prefixlen=24,
                gateway="10.215.0.1",
                default_route=True,
                inside=inside,
            )
            inside.close()
            setup.append(time.perf_counter() - start)
            net.remove_netns(path)
            start = time.perf_counter()
            net.delete_links([f"nb-bpv{i}"])
            reap.append(time.perf_counter() - start)
    finally:
        net.delete_link("nb-bp0")
    setup.sort()
    print(
        f"network set-up in-process ({runs} runs): median {statistics.median(setup) * 1000:.2f} ms"
        f"  p90 {setup[int(0.9 * (runs - 1))] * 1000:.2f} ms"
    )
    print(
        f"host veth deletion (off the reply path): median {statistics.median(reap) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--fetches", type=int, default=50)
    parser.add_argument("--port", type=int, default=WHARF_PORT, help="published ports: N, N+1")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    busybox = REPO / "build" / "busybox-latest.tar"
    if not busybox.is_file():
        subprocess.run([sys.executable, "-m", "wharf.images.busybox", str(busybox)], check=True)
    base = Path(f"/tmp/nb-bench-{secrets.token_hex(2)}")
    base.mkdir()
    wroot, droot = base / "w", base / f"b2-d{secrets.token_hex(2)}"  # droot names its cgroup
    wroot.mkdir()
    droot.mkdir()
    cg = f"nb-bench-{secrets.token_hex(2)}"
    _primitives(args.runs, base)
    subprocess.run(["ip", "link", "add", "nb-bd0", "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", "10.212.0.1/16", "dev", "nb-bd0"], check=True)
    subprocess.run(["ip", "link", "set", "nb-bd0", "up"], check=True)
    engines: list[Engine | PeerEngine] = []
    stack = contextlib.ExitStack()
    try:
        wharf = Engine(
            "wharf",
            wroot,
            [
                sys.executable, "-m", "wharf.cli.main", "daemon",
                "-H", f"unix://{wroot}/s",
                "--data-root", str(wroot / "data"),
                "--exec-root", str(wroot),
                "--pidfile", str(wroot / "pid"),
                "--cgroup-parent", cg,
                "--bridge", "nb-bw0",
                "--bip", "10.211.0.1/16",
                "--log-level", "warn",
            ],
            wroot / "s",
        )  # fmt: skip
        engines.append(wharf)
        bridged = ["--bridge=nb-bd0", "--storage-driver", "overlay2"]
        docker = PeerEngine("dockerd", stack.enter_context(dockerd_peer(droot, args=bridged)))
        engines.append(docker)
        for e in engines:
            assert e.docker("load", "-i", str(busybox)).returncode == 0, e.name

        results: dict[tuple[str, str], list[float]] = {}
        for mode in ("bridge", "none"):
            run_args = ("run", "--rm", "--network", mode, "busybox", "true")
            for e in engines:
                assert e.docker(*run_args).returncode == 0, (e.name, mode)
            w_times: list[float] = []
            d_times: list[float] = []
            for _ in range(args.runs):
                w_times.append(_time(lambda: wharf.docker(*run_args)))  # noqa: B023
                d_times.append(_time(lambda: docker.docker(*run_args)))  # noqa: B023
            results[("wharf", mode)] = w_times
            results[("dockerd", mode)] = d_times
            _report(
                f"docker run --rm --network {mode} busybox true ({args.runs} runs, interleaved)",
                w_times,
                d_times,
            )
        for name in ("wharf", "dockerd"):
            extra = statistics.median(results[(name, "bridge")]) - statistics.median(
                results[(name, "none")]
            )
            print(f"network set-up per container ({name}): {extra * 1000:.1f} ms (median diff)")

        serve = "dd if=/dev/zero of=/w/blob bs=1M count=1 2>/dev/null; httpd -f -p 80 -h /w"
        for e, port in ((wharf, args.port), (docker, args.port + 1)):
            out = e.docker(
                "run", "-d", "--name", "bench-web", "-p", f"127.0.0.1:{port}:80", "busybox",
                "sh", "-c", "mkdir -p /w; " + serve,
            )  # fmt: skip
            assert out.returncode == 0, out.stderr
        w_rates: list[float] = []
        d_rates: list[float] = []
        for _ in range(3):
            for port, rates in ((args.port, w_rates), (args.port + 1, d_rates)):
                seconds, total = _fetch_all(f"http://127.0.0.1:{port}/blob", args.fetches)
                rates.append(total / seconds / 1e6)
        w_rate, d_rate = statistics.median(w_rates), statistics.median(d_rates)
        print(f"HTTP through a published port, {args.fetches} x 1 MiB, median of 3 rounds")
        print(f"  wharf  : {w_rate:8.1f} MB/s")
        print(f"  dockerd: {d_rate:8.1f} MB/s")
        print(f"  ratio wharf/dockerd = {w_rate / d_rate:.2f}")
    finally:
        for e in engines:
            e.stop()
        stack.close()  # dockerd: containers removed, stopped by pid, mounts and cgroups gone
        subprocess.run(["ip", "link", "del", "nb-bd0"], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", "nb-bw0"], check=False, capture_output=True)
        subprocess.run(["nft", "delete", "table", "ip", "nb-bw"], check=False, capture_output=True)
        subprocess.run(["umount", "-R", str(base)], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
        for parent in (cg,):
            for controller in Path("/sys/fs/cgroup").iterdir():
                top = controller / parent
                if top.is_dir():
                    for d in sorted(top.rglob("*"), key=lambda p: len(str(p)), reverse=True):
                        if d.is_dir():
                            with contextlib.suppress(OSError):
                                d.rmdir()
                    with contextlib.suppress(OSError):
                        top.rmdir()


if __name__ == "__main__":
    main()
