"""One suite for every Snapshotter (containerd's snapshots/testsuite), run against each.

The native snapshotter runs everywhere; the overlay one needs root and real overlayfs and
runs with --run-privileged (as in CI).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wharf.errors import AlreadyExists, Conflict, FailedPrecondition, NotFound
from wharf.mount import Mount, mount_all, unmount
from wharf.snapshots import Kind, NativeSnapshotter, OverlaySnapshotter, Snapshotter, supported

Factory = Callable[[Path], Snapshotter]


@pytest.fixture(params=["native", "overlay"])
def make(request: pytest.FixtureRequest) -> Factory:
    if request.param == "overlay":
        if not request.config.getoption("--run-privileged") or os.geteuid() != 0:
            pytest.skip("overlay snapshotter: needs root and --run-privileged")
        if not supported():
            pytest.skip("overlay snapshotter: kernel has no overlayfs")
        return OverlaySnapshotter
    return NativeSnapshotter


@contextlib.contextmanager
def mounted(mounts: list[Mount]) -> Iterator[Path]:
    """The filesystem the mounts describe, on the host."""
    if os.geteuid() != 0:
        (bind,) = mounts
        yield Path(bind.source)
        return
    with tempfile.TemporaryDirectory(prefix="images-mnt-") as target:
        mount_all(mounts, target)
        try:
            yield Path(target)
        finally:
            unmount(target)


def _base(s: Snapshotter) -> None:
    with mounted(s.prepare("a-active")) as fs:
        (fs / "etc").mkdir()
        (fs / "etc/passwd").write_text("root\n")
        (fs / "gone").write_text("x")
    s.commit("a", "a-active")


def test_prepare_commit_view(tmp_path: Path, make: Factory) -> None:
    s = make(tmp_path / "s")
    _base(s)
    info = s.stat("a")
    assert (info.kind, info.parent) == (Kind.COMMITTED, None)
    with mounted(s.view("v", "a")) as fs:
        assert (fs / "etc/passwd").read_text() == "root\n"
        if os.geteuid() == 0:
            with pytest.raises(OSError):
                (fs / "new").write_text("ro")
    assert s.stat("v").kind == Kind.VIEW


def test_layers_stack_and_parents_stay_unchanged(tmp_path: Path, make: Factory) -> None:
    s = make(tmp_path / "s")
    _base(s)
    with mounted(s.prepare("b-active", "a")) as fs:
        (fs / "gone").unlink()
        (fs / "etc/passwd").write_text("root\nnobody\n")
        (fs / "added").write_text("b")
    s.commit("b", "b-active")
    with mounted(s.view("vb", "b")) as fs:
        assert sorted(os.listdir(fs)) == ["added", "etc"]
        assert (fs / "etc/passwd").read_text() == "root\nnobody\n"
    with mounted(s.view("va", "a")) as fs:
        assert sorted(os.listdir(fs)) == ["etc", "gone"]
        assert (fs / "etc/passwd").read_text() == "root\n"
    mounts = s.prepare("ctr", "b", labels={"wharf.container": "c1"})
    assert s.mounts("ctr") == mounts
    assert s.stat("ctr").labels == {"wharf.container": "c1"}
    assert s.layer_dirs("ctr").upper.is_dir()


def test_remove_order_and_walk(tmp_path: Path, make: Factory) -> None:
    s = make(tmp_path / "s")
    _base(s)
    s.prepare("child", "a")
    with pytest.raises(Conflict, match="'a' is the parent of 'child'"):
        s.remove("a")
    s.remove("child")
    s.remove("a")
    assert list(s.walk()) == []
    assert sorted(p.name for p in (tmp_path / "s").iterdir() if p.is_dir()) == []


def test_bad_requests(tmp_path: Path, make: Factory) -> None:
    s = make(tmp_path / "s")
    _base(s)
    with pytest.raises(AlreadyExists, match="'a'"):
        s.prepare("a")
    with pytest.raises(NotFound, match="'missing'"):
        s.prepare("x", "missing")
    s.prepare("act")
    with pytest.raises(FailedPrecondition, match="expected committed"):
        s.prepare("y", "act")
    s.view("v", "a")
    with pytest.raises(FailedPrecondition, match="only active"):
        s.commit("z", "v")
    with pytest.raises(NotFound):
        s.stat("nope")
    with pytest.raises(AlreadyExists):
        s.commit("a", "act")
    assert {i.key for i in s.walk()} == {"a", "act", "v"}


def test_usage_counts_own_files(tmp_path: Path, make: Factory) -> None:
    s = make(tmp_path / "s")
    _base(s)
    with mounted(s.prepare("big", "a")) as fs:
        (fs / "blob").write_bytes(b"x" * (1 << 20))
    assert s.usage("big").size >= 1 << 20
    assert s.usage("big").inodes >= 1


def test_leftover_directory_is_removed_at_open(tmp_path: Path, make: Factory) -> None:
    s = make(tmp_path / "s")
    _base(s)
    (tmp_path / "s" / "999").mkdir()
    close = getattr(s, "close", None)
    if close:
        close()
    s = make(tmp_path / "s")
    assert not (tmp_path / "s" / "999").exists()
    assert s.stat("a").kind == Kind.COMMITTED
