"""Small daemon pieces: spec merging, signals, users, detach keys, change lines, event filters."""

from __future__ import annotations

import pytest

from wharf.apitypes import ContainerConfig, Event
from wharf.daemon.attach import parse_detach_keys
from wharf.daemon.events import matches
from wharf.daemon.images import apply_changes
from wharf.daemon.imagestore import config_as_changes
from wharf.daemon.spec import merge_command, merge_env, parse_signal, parse_user
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
