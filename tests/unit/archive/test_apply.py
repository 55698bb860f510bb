from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from tarmaker import E, corpus, make_tar

from wharf.archive import UnsafeEntry, apply_layer
from wharf.errors import DataLoss, WharfError
from wharf.oci import Digest

CORPUS = Path(__file__).parent / "corpus"
ROOT = os.geteuid() == 0


def _apply(data: bytes, dest: Path, **kwargs: object) -> object:
    dest.mkdir(exist_ok=True)
    return apply_layer(io.BytesIO(data), dest, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_formats_give_the_same_tree_and_diff_id(tmp_path: Path, compression: str) -> None:
    plain = make_tar([E("etc", "dir", mode=0o755), E("etc/hosts", data=b"127.0.0.1 x\n")])
    result = _apply(
        make_tar([E("etc", "dir", mode=0o755), E("etc/hosts", data=b"127.0.0.1 x\n")], compression),
        tmp_path / "d",
    )
    assert result.diff_id == Digest.from_bytes(plain)  # type: ignore[attr-defined]
    assert result.compression == compression  # type: ignore[attr-defined]
    assert (tmp_path / "d/etc/hosts").read_bytes() == b"127.0.0.1 x\n"


def test_preserves_modes_times_links_xattrs_and_sparse_files(tmp_path: Path) -> None:
    sparse = b"head" + bytes(4 << 20) + b"tail"
    layer = make_tar(
        [
            E("bin", "dir", mode=0o750, mtime=1234),
            E("bin/tool", data=b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1000, mtime=99),
            E("bin/alias", "link", link="bin/tool"),
            E("bin/sh", "sym", link="/bin/busybox", mtime=77),
            E("tmp", "dir", mode=0o1777),
            E("fifo", "fifo", mode=0o640),
            E("attr", data=b"a", xattrs={"user.note": "hello"}),
            E("sparse", data=sparse),
        ]
    )
    dest = tmp_path / "d"
    _apply(layer, dest)
    tool = os.lstat(dest / "bin/tool")
    assert stat.S_IMODE(tool.st_mode) == 0o4755
    assert tool.st_mtime == 99
    assert tool.st_nlink == 2
    assert os.lstat(dest / "bin/alias").st_ino == tool.st_ino
    if ROOT:
        assert (tool.st_uid, tool.st_gid) == (1000, 1000)
    assert os.readlink(dest / "bin/sh") == "/bin/busybox"
    assert os.lstat(dest / "bin/sh").st_mtime == 77
    assert stat.S_IMODE(os.lstat(dest / "bin").st_mode) == 0o750
    assert os.lstat(dest / "bin").st_mtime == 1234
    assert stat.S_IMODE(os.lstat(dest / "tmp").st_mode) == 0o1777
    assert stat.S_ISFIFO(os.lstat(dest / "fifo").st_mode)
    assert os.getxattr(dest / "attr", "user.note") == b"hello"
    st = os.lstat(dest / "sparse")
    assert (dest / "sparse").read_bytes() == sparse
    assert st.st_blocks * 512 < st.st_size  # the hole was not written


def test_whiteouts_delete_on_a_full_copy(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    _apply(
        make_tar(
            [
                E("keep", data=b"k"),
                E("gone", data=b"g"),
                E("dir", "dir", mode=0o755),
                E("dir/old", data=b"o"),
            ]
        ),
        dest,
    )
    _apply(
        make_tar(
            [
                E(".wh.gone"),
                E("dir", "dir", mode=0o755),
                E("dir/.wh..wh..opq"),
                E("dir/new", data=b"n"),
            ]
        ),
        dest,
    )
    assert sorted(os.listdir(dest)) == ["dir", "keep"]
    assert os.listdir(dest / "dir") == ["new"]


@pytest.mark.skipif(not ROOT, reason="overlay whiteouts are 0:0 devices and trusted xattrs")
def test_whiteouts_become_overlay_whiteouts(tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    _apply(make_tar([E("dir", "dir", mode=0o711), E("dir/x", data=b"x"), E("f", data=b"f")]), lower)
    upper = tmp_path / "upper"
    _apply(
        make_tar([E(".wh.f"), E("dir/.wh..wh..opq"), E("dir/y", data=b"y")]),
        upper,
        whiteouts="overlay",
        lowers=[lower],
    )
    st = os.lstat(upper / "f")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(upper / "dir", "trusted.overlay.opaque") == b"y"
    # The missing parent took the lower directory's mode, so the merged view keeps it.
    assert stat.S_IMODE(os.lstat(upper / "dir").st_mode) == 0o711


def test_overlay_xattrs_in_a_layer_are_ignored(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    _apply(make_tar([E("d", "dir", mode=0o755, xattrs={"trusted.overlay.opaque": "y"})]), dest)
    with pytest.raises(OSError):
        os.getxattr(dest / "d", "trusted.overlay.opaque")


def test_later_entry_replaces_dir_with_file_and_repeated_dirs_are_fine(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    _apply(make_tar([E("x", "dir", mode=0o755), E("x", "dir", mode=0o700)]), dest)
    assert stat.S_IMODE(os.lstat(dest / "x").st_mode) == 0o700
    _apply(make_tar([E("x", data=b"now a file")]), dest)
    assert (dest / "x").read_bytes() == b"now a file"


def test_devices_only_when_allowed(tmp_path: Path) -> None:
    layer = make_tar([E("null", "chr", mode=0o666)])
    with pytest.raises(UnsafeEntry, match="device"):
        _apply(layer, tmp_path / "a")
    if ROOT:
        _apply(layer, tmp_path / "b", allow_devices=True)
        assert stat.S_ISCHR(os.lstat(tmp_path / "b/null").st_mode)


@pytest.mark.parametrize("name", sorted(corpus()))
def test_corpus_layers_are_refused_and_write_nothing_outside(tmp_path: Path, name: str) -> None:
    data = (CORPUS / name).read_bytes()
    assert data == corpus()[name], "corpus out of date: run python tarmaker.py"
    sandbox = tmp_path / "sandbox"
    (sandbox / "dest").mkdir(parents=True)
    (sandbox / "sentinel").write_text("untouched")
    with pytest.raises(WharfError) as info:
        apply_layer(io.BytesIO(data), sandbox / "dest")
    assert str(info.value)  # a message, naming the entry or the stream
    assert sorted(os.listdir(sandbox)) == ["dest", "sentinel"]
    assert (sandbox / "sentinel").read_text() == "untouched"
    assert not Path("/tmp/escape").exists()
    assert not (tmp_path / "escape").exists()


def test_truncated_gzip_is_data_loss(tmp_path: Path) -> None:
    with pytest.raises(DataLoss, match="gzip"):
        _apply(corpus()["truncated.tar.gz"], tmp_path / "d")


def test_absolute_path_message_names_the_entry(tmp_path: Path) -> None:
    with pytest.raises(UnsafeEntry, match=r"'/etc/escape'.*absolute"):
        _apply(corpus()["absolute.tar"], tmp_path / "d")
