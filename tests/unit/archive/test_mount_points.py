"""diff/commit leave out the engine's mount points, as Docker's init layer does."""

from __future__ import annotations

import os
from pathlib import Path

from wharf.archive import ChangeKind, overlay_changes, without_mount_points


def _upper(tmp_path: Path) -> Path:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "proc").mkdir()
    (upper / "etc" / "hosts").touch()
    (upper / "etc" / "resolv.conf").touch()
    return upper


def test_empty_mount_points_and_their_parent_are_dropped(tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    changes = without_mount_points(overlay_changes(_upper(tmp_path), [lower]))
    assert changes == []


def test_user_changes_beside_them_stay(tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    upper = _upper(tmp_path)
    (upper / "etc" / "motd").write_text("hi\n")
    (upper / "data").mkdir()
    listed = {(c.kind, c.path) for c in without_mount_points(overlay_changes(upper, [lower]))}
    assert listed == {
        (ChangeKind.MODIFIED, "/etc"),
        (ChangeKind.ADDED, "/etc/motd"),
        (ChangeKind.ADDED, "/data"),
    }


def test_a_mount_point_path_with_content_is_a_change(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "hosts").write_text("10.0.0.1 db\n")
    os.mkfifo(upper / "etc" / "hostname")
    listed = {c.path for c in without_mount_points(overlay_changes(upper, []))}
    assert listed == {"/etc", "/etc/hosts", "/etc/hostname"}
