"""Cost of the security set-up a container child pays, Docker's defaults, interleaved:

- seccomp load of Docker's default profile compiled as a binary tree (Wharf) and as
  libseccomp's default linear list (what runc's libseccomp-golang emits);
- capabilities: bounding-set drop + capset + ambient (Docker's 14).

Each sample is taken in a freshly forked child (as the clone child would); the parent also
times compile_filter cold and cached. Run as root:
``.venv/bin/python benchmarks/runtime_seccomp.py [ROUNDS]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

from wharf.runtime import seccomp, syscalls
from wharf.runtime.capabilities import DOCKER_DEFAULT, CapabilitySets

_PR_SET_NO_NEW_PRIVS = 38


def _linear_bpf(profile: dict[str, object]) -> bytes:
    """Docker's profile compiled without the binary-tree attribute (libseccomp default)."""
    lib = seccomp._libseccomp()
    set_attr = lib.seccomp_attr_set
    lib.seccomp_attr_set = lambda *_args: 0
    try:
        seccomp._compile_cached.cache_clear()
        return seccomp.compile_filter(profile)
    finally:
        lib.seccomp_attr_set = set_attr
        seccomp._compile_cached.cache_clear()


def in_child(step: Callable[[], None]) -> float:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        start = time.perf_counter_ns()
        step()
        os.write(w, str(time.perf_counter_ns() - start).encode())
        os._exit(0)
    ns = int(os.read(r, 64))
    os.waitpid(pid, 0)
    os.close(r)
    os.close(w)
    return ns / 1e6


def _row(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"{name:<26}{statistics.median(values):9.3f}{p90:9.3f}"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    profile = seccomp.default_profile(DOCKER_DEFAULT)
    start = time.perf_counter()
    tree = seccomp.compile_filter(profile)
    cold = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    seccomp.compile_filter(profile)
    cached = (time.perf_counter() - start) * 1000
    linear = _linear_bpf(profile)
    steps = {
        "seccomp load, tree": seccomp.prepare_filter(tree).load,
        "seccomp load, linear": seccomp.prepare_filter(linear).load,
        "capabilities apply": CapabilitySets.docker_default().prepare().apply,
    }
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            samples[name].append(in_child(step))
    print(f"{rounds} rounds, interleaved, in forked children; ms")
    print(f"{'step':<26}{'median':>9}{'p90':>9}")
    for name, values in samples.items():
        print(_row(name, values))
    print(f"instructions: tree {len(tree) // 8}, linear {len(linear) // 8}")
    print(f"compile_filter(Docker default): cold {cold:.1f} ms, cached {cached:.3f} ms")
    tree_load = statistics.median(samples["seccomp load, tree"])
    linear_load = statistics.median(samples["seccomp load, linear"])
    print(f"load ratio tree/linear: {tree_load / linear_load:.2f}")


if __name__ == "__main__":
    main()
