"""The spec for --init, --privileged and --device, and the device lookups behind them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wharf.apitypes import ContainerConfig, DeviceMapping, HostConfig
from wharf.daemon.devices import host_devices, mapped_devices
from wharf.daemon.spec import DEFAULT_CAPABILITIES, all_capabilities, build_spec, process_spec
from wharf.errors import InvalidArgument


def _spec(host: HostConfig, **kwargs: object) -> dict:
    process = process_spec(
        args=["sh", "-c", "x"],
        env=[],
        cwd="/",
        uid=0,
        gid=0,
        terminal=False,
        privileged=host.privileged,
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
    assert plain["process"]["capabilities"]["effective"] == list(DEFAULT_CAPABILITIES)
    assert "/proc/kcore" in plain["linux"]["maskedPaths"]
    assert plain["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    assert "ro" in next(m for m in plain["mounts"] if m["destination"] == "/sys")["options"]


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


def test_empty_directory_is_not_a_device(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not a device node"):
        mapped_devices((DeviceMapping(str(tmp_path), "/dev/x"),))


def test_host_devices_skip_runcs_names() -> None:
    paths = {d["path"] for d in host_devices()}
    assert "/dev/null" in paths
    assert not {"/dev/console", "/dev/ptmx"} & paths
    assert not any(p.startswith(("/dev/pts/", "/dev/shm/", "/dev/mqueue/")) for p in paths)
    assert all(d["type"] in ("c", "b") for d in host_devices())
