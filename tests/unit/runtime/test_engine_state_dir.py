"""remove_state_dir: a container's state directory goes, whatever is in it."""

from __future__ import annotations

from pathlib import Path

from wharf.runtime._engine_state import remove_state_dir


def test_what_a_monitor_leaves_is_removed(tmp_path: Path) -> None:
    d = tmp_path / "c1"
    d.mkdir()
    for name in ("state.json", "exit.json", "request.json", "monitor.log"):
        (d / name).write_text("{}")
    remove_state_dir(str(d))
    assert not d.exists()


def test_execs_and_other_files_go_too(tmp_path: Path) -> None:
    d = tmp_path / "c2"
    (d / "exec" / "e1").mkdir(parents=True)
    (d / "exec" / "e1" / "exit.json").write_text("{}")
    (d / "state.json").write_text("{}")
    (d / "state.json.123.tmp").write_text("{")  # a monitor killed while writing
    (d / "exit.json").mkdir()  # not what a monitor leaves
    remove_state_dir(str(d))
    assert not d.exists()


def test_a_directory_already_gone_is_no_error(tmp_path: Path) -> None:
    remove_state_dir(str(tmp_path / "never"))
    d = tmp_path / "c3"
    d.mkdir()
    remove_state_dir(str(d))  # empty: only the directory
    assert not d.exists()
