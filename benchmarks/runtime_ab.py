"""Two source trees' engines side by side: the fast path before and after a change.

Run as root: ``.venv/bin/python benchmarks/runtime_ab.py OLD_SRC NEW_SRC [ROUNDS]``, e.g.
``benchmarks/runtime_ab.py /work/main/src src 40``. Each tree runs in its own worker
process (its own zygote, ``PYTHONPATH=TREE``); rounds alternate between them, one at a
time, so both see the same load. A round is what benchmarks/runtime_engine.py measures
for Wharf: busybox ``true`` create + start + exit + delete, and the start latency (request
-> ``adjtimex`` prints the clock). Prints medians, p90 and the new/old ratio.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

_WORKER = r"""
import json, os, select, shutil, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from runtime_engine import base_spec, clock_from, make_rootfs, spec_for
from wharf.runtime.engine import ContainerIO, WharfRuntime

tag = sys.argv[1]
top = Path(tempfile.mkdtemp(prefix=f"rtab-{tag}-"))
parent = f"/rtab-{tag}-{os.getpid()}"
try:
    base = base_spec(top, make_rootfs(top))
    rt = WharfRuntime(str(top / "state"))
    bundle = top / "bundle"
    bundle.mkdir()
    n = 0

    def one(args):
        global n
        n += 1
        cid = f"rtab-{tag}{n}"
        spec = spec_for(base, cid, args)
        spec["linux"]["cgroupsPath"] = f"{parent}/{cid}"
        log = f"{rt.state_root}/{cid}.log"
        t0, wall0 = time.perf_counter(), time.time()
        rt.create(cid, bundle_dir=str(bundle), spec=spec, rootfs=[], io=ContainerIO(log_path=log))
        fd = rt.exit_fd(cid)
        rt.start(cid)
        select.select([fd], [], [], 30)
        os.close(fd)
        rt.delete(cid)
        elapsed = time.perf_counter() - t0
        out = "".join(json.loads(line)["log"] for line in Path(log).read_text().splitlines())
        os.unlink(log)
        return elapsed, clock_from(out) - wall0 if args[0] == "adjtimex" else 0.0

    for _ in range(3):
        one(["true"])
    for _ in sys.stdin:
        total, _ = one(["true"])
        _, start = one(["adjtimex"])
        print(total, start, flush=True)
    rt.close()
finally:
    shutil.rmtree(top, ignore_errors=True)
    for ctrl in os.listdir("/sys/fs/cgroup"):
        d = f"/sys/fs/cgroup/{ctrl}{parent}"
        if os.path.isdir(d) and not os.path.islink(f"/sys/fs/cgroup/{ctrl}"):
            os.rmdir(d)
"""


def _summary(values: list[float]) -> tuple[float, float]:
    ms = sorted(v * 1e3 for v in values)
    return statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.9))]


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    trees = {"old": os.path.abspath(sys.argv[1]), "new": os.path.abspath(sys.argv[2])}
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    workers = {
        tag: subprocess.Popen(
            [sys.executable, "-c", _WORKER, tag, str(HERE)],
            env={**os.environ, "PYTHONPATH": src},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd="/",
        )
        for tag, src in trees.items()
    }
    totals: dict[str, list[float]] = {tag: [] for tag in trees}
    starts: dict[str, list[float]] = {tag: [] for tag in trees}
    try:
        for _ in range(rounds):
            for tag, proc in workers.items():
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
                total, start = map(float, proc.stdout.readline().split())
                totals[tag].append(total)
                starts[tag].append(start)
    finally:
        for proc in workers.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait()
    print(f"wharf engine, {rounds} alternating rounds per tree")
    for what, data in (("start", starts), ("run + cleanup", totals)):
        old_med, _ = _summary(data["old"])
        for tag, src in trees.items():
            med, p90 = _summary(data[tag])
            print(
                f"  {what:<14} {tag} ({src}): median {med:6.2f} ms  p90 {p90:6.2f} ms"
                f"  p90/median {p90 / med:.2f}  ({med / old_med:.2f}x old)"
            )


if __name__ == "__main__":
    main()
