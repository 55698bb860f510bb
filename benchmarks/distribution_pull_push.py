"""Pull and push of a multi-layer image (~300 MB) from one local docker-registry, Wharf's
daemon vs Debian's dockerd 20.10, both driven by the same docker CLI, interleaved.

Pull: ``docker pull`` then ``docker rmi`` (each engine drops the layers between runs).
Push: ``docker push`` of the pulled image to a fresh registry each run (so no blob exists
there and no cross-repository mount applies). Prints medians, p90 and the Wharf/dockerd
ratio (targets: pull <= 0.7x, push <= 1.0x).

Run as root: ``.venv/bin/python benchmarks/distribution_pull_push.py [--runs 5] [--layers 6]
[--layer-mb 50]``. State lives under /tmp/dist-bench-*; ports 15390-15399; all removed after.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.peers import DockerdPeer, dockerd_peer

DOCKER = "/usr/local/bin/docker"
PORT = 15390


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layout(root: Path, layers: int, layer_mb: int) -> Path:
    """An OCI layout ``img:latest`` of ``layers`` gzip layers of random bytes."""
    layout = root / "layout"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    descs, diff_ids = [], []
    for i in range(layers):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            data = os.urandom(layer_mb << 20)
            info = tarfile.TarInfo(f"layer{i}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        diff_ids.append(_sha(raw.getvalue()))
        gz = gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)
        (blobs / _sha(gz)[7:]).write_bytes(gz)
        descs.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _sha(gz),
                "size": len(gz),
            }
        )
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/nothing"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    (blobs / _sha(config)[7:]).write_bytes(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _sha(config),
                "size": len(config),
            },
            "layers": descs,
        }
    ).encode()
    (blobs / _sha(manifest)[7:]).write_bytes(manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _sha(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    return layout


class Registry:
    def __init__(self, root: Path, port: int) -> None:
        cfg = {
            "version": 0.1,
            "http": {"addr": f"127.0.0.1:{port}"},
            "storage": {"filesystem": {"rootdirectory": str(root)}},
            "log": {"level": "warn", "accesslog": {"disabled": True}},
        }
        root.mkdir(parents=True, exist_ok=True)
        (root.parent / f"{root.name}.yml").write_text(yaml.safe_dump(cfg))
        self.host = f"127.0.0.1:{port}"
        self.root = root
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(root.parent / f"{root.name}.yml")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{self.host}/v2/", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise SystemExit("docker-registry did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(20)
        shutil.rmtree(self.root, ignore_errors=True)


class Engine:
    def __init__(self, name: str, root: Path, argv: list[str]) -> None:
        self.name = name
        self.root = root
        self.host = f"unix://{root / 'd.sock'}"
        log = open(root / "daemon.log", "wb")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while self.docker("version").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start")
            time.sleep(0.2)

    def docker(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.root / "cfg")}
        return subprocess.run([DOCKER, *args], env=env, capture_output=True, check=False)

    def timed(self, *args: str) -> float:
        start = time.perf_counter()
        result = self.docker(*args)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"{self.name}: docker {' '.join(args)}: {result.stderr.decode()}")
        return elapsed

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with open("/proc/self/mounts") as f:
            targets = [ln.split()[1] for ln in f if ln.split()[1].startswith(str(self.root))]
        for target in sorted(targets, key=len, reverse=True):
            subprocess.run(["umount", "-l", target], check=False)
        shutil.rmtree(self.root, ignore_errors=True)


class PeerEngine(Engine):
    """dockerd as :mod:`tests.peers` runs it (stopped when its context exits)."""

    def __init__(self, name: str, peer: DockerdPeer) -> None:  # started already
        self.name = name
        self.root = peer.root
        self.peer = peer

    def docker(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return self.peer.docker(*args, timeout=3600)

    def stop(self) -> None:
        """Nothing: :func:`tests.peers.dockerd_peer` stops it."""


def _report(label: str, samples: dict[str, list[float]]) -> None:
    def p90(xs: list[float]) -> float:
        return sorted(xs)[max(0, round(0.9 * len(xs)) - 1)]

    w, d = samples["wharf"], samples["dockerd"]
    print(
        f"{label:5} wharf median {statistics.median(w):6.2f}s p90 {p90(w):6.2f}s | "
        f"dockerd median {statistics.median(d):6.2f}s p90 {p90(d):6.2f}s | "
        f"ratio {statistics.median(w) / statistics.median(d):.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--layer-mb", type=int, default=50)
    parser.add_argument("--port", type=int, default=PORT, help="registry port (and the next)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dist-bench-", dir="/tmp"))
    engines: list[Engine] = []
    registry = None
    peer_root: Path | None = None
    stack = contextlib.ExitStack()
    try:
        layout = make_layout(base, args.layers, args.layer_mb)
        registry = Registry(base / "reg", args.port)
        ref = f"{registry.host}/bench/big:v1"
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
                f"oci:{layout}:latest",
                f"docker://{ref}",
            ],
            check=True,
            capture_output=True,
        )
        (base / "w").mkdir()
        engines.append(
            Engine(
                "wharf",
                base / "w",
                [sys.executable, "-m", "wharf.cli.main", "daemon", "-H",
                 f"unix://{base / 'w' / 'd.sock'}", "--data-root", str(base / "w" / "data"),
                 "--exec-root", str(base / "w"), "--pidfile", str(base / "w" / "d.pid"),
                 "--cgroup-parent", "dist-bench"],
            )
        )  # fmt: skip
        peer_root = Path(tempfile.mkdtemp(prefix="b2-dp", dir="/tmp"))  # names its cgroup
        engines.append(PeerEngine("dockerd", stack.enter_context(dockerd_peer(peer_root))))
        pulls: dict[str, list[float]] = {"wharf": [], "dockerd": []}
        pushes: dict[str, list[float]] = {"wharf": [], "dockerd": []}
        for run in range(args.runs):
            for engine in engines if run % 2 == 0 else reversed(engines):
                pulls[engine.name].append(engine.timed("pull", ref))
                target = Registry(base / f"push-{engine.name}-{run}", args.port + 1)
                try:
                    pushed = f"{target.host}/bench/pushed:v1"
                    engine.timed("tag", ref, pushed)
                    pushes[engine.name].append(engine.timed("push", pushed))
                    engine.timed("rmi", pushed)
                finally:
                    target.stop()
                engine.timed("rmi", ref)
        total = args.layers * args.layer_mb
        print(f"image: {args.layers} layers x {args.layer_mb} MiB = {total} MiB, {args.runs} runs")
        _report("pull", pulls)
        _report("push", pushes)
    finally:
        for engine in engines:
            engine.stop()
        stack.close()  # dockerd: stopped by pid, mounts and cgroups removed
        if peer_root is not None:
            shutil.rmtree(peer_root, ignore_errors=True)
        if registry is not None:
            registry.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
