from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from wharf.images import ImageService
from wharf.images.busybox import BUSYBOX, build_archive, build_layer

pytestmark = pytest.mark.skipif(not BUSYBOX.exists(), reason="needs Debian's busybox-static")


def test_build_is_reproducible_and_loads(tmp_path: Path) -> None:
    first, second = io.BytesIO(), io.BytesIO()
    image_id = build_archive(first)
    assert build_archive(second) == image_id
    assert first.getvalue() == second.getvalue()
    service = ImageService(tmp_path / "store", snapshotter="native")
    assert service.load(io.BytesIO(first.getvalue())) == ["Loaded image: busybox:latest"]
    image = service.resolve("busybox")
    assert image.id == image_id
    assert image.config.config.cmd == ("sh",)
    (mount,) = service.prepare_container("c", "busybox")
    root = Path(mount.source)
    assert (root / "bin/busybox").read_bytes() == BUSYBOX.read_bytes()
    assert (root / "bin/sh").readlink() == Path("/bin/busybox")
    assert (root / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert "nobody" in (root / "etc/passwd").read_text()


def test_layer_links_every_applet_with_fixed_metadata() -> None:
    with tarfile.open(fileobj=io.BytesIO(build_layer())) as tar:
        members = tar.getmembers()
    links = {m.name for m in members if m.issym()}
    assert {"bin/sh", "bin/ls", "usr/bin/wc", "bin/echo"} <= links
    assert len(links) > 200
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members)
    assert [m.name for m in members] == [m.name for m in members]  # stable order
    assert {"root", "home", "tmp", "etc/group"} <= {m.name for m in members}
