"""``HostConfig.Tmpfs`` (``--tmpfs PATH[:OPTIONS]``): Docker's default options, the last of
each flag, propagation mode or data key winning, and bad paths and options refused by
field."""

from __future__ import annotations

import pytest

from wharf.apitypes.hostopts import HostOptions, tmpfs_options
from wharf.errors import InvalidArgument


@pytest.mark.parametrize(
    ("given", "options"),
    [
        ("", ("noexec", "nosuid", "nodev", "rprivate")),
        ("rw,size=64m", ("noexec", "nosuid", "nodev", "rprivate", "rw", "size=64m")),
        ("exec", ("nosuid", "nodev", "rprivate", "exec")),
        (
            "size=1m,mode=1777,size=2m",
            ("noexec", "nosuid", "nodev", "rprivate", "mode=1777", "size=2m"),
        ),
        ("ro,rw,shared,defaults", ("noexec", "nosuid", "nodev", "rw", "shared")),
        (
            "suid,dev,uid=1000,gid=1000",
            ("noexec", "rprivate", "suid", "dev", "uid=1000", "gid=1000"),
        ),
    ],
)
def test_defaults_then_the_given_options_the_last_of_each_winning(
    given: str, options: tuple[str, ...]
) -> None:
    assert tmpfs_options(given) == options


@pytest.mark.parametrize("bad", ["bind", "rbind", "lowerdir=/x", "size", "frobnicate"])
def test_options_a_tmpfs_does_not_take_are_refused_by_name(bad: str) -> None:
    with pytest.raises(InvalidArgument, match=f"invalid tmpfs option '{bad}'"):
        tmpfs_options(f"rw,{bad}")


def test_host_config_tmpfs_round_trips_as_given() -> None:
    raw = {"/run": "rw,size=64m", "/tmp": ""}
    options = HostOptions.from_json({"Tmpfs": raw}, network_mode="default")
    assert options.tmpfs == (("/run", "rw,size=64m"), ("/tmp", ""))
    assert options.to_json()["Tmpfs"] == raw
    assert HostOptions.from_json({}, network_mode="default").to_json()["Tmpfs"] is None


@pytest.mark.parametrize(
    ("tmpfs", "message"),
    [
        ({"run": ""}, r"HostConfig.Tmpfs\['run'\]: the mount point must be absolute"),
        ({"/": ""}, r"HostConfig.Tmpfs\['/'\]: the mount point must be absolute \(and not /\)"),
        ({"/run": "rw,nope"}, r"HostConfig.Tmpfs\['/run'\]: invalid tmpfs option 'nope'"),
        ({"/run": 3}, "HostConfig.Tmpfs"),
    ],
)
def test_bad_tmpfs_entries_are_refused_by_field(tmpfs: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        HostOptions.from_json({"Tmpfs": tmpfs}, network_mode="default")
