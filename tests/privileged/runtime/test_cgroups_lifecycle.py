"""Cgroup lifecycle on the real kernel: membership, stats, failures that leave nothing."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from rtcg_helpers import cg_path, leftovers, new_path, run_in

from wharf.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from wharf.runtime import syscalls
from wharf.runtime.cgroups import FreezerState, Resources, lean_controllers, open_cgroup
from wharf.runtime.cgroups.v1 import discover_hierarchies

__all__ = ["cg_path"]

MiB = 1024 * 1024


def _cgroup_lines(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/cgroup", encoding="ascii") as f:
        return {
            line.split(":")[1]: line.rstrip("\n").split(":", 2)[2]
            for line in f
            if line.split(":")[1]
        }


def test_child_joins_every_v1_hierarchy(cg_path: str) -> None:
    cg = open_cgroup(cg_path)
    cg.create(Resources())
    p = run_in(cg, "import time; time.sleep(30)")
    try:
        lines = _cgroup_lines(p.pid)
        names = {n for n in discover_hierarchies() if "," not in n}
        assert {n: lines[n] for n in names} == dict.fromkeys(names, cg_path)
        assert cg.pids() == [p.pid]
        # A fresh handle (an engine restarted) finds the same cgroup.
        again = open_cgroup(cg_path)
        assert again.exists()
        assert again.pids() == [p.pid]
    finally:
        p.kill()
        p.wait()


def test_add_process_moves_a_running_process(cg_path: str) -> None:
    cg = open_cgroup(cg_path)
    cg.create(Resources.from_spec({"pids": {"limit": 5}}))
    p = subprocess.Popen(["sleep", "30"])
    try:
        assert _cgroup_lines(p.pid)["pids"] != cg_path
        cg.add_process(p.pid)
        assert _cgroup_lines(p.pid)["pids"] == cg_path
        assert _cgroup_lines(p.pid)["freezer"] == cg_path
        assert cg.stats().pids.current == 1
    finally:
        p.kill()
        p.wait()


def test_stats_are_plausible(cg_path: str) -> None:
    cg = open_cgroup(cg_path)
    cg.create(Resources.from_spec({"memory": {"limit": 256 * MiB}, "pids": {"limit": 50}}))
    code = "import sys\nb = bytearray(48 << 20)\nprint('ready', flush=True)\nsys.stdin.read()"
    p = run_in(cg, code, stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    assert p.stdout is not None
    assert p.stdin is not None
    try:
        assert p.stdout.readline() == b"ready\n"
        s = cg.stats()
        assert 48 * MiB <= s.memory.usage <= 256 * MiB
        assert s.memory.limit == 256 * MiB
        assert s.memory.max_usage is not None
        assert s.memory.max_usage >= s.memory.usage
        assert s.memory.oom_kills == cg.oom_kills() == 0
        assert s.cpu.total_ns > 0
        assert s.cpu.user_ns + s.cpu.system_ns > 0
        assert (s.pids.current, s.pids.limit) == (1, 50)
    finally:
        p.stdin.close()
        p.wait(timeout=30)
        p.stdout.close()


def test_destroy_kills_leftovers_and_removes_everything() -> None:
    path = new_path()
    cg = open_cgroup(path)
    cg.create(Resources())
    code = "import os, time\nfor _ in range(3):\n    os.fork()\ntime.sleep(60)"
    p = run_in(cg, code)
    try:
        while len(cg.pids()) < 8:
            pass
        with pytest.raises(Conflict, match="still has processes"):
            cg.destroy(timeout=0.05)
        assert cg.exists()
        cg.destroy(kill=True)
        assert leftovers(path) == []
        assert p.wait(timeout=30) == -signal.SIGKILL
    finally:
        cg.destroy(kill=True)


def test_failed_create_leaves_nothing() -> None:
    path = new_path() + "/nested"
    cg = open_cgroup(path)
    with pytest.raises(InvalidArgument, match=r"linux\.resources\.cpu\.cpus: CPUs 4095"):
        cg.create(Resources.from_spec({"cpu": {"cpus": "0,4095"}}))
    assert leftovers(path.rsplit("/", 1)[0]) == []
    with pytest.raises(InvalidArgument, match=r"linux\.resources\.cpu\.mems"):
        cg.create(Resources.from_spec({"cpu": {"mems": "7"}}))
    assert leftovers(path.rsplit("/", 1)[0]) == []


def test_create_refuses_an_existing_cgroup(cg_path: str) -> None:
    cg = open_cgroup(cg_path)
    cg.create(Resources.from_spec({"pids": {"limit": 7}}))
    with pytest.raises(Conflict, match="exists already"):
        open_cgroup(cg_path).create(Resources.from_spec({"pids": {"limit": 9}}))
    assert cg.stats().pids.limit == 7


def test_v2_unified_lifecycle(cg_path: str) -> None:
    cg = open_cgroup(cg_path, version="v2")
    with pytest.raises(FailedPrecondition, match=r"linux\.resources\.memory\.limit: the memory"):
        cg.create(Resources.from_spec({"memory": {"limit": 64 * MiB}}))
    assert not cg.exists()
    cg.create(Resources())
    p = run_in(cg, "import time; time.sleep(30)")
    try:
        assert _cgroup_lines(p.pid).get("") is None  # v2 line has an empty controller list
        with open(f"/proc/{p.pid}/cgroup", encoding="ascii") as f:
            assert f"0::{cg_path}\n" in f.read()
        cg.freeze()
        assert cg.state() == FreezerState.FROZEN
        cg.thaw()
        assert cg.state() == FreezerState.THAWED
        assert cg.kill_all(signal.SIGKILL) == 1
        assert p.wait(timeout=30) == -signal.SIGKILL
    finally:
        p.kill()
        p.wait()


def test_v2_clone_into_cgroup(cg_path: str) -> None:
    cg = open_cgroup(cg_path, version="v2")
    cg.create(Resources())
    dfd = cg.dir_fd()
    r, w = os.pipe()
    try:
        pid, pidfd = syscalls.clone3(0, cgroup_fd=dfd)
        if pid == 0:
            try:
                with open("/proc/self/cgroup", "rb") as f:
                    os.write(w, f.read())
            finally:
                os._exit(0)
        os.close(w)
        os.close(pidfd)
        assert os.waitpid(pid, 0)[1] == 0
        assert f"0::{cg_path}\n" in os.read(r, 4096).decode()
    finally:
        os.close(dfd)
        os.close(r)


def test_controllers_limit_the_hierarchies(cg_path: str) -> None:
    with pytest.raises(FailedPrecondition, match="controller 'bogus' is not mounted"):
        open_cgroup(cg_path, controllers=["memory", "bogus"])
    cg = open_cgroup(cg_path, controllers=["memory", "pids", "freezer"])
    assert not cg.devices_enforced
    with pytest.raises(FailedPrecondition, match=r"cpu\.shares: .* does not span the cpu"):
        cg.create(Resources.from_spec({"cpu": {"shares": 512}}))
    assert leftovers(cg_path) == []
    cg.create(Resources.from_spec({"pids": {"limit": 4}}))
    assert sorted(d.split("/")[4] for d in leftovers(cg_path)) == ["freezer", "memory", "pids"]
    p = run_in(cg, "import time; time.sleep(30)")
    try:
        lines = _cgroup_lines(p.pid)
        assert (lines["memory"], lines["pids"], lines["freezer"]) == (cg_path,) * 3
        assert lines["cpu"] != cg_path
        assert cg.stats().pids.limit == 4
    finally:
        p.kill()
        p.wait()


def test_relative_path_is_under_the_callers_cgroup() -> None:
    name = new_path().lstrip("/")
    cg = open_cgroup(name)
    own = {
        line.split(":")[1]: line.rstrip("\n").split(":", 2)[2]
        for line in open("/proc/self/cgroup", encoding="ascii")  # noqa: SIM115
    }
    cg.create(Resources.from_spec({"pids": {"limit": 3}}))
    try:
        memory = f"/sys/fs/cgroup/memory{own['memory'].rstrip('/')}/{name}"
        pids = f"/sys/fs/cgroup/pids{own['pids'].rstrip('/')}/{name}"
        assert os.path.isdir(memory)
        with open(f"{pids}/pids.max", encoding="ascii") as f:
            assert f.read().strip() == "3"
    finally:
        cg.destroy(kill=True)
    assert not os.path.exists(memory)
    assert not cg.exists()


def test_nested_path_keeps_the_shared_parent(cg_path: str) -> None:
    a = open_cgroup(f"{cg_path}/a")
    b = open_cgroup(f"{cg_path}/b")
    a.create(Resources())
    b.create(Resources.from_spec({"cpu": {"cpus": "0"}}))
    a.destroy()
    assert not a.exists()
    assert b.exists()
    # The new cpuset parent was given the host's cpus and mems so tasks can join.
    with open(f"/sys/fs/cgroup/cpuset{cg_path}/cpuset.mems", encoding="ascii") as f:
        assert f.read().strip() != ""
    b.destroy()
    assert os.path.isdir(f"/sys/fs/cgroup/pids{cg_path}")  # the parent stays


def test_hybrid_unified_membership_like_runc(cg_path: str) -> None:
    cg = open_cgroup(cg_path, unified=True)
    cg.create(Resources.from_spec({"pids": {"limit": 5}}))
    assert os.path.isdir(f"/sys/fs/cgroup/unified{cg_path}")
    fds = cg.join_fds()
    dfd = cg.dir_fd()
    r, w = os.pipe()
    try:
        pid, pidfd = syscalls.clone3(0, cgroup_fd=dfd)
        if pid == 0:
            try:
                for fd in fds:
                    os.write(fd, b"0")
                with open("/proc/self/cgroup", "rb") as f:
                    os.write(w, f.read())
            finally:
                os._exit(0)
        os.close(w)
        os.close(pidfd)
        assert os.waitpid(pid, 0)[1] == 0
        lines = os.read(r, 4096).decode().splitlines()
    finally:
        for fd in (*fds, dfd, r):
            os.close(fd)
    # Every hierarchy, the unified one included: what runc shows on this host.
    assert lines
    assert all(line.endswith(f":{cg_path}") for line in lines), lines
    cg.destroy()
    assert leftovers(cg_path) == []


def test_destroy_kill_works_on_a_frozen_cgroup(cg_path: str) -> None:
    cg = open_cgroup(cg_path)
    cg.create(Resources())
    p = run_in(cg, "import time; time.sleep(60)")
    while not cg.pids():
        pass
    cg.freeze()
    assert cg.state() == FreezerState.FROZEN
    cg.destroy(kill=True)
    assert p.wait(timeout=30) == -signal.SIGKILL
    assert leftovers(cg_path) == []


def test_lean_controllers_skip_cpu_only_without_cpu_limits() -> None:
    lean = lean_controllers(Resources.from_spec({"memory": {"limit": 64 * MiB}}))
    assert lean is not None
    assert "cpu" not in lean
    assert {"memory", "pids", "freezer", "devices", "cpuacct"} <= set(lean)
    assert lean_controllers(Resources.from_spec({"cpu": {"shares": 512}})) is None


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_operations_on_a_missing_cgroup(version: str) -> None:
    cg = open_cgroup(new_path(), version=version)  # type: ignore[arg-type]
    assert not cg.exists()
    for op in (cg.stats, cg.pids, cg.freeze, lambda: cg.update(Resources())):
        with pytest.raises(NotFound, match="rtcg-test-"):
            op()
    cg.destroy()  # a no-op
    with pytest.raises(InvalidArgument, match="cgroup version"):
        open_cgroup(new_path(), version="v3")  # type: ignore[arg-type]


def test_create_renames_a_spare_made_ahead_in_the_same_parent(cg_path: str) -> None:
    """A pool slot's spare cgroup becomes the container's: the same directories, renamed,
    with the container's limits; a spare in another parent, or a taken name, is refused
    and the spare is left as it was."""
    lean = lean_controllers(Resources())
    spare = open_cgroup(f"{cg_path}/spare", controllers=lean)
    spare.create(Resources())
    memory = f"/sys/fs/cgroup/memory{cg_path}"
    made_ahead = os.stat(f"{memory}/spare").st_ino
    cg = open_cgroup(f"{cg_path}/c1", controllers=lean)
    elsewhere = open_cgroup(f"{cg_path}/sub/spare", controllers=lean)
    try:
        cg.create(Resources.from_spec({"pids": {"limit": 7}}), spare=spare)
        assert not spare.exists()
        assert os.stat(f"{memory}/c1").st_ino == made_ahead
        assert cg.stats().pids.limit == 7
        with open(f"/sys/fs/cgroup/devices{cg_path}/c1/devices.list", encoding="ascii") as f:
            assert "a *:* rwm" not in f.read()  # the container's device rules, not the parent's
        spare.create(Resources())
        with pytest.raises(Conflict, match="exists already"):
            open_cgroup(f"{cg_path}/c1", controllers=lean).create(Resources(), spare=spare)
        elsewhere.create(Resources())
        other = open_cgroup(f"{cg_path}/c2", controllers=lean)
        other.create(Resources(), spare=elsewhere)
        assert elsewhere.exists() and spare.exists() and other.exists()
        other.destroy()
    finally:
        for c in (cg, spare, elsewhere, open_cgroup(f"{cg_path}/sub")):
            c.destroy(kill=True)
