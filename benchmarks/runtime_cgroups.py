"""Joining a container cgroup: v1 ``tasks`` (Wharf) vs ``cgroup.procs`` (runc, crun).

Each round creates a cgroup in every v1 hierarchy with typical limits, forks a child that
joins it, and destroys it. The join is timed three ways, interleaved round-robin:

- ``tasks``: the child writes b"0" to each hierarchy's ``tasks`` (Wharf's join_fds path);
- ``tasks-nocpu``: the same without the ``cpu`` hierarchy (no cpu limits to enforce);
- ``procs-child``: the child writes b"0" to each ``cgroup.procs``;
- ``procs-parent``: the parent writes the child's pid to each ``cgroup.procs`` (runc).

Also timed: ``create`` (mkdir + limits in all hierarchies) and ``destroy`` (rmdir).
Run as root: ``.venv/bin/python benchmarks/runtime_cgroups.py [ROUNDS]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from wharf.runtime.cgroups import Resources, lean_controllers, open_cgroup

MiB = 1024 * 1024
RESOURCES = Resources.from_spec({"memory": {"limit": 256 * MiB}, "pids": {"limit": 512}})
MODES = ("tasks", "tasks-nocpu", "procs-child", "procs-parent")
NO_CPU = lean_controllers(RESOURCES)


def _procs_fds(path: str) -> list[int]:
    fds = []
    for d in sorted(os.listdir("/sys/fs/cgroup")):
        full = f"/sys/fs/cgroup/{d}{path}"
        if d != "unified" and os.path.isdir(full):
            fds.append(os.open(f"{full}/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))
    return fds


def one_round(mode: str, n: int) -> dict[str, float]:
    path = f"/rtcg-bench-{os.getpid()}-{n}"
    cg = open_cgroup(path, version="v1", controllers=NO_CPU if mode == "tasks-nocpu" else None)
    t0 = time.perf_counter_ns()
    cg.create(RESOURCES)
    t1 = time.perf_counter_ns()
    fds = cg.join_fds() if mode.startswith("tasks") else _procs_fds(path)
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.read(go_r, 1)
        start = time.perf_counter_ns()
        if mode != "procs-parent":
            for fd in fds:
                os.write(fd, b"0")
        os.write(w, str(time.perf_counter_ns() - start).encode())
        os._exit(0)
    if mode == "procs-parent":
        start = time.perf_counter_ns()
        for fd in fds:
            os.write(fd, str(pid).encode())
        join_ns = time.perf_counter_ns() - start
        os.write(go_w, b"x")
        os.read(r, 64)
    else:
        os.write(go_w, b"x")
        join_ns = int(os.read(r, 64))
    os.waitpid(pid, 0)
    for fd in (*fds, r, w, go_r, go_w):
        os.close(fd)
    t2 = time.perf_counter_ns()
    cg.destroy()
    t3 = time.perf_counter_ns()
    return {"join": join_ns / 1e6, "create": (t1 - t0) / 1e6, "destroy": (t3 - t2) / 1e6}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    results: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    for m in MODES:  # warm-up
        one_round(m, -1)
    for n in range(rounds):
        for m in MODES:
            results[m].append(one_round(m, n))
    print(f"{rounds} rounds per mode, interleaved; ms")
    print(f"{'mode':<14}{'median':>9}{'p90':>9}{'p99':>9}{'max':>9}{'>2ms':>7}")
    medians = {}
    for m in MODES:
        joins = [r["join"] for r in results[m]]
        medians[m] = statistics.median(joins)
        slow = sum(j > 2 for j in joins)
        print(
            f"{m:<14}{medians[m]:9.3f}{_pct(joins, 0.9):9.3f}{_pct(joins, 0.99):9.3f}"
            f"{max(joins):9.3f}{slow:7d}"
        )
    allr = [r for m in MODES for r in results[m]]
    for key in ("create", "destroy"):
        vals = [r[key] for r in allr]
        print(
            f"{key:<14}{statistics.median(vals):9.3f}{_pct(vals, 0.9):9.3f}"
            f"{_pct(vals, 0.99):9.3f}{max(vals):9.3f}"
        )
    for m in MODES[1:]:
        p99 = _pct([r["join"] for r in results[m]], 0.99)
        p99_tasks = _pct([r["join"] for r in results["tasks"]], 0.99)
        print(f"p99 ratio {m}/tasks: {p99 / p99_tasks:.2f}x")


if __name__ == "__main__":
    main()
