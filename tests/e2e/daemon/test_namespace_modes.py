"""``--pid``, ``--ipc``, ``--uts`` and ``--cgroupns`` (the host's namespaces, or another
container's) and ``--cgroup-parent``, through the real docker CLI."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.e2e.daemon.harness import Daemon


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def _ns(kind: str, pid: int | str = "self") -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def _sleepers(tag: str) -> list[str]:
    """Pids of the host's processes whose command line is ``sleep <tag>``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read() == f"sleep\0{tag}\0".encode():
                    found.append(entry)
        except OSError:
            continue
    return found


def test_host_namespaces_are_the_hosts(daemon: Daemon) -> None:
    script = "for n in pid ipc uts; do readlink /proc/self/ns/$n; done; hostname; echo $$"
    flags = ("--pid", "host", "--ipc", "host", "--uts", "host")
    lines = _ok(daemon.docker("run", "--rm", *flags, "busybox", "sh", "-c", script)).split()
    assert lines[:3] == [_ns("pid"), _ns("ipc"), _ns("uts")]
    assert lines[3] == os.uname().nodename
    assert int(lines[4]) > 1  # a host pid, not 1
    private = _ok(daemon.docker("run", "--rm", "busybox", "sh", "-c", script)).split()
    assert private[:3] != lines[:3] and private[4] == "1"


def test_pid_host_top_lists_the_containers_processes_and_stop_kills_them(
    daemon: Daemon,
) -> None:
    tag = f"{os.getpid() % 1000 + 7000}"
    _ok(
        daemon.docker(
            "run",
            "-d",
            "--name",
            "ph",
            "--pid",
            "host",
            "busybox",
            "sh",
            "-c",
            f"sleep {tag} & exec sleep 1{tag}",
        )
    )
    try:
        main = int(_ok(daemon.docker("inspect", "-f", "{{.State.Pid}}", "ph")))
        rows = _ok(daemon.docker("top", "ph")).splitlines()[1:]
        assert sorted(r.split()[-1] for r in rows) == sorted([tag, f"1{tag}"])
        assert str(main) in [r.split()[1] for r in rows]  # host pids
        assert len(_sleepers(tag)) == 1
        _ok(daemon.docker("stop", "-t", "1", "ph"))
        # The background sleep outlives the main process in the host's pid namespace:
        # the container's stop kills it, as dockerd (runc's delete) does.
        deadline = time.monotonic() + 5
        while _sleepers(tag) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _sleepers(tag) == []
    finally:
        daemon.docker("rm", "-f", "ph")


def test_pid_and_ipc_of_another_container(daemon: Daemon) -> None:
    _ok(
        daemon.docker(
            "run",
            "-d",
            "--name",
            "donor",
            "--ipc",
            "shareable",
            "--shm-size",
            "8m",
            "busybox",
            "sh",
            "-c",
            "echo kept > /dev/shm/x; exec sleep 300",
        )
    )
    _ok(daemon.docker("run", "-d", "--name", "private", "busybox", "sleep", "300"))
    try:
        donor = int(_ok(daemon.docker("inspect", "-f", "{{.State.Pid}}", "donor")))
        script = "ps -o pid,args; cat /dev/shm/x; df -k /dev/shm; readlink /proc/self/ns/ipc"
        flags = ("--pid", "container:donor", "--ipc", "container:donor")
        lines = _ok(daemon.docker("run", "--rm", *flags, "busybox", "sh", "-c", script))
        assert "1 sleep 300" in lines  # the donor's pid 1
        assert "kept" in lines.splitlines()
        assert " 8192 " in lines  # the donor's 8 MiB tmpfs
        assert lines.split()[-1] == _ns("ipc", donor)
        refused = daemon.docker("run", "--rm", "--ipc", "container:private", "busybox", "true")
        assert refused.returncode == 125
        assert "non-shareable IPC" in refused.stderr.decode()
        shm = (
            daemon.root
            / "data"
            / "containers"
            / _ok(daemon.docker("inspect", "-f", "{{.Id}}", "donor")).strip()
            / "shm"
        )
        assert shm.is_mount()
        _ok(daemon.docker("rm", "-f", "donor"))
        assert not shm.exists()
        gone = daemon.docker("run", "--rm", "--pid", "container:donor", "busybox", "true")
        assert gone.returncode == 125
        assert "cannot join PID of a non running container: donor" in gone.stderr.decode()
    finally:
        daemon.docker("rm", "-f", "donor", "private")


