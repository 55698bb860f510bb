"""plan_container / plan_process: flags, joins, mounts, sysctl rules, errors by field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from wharf.errors import InvalidArgument, NotFound, Unimplemented
from wharf.mount import MS_BIND, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, Mount
from wharf.runtime import syscalls
from wharf.runtime.config import DEFAULT_PATH, plan_container
from wharf.runtime.spec import Spec


def spec_json(**linux: Any) -> dict[str, Any]:
    return {
        "ociVersion": "1.0.2",
        "process": {"args": ["sh"], "cwd": "/", "env": ["A=1"]},
        "root": {"path": "rootfs"},
        "hostname": "h",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "options": ["ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "mount", "uts", "ipc", "network")],
            **linux,
        },
    }


def plan(tmp_path: Path, obj: dict[str, Any], **kw: Any) -> Any:
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    return plan_container(Spec.from_json(obj), container_id="c1", bundle=str(tmp_path), **kw)


def test_flags_and_defaults(tmp_path: Path) -> None:
    p = plan(tmp_path, spec_json())
    wanted = (
        syscalls.CLONE_NEWPID
        | syscalls.CLONE_NEWNS
        | syscalls.CLONE_NEWUTS
        | syscalls.CLONE_NEWIPC
        | syscalls.CLONE_NEWNET
    )
    assert p.clone_flags == wanted
    assert not p.user_namespace
    assert p.root_propagation == MS_PRIVATE | MS_REC
    assert p.rootfs == str(tmp_path / "rootfs")
    assert p.hostname == "h"
    assert p.process.path == DEFAULT_PATH
    assert [m.target for m in p.mounts] == ["/proc", "/sys/fs/cgroup"]
    assert p.mounts[1].cgroup and p.mounts[1].flags & MS_RDONLY
    assert {d.path for d in p.devices} >= {"/dev/null", "/dev/zero", "/dev/tty", "/dev/urandom"}


def test_cgroup_namespace_is_unshared_after_join(tmp_path: Path) -> None:
    obj = spec_json()
    obj["linux"]["namespaces"].append({"type": "cgroup"})
    p = plan(tmp_path, obj)
    assert p.unshare_cgroup
    assert not p.clone_flags & syscalls.CLONE_NEWCGROUP


def test_join_by_path(tmp_path: Path) -> None:
    obj = spec_json()
    obj["linux"]["namespaces"][4] = {"type": "network", "path": "/proc/self/ns/net"}
    obj["linux"]["namespaces"][0] = {"type": "pid", "path": "/proc/self/ns/pid"}
    p = plan(tmp_path, obj)
    assert not p.clone_flags & (syscalls.CLONE_NEWNET | syscalls.CLONE_NEWPID)
    assert p.joins == ((syscalls.CLONE_NEWNET, "/proc/self/ns/net"),)
    assert p.join_pid == "/proc/self/ns/pid"


def test_missing_namespace_path(tmp_path: Path) -> None:
    obj = spec_json()
    obj["linux"]["namespaces"][4] = {"type": "network", "path": "/nonexistent/net"}
    with pytest.raises(NotFound, match=r"linux.namespaces\[4\].path"):
        plan(tmp_path, obj)


def test_user_namespace_maps(tmp_path: Path) -> None:
    maps = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    obj = spec_json(uidMappings=maps, gidMappings=maps)
    obj["linux"]["namespaces"].append({"type": "user"})
    p = plan(tmp_path, obj)
    assert p.user_namespace
    assert p.uid_map == p.gid_map == "0 100000 65536\n"
    obj = spec_json()
    obj["linux"]["namespaces"].append({"type": "user"})
    with pytest.raises(InvalidArgument, match="uidMappings and gidMappings"):
        plan(tmp_path, obj)
    obj = spec_json(uidMappings=maps, gidMappings=maps)
    obj["linux"]["namespaces"][4] = {"type": "network", "path": "/proc/self/ns/net"}
    obj["linux"]["namespaces"].append({"type": "user"})
    with pytest.raises(Unimplemented):
        plan(tmp_path, obj)


def test_missing_rootfs_and_process(tmp_path: Path) -> None:
    obj = spec_json()
    with pytest.raises(NotFound, match=r"root\.path"):
        plan_container(Spec.from_json(obj), container_id="c", bundle=str(tmp_path))
    (tmp_path / "rootfs").mkdir()
    del obj["process"]
    with pytest.raises(InvalidArgument, match="process: is required"):
        plan(tmp_path, obj)
    with pytest.raises(InvalidArgument, match="must be an absolute path"):
        plan_container(Spec.from_json(spec_json()), container_id="c", bundle="relative")


def test_mount_namespace_required(tmp_path: Path) -> None:
    obj = spec_json()
    obj["linux"]["namespaces"] = [{"type": "pid"}, {"type": "uts"}]
    with pytest.raises(InvalidArgument, match="mount namespace is required"):
        plan(tmp_path, obj)


def test_bind_mounts(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    obj = spec_json()
    obj["mounts"] = [
        {"destination": "/d", "type": "bind", "source": "data", "options": ["ro", "nosuid"]},
        {"destination": "/e", "source": str(tmp_path / "data"), "options": ["rbind", "rslave"]},
    ]
    p = plan(tmp_path, obj)
    first, second = p.mounts
    assert first.bind and first.source == str(tmp_path / "data")
    assert first.flags & (MS_RDONLY | MS_NOSUID) == MS_RDONLY | MS_NOSUID
    assert second.flags & (MS_BIND | MS_REC) == MS_BIND | MS_REC
    assert second.propagation
    obj["mounts"] = [{"destination": "/d", "type": "bind", "source": "nope"}]
    with pytest.raises(NotFound, match=r"mounts\[0\].source"):
        plan(tmp_path, obj)
    obj["mounts"] = [{"destination": "/d"}]
    with pytest.raises(InvalidArgument, match=r"mounts\[0\].type"):
        plan(tmp_path, obj)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("net.ipv4.ip_forward", True),
        ("kernel.shmmax", True),
        ("fs.mqueue.msg_max", True),
        ("kernel.domainname", True),
        ("vm.swappiness", False),
        ("kernel.panic", False),
    ],
)
def test_sysctl_rules(tmp_path: Path, name: str, ok: bool) -> None:
    obj = spec_json(sysctl={name: "1"})
    if ok:
        p = plan(tmp_path, obj)
        assert p.sysctls == (("/proc/sys/" + name.replace(".", "/"), "1"),)
    else:
        with pytest.raises(InvalidArgument, match=f"linux.sysctl.{name}"):
            plan(tmp_path, obj)


def test_net_sysctl_needs_netns(tmp_path: Path) -> None:
    obj = spec_json(sysctl={"net.ipv4.ip_forward": "1"})
    obj["linux"]["namespaces"] = [{"type": t} for t in ("pid", "mount", "uts")]
    with pytest.raises(InvalidArgument, match="needs a network namespace"):
        plan(tmp_path, obj)


def test_engine_rootfs_mounts_and_process(tmp_path: Path) -> None:
    obj = copy.deepcopy(spec_json())
    obj["process"]["env"] = ["PATH=/opt/bin"]
    obj["process"]["rlimits"] = [{"type": "RLIMIT_NPROC", "soft": 5, "hard": 6}]
    overlay = Mount("overlay", "overlay", ("lowerdir=/a", "upperdir=/b", "workdir=/c"))
    p = plan(tmp_path, obj, rootfs=[overlay])
    assert p.rootfs_mounts == (overlay,)
    assert p.process.path == "/opt/bin"
    assert p.process.rlimits == ((6, 5, 6),)


def test_fresh_dev_when_dev_is_a_tmpfs_nothing_covers(tmp_path: Path) -> None:
    dev = {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}
    pts = {"destination": "/dev/pts", "type": "devpts", "source": "devpts"}
    obj = spec_json()
    obj["mounts"] = [dev, pts]
    assert plan(tmp_path, obj).fresh_dev
    # A mount on a device node's path, a bind on /dev, or a user namespace: the general way.
    null = {"destination": "/dev/null", "type": "bind", "source": "/dev/null"}
    obj["mounts"] = [dev, pts, null]
    assert not plan(tmp_path, obj).fresh_dev
    obj["mounts"] = [dev, {"destination": "/dev", "type": "bind", "source": "/dev"}]
    assert not plan(tmp_path, obj).fresh_dev
    obj["mounts"] = [{"destination": "/dev/stdin", "type": "tmpfs", "source": "tmpfs"}, dev]
    assert not plan(tmp_path, obj).fresh_dev
    obj["mounts"] = [pts]
    assert not plan(tmp_path, obj).fresh_dev
    userns = spec_json(
        uidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}],
        gidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}],
    )
    userns["linux"]["namespaces"].append({"type": "user"})
    userns["mounts"] = [dev]
    assert not plan(tmp_path, userns).fresh_dev


def test_cgroup2_host_only_read_for_cgroup_mounts(tmp_path: Path) -> None:
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    assert plan(tmp_path, spec_json()).cgroup2_host == v2
    obj = spec_json()
    obj["mounts"] = obj["mounts"][:1]
    assert not plan(tmp_path, obj).cgroup2_host
