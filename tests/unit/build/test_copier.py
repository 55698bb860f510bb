"""COPY/ADD file semantics over host directories (Docker's classic builder rules)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from wharf.build.copier import CopyOptions, copy_into, resolve_in_root, resolve_sources
from wharf.errors import InvalidArgument, NotFound

ME = CopyOptions(uid=os.getuid(), gid=os.getgid())


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "dir" / "sub").mkdir(parents=True)
    (src / "dir" / "a.txt").write_text("a")
    (src / "dir" / "sub" / "b.txt").write_text("b")
    (src / "one.txt").write_text("one")
    (src / "two.txt").write_text("two")
    (dst / "etc").mkdir(parents=True)
    (dst / "link").symlink_to("/etc")
    return src, dst


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_a_directory_source_copies_its_contents(roots: tuple[Path, Path]) -> None:
    src, dst = roots
    copy_into(resolve_sources(src, ["dir"], what="COPY"), dst, "/target", ME, what="COPY")
    assert _tree(dst / "target") == ["a.txt", "sub", "sub/b.txt"]


def test_file_to_dir_and_to_file(roots: tuple[Path, Path]) -> None:
    src, dst = roots
    copy_into(resolve_sources(src, ["one.txt"], what="COPY"), dst, "/new/dir/", ME, what="COPY")
    copy_into(resolve_sources(src, ["one.txt"], what="COPY"), dst, "/renamed", ME, what="COPY")
    copy_into(resolve_sources(src, ["one.txt"], what="COPY"), dst, "/etc", ME, what="COPY")
    assert (dst / "new" / "dir" / "one.txt").read_text() == "one"
    assert (dst / "renamed").read_text() == "one"
    assert (dst / "etc" / "one.txt").read_text() == "one"
    assert oct((dst / "new").stat().st_mode & 0o777) == "0o755"


def test_globs_and_several_sources_need_a_directory(roots: tuple[Path, Path]) -> None:
    src, dst = roots
    found = resolve_sources(src, ["*.txt"], what="COPY")
    assert [p.name for p in found] == ["one.txt", "two.txt"]
    with pytest.raises(InvalidArgument, match="must be a directory"):
        copy_into(found, dst, "/file", ME, what="COPY")
    copy_into(found, dst, "/many/", ME, what="COPY")
    assert _tree(dst / "many") == ["one.txt", "two.txt"]
    with pytest.raises(NotFound):
        resolve_sources(src, ["*.none"], what="COPY")


def test_destination_symlinks_resolve_inside_the_root(roots: tuple[Path, Path]) -> None:
    src, dst = roots
    copy_into(resolve_sources(src, ["one.txt"], what="COPY"), dst, "/link/", ME, what="COPY")
    assert (dst / "etc" / "one.txt").exists()  # /link -> /etc inside dst, not the host's /etc
    assert resolve_in_root(dst, "/../../link/x") == dst / "etc" / "x"


@pytest.mark.parametrize("source", ["../outside", "dir/../../outside", "/../outside"])
def test_sources_outside_the_context_are_refused(roots: tuple[Path, Path], source: str) -> None:
    src, _ = roots
    (src.parent / "outside").write_text("secret")
    if source.startswith("/"):
        with pytest.raises(NotFound):  # absolute paths are relative to the context root
            resolve_sources(src, [source], what="COPY")
    else:
        with pytest.raises(InvalidArgument, match="Forbidden path outside the build context"):
            resolve_sources(src, [source], what="COPY")


def test_source_symlinks_cannot_leave_the_context(roots: tuple[Path, Path]) -> None:
    src, _ = roots
    (src.parent / "outside").write_text("secret")
    (src / "escape").symlink_to("../outside")
    (src / "escape_abs").symlink_to(str(src.parent / "outside"))
    for name in ("escape/x", "escape_abs/x"):
        with pytest.raises(NotFound):
            resolve_sources(src, [name], what="COPY")


def test_add_extracts_local_archives(roots: tuple[Path, Path]) -> None:
    src, dst = roots
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("inner/file")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    (src / "a.tar.gz").write_bytes(buf.getvalue())
    found = resolve_sources(src, ["a.tar.gz"], what="ADD")
    copy_into(found, dst, "/x/", CopyOptions(extract_archives=True), what="ADD")
    assert (dst / "x" / "inner" / "file").read_text() == "hi"
    copy_into(found, dst, "/y/", ME, what="COPY")
    assert (dst / "y" / "a.tar.gz").exists()


def test_add_refuses_archive_members_that_escape(roots: tuple[Path, Path]) -> None:
    src, dst = roots
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../../evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (src / "evil.tar").write_bytes(buf.getvalue())
    found = resolve_sources(src, ["evil.tar"], what="ADD")
    with pytest.raises(InvalidArgument, match="escapes"):
        copy_into(found, dst, "/x/", CopyOptions(extract_archives=True), what="ADD")
    assert not (dst.parent / "evil").exists()


def test_chmod_and_owner_options(roots: tuple[Path, Path]) -> None:
    src, dst = roots
    options = CopyOptions(uid=os.getuid(), gid=os.getgid(), chmod=0o600)
    copy_into(resolve_sources(src, ["dir"], what="COPY"), dst, "/m", options, what="COPY")
    assert (dst / "m" / "a.txt").stat().st_mode & 0o777 == 0o600
    assert (dst / "m" / "sub").stat().st_mode & 0o777 == 0o600
