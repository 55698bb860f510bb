"""The engine's seam, used in-process: plan_container with the engine's overlay Mounts,
launch with pipes as stdio, start over the sync channel, exec with launch_exec."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runtime_helpers import rootfs, runc_spec  # type: ignore[import-not-found]

from wharf.mount import Mount
from wharf.runtime.cgroups import Resources, open_cgroup
from wharf.runtime.config import plan_container, plan_exec, plan_process
from wharf.runtime.init import ChildHandles
from wharf.runtime.launch import cgroup_join_fds, launch, launch_exec, prepare_security
from wharf.runtime.spec import Process, Spec
from wharf.runtime.sync import START, ExecutableNotFound

__all__ = ["rootfs"]


@pytest.fixture
def workdir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="rtcore-lib-"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _spec(args: list[str], **process: Any) -> Spec:
    config = runc_spec(args)
    config["root"] = {"path": "merged", "readonly": False}
    config["process"].update(process)
    return Spec.from_json(config)


def _read(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    return data


def test_overlay_rootfs_pipes_start_and_exec(rootfs: Path, workdir: Path) -> None:
    for d in ("upper", "work", "merged"):
        (workdir / d).mkdir()
    overlay = Mount(
        "overlay",
        "overlay",
        (f"lowerdir={rootfs}", f"upperdir={workdir}/upper", f"workdir={workdir}/work"),
    )
    spec = _spec(["sh", "-c", "echo out; echo err >&2; echo written > /new-file; read x; echo $x"])
    cid = f"rtcore-lib-{os.getpid()}"
    plan = plan_container(spec, container_id=cid, bundle=str(workdir), rootfs=[overlay])
    caps, seccomp = prepare_security(plan.process, plan.seccomp)
    cgroup = open_cgroup(f"/{cid}")
    cgroup.create(Resources.from_spec(plan.resources))
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    fds = tuple(cgroup.join_fds())
    try:
        launched = launch(
            plan,
            handles=ChildHandles(
                cgroup_fds=fds,
                stdio=(stdin_r, out_w, err_w),
                capabilities=caps,
                seccomp=seccomp,
            ),
        )
        for fd in (*fds, stdin_r, out_w, err_w):
            os.close(fd)
        try:
            # Set up and blocked before execve: the overlay is mounted only in its namespace.
            assert f"{workdir}/merged" not in Path("/proc/self/mountinfo").read_text()
            assert str(workdir) in Path(f"/proc/{launched.pid}/mountinfo").read_text()
            launched.sync.send(START)
            launched.sync.close()
            exec_process = Process.from_process_json(
                {"args": ["cat", "/new-file"], "cwd": "/", "env": ["PATH=/bin"]}
            )
            exec_out_r, exec_out_w = os.pipe()
            # The container blocks on "read x": exec meanwhile, with its own stdout.
            pid = launch_exec(
                plan_process(exec_process),
                plan_exec(launched.pid, container_id=cid),
                container_id=cid,
                handles=ChildHandles(
                    cgroup_fds=cgroup_join_fds(launched.pid), stdio=(0, exec_out_w, 2)
                ),
            )
            os.close(exec_out_w)
            assert _read(exec_out_r) == b"written\n"
            os.close(exec_out_r)
            assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
            with pytest.raises(ExecutableNotFound, match="no-such-tool"):
                launch_exec(
                    plan_process(Process.from_process_json({"args": ["no-such-tool"], "cwd": "/"})),
                    plan_exec(launched.pid, container_id=cid),
                    container_id=cid,
                    handles=ChildHandles(),
                )
            os.write(stdin_w, b"from-stdin\n")
            os.close(stdin_w)
            assert _read(out_r) == b"out\nfrom-stdin\n"
            assert _read(err_r) == b"err\n"
            assert os.waitstatus_to_exitcode(os.waitpid(launched.pid, 0)[1]) == 0
        finally:
            for fd in (out_r, err_r):
                os.close(fd)
    finally:
        cgroup.destroy(kill=True)
    assert (workdir / "upper" / "new-file").read_text() == "written\n"
    assert str(workdir) not in Path("/proc/self/mountinfo").read_text()
