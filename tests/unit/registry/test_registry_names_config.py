"""Names, tags, digests, config parsing and the error-code table."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharf.errors import InvalidArgument, NotFound, PermissionDenied
from wharf.registry.auth import parse_scopes
from wharf.registry.config import load_config, parse_config, parse_duration
from wharf.registry.errcodes import CODES, RegistryError, from_kind
from wharf.registry.names import parse_reference, validate_name, validate_tag


@pytest.mark.parametrize("name", ["a", "demo/busybox", "a-b/c__d/e.f", "x1/y2/z3"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "A", "a/../b", "../etc", "/abs", "a//b", "a/", "-a", "a_", "a/_layers", "x" * 256]
)
def test_invalid_names_name_the_repository(name: str) -> None:
    with pytest.raises(RegistryError) as info:
        validate_name(name)
    assert info.value.code.name == "NAME_INVALID"
    assert repr(name[:300]) in info.value.detail


def test_tags_and_references() -> None:
    assert validate_tag("v1.2_3-x") == "v1.2_3-x"
    for bad in ("", ".hidden", "a/b", "x" * 129, "../x"):
        with pytest.raises(RegistryError):
            validate_tag(bad)
    assert str(parse_reference("sha256:" + "a" * 64)) == "sha256:" + "a" * 64
    with pytest.raises(RegistryError) as info:
        parse_reference("sha256:zz")
    assert info.value.code.name == "DIGEST_INVALID"


def test_error_table_statuses_and_bodies() -> None:
    assert CODES["BLOB_UNKNOWN"].status == 404
    assert CODES["DIGEST_INVALID"].status == 400
    assert CODES["UNAUTHORIZED"].status == 401
    assert CODES["RANGE_INVALID"].status == 416
    err = RegistryError("MANIFEST_UNKNOWN", "manifest x unknown")
    assert err.body() == {
        "errors": [
            {
                "code": "MANIFEST_UNKNOWN",
                "message": "manifest unknown to registry",
                "detail": "manifest x unknown",
            }
        ]
    }
    assert from_kind(NotFound("x")).code.name == "NAME_UNKNOWN"
    assert from_kind(PermissionDenied("x")).code.status == 403


def test_durations() -> None:
    assert parse_duration("168h", "k") == 168 * 3600
    assert parse_duration("1m30s", "k") == 90
    assert parse_duration("500ms", "k") == 0.5
    assert parse_duration(3, "k") == 3.0
    for bad in ("1 day", "h", -1, True):
        with pytest.raises(InvalidArgument, match="config k"):
            parse_duration(bad, "k")


def test_distribution_config_is_understood(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(
        """
version: 0.1
http: {addr: 127.0.0.1:15100}
storage:
  filesystem: {rootdirectory: data}
  delete: {enabled: false}
  maintenance: {readonly: {enabled: true}, uploadpurging: {age: 2h}}
auth: {htpasswd: {realm: r, path: htpasswd}}
notifications:
  endpoints:
    - {name: hook, url: "http://127.0.0.1:1/x", headers: {A: [b, c]}, timeout: 2s}
    - {name: off, url: "http://127.0.0.1:1/y", disabled: true}
proxy: {remoteurl: "http://127.0.0.1:15000/"}
"""
    )
    cfg = load_config(path)
    assert cfg.root == tmp_path / "data"
    assert cfg.addr == "127.0.0.1:15100"
    assert not cfg.delete_enabled
    assert cfg.readonly
    assert cfg.upload_purge_age == 7200
    assert cfg.htpasswd is not None and cfg.htpasswd.path == tmp_path / "htpasswd"
    assert [e.name for e in cfg.endpoints] == ["hook"]
    assert cfg.endpoints[0].headers == {"A": "b, c"}
    assert cfg.proxy is not None and cfg.proxy.remote_url == "http://127.0.0.1:15000"
    over = cfg.with_overrides(addr="127.0.0.1:15101", root=tmp_path / "other")
    assert (over.addr, over.root) == ("127.0.0.1:15101", tmp_path / "other")


@pytest.mark.parametrize(
    ("obj", "key"),
    [
        ([1], "top level"),
        ({"http": "x"}, "'http'"),
        ({"storage": {"delete": {"enabled": "yes"}}}, "storage.delete.enabled"),
        ({"notifications": {"endpoints": [{"name": "x"}]}}, "url"),
        ({"tokenserver": {"privatekey": "k", "grants": [{"actions": ["fly"]}]}}, "actions"),
    ],
)
def test_bad_config_names_the_key(obj: object, key: str) -> None:
    with pytest.raises(InvalidArgument, match=key):
        parse_config(obj, base=Path("/"))


def test_unreadable_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("http: [unclosed")
    with pytest.raises(InvalidArgument, match=r"bad\.yml"):
        load_config(path)


def test_scopes_repeated_and_space_separated() -> None:
    a = parse_scopes(["repository:demo/x:pull,push", "repository:demo/y:pull"])
    b = parse_scopes(["repository:demo/x:pull,push repository:demo/y:pull"])
    assert a == b
    assert a[0].actions == ("pull", "push")
    assert parse_scopes(["registry:catalog:*"])[0].name == "catalog"
    assert parse_scopes(["repository(plugin):x:pull"])[0].type == "repository"
    with pytest.raises(InvalidArgument, match="type:name:actions"):
        parse_scopes(["nonsense"])
