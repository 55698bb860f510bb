"""Overlay mount options, computed without mounting (no root needed)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharf.errors import FailedPrecondition
from wharf.snapshots import OverlaySnapshotter

DAEMON_ROOT = "/var/lib/wharf/images/s"  # the image service's snapshot root under the daemon


@pytest.fixture
def root() -> Iterator[Path]:
    """A root exactly as long as the daemon's, so lengths below are the real ones."""
    base = tempfile.mkdtemp(prefix="images-", dir="/tmp")
    path = Path(base) / ("x" * (len(DAEMON_ROOT) - len(base) - 1))
    assert len(str(path)) == len(DAEMON_ROOT)
    yield path
    shutil.rmtree(base)


def _chain(s: OverlaySnapshotter, depth: int) -> str:
    parent = None
    for i in range(depth):
        s.prepare(f"x{i}", parent)
        s.commit(f"l{i}", f"x{i}")
        parent = f"l{i}"
    assert parent is not None
    return parent


def test_options_list_lowers_top_first(root: Path) -> None:
    s = OverlaySnapshotter(root)
    top = _chain(s, 3)
    (mount,) = s.prepare("ctr", top)
    redirect, metacopy, work, upper, lower = mount.options
    assert (redirect, metacopy) == ("redirect_dir=off", "metacopy=off")
    ids = [str(s.root / str(n) / "fs") for n in (3, 2, 1)]
    assert (mount.type, mount.source) == ("overlay", "overlay")
    assert work == f"workdir={s.root / '4' / 'work'}"
    assert upper == f"upperdir={s.root / '4' / 'fs'}"
    assert lower == "lowerdir=" + ":".join(ids)
    (view,) = s.view("v", "l0")
    assert (view.type, view.options) == ("bind", ("rbind", "ro"))
    (first,) = s.prepare("base")
    assert first.options == ("rbind", "rw")


def test_128_layers_fit_in_one_page_and_deeper_is_a_clear_error(root: Path) -> None:
    s = OverlaySnapshotter(root)
    top = _chain(s, 128)
    (mount,) = s.prepare("ctr", top)
    assert len(",".join(mount.options)) < 4096
    with pytest.raises(FailedPrecondition, match=r"layers need .* bytes of overlay options"):
        _chain_from(s, top, 60)
    keys = {i.key for i in s.walk()}
    failed = next(f"y{i}" for i in range(60) if f"m{i}" not in keys)
    assert failed not in keys  # the refused snapshot left no row (nor directory)


def _chain_from(s: OverlaySnapshotter, parent: str, depth: int) -> str:
    for i in range(depth):
        s.prepare(f"y{i}", parent)
        s.commit(f"m{i}", f"y{i}")
        parent = f"m{i}"
    return parent


def test_volatile_applies_to_container_layers_only(root: Path) -> None:
    s = OverlaySnapshotter(root, volatile=True)
    top = _chain(s, 1)
    (extract,) = s.prepare("extract", top)
    (container,) = s.prepare("ctr", top, labels={"wharf.container": "c1"})
    assert "volatile" not in extract.options
    assert container.options[0] == "volatile"
