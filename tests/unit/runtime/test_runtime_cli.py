"""wharf-runtime's command line: runc's flags parse; exec/update build the right objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wharf.errors import InvalidArgument
from wharf.runtime.cli import _exec_process, _parser, _update_resources, main

CONFIG = {
    "process": {
        "args": ["sleep", "1"],
        "cwd": "/",
        "env": ["PATH=/bin", "A=1"],
        "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
    }
}


def parse(*argv: str):  # type: ignore[no-untyped-def]
    return _parser().parse_args(list(argv))


def test_runc_style_global_and_create_flags() -> None:
    args = parse(
        "--root", "/r", "--log", "/l", "--log-format", "json", "--systemd-cgroup",
        "create", "--bundle", "/b", "--pid-file", "/p", "--console-socket", "/s", "c1",
    )  # fmt: skip
    assert (args.root, args.command, args.bundle, args.pid_file) == ("/r", "create", "/b", "/p")
    assert (args.console_socket, args.id, args.log_format) == ("/s", "c1", "json")
    assert parse("kill", "c1").signal == "SIGTERM"
    assert parse("kill", "--all", "c1", "9").all
    assert parse("delete", "-f", "c1").force


def test_exec_process_from_config_and_flags() -> None:
    args = parse(
        "exec", "-t", "--cwd", "/tmp", "-e", "B=2", "-u", "1000:100", "--cap", "CAP_CHOWN",
        "--no-new-privs", "c1", "sh", "-c", "echo hi",
    )  # fmt: skip
    process = _exec_process(args, CONFIG)
    assert process.args == ("sh", "-c", "echo hi")
    assert process.env == ("PATH=/bin", "A=1", "B=2")
    assert (process.cwd, process.user.uid, process.user.gid) == ("/tmp", 1000, 100)
    assert process.terminal and process.no_new_privileges
    assert process.capabilities is not None
    assert process.capabilities.bounding == ("CAP_KILL", "CAP_CHOWN")


def test_exec_needs_a_command_or_process_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="give a command or --process FILE"):
        _exec_process(parse("exec", "c1"), CONFIG)
    (tmp_path / "p.json").write_text(json.dumps({"args": ["true"], "cwd": "rel"}))
    with pytest.raises(InvalidArgument, match=r"process\.cwd: must be an absolute path"):
        _exec_process(parse("exec", "--process", str(tmp_path / "p.json"), "c1"), CONFIG)


def test_update_flags_and_file(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"cpu": {"shares": 100}}))
    args = parse(
        "update", "-r", str(tmp_path / "r.json"), "--memory", "1048576",
        "--cpuset-cpus", "0-1", "--pids-limit", "9", "c1",
    )  # fmt: skip
    assert _update_resources(args) == {
        "cpu": {"shares": 100, "cpus": "0-1"},
        "memory": {"limit": 1048576},
        "pids": {"limit": 9},
    }
    with pytest.raises(InvalidArgument, match="update --memory: 'lots' is not a number"):
        _update_resources(parse("update", "--memory", "lots", "c1"))


def test_errors_are_one_line_and_logged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.json"
    code = main(
        ["--root", str(tmp_path), "--log", str(log), "--log-format", "json", "state", "nope"]
    )
    assert code == 1
    assert capsys.readouterr().err == "wharf-runtime: container nope: does not exist\n"
    entry = json.loads(log.read_text())
    assert (entry["level"], entry["msg"]) == ("error", "container nope: does not exist")
