"""The spec for --init, --privileged and --device, and the device lookups behind them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.unit.daemon.fakes import FakeImages, FakeRuntime
from wharf.apitypes import ContainerConfig, ContainerCreate, DeviceMapping, HostConfig
from wharf.apitypes.containers import ContainerUpdate
from wharf.apitypes.hostopts import NamespaceModes
from wharf.daemon.containers import ContainerService
from wharf.daemon.devices import host_devices, mapped_devices, rule_entries
from wharf.daemon.events import EventBus
from wharf.daemon.spec import (
    DEFAULT_CAPABILITIES,
    all_capabilities,
    build_spec,
    container_capabilities,
    process_spec,
)
from wharf.daemon.store import ContainerStore
from wharf.errors import Conflict, InvalidArgument, NotFound


def _spec(host: HostConfig, **kwargs: object) -> dict:
    process = process_spec(
        args=["sh", "-c", "x"],
        env=[],
        cwd="/",
        uid=0,
        gid=0,
        terminal=False,
        capabilities=container_capabilities(host),
    )
    return build_spec(
        container_id="c" * 64,
        config=ContainerConfig(image="busybox"),
        host=host,
        process=process,
        hostname="h",
        **kwargs,  # type: ignore[arg-type]
    )


def test_init_prepends_docker_init_and_mounts_it_read_only() -> None:
    spec = _spec(HostConfig(init=True), init_path="/usr/bin/docker-init")
    assert spec["process"]["args"] == ["/sbin/docker-init", "--", "sh", "-c", "x"]
    assert spec["mounts"][-1] == {
        "destination": "/sbin/docker-init",
        "type": "bind",
        "source": "/usr/bin/docker-init",
        "options": ["bind", "ro"],
    }
    plain = _spec(HostConfig())
    assert plain["process"]["args"] == ["sh", "-c", "x"]
    assert all(m["destination"] != "/sbin/docker-init" for m in plain["mounts"])


def test_privileged_spec_matches_dockers() -> None:
    spec = _spec(HostConfig(privileged=True), devices=[{"path": "/dev/vda"}])
    caps = spec["process"]["capabilities"]
    assert caps["effective"] == caps["bounding"] == list(all_capabilities())
    assert "CAP_SYS_ADMIN" in caps["effective"]
    linux = spec["linux"]
    assert linux["maskedPaths"] == linux["readonlyPaths"] == []
    assert linux["resources"]["devices"] == [
        {"allow": False, "access": "rwm"},
        {"allow": True, "access": "rwm"},
    ]
    assert linux["devices"] == [{"path": "/dev/vda"}]
    sys_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert "rw" in sys_mount["options"] and "ro" not in sys_mount["options"]
    assert "seccomp" not in linux

    plain = _spec(HostConfig())
    assert set(plain["process"]["capabilities"]["effective"]) == set(DEFAULT_CAPABILITIES)
    assert "/proc/kcore" in plain["linux"]["maskedPaths"]
    assert plain["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    assert "ro" in next(m for m in plain["mounts"] if m["destination"] == "/sys")["options"]


def test_cap_add_and_drop_follow_mobys_rules() -> None:
    def caps(add: tuple[str, ...] = (), drop: tuple[str, ...] = ()) -> set[str]:
        return set(container_capabilities(HostConfig(cap_add=add, cap_drop=drop)))

    assert caps() == set(DEFAULT_CAPABILITIES)
    assert caps(add=("net_admin",)) == {*DEFAULT_CAPABILITIES, "CAP_NET_ADMIN"}
    assert caps(drop=("CAP_CHOWN", "kill")) == set(DEFAULT_CAPABILITIES) - {"CAP_CHOWN", "CAP_KILL"}
    assert caps(add=("NET_RAW",), drop=("ALL",)) == {"CAP_NET_RAW"}
    assert "CAP_SYS_ADMIN" in caps(add=("ALL",))
    spec = _spec(HostConfig(cap_add=("SYS_TIME",)))
    assert "CAP_SYS_TIME" in spec["process"]["capabilities"]["bounding"]
    with pytest.raises(InvalidArgument, match=r"HostConfig.CapAdd\[1\]: unknown capability 'NOPE'"):
        caps(add=("NET_ADMIN", "NOPE"))
    with pytest.raises(InvalidArgument, match=r"HostConfig.CapDrop\[0\]"):
        caps(drop=("CAP_",))


def test_device_rules_follow_the_deny_all() -> None:
    rule = {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"}
    spec = _spec(HostConfig(), device_rules=[rule])
    assert spec["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}, rule]


def test_mapped_devices_reads_the_host_node() -> None:
    devices, rules = mapped_devices((DeviceMapping("/dev/zero", "/dev/myzero", "rw"),))
    st = os.stat("/dev/zero")
    assert devices == [
        {
            "path": "/dev/myzero",
            "type": "c",
            "major": 1,
            "minor": 5,
            "fileMode": 0o666,
            "uid": st.st_uid,
            "gid": st.st_gid,
        }
    ]
    assert rules == [{"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rw"}]


def test_mapped_devices_follows_symlinks_and_maps_directories(tmp_path: Path) -> None:
    link = tmp_path / "null-link"
    link.symlink_to("/dev/null")
    devices, _ = mapped_devices((DeviceMapping(str(link), "/dev/n"),))
    assert [(d["path"], d["major"], d["minor"]) for d in devices] == [("/dev/n", 1, 3)]
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    folder = tmp_path / "snd"
    (folder / "sub").mkdir(parents=True)
    os.mknod(folder / "a", 0o600 | 0o020000, os.makedev(1, 7))
    os.mknod(folder / "sub" / "b", 0o600 | 0o020000, os.makedev(1, 8))
    (folder / "plain").write_text("not a device")
    devices, rules = mapped_devices((DeviceMapping(str(folder), "/dev/snd", "r"),))
    assert [(d["path"], d["minor"], d["fileMode"]) for d in devices] == [
        ("/dev/snd/a", 7, 0o600),
        ("/dev/snd/sub/b", 8, 0o600),
    ]
    assert {r["access"] for r in rules} == {"r"}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/dev/d2-missing", '"/dev/d2-missing": no such file or directory'),
        ("/etc/hostname", '"/etc/hostname": not a device node'),
    ],
)
def test_mapped_devices_errors_are_dockers(path: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match="error gathering device information") as info:
        mapped_devices((DeviceMapping(path, "/dev/x"),))
    assert message in str(info.value)


@pytest.mark.parametrize("inside", ["/etc/zero", "/dev/../etc/zero", "/devzero"])
def test_container_paths_outside_dev_are_refused(inside: str) -> None:
    mapping = DeviceMapping.from_json(
        {"PathOnHost": "/dev/zero", "PathInContainer": inside}, "HostConfig.Devices[0]"
    )
    with pytest.raises(InvalidArgument, match=r"'/.*zero' is not under /dev/"):
        mapped_devices((mapping,))


def test_empty_directory_is_not_a_device(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not a device node"):
        mapped_devices((DeviceMapping(str(tmp_path), "/dev/x"),))


def test_host_devices_skip_runcs_names() -> None:
    paths = {d["path"] for d in host_devices()}
    assert "/dev/null" in paths
    assert not {"/dev/console", "/dev/ptmx"} & paths
    assert not any(p.startswith(("/dev/pts/", "/dev/shm/", "/dev/mqueue/")) for p in paths)
    assert all(d["type"] in ("c", "b") for d in host_devices())


def _service(tmp_path: Path, **options: object) -> tuple[ContainerService, FakeRuntime]:
    runtime = FakeRuntime()
    service = ContainerService(
        store=ContainerStore(tmp_path),
        runtime=runtime,
        images=FakeImages(),
        events=EventBus(),
        **options,  # type: ignore[arg-type]
    )
    return service, runtime


def _create(service: ContainerService, host: dict) -> str:
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": host}
    return service.create(ContainerCreate.from_json(body), name=None)[0]


def test_daemon_init_default_applies_unless_the_container_says_no(tmp_path: Path) -> None:
    init = tmp_path / "tini"
    init.write_text("")
    service, runtime = _service(tmp_path, init_path=str(init), init_default=True)
    try:
        unset = _create(service, {})
        refused = _create(service, {"Init": False})
        assert runtime.specs[unset]["process"]["args"] == ["/sbin/docker-init", "--", "true"]
        assert runtime.specs[unset]["mounts"][-1]["source"] == str(init)
        assert runtime.specs[refused]["process"]["args"] == ["true"]
        assert service.inspect(unset).host_config.init is None  # the daemon's default, not set
    finally:
        runtime.close()


def test_a_missing_init_binary_fails_the_start_with_its_name(tmp_path: Path) -> None:
    service, runtime = _service(tmp_path, init_path=str(tmp_path / "gone"))
    try:
        cid = _create(service, {"Init": True})  # created; the runtime set-up is deferred
        with pytest.raises(InvalidArgument, match=r"--init: the init binary '.*/gone'"):
            service.start(cid)
        assert cid not in runtime.specs
    finally:
        runtime.close()


def test_a_bad_device_fails_create_and_stores_nothing(tmp_path: Path) -> None:
    service, runtime = _service(tmp_path)
    try:
        with pytest.raises(InvalidArgument, match="error gathering device information"):
            _create(service, {"Devices": [{"PathOnHost": "/dev/d2-none"}]})
        assert service.store.all() == []
        assert list((tmp_path / "containers").iterdir()) == []
    finally:
        runtime.close()


def test_update_keeps_init_privileged_and_devices(tmp_path: Path) -> None:
    service, runtime = _service(tmp_path, init_path=str(tmp_path))
    try:
        host = {"Init": True, "Privileged": True, "Devices": [{"PathOnHost": "/dev/zero"}]}
        cid = _create(service, host)
        update = ContainerUpdate.from_json({"Memory": 64 << 20})
        service.update(cid, update)
        kept = service.inspect(cid).host_config
        assert (kept.init, kept.privileged) == (True, True)
        assert [d.path_on_host for d in kept.devices] == ["/dev/zero"]
        assert kept.resources.memory == 64 << 20
    finally:
        runtime.close()


def _shm(spec: dict) -> list[dict]:
    return [m for m in spec["mounts"] if m["destination"] == "/dev/shm"]


def test_namespace_modes_drop_or_join_namespaces() -> None:
    spec = _spec(HostConfig())
    kinds = [n["type"] for n in spec["linux"]["namespaces"]]
    assert kinds == ["pid", "mount", "ipc", "uts", "network"]
    assert spec["hostname"] == "h"
    assert _shm(spec)[0]["type"] == "tmpfs"
    host = HostConfig(namespaces=NamespaceModes(pid="host", ipc="host", uts="host"))
    spec = _spec(host, shm="/dev/shm")
    assert [n["type"] for n in spec["linux"]["namespaces"]] == ["mount", "network"]
    private = _spec(HostConfig(namespaces=NamespaceModes(cgroup="private")))
    assert {"type": "cgroup"} in private["linux"]["namespaces"]
    assert "hostname" not in spec  # runc refuses a hostname without a UTS namespace
    assert _shm(spec) == [
        {
            "destination": "/dev/shm",
            "type": "bind",
            "source": "/dev/shm",
            "options": ["rbind", "nosuid", "noexec", "nodev"],
        }
    ]
    joined = HostConfig(namespaces=NamespaceModes(pid="container:db", ipc="container:db"))
    spec = _spec(joined, donors={"pid": 42, "ipc": 42}, shm="/var/lib/wharf/containers/d/shm")
    namespaces = spec["linux"]["namespaces"]
    assert {"type": "pid", "path": "/proc/42/ns/pid"} in namespaces
    assert {"type": "ipc", "path": "/proc/42/ns/ipc"} in namespaces
    assert _shm(spec)[0]["source"] == "/var/lib/wharf/containers/d/shm"
    assert _shm(_spec(HostConfig(namespaces=NamespaceModes(ipc="none")), shm=None)) == []


@pytest.mark.parametrize(
    ("mode", "error", "message"),
    [
        ("PidMode=container:nope", NotFound, "cannot join PID of a non running container: nope"),
        ("PidMode=container:{donor}", Conflict, "cannot join PID of a non running container"),
        ("IpcMode=container:{donor}", Conflict, "cannot join IPC of a non running container"),
    ],
)
def test_joining_a_container_that_is_not_there_or_not_running_fails_the_start(
    tmp_path: Path, mode: str, error: type[Exception], message: str
) -> None:
    service, runtime = _service(tmp_path)
    try:
        donor = _create(service, {})
        key, _, value = mode.format(donor=donor).partition("=")
        joiner = _create(service, {key: value})  # created: start looks at the donor
        with pytest.raises(error, match=message):
            service.start(joiner)
        assert joiner not in runtime.specs
    finally:
        runtime.close()


def test_device_cgroup_rules_become_allow_entries() -> None:
    assert rule_entries(("c 1:3 rwm", "b 8:* r", "a *:* m")) == [
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "b", "major": 8, "access": "r"},
        {"allow": True, "type": "a", "access": "m"},
    ]
