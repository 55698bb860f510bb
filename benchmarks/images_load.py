"""Load and unpack of a large image: Wharf's ImageService.load vs ``docker load`` (20.10).

Generates a docker-save archive of one layer with ``--files`` files totalling ``--mb``
megabytes (default 50 000 files, 320 MB), then runs both loaders ``--rounds`` times,
interleaved, each into an empty store (Wharf: a fresh root on overlay; Docker: the image
removed between rounds), and prints medians, p90, the time ratio and peak RSS.

Wharf runs in a child process so its peak RSS and CPU time (``wait4``) are its own;
dockerd's peak is its ``VmHWM``, reset before each round through ``/proc/PID/clear_refs``,
and its CPU time the growth of its ``/proc/PID/stat`` counters (on a shared machine, CPU
time is steadier than wall time).

dockerd is the private peer of ``tests.peers`` (own root, socket and cgroup parent, nothing
left behind). Usage (root; Debian's docker.io installed): ``.venv/bin/python
benchmarks/images_load.py``
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.peers import DockerdPeer, dockerd_peer

_WHARF_CHILD = """
import sys
from pathlib import Path
from wharf.images import ImageService
service = ImageService(Path(sys.argv[1]), snapshotter="overlay")
with open(sys.argv[2], "rb") as f:
    print(service.load(f))
"""


def generate(path: Path, files: int, megabytes: int) -> None:
    """A docker-save archive of one layer: ``files`` files, ``megabytes`` in total."""
    layer = path.with_suffix(".layer")
    size = megabytes * (1 << 20) // files
    block = hashlib.sha256(b"seed").digest() * (size // 32 + 1)
    with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in range(files // 500 + 1):
            info = tarfile.TarInfo(f"data/d{d:04}")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for i in range(files):
            info = tarfile.TarInfo(f"data/d{i // 500:04}/f{i:06}")
            data = block[i % 32 : i % 32 + size]
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    digest = hashlib.sha256()
    with open(layer, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    diff_id = "sha256:" + digest.hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = [
        {"Config": config_name, "RepoTags": ["images-bench:large"], "Layers": ["l/layer.tar"]}
    ]
    with tarfile.open(path, "w") as tar:
        tar.add(layer, "l/layer.tar")
        for name, data in ((config_name, config), ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    layer.unlink()
    os.sync()  # the archive's dirty pages would otherwise slow down the first round


def run_wharf(archive: Path, work: Path) -> tuple[float, int, float]:
    root = work / "wharf"
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _WHARF_CHILD, str(root), str(archive)])
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"wharf load failed with status {status}")
    shutil.rmtree(root)
    return elapsed, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


class Docker:
    """The dockerd peer (:mod:`tests.peers`): its pid for CPU and peak-RSS readings."""

    def __init__(self, peer: DockerdPeer) -> None:
        self.peer = peer
        self.proc = peer.proc

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return self.peer.docker(*args, check=check, timeout=3600)

    def _cpu(self) -> float:
        """CPU seconds of dockerd (and of children it reaped)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def load(self, archive: Path) -> tuple[float, int, float]:
        self.docker("rmi", "-f", "images-bench:large", check=False)
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5\n")
        cpu = self._cpu()
        start = time.perf_counter()
        self.docker("load", "-i", str(archive))
        elapsed = time.perf_counter() - start
        cpu = self._cpu() - cpu
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        return elapsed, hwm * 1024, cpu


def summary(name: str, times: list[float], rss: list[float], cpu: list[float]) -> str:
    p90 = sorted(times)[math.ceil(len(times) * 0.9) - 1]  # nearest rank
    return (
        f"{name:7} median {statistics.median(times):6.2f} s  p90 {p90:6.2f} s  "
        f"CPU median {statistics.median(cpu):6.2f} s  "
        f"peak RSS median {statistics.median(rss) / (1 << 20):6.1f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--mb", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="images-bench-", dir="/tmp"))
    state = Path(tempfile.mkdtemp(prefix="b2-il", dir="/tmp"))  # names dockerd's cgroup parent
    try:
        archive = work / "large.tar"
        generate(archive, args.files, args.mb)
        print(f"archive: {archive.stat().st_size / (1 << 20):.0f} MiB, {args.files} files")
        results: dict[str, tuple[list[float], list[float], list[float]]] = {
            "wharf": ([], [], []),
            "docker": ([], [], []),
        }
        with dockerd_peer(state) as peer:
            docker = Docker(peer)
            for round_ in range(args.rounds):
                for name in ("wharf", "docker") if round_ % 2 == 0 else ("docker", "wharf"):
                    t, r, c = run_wharf(archive, work) if name == "wharf" else docker.load(archive)
                    results[name][0].append(t)
                    results[name][1].append(r)
                    results[name][2].append(c)
                    print(
                        f"round {round_}: {name} {t:.2f} s, CPU {c:.2f} s, "
                        f"peak RSS {r / (1 << 20):.1f} MiB"
                    )
        for name, (times, rss, cpu) in results.items():
            print(summary(name, times, rss, cpu))
        ratio = statistics.median(results["wharf"][0]) / statistics.median(results["docker"][0])
        print(f"time ratio wharf/docker: {ratio:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
