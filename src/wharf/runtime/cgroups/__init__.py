"""Container cgroups on v1 (per-controller hierarchies) and v2 (unified).

Model: a container's cgroup is named by its OCI ``linux.cgroupsPath`` (``/wharf/<id>``),
rooted at each hierarchy's root (absolute path) or under the caller's own cgroup
(relative path, runc's rule). The kernel is the only state: ``open_cgroup(path)`` has
no side effect and finds an existing cgroup again after an engine restart.

Lifecycle::

    res = Resources.from_spec(spec["linux"].get("resources"))  # InvalidArgument names the field
    cg = open_cgroup("/wharf/" + cid)                          # v1 or v2, by the host
    # (engine fast path on v1: controllers=lean_controllers(res) skips the cpu move)
    cg.create(res)            # mkdir + limits; on failure nothing is left behind
    fds = cg.join_fds()       # v1: the clone child writes b"0" to each, then execve
    ...                       # (v2: clone3(CLONE_INTO_CGROUP, cg.dir_fd()) instead)
    cg.stats(); cg.freeze(); cg.thaw(); cg.update(res2)
    cg.destroy(kill=True)     # SIGKILL leftovers, rmdir everywhere

Joining on v1 is done by the new, single-threaded child writing ``b"0"`` to each
hierarchy's ``tasks`` file, never ``cgroup.procs`` (measured here, 300 interleaved joins
into 8 hierarchies: tasks median 0.06 ms, p99 0.11 ms; cgroup.procs from the child p90
11.5 ms; ``benchmarks/runtime_cgroups.py``). Joining the ``cpu`` hierarchy as well costs
a run-queue wait of ~2.6 ms in one join out of five on a loaded host; leave it out when
there are no cpu limits (:func:`lean_controllers`). ``add_process`` (``cgroup.procs``) is
for exec'd processes and runc-style joins. On hybrid hosts ``unified=True`` also makes the
cgroup in the cgroup2 hierarchy (runc's ``0::`` line), joined with clone3 + ``dir_fd``.

Device rules (deny all, the spec's rules, then runc's default allow list
:data:`DEFAULT_DEVICE_RULES`): v1 writes them to ``devices.deny``/``devices.allow``; v2
compiles them to an eBPF ``cgroup/dev`` program attached to the cgroup
(:mod:`wharf.runtime.cgroups.devices`). On a hybrid host both work: the v1 devices
hierarchy and a program on the task's unified cgroup are each checked.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Literal

from wharf.errors import InvalidArgument
from wharf.runtime.cgroups.base import Cgroup, FreezerState
from wharf.runtime.cgroups.resources import (
    DEFAULT_DEVICE_RULES,
    BlkioResources,
    CpuResources,
    DeviceRule,
    DeviceThrottle,
    DeviceWeight,
    MemoryResources,
    Resources,
)
from wharf.runtime.cgroups.stats import (
    BlkioEntry,
    BlkioStats,
    CgroupStats,
    CpuStats,
    MemoryStats,
    PidsStats,
)
from wharf.runtime.cgroups.v1 import V1Cgroup, lean_controllers
from wharf.runtime.cgroups.v2 import V2Cgroup

__all__ = [
    "DEFAULT_DEVICE_RULES",
    "BlkioEntry",
    "BlkioResources",
    "BlkioStats",
    "Cgroup",
    "CgroupStats",
    "CpuResources",
    "CpuStats",
    "DeviceRule",
    "DeviceThrottle",
    "DeviceWeight",
    "FreezerState",
    "MemoryResources",
    "MemoryStats",
    "PidsStats",
    "Resources",
    "V1Cgroup",
    "V2Cgroup",
    "host_version",
    "lean_controllers",
    "open_cgroup",
]

Version = Literal["auto", "v1", "v2"]


def host_version(root: str = "/sys/fs/cgroup") -> int:
    """2 when ``root`` is a pure cgroup2 mount; 1 for v1 and hybrid hosts."""
    return 2 if os.path.exists(f"{root}/cgroup.controllers") else 1


def open_cgroup(
    path: str,
    *,
    version: Version = "auto",
    controllers: Iterable[str] | None = None,
    unified: bool = False,
) -> Cgroup:
    """The container cgroup named by an OCI cgroupsPath; nothing is created yet.

    Args:
        path: ``linux.cgroupsPath`` (``/wharf/<id>``).
        version: "auto" (the host's: v1 on hybrid hosts, where v2 holds only hugetlb),
            "v1" or "v2" (on a hybrid host, the ``unified`` mount).
        controllers: v1 only: the hierarchies to span (default: all mounted ones); see
            :class:`V1Cgroup`. v2 enables the controllers its limits need.
        unified: v1 on a hybrid host only: span the unified hierarchy too (runc's
            ``0::`` membership), joined with clone3 and :meth:`Cgroup.dir_fd`.

    Raises:
        InvalidArgument: a bad path or version.
        FailedPrecondition: no hierarchy of that version is mounted.
    """
    if version == "auto":
        version = "v2" if host_version() == 2 else "v1"
    if version == "v1":
        return V1Cgroup(path, controllers=controllers, unified=unified)
    if version == "v2":
        return V2Cgroup(path)
    raise InvalidArgument(f"cgroup version: must be 'auto', 'v1' or 'v2', got {version!r}")
