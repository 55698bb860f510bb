"""Build context extraction and .dockerignore rules."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from wharf.build.context import IgnoreMatcher, apply_dockerignore, checksum, extract_context
from wharf.errors import InvalidArgument


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["*.log"], "a.log", True),
        (["*.log"], "dir/a.log", False),
        (["**/*.log"], "dir/sub/a.log", True),
        (["**/*.log"], "a.log", True),
        (["dir"], "dir/sub/file", True),
        (["dir", "!dir/keep"], "dir/keep", False),
        (["dir", "!dir/keep"], "dir/other", True),
        (["*.md", "!README.md"], "README.md", False),
        (["!README.md", "*.md"], "README.md", True),
        (["/abs/path"], "abs/path", True),
        (["./x/../y"], "y", True),
        (["a?c"], "abc", True),
        (["a?c"], "a/c", False),
        (["[a-c]x"], "bx", True),
        (["# comment", ""], "# comment", False),
    ],
)
def test_dockerignore_rules(patterns: list[str], path: str, excluded: bool) -> None:
    assert IgnoreMatcher(patterns).excluded(path) is excluded


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    buf.seek(0)
    return buf


def _file(name: str) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), b"x"


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, b""


@pytest.mark.parametrize(
    "members",
    [
        [_file("../evil")],
        [_file("/etc/evil")],
        [_file("a/../../evil")],
        [_link("l", "../../etc")],
        [_link("l", "/etc"), _file("l/passwd")],
        [_link("h", "../outside", tarfile.LNKTYPE)],
        [_link("l", "/etc"), _link("h", "l/passwd", tarfile.LNKTYPE)],
    ],
)
def test_escaping_context_tars_are_refused(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]]
) -> None:
    dest = tmp_path / "ctx"
    dest.mkdir()
    with pytest.raises(InvalidArgument, match="build context"):
        extract_context(_tar(*members), dest)
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "outside").exists()


def test_not_a_tar_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not a valid tar"):
        extract_context(io.BytesIO(b"garbage" * 100), tmp_path)


def test_extract_and_dockerignore_keep_exceptions(tmp_path: Path) -> None:
    extract_context(
        _tar(_file("Dockerfile"), _file("a.log"), _file("logs/keep.log"), _file("logs/x.log")),
        tmp_path,
    )
    (tmp_path / ".dockerignore").write_text("*.log\nlogs\n!logs/keep.log\nDockerfile\n")
    apply_dockerignore(
        tmp_path,
        IgnoreMatcher((tmp_path / ".dockerignore").read_text().splitlines()),
        keep=("Dockerfile", ".dockerignore"),
    )
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == [".dockerignore", "Dockerfile", "logs/keep.log"]


def test_checksum_follows_content_and_mode(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("one")
    first = checksum(tmp_path, ["f"])
    (tmp_path / "f").write_text("two")
    second = checksum(tmp_path, ["f"])
    (tmp_path / "f").chmod(0o600)
    assert len({first, second, checksum(tmp_path, ["f"])}) == 3


def test_extract_keeps_modes_links_and_times(tmp_path: Path) -> None:
    exe = tarfile.TarInfo("bin/tool")
    exe.mode = 0o751
    exe.mtime = 1_000_000
    directory = tarfile.TarInfo("bin")
    directory.type = tarfile.DIRTYPE
    directory.mode = 0o700
    extract_context(
        _tar(
            (directory, b""),
            (exe, b"x"),
            _link("bin/alias", "tool"),
            _link("bin/hard", "bin/tool", tarfile.LNKTYPE),
        ),
        tmp_path,
    )
    tool = tmp_path / "bin" / "tool"
    assert tool.stat().st_mode & 0o7777 == 0o751
    assert tool.stat().st_mtime == 1_000_000
    assert (tmp_path / "bin").stat().st_mode & 0o7777 == 0o700
    assert (tmp_path / "bin" / "alias").readlink() == Path("tool")
    assert (tmp_path / "bin" / "hard").stat().st_ino == tool.stat().st_ino