def test_cgroupns_private_roots_the_container_at_its_cgroup(daemon: Daemon) -> None:
    script = "readlink /proc/self/ns/cgroup; grep pids: /proc/self/cgroup"
    private = _ok(
        daemon.docker("run", "--rm", "--cgroupns", "private", "busybox", "sh", "-c", script)
    ).split()
    assert private[0] != _ns("cgroup") and private[1].endswith(":pids:/")
    host = _ok(daemon.docker("run", "--rm", "busybox", "sh", "-c", script)).split()
    assert host[0] == _ns("cgroup") and daemon.cgroup_parent in host[1]


def test_ipc_none_has_no_dev_shm_and_inspect_shows_the_modes(daemon: Daemon) -> None:
    result = daemon.docker(
        "run", "--rm", "--ipc", "none", "busybox", "grep", "/dev/shm", "/proc/mounts"
    )
    assert result.returncode == 1 and result.stdout == b""
    _ok(daemon.docker("create", "--name", "modes", "--pid", "host", "--uts", "host", "busybox"))
    try:
        shown = _ok(
            daemon.docker(
                "inspect",
                "-f",
                "{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}} "
                "{{.HostConfig.CgroupnsMode}}",
                "modes",
            )
        ).split()
        assert shown == ["host", "private", "host", "host"]
    finally:
        daemon.docker("rm", "modes")


def test_cgroup_parent_places_the_container_and_its_limits(daemon: Daemon) -> None:
    parent = f"/{daemon.cgroup_parent}-own/sub"
    try:
        _ok(
            daemon.docker(
                "run",
                "-d",
                "--name",
                "cgp",
                "--cgroup-parent",
                parent,
                "-m",
                "64m",
                "busybox",
                "sleep",
                "300",
            )
        )
        cid = _ok(daemon.docker("inspect", "-f", "{{.Id}}", "cgp")).strip()
        memory = Path("/sys/fs/cgroup/memory") / parent.lstrip("/") / cid
        assert (memory / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
        _ok(daemon.docker("update", "-m", "96m", "--memory-swap", "200m", "cgp"))
        assert (memory / "memory.limit_in_bytes").read_text().strip() == str(96 << 20)
        inside = _ok(daemon.docker("exec", "cgp", "grep", "pids:", "/proc/self/cgroup"))
        assert inside.strip().endswith(f"{parent}/{cid}")
        assert "/ 96MiB" in _ok(daemon.docker("stats", "--no-stream", "cgp"))
        assert _ok(daemon.docker("inspect", "-f", "{{.HostConfig.CgroupParent}}", "cgp")) == (
            parent + "\n"
        )
        _ok(daemon.docker("rm", "-f", "cgp"))
        assert not memory.exists()
        # The next container, in the daemon's parent, takes the pool's slot made in ours.
        _ok(daemon.docker("run", "--rm", "busybox", "true"))
    finally:
        daemon.docker("rm", "-f", "cgp")
        top = parent.lstrip("/")
        for controller in Path("/sys/fs/cgroup").iterdir():
            for d in (controller / top, controller / os.path.dirname(top)):
                if d.is_dir() and not d.is_symlink():
                    left = [p.name for p in d.iterdir() if p.is_dir()]
                    assert left in ([], ["sub"]), f"left in {d}: {left}"
                    d.rmdir()
