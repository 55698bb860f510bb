"""Wharf's registry against Debian's docker-registry (distribution 2.8), interleaved.

Measures, for each server in alternating rounds: monolithic push and pull of a large blob
(curl, streamed from/to disk) with the server CPU time each took, 100 concurrent pulls of
small blobs, tags list and catalog in a registry of many repositories, and each server's
RSS (current and peak). Prints medians, p90 and Wharf/distribution ratios. On a shared
machine throughput varies with the neighbours' load; CPU seconds per transfer do not.

    .venv/bin/python benchmarks/registry_throughput.py [--blob-mib 512] [--repos 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import httpx
import yaml

PORTS = {"wharf": 15190, "distribution": 15191}
KINDS = ("wharf", "distribution")


@contextlib.contextmanager
def server(kind: str, work: Path) -> Iterator[subprocess.Popen[bytes]]:
    port = PORTS[kind]
    cfg = {
        "version": 0.1,
        "http": {"addr": f"127.0.0.1:{port}"},
        "storage": {"filesystem": {"rootdirectory": str(work / f"{kind}-root")}},
    }
    if kind == "distribution":
        cfg["log"] = {"level": "error", "accesslog": {"disabled": True}}
    path = work / f"{kind}.yml"
    path.write_text(yaml.safe_dump(cfg))
    argv = (
        [sys.executable, "-m", "wharf.registry", "serve", str(path)]
        if kind == "wharf"
        else ["docker-registry", "serve", str(path)]
    )
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/v2/").status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{kind} did not start")
            time.sleep(0.05)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (the load-independent cost)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def curl(*args: str) -> None:
    subprocess.run(["curl", "-sf", "-o", "/dev/null", *args], check=True)


def push(url: str, name: str, blob: Path, digest: str) -> None:
    """Monolithic POST-then-PUT upload, the body streamed from disk by curl."""
    with httpx.Client() as c:
        location = c.post(f"{url}/v2/{name}/blobs/uploads/").headers["Location"]
    if location.startswith("/"):
        location = url + location
    sep = "&" if "?" in location else "?"
    curl(
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        "-T",
        str(blob),
        f"{location}{sep}digest={digest}",
    )


def catalog_all(c: httpx.Client, url: str, expected: int) -> None:
    """The whole catalog in pages of 1000 (distribution's maximum), following Link."""
    names: list[str] = []
    path = "/v2/_catalog?n=1000"
    while path:
        r = c.get(url + path)
        r.raise_for_status()
        names += r.json()["repositories"]
        path = r.headers.get("Link", "").partition("<")[2].partition(">")[0]
    assert len(names) >= expected, (url, len(names))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


async def small_pulls(url: str, digests: list[str], concurrency: int) -> None:
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def one(d: str) -> None:
            async with session.get(f"{url}/v2/bench/small/blobs/{d}") as r:
                assert r.status == 200, r.status
                await r.read()

        await asyncio.gather(*(one(d) for d in digests))


async def populate(url: str, repos: int, tags: int) -> None:
    """``repos`` repositories of one tiny image each; ``bench/tags`` with ``tags`` tags."""
    config = b"{}"
    cd = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": cd,
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    conn = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(connector=conn) as s:
        async with s.post(f"{url}/v2/bench/base/blobs/uploads/") as r:
            location = r.headers["Location"]
        location = location if location.startswith("http") else url + location
        sep = "&" if "?" in location else "?"
        async with s.put(f"{location}{sep}digest={cd}", data=config) as r:
            assert r.status == 201, r.status
        sem = asyncio.Semaphore(32)

        async def repo(i: int) -> None:
            name = f"bench/r{i:05d}"
            async with sem:
                async with s.post(
                    f"{url}/v2/{name}/blobs/uploads/?mount={cd}&from=bench/base"
                ) as r:
                    assert r.status == 201, r.status
                async with s.put(
                    f"{url}/v2/{name}/manifests/latest", data=manifest, headers=headers
                ) as r:
                    assert r.status == 201, r.status

        async def tag(i: int) -> None:
            async with (
                sem,
                s.put(
                    f"{url}/v2/bench/base/manifests/t{i:05d}", data=manifest, headers=headers
                ) as r,
            ):
                assert r.status == 201, r.status

        await asyncio.gather(*(repo(i) for i in range(repos)), *(tag(i) for i in range(tags)))


def summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return statistics.median(ordered), p90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blob-mib", type=int, default=512)
    parser.add_argument("--repos", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="registry-bench-", dir="/tmp"))
    results: dict[str, dict[str, list[float]]] = {k: {} for k in KINDS}
    peaks: dict[str, float] = {}

    def record(kind: str, metric: str, value: float) -> None:
        results[kind].setdefault(metric, []).append(value)

    try:
        blob = work / "blob"
        h = hashlib.sha256()
        with open(blob, "wb") as f:
            for _ in range(args.blob_mib):
                chunk = os.urandom(1 << 20)
                h.update(chunk)
                f.write(chunk)
        digest = "sha256:" + h.hexdigest()
        size_mb = args.blob_mib * (1 << 20) / 1e6
        smalls = [os.urandom(4096) for _ in range(args.small)]
        small_digests = ["sha256:" + hashlib.sha256(b).hexdigest() for b in smalls]
        with server("wharf", work) as wharf, server("distribution", work) as dist:
            procs = {"wharf": wharf, "distribution": dist}
            urls = {k: f"http://127.0.0.1:{PORTS[k]}" for k in KINDS}
            for kind in KINDS:
                with httpx.Client(base_url=urls[kind]) as c:
                    for data, d in zip(smalls, small_digests, strict=True):
                        location = c.post("/v2/bench/small/blobs/uploads/").headers["Location"]
                        sep = "&" if "?" in location else "?"
                        c.put(f"{location}{sep}digest={d}", content=data).raise_for_status()
            for rnd in range(args.rounds):
                order = KINDS if rnd % 2 == 0 else KINDS[::-1]
                for kind in order:
                    url = urls[kind]
                    pid = procs[kind].pid
                    cpu = cpu_seconds(pid)
                    t = timed(lambda u=url, r=rnd: push(u, f"bench/big{r}", blob, digest))
                    record(kind, "push MB/s", size_mb / t)
                    record(kind, "push server CPU s", cpu_seconds(pid) - cpu)
                    peaks[kind] = max(peaks.get(kind, 0.0), rss_mib(pid)[1])
                    cpu = cpu_seconds(pid)
                    t = timed(lambda u=url, r=rnd: curl(f"{u}/v2/bench/big{r}/blobs/{digest}"))
                    record(kind, "pull MB/s", size_mb / t)
                    record(kind, "pull server CPU s", cpu_seconds(pid) - cpu)
                    t = timed(lambda u=url: asyncio.run(small_pulls(u, small_digests, 100)))
                    record(kind, f"{args.small} concurrent small pulls (s)", t)
                    record(kind, "RSS after transfers (MiB)", rss_mib(procs[kind].pid)[0])
            for kind in KINDS:
                t = timed(lambda k=kind: asyncio.run(populate(urls[k], args.repos, args.tags)))
                print(f"{kind}: populated {args.repos} repos + {args.tags} tags in {t:.1f}s")
            with httpx.Client(timeout=120) as c:
                for rnd in range(args.rounds * 3):
                    order = KINDS if rnd % 2 == 0 else KINDS[::-1]
                    for kind in order:
                        url = urls[kind]
                        t = timed(
                            lambda u=url: c.get(f"{u}/v2/bench/base/tags/list").raise_for_status()
                        )
                        record(kind, f"tags list of {args.tags} (s)", t)
                        t = timed(lambda u=url: catalog_all(c, u, args.repos))
                        record(kind, f"catalog of {args.repos} (s)", t)
                        t = timed(
                            lambda u=url: c.get(
                                f"{u}/v2/_catalog?n=100&last=bench/r05000"
                            ).raise_for_status()
                        )
                        record(kind, "catalog page n=100 (s)", t)
            for kind in KINDS:
                cur, peak = rss_mib(procs[kind].pid)
                record(kind, "RSS at end (MiB)", cur)
                peaks[kind] = max(peaks.get(kind, 0.0), peak)
        print(f"\n{'metric':42} {'wharf med/p90':>20} {'distribution med/p90':>22} {'ratio':>7}")
        for metric in results["wharf"]:
            w = summary(results["wharf"][metric])
            d = summary(results["distribution"][metric])
            ratio = w[0] / d[0] if d[0] else float("nan")
            print(f"{metric:42} {w[0]:9.3f}/{w[1]:<10.3f} {d[0]:11.3f}/{d[1]:<10.3f} {ratio:7.2f}")
        print(f"{'peak RSS (MiB)':42} {peaks['wharf']:20.1f} {peaks['distribution']:22.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
