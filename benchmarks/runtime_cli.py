"""busybox ``true`` through ``wharf-runtime run`` vs ``runc run`` vs ``crun run``, interleaved.

Each round runs every contender once, in turn, as a fresh process from this warm Python
parent (fork+exec of the runtime binary, create, start, exit, delete), so load changes
hit them alike. Also measured: the same container through the library in this process
(``launch`` -> ready -> start -> reaped -> cgroup removed: what a warm engine pays without
its zygote/monitor), and the CLI's import time (``python -X importtime``).

crun 1.8.1 refuses this hybrid-cgroup host; as runtime-latency.md says it runs inside
``unshare -m --propagation private`` with an empty file bound over
``/sys/fs/cgroup/unified/cgroup.controllers``; the wrapper's own cost (``true`` in the
same wrapper) is printed too.

Usage (root): ``.venv/bin/python benchmarks/runtime_cli.py [ROUNDS]`` (default 30).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests/privileged/runtime"))
from runtime_helpers import make_rootfs, runc_spec

WHARF = str(Path(sys.executable).parent / "wharf-runtime")


def crun_wrapper(empty: str, argv: list[str]) -> list[str]:
    script = f'mount --bind {empty} /sys/fs/cgroup/unified/cgroup.controllers && exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *argv]


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


def library_run(bundle: str, cid: str) -> tuple[float, float]:
    """(ms to ready-before-execve, ms to exited and cleaned up) through the library."""
    from wharf.runtime.cgroups import Resources, open_cgroup
    from wharf.runtime.config import plan_container
    from wharf.runtime.init import ChildHandles
    from wharf.runtime.launch import launch, prepare_security
    from wharf.runtime.spec import Spec
    from wharf.runtime.sync import START

    t0 = time.perf_counter()
    spec = Spec.load(f"{bundle}/config.json")
    plan = plan_container(spec, container_id=cid, bundle=bundle)
    caps, seccomp = prepare_security(plan.process, plan.seccomp)
    cgroup = open_cgroup(f"/{cid}")
    cgroup.create(Resources.from_spec(plan.resources))
    fds = tuple(cgroup.join_fds())
    try:
        launched = launch(
            plan, handles=ChildHandles(cgroup_fds=fds, capabilities=caps, seccomp=seccomp)
        )
    finally:
        for fd in fds:
            os.close(fd)
    ready = time.perf_counter()
    launched.sync.send(START)
    launched.sync.close()
    os.waitpid(launched.pid, 0)
    cgroup.destroy()
    done = time.perf_counter()
    return (ready - t0) * 1000, (done - t0) * 1000


def summary(name: str, values: list[float], base: float | None) -> str:
    values = sorted(values)
    median = statistics.median(values)
    p90 = statistics.quantiles(values, n=10)[-1]
    ratio = f"{median / base:5.2f}x runc" if base else ""
    return f"{name:<34} median {median:7.1f} ms   p90 {p90:7.1f} ms   {ratio}"


def import_time() -> str:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import wharf.runtime.container"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr.splitlines()
    total = int(out[-1].split("|")[1])
    cli = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import wharf.runtime.cli"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr.splitlines()
    return (
        f"import wharf.runtime.cli: {int(cli[-1].split('|')[1]) / 1000:.1f} ms; "
        f"+ the runtime (wharf.runtime.container): {total / 1000:.1f} ms"
    )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    base = Path(tempfile.mkdtemp(prefix="rtcore-bench-"))
    try:
        make_rootfs(base / "rootfs")
        bundle = base / "bundle"
        bundle.mkdir()
        config = runc_spec(["true"])
        config["root"]["path"] = str(base / "rootfs")
        (bundle / "config.json").write_text(json.dumps(config))
        empty = base / "empty"
        empty.write_text("")
        times: dict[str, list[float]] = {
            k: [] for k in ("wharf-runtime run", "runc run", "crun run", "crun wrapper only")
        }
        lib_ready: list[float] = []
        lib_total: list[float] = []
        crun = shutil.which("crun")
        for i in range(rounds + 3):
            warm = i < 3
            cid = f"rtcore-bench-{i}"
            results = {
                "wharf-runtime run": timed(
                    [WHARF, "--root", f"{base}/w", "run", "-b", str(bundle), cid]
                ),
                "runc run": timed(["runc", "--root", f"{base}/r", "run", "-b", str(bundle), cid]),
            }
            if crun:
                results["crun run"] = timed(
                    crun_wrapper(
                        str(empty), [crun, "--root", f"{base}/c", "run", "-b", str(bundle), cid]
                    )
                )
                results["crun wrapper only"] = timed(crun_wrapper(str(empty), ["true"]))
            ready, total = library_run(str(bundle), f"rtcore-benchlib-{i}")
            if warm:
                continue
            for k, v in results.items():
                times[k].append(v)
            lib_ready.append(ready)
            lib_total.append(total)
        runc_median = statistics.median(times["runc run"])
        print(
            f"busybox true, {rounds} interleaved rounds (after 3 warm-ups), load {os.getloadavg()}"
        )
        for name, values in times.items():
            if values:
                print(summary(name, values, runc_median))
        print(summary("library: request -> ready (pre-exec)", lib_ready, runc_median))
        print(summary("library: run + cleanup", lib_total, runc_median))
        print(import_time())
    finally:
        for d in ("w", "r", "c"):
            shutil.rmtree(base / d, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
