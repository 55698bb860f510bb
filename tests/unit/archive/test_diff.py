from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from tarmaker import E, make_tar

from wharf.archive import (
    ChangeKind,
    apply_layer,
    merged_entries,
    read_merged,
    tree_changes,
    write_tar,
)


def _tree(path: Path, entries: list[E]) -> Path:
    path.mkdir()
    apply_layer(io.BytesIO(make_tar(entries)), path)
    return path


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = os.lstat(path)
            if path.is_symlink():
                data = os.readlink(path).encode()
            elif path.is_file():
                data = path.read_bytes()
            else:
                data = b""
            out[str(path.relative_to(root))] = (st.st_mode, data)
    return out


BASE = [
    E("etc", "dir", mode=0o755),
    E("etc/passwd", data=b"root\n"),
    E("etc/group", data=b"root\n"),
    E("var", "dir", mode=0o755),
    E("var/log", "dir", mode=0o755),
    E("var/log/old", data=b"old"),
]


def test_tree_changes_report_docker_kinds(tmp_path: Path) -> None:
    old = _tree(tmp_path / "old", BASE)
    new = tmp_path / "new"
    shutil.copytree(old, new, symlinks=True)
    (new / "etc/passwd").write_bytes(b"root\nnobody\n")
    (new / "etc/group").unlink()
    shutil.rmtree(new / "var/log")
    (new / "added").mkdir()
    (new / "added/file").write_text("x")
    changes = [(c.kind, c.path) for c in tree_changes(new, old)]
    assert changes == [
        (ChangeKind.ADDED, "/added"),
        (ChangeKind.ADDED, "/added/file"),
        (ChangeKind.MODIFIED, "/etc"),
        (ChangeKind.DELETED, "/etc/group"),
        (ChangeKind.MODIFIED, "/etc/passwd"),
        (ChangeKind.MODIFIED, "/var"),
        (ChangeKind.DELETED, "/var/log"),
    ]


def test_diff_tar_applied_to_the_old_tree_gives_the_new_tree(tmp_path: Path) -> None:
    old = _tree(tmp_path / "old", BASE)
    new = tmp_path / "new"
    shutil.copytree(old, new, symlinks=True)
    (new / "etc/passwd").write_bytes(b"changed\n")
    (new / "etc/group").unlink()
    os.symlink("/etc/passwd", new / "link")
    os.link(new / "etc/passwd", new / "hard")
    layer = io.BytesIO()
    write_tar(layer, tree_changes(new, old))
    with tarfile.open(fileobj=io.BytesIO(layer.getvalue())) as tar:
        names = tar.getnames()
    assert "etc/.wh.group" in names
    replay = tmp_path / "replay"
    shutil.copytree(old, replay, symlinks=True)
    apply_layer(io.BytesIO(layer.getvalue()), replay)
    assert _snapshot(replay) == _snapshot(new)
    assert os.lstat(replay / "hard").st_ino == os.lstat(replay / "etc/passwd").st_ino


def test_merged_view_honours_whiteouts_in_overlay_dirs(tmp_path: Path) -> None:
    lower = _tree(tmp_path / "lower", BASE)
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "etc").mkdir()
    (upper / "etc/new").write_text("n")
    if os.geteuid() == 0:
        os.mknod(upper / "etc/group", 0o20600, os.makedev(0, 0))
        (upper / "var").mkdir()
        os.setxattr(upper / "var", "trusted.overlay.opaque", b"y")
    paths = [p for p, _ in merged_entries([upper, lower])]
    expected = ["/etc", "/etc/new", "/etc/passwd", "/var"]
    if os.geteuid() != 0:
        expected = [
            "/etc",
            "/etc/group",
            "/etc/new",
            "/etc/passwd",
            "/var",
            "/var/log",
            "/var/log/old",
        ]
    assert paths == expected
    out = io.BytesIO()
    write_tar(out, merged=merged_entries([upper, lower]))
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        assert tar.extractfile("etc/passwd").read() == b"root\n"  # type: ignore[union-attr]


def test_read_merged_reads_one_file_as_the_mount_shows_it(tmp_path: Path) -> None:
    bottom, middle, top = (tmp_path / n for n in ("bottom", "middle", "top"))
    for layer in (bottom, middle, top):
        (layer / "etc").mkdir(parents=True)
    (bottom / "etc/group").write_text("root:x:0:\n")
    (bottom / "etc/passwd").write_text("root:x:0:0::/:/bin/sh\n")
    (bottom / "etc/hosts").write_text("old")
    (middle / "etc/group").write_text("root:x:0:\nwheel:x:10:root\n")
    (top / "etc/hosts").symlink_to("/etc/shadow")  # a container's own layer
    layers = [top, middle, bottom]
    assert read_merged(layers, "etc/group") == b"root:x:0:\nwheel:x:10:root\n"  # the upper one
    assert read_merged(layers, "/etc/passwd") == b"root:x:0:0::/:/bin/sh\n"
    assert read_merged(layers, "etc/nope") is None
    assert read_merged(layers, "etc/passwd", limit=4) == b"root"
    with pytest.raises(ValueError, match="symbolic link"):
        read_merged(layers, "etc/hosts")  # never followed: only a mount resolves it
    (top / "etc" / "passwd").mkdir()
    assert read_merged(layers, "etc/passwd") is None  # a directory hides the file
    if os.geteuid() == 0:
        os.mknod(top / "etc/group", 0o20600, os.makedev(0, 0))  # deleted in the top layer
        assert read_merged(layers, "etc/group") is None
        os.setxattr(middle / "etc", "trusted.overlay.opaque", b"y")
        assert read_merged([middle, bottom], "etc/hosts") is None  # hidden by the opaque etc
