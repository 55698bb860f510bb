"""The engine's pool on the real kernel: pid 1 is the monitor's own and only child; a pid 1
cloned before the request still sees mounts the host made since, takes requests with other
namespace flags (then the next slot has those), and joins a network namespace by a path
made after it; poststop hooks run once the container is gone, a cpu limit can be added by
``update`` to a container created without one, a state root too long for unix socket
paths works, and a slot whose idle pid 1 died still launches a request.

Same fixtures and clean-up checks as test_engine.py (``engine_helpers``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import (  # type: ignore[import-not-found]
    CG_PARENT,
    WAIT,
    base_spec,
    bundle_for,
    cgroup_dirs,
    children_of,
    create,
    log_entries,
    make_spec,
    remove_cgroup_parent,
    rootfs,
    run,
    runtime,
    wait_exit,
    wait_gone,
)

from wharf.errors import Conflict, InvalidArgument
from wharf.runtime.engine import (
    SPARE_PREFIX,
    ContainerIO,
    MonitoredRuntime,
    WharfRuntime,
    Zygote,
    start_zygote,
)
from wharf.runtime.runc import OCIBinaryRuntime

__all__ = ["base_spec", "rootfs", "runtime"]  # fixtures, used by name


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def test_pid1_is_the_monitors_only_child(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    if not isinstance(runtime, WharfRuntime):
        pytest.skip("the pool is the native fast path's")
    cid = "rtengine-pool"
    create(runtime, base_spec, cid, ["sleep", "30"])
    st = runtime.state(cid)
    assert _parent_of(st.pid) == st.monitor_pid
    deadline = time.monotonic() + WAIT
    while children_of(st.monitor_pid) != [st.pid] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert children_of(st.monitor_pid) == [st.pid]  # nothing else, not even a zombie
    fd = runtime.exit_fd(cid)
    runtime.start(cid)
    st = runtime.state(cid)  # at once: the monitor answers start before it writes its state
    assert st.status == "running" and st.started_at
    runtime.kill(cid, 9)
    wait_exit(fd)
    assert runtime.state(cid).exit_code == 137  # the monitor got pid 1's status


def _ns(pid: int | str, name: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{name}").st_ino


def _output(
    runtime: MonitoredRuntime,
    base: dict[str, Any],
    cid: str,
    args: list[str],
    spec_change: Any = None,
) -> str:
    spec = make_spec(base, cid, args)
    if spec_change is not None:
        spec_change(spec)
    log = os.path.join(runtime.state_root, f"{cid}.log")
    runtime.create(
        cid,
        bundle_dir=bundle_for(runtime, cid),
        spec=spec,
        rootfs=[],
        io=ContainerIO(log_path=log),
    )
    fd = runtime.exit_fd(cid)
    runtime.start(cid)
    wait_exit(fd)
    assert runtime.state(cid).exit_code == 0, log_entries(log)
    runtime.delete(cid)
    return "".join(e["log"] for e in log_entries(log))


def test_a_mount_made_after_the_pool_is_bound_into_the_next_container(
    runtime: MonitoredRuntime, base_spec: dict[str, Any], tmp_path: Path
) -> None:
    # The pool's pid 1 was cloned when the runtime started; the tmpfs is mounted on the
    # host afterwards (as the daemon mounts a volume at first use).
    _output(runtime, base_spec, "rtengine-warm", ["true"])  # the slot in use is fresh now
    src = tmp_path / "vol"
    src.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "rtengine-vol", str(src)], check=True)
    try:
        (src / "hello").write_text("from the host's tmpfs\n")

        def bind(spec: dict[str, Any]) -> None:
            spec["mounts"].append(
                {"destination": "/vol", "type": "bind", "source": str(src), "options": ["rbind"]}
            )

        out = _output(runtime, base_spec, "rtengine-vol", ["cat", "/vol/hello"], bind)
        assert out == "from the host's tmpfs\n"
    finally:
        subprocess.run(["umount", str(src)], check=True)


def test_requests_with_other_namespaces_alternate_and_each_gets_its_own(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    ours = str(_ns("self", "net"))
    args = ["sh", "-c", "readlink /proc/self/ns/net"]
    for i, change in enumerate([None, _host_network, _host_network, None, _host_network, None]):
        out = _output(runtime, base_spec, f"rtengine-ns{i}", args, change)
        assert (ours in out) == (change is not None), (i, out)


def _host_network(spec: dict[str, Any]) -> None:
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "network"]


def test_a_network_namespace_bound_after_the_pool_is_joined_by_path(
    runtime: MonitoredRuntime, base_spec: dict[str, Any], tmp_path: Path
) -> None:
    # Two containers without a network namespace of their own: the idle slot's pid 1 is
    # then cloned with the flags a join by path needs, before the namespace is bound.
    for i in range(2):
        _output(runtime, base_spec, f"rtengine-host{i}", ["true"], _host_network)
    path = tmp_path / "netns"
    path.touch()
    holder = subprocess.Popen(["unshare", "--net=" + str(path), "sleep", "30"])
    try:
        deadline = time.monotonic() + WAIT
        while not _is_nsfs(path):
            assert time.monotonic() < deadline, "unshare did not bind the namespace"
            time.sleep(0.01)

        def join(spec: dict[str, Any]) -> None:
            _host_network(spec)
            spec["linux"]["namespaces"].append({"type": "network", "path": str(path)})

        out = _output(runtime, base_spec, "rtengine-join", ["readlink", "/proc/self/ns/net"], join)
        assert out.strip() == f"net:[{path.stat().st_ino}]"
    finally:
        holder.kill()
        holder.wait()
        subprocess.run(["umount", str(path)], check=False)


def _is_nsfs(path: Path) -> bool:
    return any(
        line.split()[4] == str(path) and " - nsfs " in line
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    )


def _hook(tmp: Path, name: str, *, fail: bool = False) -> dict[str, Any]:
    script = tmp / f"hook-{name}.sh"
    script.write_text(f"#!/bin/sh\ncat > {tmp}/{name}.json\n" + ("exit 1\n" if fail else ""))
    script.chmod(0o755)
    return {"path": str(script), "args": [str(script)]}


@pytest.mark.parametrize("fail", [False, True], ids=["ok", "failing"])
def test_poststop_hooks_run_once_the_container_is_gone(
    runtime: MonitoredRuntime, base_spec: dict[str, Any], fail: bool
) -> None:
    cid = f"rtengine-poststop-{'fail' if fail else 'ok'}"
    tmp = Path(runtime.state_root, f"hooks-{cid}")
    tmp.mkdir()
    spec = json.loads(json.dumps(base_spec))
    spec["process"]["args"] = ["sh", "-c", "exit 3"]
    spec["linux"]["cgroupsPath"] = f"{CG_PARENT}/{cid}"
    spec["hooks"] = {"poststop": [_hook(tmp, "poststop", fail=fail)]}
    spec["annotations"] = {"org.example/k": "v"}
    runtime.create(cid, bundle_dir=bundle_for(runtime, cid), spec=spec, rootfs=[], io=ContainerIO())
    assert not (tmp / "poststop.json").exists()
    fd = runtime.exit_fd(cid)
    runtime.start(cid)
    wait_exit(fd)
    assert runtime.state(cid).exit_code == 3  # a failing poststop hook changes nothing
    runtime.delete(cid)
    state = json.loads((tmp / "poststop.json").read_text())
    assert state["id"] == cid
    assert state["annotations"] == {"org.example/k": "v"}


def test_update_adds_a_cpu_limit_to_a_container_created_without_one(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    cid = "rtengine-cpu-late"
    create(runtime, base_spec, cid, ["sleep", "30"])
    runtime.start(cid)
    pid = runtime.state(cid).pid
    runtime.update(cid, {"cpu": {"quota": 20000, "period": 100000}})
    cpu_dir = f"/sys/fs/cgroup/cpu{CG_PARENT}/{cid}"
    assert Path(f"{cpu_dir}/cpu.cfs_quota_us").read_text().strip() == "20000"
    assert str(pid) in Path(f"{cpu_dir}/cgroup.procs").read_text().split()
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    assert any(line.split(":")[1].split(",")[0] == "cpu" and line.endswith(cid) for line in lines)
    runtime.delete(cid, force=True)
    assert not os.path.exists(cpu_dir)


@contextlib.contextmanager
def _own_zygote(
    state_root: str, pool_size: int = 2, kind: str = "wharf"
) -> Iterator[tuple[MonitoredRuntime, Zygote]]:
    """A runtime (ours, or a binary's) on a zygote of its own with ``pool_size`` slots;
    its containers, the zygote and the cgroups are all gone afterwards."""
    zygote = start_zygote(pool_size=pool_size)
    rt: MonitoredRuntime = (
        WharfRuntime(state_root, zygote=zygote)
        if kind == "wharf"
        else OCIBinaryRuntime(kind, state_root, zygote=zygote)
    )
    try:
        yield rt, zygote
    finally:
        try:
            for c in rt.list():
                rt.delete(c.id, force=True)
        finally:
            rt.close()
            zygote.close()
            remove_cgroup_parent()


@pytest.mark.parametrize("kind", ["wharf", "runc"])
def test_a_150_character_state_root_works_for_control_attach_and_terminals(
    base_spec: dict[str, Any], kind: str
) -> None:
    top = tempfile.mkdtemp(prefix="rtengine-long-")
    root = os.path.join(top, "s" * (150 - len(top) - 1))
    assert len(root) == 150
    cid = f"rtengine-long-{kind}"
    try:
        with _own_zygote(root, kind=kind) as (rt, _):
            rt.create(
                cid,
                bundle_dir=bundle_for(rt, cid),
                spec=make_spec(base_spec, cid, ["sh", "-c", "read line; echo got $line"]),
                rootfs=[],
                io=ContainerIO(stdin=True, stdin_once=True),
            )
            assert len(os.path.join(root, cid, "attach.sock")) > 108
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.connect(rt.attach_path(cid))
                fd = rt.exit_fd(cid)
                rt.start(cid)  # a control round trip through the long path
                client.sendall(b"hello\n")
                client.shutdown(socket.SHUT_WR)
                out = b""
                while chunk := client.recv(4096):
                    out += chunk
            wait_exit(fd)
            assert out[8:] == b"got hello\n"  # one stdcopy frame: 8-byte header, payload
            assert rt.state(cid).exit_code == 0
            tty = f"{cid}-tty"
            rt.create(
                tty,
                bundle_dir=bundle_for(rt, tty),
                spec=make_spec(base_spec, tty, ["true"]),
                rootfs=[],
                io=ContainerIO(terminal=True),
            )
            fd = rt.exit_fd(tty)
            rt.start(tty)
            wait_exit(fd)
            assert rt.state(tty).exit_code == 0
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_cgroup_errors_after_the_clone_leave_nothing_and_spare_an_existing_cgroup(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    if not isinstance(runtime, WharfRuntime):
        pytest.skip("runc joins a cgroup that exists")
    create(runtime, base_spec, "rtengine-cg-a", ["sleep", "30"])
    pid = runtime.state("rtengine-cg-a").pid
    taken = make_spec(base_spec, "rtengine-cg-b", ["true"])
    taken["linux"]["cgroupsPath"] = f"{CG_PARENT}/rtengine-cg-a"  # another container's
    with pytest.raises(Conflict, match="exists"):
        runtime.create(
            "rtengine-cg-b",
            bundle_dir=bundle_for(runtime, "rtengine-cg-b"),
            spec=taken,
            rootfs=[],
            io=ContainerIO(),
        )
    procs = Path(f"/sys/fs/cgroup/memory{CG_PARENT}/rtengine-cg-a/cgroup.procs").read_text()
    assert procs.split() == [str(pid)]  # the first container's cgroup is untouched
    cpus = make_spec(base_spec, "rtengine-cg-c", ["true"])
    cpus["linux"]["resources"] = {"cpu": {"cpus": "999"}}
    with pytest.raises(InvalidArgument, match="cpus"):
        runtime.create(
            "rtengine-cg-c",
            bundle_dir=bundle_for(runtime, "rtengine-cg-c"),
            spec=cpus,
            rootfs=[],
            io=ContainerIO(),
        )
    assert [c.id for c in runtime.list()] == ["rtengine-cg-a"]
    assert not any(os.path.exists(f"{d}/rtengine-cg-c") for d in cgroup_dirs())
    assert runtime.state_root not in Path("/proc/self/mountinfo").read_text()


def _spares(parent: str) -> dict[str, int]:
    """The pool's spare cgroups in ``parent`` (memory hierarchy): name -> inode."""
    d = f"/sys/fs/cgroup/memory{parent}"
    names = os.listdir(d) if os.path.isdir(d) else []
    return {n: os.stat(f"{d}/{n}").st_ino for n in names if n.startswith(SPARE_PREFIX)}


def test_a_slot_makes_its_containers_cgroup_ahead_in_the_last_parent(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    if not isinstance(runtime, WharfRuntime):
        pytest.skip("the pool is the native fast path's")
    run(runtime, base_spec, "rtengine-spare1", ["true"])
    runtime.delete("rtengine-spare1")
    deadline = time.monotonic() + WAIT  # the slot taken is remade once the engine is quiet
    while not _spares(CG_PARENT) and time.monotonic() < deadline:
        time.sleep(0.01)
    spares = _spares(CG_PARENT)
    assert spares, "no slot made its spare cgroup in the last container's cgroup parent"
    spec = make_spec(base_spec, "rtengine-spare2", ["cat", "/proc/self/cgroup"])
    spec["linux"]["resources"] = {**spec["linux"].get("resources", {}), "pids": {"limit": 9}}
    log = os.path.join(runtime.state_root, "spare2.log")
    bundle = bundle_for(runtime, "rtengine-spare2")
    for _ in range(3):  # an idle slot made before the first container goes first
        runtime.create(
            "rtengine-spare2", bundle_dir=bundle, spec=spec, rootfs=[], io=ContainerIO(log_path=log)
        )
        memory = f"/sys/fs/cgroup/memory{CG_PARENT}/rtengine-spare2"
        if os.stat(memory).st_ino in spares.values():
            break
        runtime.delete("rtengine-spare2")
    assert os.stat(memory).st_ino in spares.values(), "no container took a spare cgroup"
    with open(f"/sys/fs/cgroup/pids{CG_PARENT}/rtengine-spare2/pids.max", encoding="ascii") as f:
        assert f.read().strip() == "9"
    fd = runtime.exit_fd("rtengine-spare2")
    runtime.start("rtengine-spare2")
    wait_exit(fd)
    assert f":memory:{CG_PARENT}/rtengine-spare2\n" in "".join(e["log"] for e in log_entries(log))
    # The runtime fixture checks that closing the engine leaves no spare behind.


def test_without_a_pool_the_zygote_forks_a_whole_monitor(
    base_spec: dict[str, Any], tmp_path: Path
) -> None:
    cid = "rtengine-nopool"
    with _own_zygote(str(tmp_path / "state"), 0) as (rt, zygote):
        log = create(rt, base_spec, cid, ["sh", "-c", "echo hi; exit 4"])
        st = rt.state(cid)
        assert _parent_of(st.pid) == st.monitor_pid
        assert _parent_of(st.monitor_pid) == zygote.pid
        fd = rt.exit_fd(cid)
        rt.start(cid)
        wait_exit(fd)
        assert rt.state(cid).exit_code == 4
        assert [e["log"] for e in log_entries(log)] == ["hi\n"]


def test_a_slot_whose_idle_process_died_launches_the_request_itself(
    base_spec: dict[str, Any], tmp_path: Path
) -> None:
    # An idle monitor waits for its idle process (H, whose clone becomes pid 1) to wake it;
    # with H killed, it waits for the engine's message instead, and launches the container
    # as a forked monitor would.
    cid = "rtengine-orphan-slot"
    with _own_zygote(str(tmp_path / "state"), 1) as (rt, zygote):
        deadline = time.monotonic() + WAIT
        idle: list[int] = []
        while not idle and time.monotonic() < deadline:
            idle = [p for m in children_of(zygote.pid) for p in children_of(m)]
            time.sleep(0.01)
        assert idle, "the zygote made no slot"
        assert not any(_is_pid1(pid) for pid in idle)  # no pid 1 before a request
        for pid in idle:
            os.kill(pid, 9)
            wait_gone(pid)
        log = run(rt, base_spec, cid, ["sh", "-c", f"echo from the slot; {_PRIORITY}; exit 5"])
        assert rt.state(cid).exit_code == 5
        assert not any(os.path.exists(f"/proc/{pid}") for pid in idle)  # reaped
        out = [e["log"] for e in log_entries(log)]
        assert out[0] == "from the slot\n"
        assert _nice(out[1:]) == (0, 0)  # the slot was made at nice 19, its session too


def test_an_idle_slot_adds_nothing_to_the_load_average(tmp_path: Path) -> None:
    # Its processes sleep interruptibly (S), not in the vfork wait (D), which the load
    # average counts.
    with _own_zygote(str(tmp_path / "state"), 2) as (_, zygote):
        deadline = time.monotonic() + WAIT
        idle: list[int] = []
        while len(idle) < 4 and time.monotonic() < deadline:
            idle = [p for m in children_of(zygote.pid) for p in [m, *children_of(m)]]
            time.sleep(0.05)
        assert len(idle) == 4  # two monitors, two idle processes
        time.sleep(0.3)  # done warming up
        states = {pid: _state(pid) for pid in idle}
        assert set(states.values()) == {"S"}, states


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def _is_pid1(pid: int) -> bool:
    """Whether ``pid`` is pid 1 of a pid namespace."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return line.split()[-1] == "1" and len(line.split()) > 2
    return False


# The nice value of the process and of its session's autogroup.
_PRIORITY = "cut -d' ' -f19 /proc/self/stat; cat /proc/self/autogroup"


def _nice(lines: list[str]) -> tuple[int, int]:
    text = "".join(lines).split()
    return int(text[0]), int(text[-1])


def test_a_pooled_container_runs_at_nice_0_in_a_session_at_nice_0(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    # Slots are made at nice 19 in sessions (autogroups) at nice 19; the container's
    # process must not keep either.
    log = run(runtime, base_spec, "rtengine-nice", ["sh", "-c", _PRIORITY])
    assert _nice([e["log"] for e in log_entries(log)]) == (0, 0)


def test_a_container_created_by_an_engine_now_closed_is_started_by_the_next(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    # The engine that creates a container keeps a line to its pid 1 and sends START on
    # it; once that engine is gone (its line closed), the next one starts the container
    # through its monitor.
    if not isinstance(runtime, WharfRuntime):
        pytest.skip("the pool is the native fast path's")
    zygote = start_zygote()
    first = WharfRuntime(runtime.state_root, zygote=zygote)
    try:
        log = create(first, base_spec, "rtengine-handover", ["echo", "started"])
    finally:
        first.close()
    assert runtime.state("rtengine-handover").status == "created"
    fd = runtime.exit_fd("rtengine-handover")
    runtime.start("rtengine-handover")
    wait_exit(fd)
    assert runtime.state("rtengine-handover").exit_code == 0
    assert [e["log"] for e in log_entries(log)] == ["started\n"]


def test_start_fails_and_runs_nothing_once_the_monitor_is_gone(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    if not isinstance(runtime, WharfRuntime):
        pytest.skip("the pool is the native fast path's")
    create(runtime, base_spec, "rtengine-unmonitored", ["sleep", "100"])
    st = runtime.state("rtengine-unmonitored")
    os.kill(st.monitor_pid, 9)
    wait_gone(st.monitor_pid)
    with pytest.raises(Conflict, match="monitor"):
        runtime.start("rtengine-unmonitored")
    assert wait_gone(st.pid), "pid 1 runs with no monitor to log or reap it"
    runtime.delete("rtengine-unmonitored", force=True)


def test_a_container_that_exits_before_its_monitor_hears_of_the_start_was_started(
    runtime: MonitoredRuntime, base_spec: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # START goes to pid 1 first, then "start" to the monitor. An engine delayed in between
    # (preempted) finds the container run, exited and its monitor gone: that is a start.
    if not isinstance(runtime, WharfRuntime):
        pytest.skip("the pool is the native fast path's")
    log = create(runtime, base_spec, "rtengine-quick", ["sh", "-c", "echo quick; exit 3"])
    fd = runtime.exit_fd("rtengine-quick")
    control = runtime._control

    def delayed(*args: Any) -> dict[str, Any]:
        wait_exit(os.dup(fd))  # the monitor has recorded the exit and closed its controls
        return control(*args)

    monkeypatch.setattr(runtime, "_control", delayed)
    runtime.start("rtengine-quick")
    monkeypatch.undo()
    os.close(fd)
    st = runtime.state("rtengine-quick")
    assert (st.status, st.exit_code) == ("stopped", 3)
    assert [e["log"] for e in log_entries(log)] == ["quick\n"]
    runtime.delete("rtengine-quick")
