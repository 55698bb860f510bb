"""CLI formatting and parsing helpers, and the client's status -> kind table."""

from __future__ import annotations

import time

import pytest

from wharf.cli._common import age, print_table, size
from wharf.cli.containers import parse_bytes, ports_text
from wharf.client._errors import error_for
from wharf.errors import Conflict, InvalidArgument, NotFound, WharfError


def test_table_pads_like_tabwriter(capsys) -> None:
    print_table(["CONTAINER ID", "NAMES"], [["abc", "web"], ["abcdef123456", "db"]])
    assert capsys.readouterr().out.splitlines() == [
        "CONTAINER ID   NAMES",
        "abc            web",
        "abcdef123456   db",
    ]


def test_sizes_and_ages() -> None:
    assert size(999) == "999B"
    assert size(2_140_000) == "2.14MB"
    assert age(time.time() - 5) == "5 seconds ago"
    assert age(time.time() - 7200) == "2 hours ago"


@pytest.mark.parametrize(
    ("text", "value"),
    [("64m", 64 << 20), ("1g", 1 << 30), ("512", 512), ("1.5k", 1536), ("-1", -1)],
)
def test_parse_bytes(text, value) -> None:
    assert parse_bytes(text, "--memory") == value


def test_status_to_kind() -> None:
    assert isinstance(error_for(404, b'{"message":"No such container: x"}'), NotFound)
    assert str(error_for(409, b'{"message":"in use"}')) == "in use"
    assert isinstance(error_for(409, b"{}"), Conflict)
    assert isinstance(error_for(400, b"not json"), InvalidArgument)
    assert type(error_for(500, b'{"message":"boom"}')) is WharfError


def test_ports_column_like_docker_ps() -> None:
    ports = [
        {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"PrivatePort": 53, "Type": "udp"},
    ]
    assert ports_text(ports) == "127.0.0.1:8080->80/tcp, 53/udp"
    assert ports_text([]) == ""
