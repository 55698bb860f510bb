"""Spec.from_json: valid configs parse; bad ones name the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from wharf.errors import InvalidArgument, NotFound
from wharf.runtime.spec import Spec

BASE: dict[str, Any] = {
    "ociVersion": "1.0.2",
    "process": {"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}},
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "h",
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]},
}


def config(**changes: Any) -> dict[str, Any]:
    c = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = c
        for p in parents:
            target = target[p]
        target[last] = value
    return c


def test_valid_config_parses() -> None:
    spec = Spec.from_json(
        config(
            process__rlimits=[{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}],
            process__capabilities={"bounding": ["CAP_KILL"]},
            process__consoleSize={"height": 24, "width": 80},
            linux__uidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}],
            linux__gidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}],
            linux__namespaces=[{"type": "user"}, {"type": "mount"}, {"type": "uts"}],
            hooks={"prestart": [{"path": "/bin/true", "timeout": 5}]},
            annotations={"a": "b"},
        )
    )
    assert spec.process is not None
    assert spec.process.args == ("sh",)
    assert spec.process.rlimits[0].resource == 7
    assert spec.process.console_size == (24, 80)
    assert spec.process.capabilities is not None
    assert spec.process.capabilities.bounding == ("CAP_KILL",)
    assert spec.linux.uid_mappings[0].host_id == 1000
    assert spec.hooks.prestart[0].timeout == 5
    assert spec.annotations == {"a": "b"}
    assert spec.root is not None and spec.root.readonly


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ociVersion": 2}, "ociVersion: must be a string"),
        ({"ociVersion": "2.0"}, "ociVersion: must be a 1.x version"),
        ({"process__args": []}, "process.args: must name a program"),
        ({"process__args": "sh"}, "process.args: must be an array"),
        ({"process__args": ["sh", 3]}, "process.args[1]: must be a string"),
        ({"process__cwd": "tmp"}, "process.cwd: must be an absolute path"),
        ({"process__env": ["NOEQUALS"]}, 'process.env[0]: must be "NAME=value"'),
        ({"process__user": {"uid": -1, "gid": 0}}, "process.user.uid: must be between"),
        ({"process__user": {"gid": 0}}, "process.user.uid: is required"),
        (
            {"process__rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]},
            "process.rlimits[0].type: must be one of",
        ),
        (
            {"process__rlimits": [{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 1}]},
            "process.rlimits[0]: soft limit 9 is above hard limit 1",
        ),
        ({"process__oomScoreAdj": 5000}, "process.oomScoreAdj: must be between -1000 and 1000"),
        ({"process__terminal": "yes"}, "process.terminal: must be true or false"),
        (
            {"process__capabilities": {"bounding": ["KILL"]}},
            "process.capabilities.bounding[0]: must be a capability name",
        ),
        ({"root": {"readonly": True}}, "root.path: is required"),
        ({"mounts": [{"type": "proc"}]}, "mounts[0].destination: is required"),
        ({"mounts": [{"destination": "proc"}]}, "mounts[0].destination: must be an absolute"),
        (
            {"linux__namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "bogus"}]},
            "linux.namespaces[2].type: must be one of cgroup, ipc",
        ),
        (
            {"linux__namespaces": [{"type": "pid"}, {"type": "pid"}, {"type": "uts"}]},
            "linux.namespaces[1].type: is listed twice",
        ),
        (
            {"linux__namespaces": [{"type": "mount"}, {"type": "uts", "path": "rel"}]},
            "linux.namespaces[1].path: must be an absolute path",
        ),
        (
            {"linux__uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]},
            "linux.uidMappings: id mappings need a user namespace",
        ),
        ({"linux__namespaces": [{"type": "mount"}]}, "hostname: needs a uts namespace"),
        ({"hostname": "x" * 65}, "hostname: must be at most 64 bytes"),
        ({"linux__rootfsPropagation": "sideways"}, "linux.rootfsPropagation: must be one of"),
        (
            {"linux__devices": [{"path": "/etc/x", "type": "c", "major": 1, "minor": 3}]},
            "linux.devices[0].path: must be under /dev/",
        ),
        ({"linux__sysctl": {"a": 1}}, "linux.sysctl.a: must be a string"),
        ({"hooks": {"prestart": [{"path": "true"}]}}, "hooks.prestart[0].path: must be an abs"),
        ({"annotations": []}, "annotations: must be an object"),
    ],
)
def test_bad_input_names_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Spec.from_json(config(**changes))
    assert message in str(info.value)


def test_not_an_object() -> None:
    with pytest.raises(InvalidArgument, match=r"config\.json: must be an object"):
        Spec.from_json([])


def test_load_missing_and_garbage(tmp_path: Any) -> None:
    with pytest.raises(NotFound, match="no such file"):
        Spec.load(str(tmp_path / "config.json"))
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        Spec.load(str(tmp_path / "config.json"))
