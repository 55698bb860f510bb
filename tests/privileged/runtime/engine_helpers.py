"""Fixtures and helpers of the engine-runtime tests (test_engine*.py): a busybox rootfs,
runc's default spec, a runtime (ours or runc's) on a private state root whose teardown
checks that no monitor, mount or cgroup is left behind, and small create/run helpers.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wharf.mount import Mount
from wharf.runtime._engine_state import process_start_time
from wharf.runtime.engine import ContainerIO, MonitoredRuntime, WharfRuntime, start_zygote
from wharf.runtime.runc import OCIBinaryRuntime

# One subtree per test run: the same tests may run at once from another checkout.
CG_TOP = "/rtengine-test"
CG_PARENT = f"{CG_TOP}/run-{os.getpid()}"
CONTROLLERS = sorted(os.listdir("/sys/fs/cgroup"))
WAIT = 20.0


@pytest.fixture(scope="module")
def rootfs() -> Iterator[str]:
    """A busybox rootfs: busybox-static, every applet as a symlink, and a non-executable."""
    top = tempfile.mkdtemp(prefix="rtengine-rootfs-")
    root = Path(top, "rootfs")
    (root / "bin").mkdir(parents=True)
    shutil.copy("/usr/bin/busybox", root / "bin" / "busybox")
    applets = subprocess.run(
        ["/usr/bin/busybox", "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    for d in ("proc", "dev", "sys", "tmp", "etc", "home"):
        (root / d).mkdir()
    (root / "tmp").chmod(0o1777)
    (root / "bin" / "notexec").write_text("#!/bin/sh\necho never\n")
    (root / "bin" / "notexec").chmod(0o644)
    yield str(root)
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def base_spec(rootfs: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rtengine-spec-") as d:
        subprocess.run(["runc", "spec", "--bundle", d], check=True)
        spec: dict[str, Any] = json.loads(Path(d, "config.json").read_text())
    spec["root"] = {"path": rootfs, "readonly": False}
    spec["process"]["terminal"] = False
    return spec


def cgroup_dirs() -> list[str]:
    return [
        f"/sys/fs/cgroup/{c}{CG_PARENT}"
        for c in CONTROLLERS
        if not os.path.islink(f"/sys/fs/cgroup/{c}")
    ]


def remove_cgroup_parent() -> None:
    for d in cgroup_dirs():
        if os.path.isdir(d):
            for child in os.listdir(d):
                if os.path.isdir(os.path.join(d, child)):
                    os.rmdir(os.path.join(d, child))
            os.rmdir(d)
        with contextlib.suppress(OSError):  # busy: another run's subtree is still there
            os.rmdir(os.path.dirname(d))


def runtime_fixture(kind: str) -> Iterator[MonitoredRuntime]:
    state_root = tempfile.mkdtemp(prefix="rtengine-state-")
    zygote = start_zygote()
    rt: MonitoredRuntime = (
        WharfRuntime(state_root, zygote=zygote)
        if kind == "wharf"
        else OCIBinaryRuntime(kind, state_root, zygote=zygote)
    )
    monitors: list[int] = []
    try:
        yield rt
    finally:
        for c in rt.list():
            if c.monitor_pid:
                monitors.append(c.monitor_pid)
            rt.delete(c.id, force=True)
        rt.close()
        monitors += children_of(zygote.pid)  # the idle pool: exits with the zygote
        zygote.close()
        deadline = time.monotonic() + WAIT
        while any(process_start_time(p) for p in monitors) and time.monotonic() < deadline:
            time.sleep(0.01)
        mounts = Path("/proc/self/mountinfo").read_text()
        leftovers = [p for p in monitors if process_start_time(p) is not None]
        leaked_cgroups = [
            os.path.join(d, c)
            for d in cgroup_dirs()
            if os.path.isdir(d)
            for c in os.listdir(d)
            if os.path.isdir(os.path.join(d, c))
        ]
        remove_cgroup_parent()
        shutil.rmtree(state_root, ignore_errors=True)
        assert state_root not in mounts, "a mount under the state root was left behind"
        assert not leftovers, f"monitor processes left behind: {leftovers}"
        assert not leaked_cgroups, f"cgroups left behind: {leaked_cgroups}"


@pytest.fixture(params=["wharf", "runc"])
def runtime(request: pytest.FixtureRequest) -> Iterator[MonitoredRuntime]:
    yield from runtime_fixture(request.param)


@pytest.fixture
def crun_runtime() -> Iterator[MonitoredRuntime]:
    yield from runtime_fixture("crun")


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                out.append(int(entry))
    return out


def make_spec(base: dict[str, Any], cid: str, args: list[str], **process: Any) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(json.dumps(base))
    spec["process"]["args"] = args
    spec["process"].update(process)
    spec["linux"]["cgroupsPath"] = f"{CG_PARENT}/{cid}"
    spec["hostname"] = cid
    return spec


def bundle_for(rt: MonitoredRuntime, cid: str) -> str:
    d = os.path.join(rt.state_root, f"bundle-{cid}")
    os.makedirs(d, exist_ok=True)
    return d


def create(
    rt: MonitoredRuntime,
    base: dict[str, Any],
    cid: str,
    args: list[str],
    *,
    io: ContainerIO | None = None,
    rootfs: list[Mount] | None = None,
    **process: Any,
) -> str:
    log = os.path.join(rt.state_root, f"{cid}.log")
    rt.create(
        cid,
        bundle_dir=bundle_for(rt, cid),
        spec=make_spec(base, cid, args, **process),
        rootfs=rootfs or [],
        io=io or ContainerIO(log_path=log),
    )
    return log


def wait_exit(fd: int) -> None:
    try:
        assert select.select([fd], [], [], WAIT)[0], "the container did not exit in time"
    finally:
        os.close(fd)


def wait_gone(pid: int) -> bool:
    """Wait (up to WAIT) until ``pid`` no longer runs (gone, or a zombie); True if so."""
    deadline = time.monotonic() + WAIT
    while process_start_time(pid) is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def run(rt: MonitoredRuntime, base: dict[str, Any], cid: str, args: list[str]) -> str:
    log = create(rt, base, cid, args)
    fd = rt.exit_fd(cid)
    rt.start(cid)
    wait_exit(fd)
    return log


def log_entries(path: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]
