"""Small daemon pieces: spec merging, signals, users, detach keys, change lines, event filters."""

from __future__ import annotations

import pytest

from wharf.apitypes import ContainerConfig, Event
from wharf.daemon.attach import parse_detach_keys
from wharf.daemon.events import matches
from wharf.daemon.images import apply_changes
from wharf.daemon.imagestore import config_as_changes
from wharf.daemon.spec import (
    additional_gids,
    merge_command,
    merge_env,
    parse_signal,
    parse_user,
)
from wharf.errors import InvalidArgument


def test_command_merge_rules() -> None:
    image = {"Entrypoint": ["/init"], "Cmd": ["serve"]}
    assert merge_command(ContainerConfig(image="x"), image) == ("/init", ("serve",))
    assert merge_command(ContainerConfig(image="x", cmd=("run",)), image) == ("/init", ("run",))
    assert merge_command(ContainerConfig(image="x", entrypoint=("sh",)), image) == ("sh", ())
    with pytest.raises(InvalidArgument, match="no command specified"):
        merge_command(ContainerConfig(image="x"), {})


def test_env_merge_later_wins_and_path_default() -> None:
    env = merge_env(["A=1", "B=2"], ["B=3"])
    assert env[0].startswith("PATH=") and "A=1" in env and "B=3" in env and "B=2" not in env


def test_signals_and_users() -> None:
    assert parse_signal("KILL") == parse_signal("SIGKILL") == parse_signal("9") == 9
    with pytest.raises(InvalidArgument):
        parse_signal("SIGWHAT")
    assert parse_user("1000:100") == (1000, 100)
    passwd = "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
    assert parse_user("nobody", passwd) == (65534, 65534)
    with pytest.raises(InvalidArgument, match="unable to find user ghost"):
        parse_user("ghost", passwd)


def test_additional_groups_as_moby_gives_them() -> None:
    passwd = "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
    group = "root:x:0:\nwheel:x:10:root,nobody\nstaff:x:50:nobody\nbad line\n"
    files = {"passwd": passwd, "group": group}
    assert additional_gids("", 0, 0, **files) == [0, 10]  # the primary group, then member of
    assert additional_gids("nobody", 65534, 65534, **files) == [65534, 10, 50]
    assert additional_gids("65534", 65534, 65534, **files) == [65534, 10, 50]  # by uid
    assert additional_gids("1000", 1000, 0, **files) == [0]  # no passwd entry: no name
    assert additional_gids("nobody", 65534, 65534, **files, group_add=("wheel", "7", "staff")) == [
        65534,
        10,
        50,
        7,
    ]
    assert additional_gids("", 0, 0, group_add=("1234",)) == [0, 1234]
    with pytest.raises(InvalidArgument, match="Unable to find group nosuch"):
        additional_gids("", 0, 0, **files, group_add=("nosuch",))


def test_detach_keys() -> None:
    assert parse_detach_keys("") == b"\x10\x11"
    assert parse_detach_keys("ctrl-a,x") == b"\x01x"
    with pytest.raises(InvalidArgument):
        parse_detach_keys("ctrl-aa")


def test_changes_round_trip() -> None:
    config = {
        "Cmd": ["echo", "hi"],
        "Env": ["A=1"],
        "WorkingDir": "/w",
        "Labels": {"k": "v"},
        "ExposedPorts": {"80/tcp": {}},
    }
    rebuilt = apply_changes({}, config_as_changes(config))
    assert rebuilt == config
    with pytest.raises(InvalidArgument, match="not a valid change command"):
        apply_changes({}, ["RUN rm -rf /"])


def test_event_filters() -> None:
    event = Event(
        type="container",
        action="die",
        actor_id="abc123",
        attributes={"name": "web", "image": "busybox", "team": "x"},
    )
    assert matches(event, {"container": ["web"], "event": ["die"]})
    assert matches(event, {"label": ["team=x"]})
    assert not matches(event, {"type": ["image"]})
    assert not matches(event, {"container": ["db"]})
