"""``-v`` parsing and the local driver (no root needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharf.errors import AlreadyExists, InvalidArgument, NotFound
from wharf.volumes import LocalDriver, MountSpec, parse_bind


def test_parse_bind_forms() -> None:
    assert parse_bind("/host:/ctr") == MountSpec("bind", "/ctr", "/host")
    assert parse_bind("/host:/ctr:ro") == MountSpec("bind", "/ctr", "/host", read_only=True)
    assert parse_bind("data:/d") == MountSpec("volume", "/d", "data")
    assert parse_bind("data:/d:nocopy").copy_up is False
    assert parse_bind("/anon") == MountSpec("volume", "/anon", "")


@pytest.mark.parametrize("spec", ["/h:rel", "/h:/", "a:b:c:d", "/h:/c:rx", "bad name:/x", ":/x"])
def test_parse_bind_rejects(spec: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_bind(spec)


def test_local_driver_lifecycle(tmp_path: Path) -> None:
    driver = LocalDriver(tmp_path / "volumes")
    volume = driver.create("net-a", labels={"k": "v"})
    assert Path(volume.mountpoint).is_dir()
    assert volume.to_json()["Labels"] == {"k": "v"}
    with pytest.raises(AlreadyExists):
        driver.create("net-a")
    with pytest.raises(InvalidArgument):
        driver.create("../escape")
    with pytest.raises(InvalidArgument):
        driver.create("net-b", options={"type": "nfs"})
    assert [v.name for v in driver.list()] == ["net-a"]
    driver.remove("net-a")
    assert driver.list() == []
    with pytest.raises(NotFound):
        driver.get("net-a")
    with pytest.raises(NotFound):
        driver.remove("net-a")


def test_local_driver_option_checks(tmp_path: Path) -> None:
    from wharf.volumes.local import check_options

    check_options("v", {})
    check_options("v", {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"})
    check_options("v", {"type": "none", "device": str(tmp_path), "o": "bind,ro"})
    bad = [
        {"size": "1g"},
        {"type": "tmpfs"},
        {"device": "tmpfs"},
        {"type": "none", "device": str(tmp_path)},
        {"type": "none", "device": "rel", "o": "bind"},
        {"type": "none", "device": str(tmp_path / "missing"), "o": "bind"},
    ]
    for options in bad:
        with pytest.raises(InvalidArgument, match="volume v: "):
            check_options("v", options)
