"""Container start and run+cleanup latency: Wharf's warm engine against runc and crun.

Run as root: ``.venv/bin/python benchmarks/runtime_engine.py [ROUNDS]`` (default 50).

Interleaved rounds; in each, every runtime runs the same busybox bundle twice:

- ``true``: the whole run, request -> exit -> cleanup. Wharf: ``create`` + ``start``,
  wait on ``exit_fd`` (exited and status on disk), ``delete``, from a warm engine (zygote and
  monitor pool started). runc/crun: ``BINARY run`` from this (warm) Python process.
- ``adjtimex``: start latency, request -> the container's process running: busybox
  ``adjtimex`` prints the clock right after execve, compared with the time of the request
  (taken right before ``create``, or before running the binary once its config.json is
  written).
- ``adjtimex`` again, created :data:`CREATED_FOR` before it is started (``docker create``
  then ``start``): the start request -> the process running. ``BINARY create``, then
  ``BINARY start`` for runc/crun.

crun 1.8 refuses this hybrid-cgroup host, so (after the zygote is forked, so Wharf is not
affected) this process moves to a private mount namespace with an empty file bound over
``/sys/fs/cgroup/unified/cgroup.controllers``; runc and crun both run there and use the v1
hierarchies. A few rounds of the ``wharf-runtime run`` CLI (a fresh Python process each)
and its import time are measured too. Prints medians, p90 and ratios.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from wharf.runtime.engine import ContainerIO, WharfRuntime

CG_PARENT = "/rtengine-bench"
UNIFIED = "/sys/fs/cgroup/unified/cgroup.controllers"
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 1 << 18
CLONE_NEWNS = 0x00020000
CREATED_FOR = 0.02  # seconds between create and start, for the created-container start


def make_rootfs(top: Path) -> Path:
    root = top / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy("/usr/bin/busybox", root / "bin" / "busybox")
    for applet in ("true", "adjtimex", "sh"):
        (root / "bin" / applet).symlink_to("busybox")
    for d in ("proc", "dev", "sys", "tmp"):
        (root / d).mkdir()
    return root


def base_spec(top: Path, rootfs: Path) -> dict[str, Any]:
    subprocess.run(["runc", "spec", "--bundle", str(top)], check=True)
    spec: dict[str, Any] = json.loads((top / "config.json").read_text())
    (top / "config.json").unlink()
    spec["root"] = {"path": str(rootfs), "readonly": True}
    spec["process"]["terminal"] = False
    return spec


def spec_for(base: dict[str, Any], cid: str, args: list[str]) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(json.dumps(base))
    spec["process"]["args"] = args
    spec["linux"]["cgroupsPath"] = f"{CG_PARENT}/{cid}"
    return spec


def clock_from(output: str) -> float:
    sec = re.search(r"time\.tv_sec:\s+(\d+)", output)
    usec = re.search(r"time\.tv_usec:\s+(\d+)", output)
    if not sec or not usec:
        raise RuntimeError(f"no clock in the container's output: {output!r}")
    return int(sec.group(1)) + int(usec.group(1)) / 1e6


class Wharf:
    def __init__(self, top: Path, base: dict[str, Any]) -> None:
        self.rt = WharfRuntime(str(top / "wharf-state"))  # forks its zygote
        self.bundle = top / "wharf-bundle"
        self.bundle.mkdir()
        self.base = base
        self.n = 0

    def run(self, args: list[str]) -> tuple[float, str, float]:
        self.n += 1
        cid = f"rtengine-w{self.n}"
        spec = spec_for(self.base, cid, args)
        log = f"{self.rt.state_root}/{cid}.log"
        requested = time.time()
        t0 = time.perf_counter()
        self.rt.create(
            cid, bundle_dir=str(self.bundle), spec=spec, rootfs=[], io=ContainerIO(log_path=log)
        )
        fd = self.rt.exit_fd(cid)
        self.rt.start(cid)
        select.select([fd], [], [], 30)
        os.close(fd)
        self.rt.delete(cid)
        elapsed = time.perf_counter() - t0
        out = "".join(json.loads(line)["log"] for line in Path(log).read_text().splitlines())
        os.unlink(log)
        return elapsed, out, requested

    def start_created(self) -> tuple[str, float]:
        """Create ``adjtimex``, start it CREATED_FOR later; (output, time of the start)."""
        self.n += 1
        cid = f"rtengine-w{self.n}"
        spec = spec_for(self.base, cid, ["adjtimex"])
        log = f"{self.rt.state_root}/{cid}.log"
        self.rt.create(
            cid, bundle_dir=str(self.bundle), spec=spec, rootfs=[], io=ContainerIO(log_path=log)
        )
        fd = self.rt.exit_fd(cid)
        time.sleep(CREATED_FOR)
        requested = time.time()
        self.rt.start(cid)
        select.select([fd], [], [], 30)
        os.close(fd)
        self.rt.delete(cid)
        out = "".join(json.loads(line)["log"] for line in Path(log).read_text().splitlines())
        os.unlink(log)
        return out, requested

    def close(self) -> None:
        self.rt.close()


class Binary:
    def __init__(self, name: str, top: Path, base: dict[str, Any]) -> None:
        self.name = name
        self.root = top / f"{name}-root"
        self.bundle = top / f"{name}-bundle"
        self.bundle.mkdir()
        self.base = base
        self.n = 0

    def run(self, args: list[str]) -> tuple[float, str, float]:
        self.n += 1
        cid = f"rtengine-{self.name}{self.n}"
        (self.bundle / "config.json").write_text(json.dumps(spec_for(self.base, cid, args)))
        requested = time.time()
        t0 = time.perf_counter()
        proc = subprocess.run(
            [self.name, "--root", str(self.root), "run", "-b", str(self.bundle), cid],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{self.name} run failed: {proc.stderr.strip()}")
        return elapsed, proc.stdout, requested

    def start_created(self) -> tuple[str, float]:
        """``BINARY create`` (the container's stdout on a pipe), ``BINARY start``
        CREATED_FOR later; (output, time of the start)."""
        self.n += 1
        cid = f"rtengine-{self.name}{self.n}"
        (self.bundle / "config.json").write_text(json.dumps(spec_for(self.base, cid, ["adjtimex"])))
        root = ["--root", str(self.root)]
        create = subprocess.Popen(
            [self.name, *root, "create", "-b", str(self.bundle), cid],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        if create.wait() != 0:
            raise RuntimeError(f"{self.name} create failed")
        time.sleep(CREATED_FOR)
        requested = time.time()
        subprocess.run([self.name, *root, "start", cid], check=True)
        assert create.stdout is not None
        out = create.stdout.read().decode()  # EOF: the container has exited
        create.stdout.close()
        subprocess.run([self.name, *root, "delete", "--force", cid], check=True)
        return out, requested

    def close(self) -> None:
        pass


def private_cgroup_view(top: Path) -> None:
    """crun's hybrid-host workaround, for this process and its later children only."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "make / private")
    empty = top / "empty"
    empty.write_text("")
    if libc.mount(str(empty).encode(), UNIFIED.encode(), None, MS_BIND, None) != 0:
        raise OSError(ctypes.get_errno(), f"bind over {UNIFIED}")


def summary(name: str, values: list[float], ref: float | None = None) -> str:
    ms = sorted(v * 1e3 for v in values)
    med = statistics.median(ms)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    ratio = f"  ({med / ref:.2f}x)" if ref else ""
    return (
        f"  {name:<22} median {med:7.2f} ms   p90 {p90:7.2f} ms   p90/median {p90 / med:.2f}{ratio}"
    )


def cli_rounds(top: Path, base: dict[str, Any], rounds: int) -> tuple[list[float], list[float]]:
    """(``wharf-runtime run`` wall times, import times of the CLI module), interleaved."""
    exe = shutil.which("wharf-runtime") or str(Path(sys.executable).parent / "wharf-runtime")
    bundle = top / "cli-bundle"
    bundle.mkdir()
    runs, imports = [], []
    for i in range(rounds):
        cid = f"rtengine-cli{i}"
        (bundle / "config.json").write_text(json.dumps(spec_for(base, cid, ["true"])))
        t0 = time.perf_counter()
        subprocess.run(
            [exe, "--root", str(top / "cli-root"), "run", "-b", str(bundle), cid],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=True,
        )
        runs.append(time.perf_counter() - t0)
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import wharf.runtime.cli"],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        total = sum(int(line.split("|")[1]) for line in out.splitlines()[1:] if "|" in line)
        imports.append(total / 1e6)
    return runs, imports


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    top = Path(tempfile.mkdtemp(prefix="rtengine-bench-"))
    try:
        rootfs = make_rootfs(top)
        base = base_spec(top, rootfs)
        wharf = Wharf(top, base)  # forks the zygote first, in the host's mount namespace
        private_cgroup_view(top)
        runtimes: dict[str, Wharf | Binary] = {
            "wharf": wharf,
            "runc": Binary("runc", top, base),
            "crun": Binary("crun", top, base),
        }
        total: dict[str, list[float]] = {k: [] for k in runtimes}
        start: dict[str, list[float]] = {k: [] for k in runtimes}
        created: dict[str, list[float]] = {k: [] for k in runtimes}
        for rt in runtimes.values():  # warm-up
            rt.run(["true"])
        for _ in range(rounds):
            for name, rt in runtimes.items():
                total[name].append(rt.run(["true"])[0])
                _, out, requested = rt.run(["adjtimex"])
                start[name].append(clock_from(out) - requested)
                out, requested = rt.start_created()
                created[name].append(clock_from(out) - requested)
        cli_runs, cli_imports = cli_rounds(top, base, max(5, rounds // 5))
        for rt in runtimes.values():
            rt.close()
        ref_total = statistics.median(total["wharf"]) * 1e3
        ref_start = statistics.median(start["wharf"]) * 1e3
        ref_created = statistics.median(created["wharf"]) * 1e3
        print(f"busybox, {rounds} interleaved rounds; ratios are against wharf's median")
        print("start (request -> the container's process runs):")
        for name in runtimes:
            print(summary(name, start[name], ref_start))
        print(f"start of a created container (created {CREATED_FOR * 1e3:.0f} ms before):")
        for name in runtimes:
            print(summary(name, created[name], ref_created))
        print("run + cleanup of `true` (request -> exited -> deleted):")
        for name in runtimes:
            print(summary(name, total[name], ref_total))
        print(f"wharf-runtime CLI (fresh Python process), {len(cli_runs)} runs:")
        print(summary("wharf-runtime run", cli_runs, ref_total))
        print(summary("import wharf.runtime.cli", cli_imports))
        for name in ("runc", "crun"):
            ratio = statistics.median(total["wharf"]) / statistics.median(total[name])
            print(f"wharf / {name} run+cleanup: {ratio:.2f}")
    finally:
        shutil.rmtree(top, ignore_errors=True)
        for ctrl in os.listdir("/sys/fs/cgroup"):
            d = f"/sys/fs/cgroup/{ctrl}{CG_PARENT}"
            if os.path.isdir(d) and not os.path.islink(f"/sys/fs/cgroup/{ctrl}"):
                for child in os.listdir(d):
                    if os.path.isdir(f"{d}/{child}"):
                        os.rmdir(f"{d}/{child}")
                os.rmdir(d)


if __name__ == "__main__":
    main()
