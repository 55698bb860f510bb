"""Reading a few files (``/etc/passwd``, ``/etc/group``) of a container's root filesystem.

Used to resolve ``--user name[:group]`` and the user's groups to numbers, as the OCI spec needs
them. The rootfs is reached through ``/proc/<pid>/root`` for a running container, else read from
its layer directories, or by mounting its mounts on a private temp dir for the duration of the
read. Symlinks are refused on the way (``/etc`` and the file itself), so a container cannot point
the daemon at a host file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence

from wharf.daemon.ports import ImageStore
from wharf.mount import Mount, mount_all, unmount

__all__ = ["container_etc_files", "read_etc_files"]


def _read_under(root: str, names: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    etc = os.path.join(root, "etc")
    if os.path.islink(etc) or not os.path.isdir(etc):
        return out
    for name in names:
        try:
            fd = os.open(os.path.join(etc, name), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as f:
            out[name] = f.read(1 << 20).decode(errors="replace")
    return out


def read_etc_files(
    names: Sequence[str], *, pid: int = 0, mounts: Sequence[Mount] = ()
) -> dict[str, str]:
    """``{name: text}`` of the files in the rootfs's ``/etc`` that exist and are regular."""
    if pid:
        return _read_under(f"/proc/{pid}/root", names)
    with tempfile.TemporaryDirectory(prefix="wharf-etc-") as tmp:
        mount_all(mounts, tmp)
        try:
            return _read_under(tmp, names)
        finally:
            with contextlib.suppress(OSError):
                unmount(tmp, detach=True)


def container_etc_files(
    images: ImageStore, container_id: str, names: Sequence[str], mounts: Sequence[Mount]
) -> dict[str, str]:
    """:func:`read_etc_files` of a container not running yet: read from its layers (no mount,
    ~0.1 ms), or through a mount of ``mounts`` when a symbolic link is on the way."""
    out: dict[str, str] = {}
    try:
        for name in names:
            data = images.container_file(container_id, f"etc/{name}")
            if data is not None:
                out[name] = data.decode(errors="replace")
    except ValueError:
        return read_etc_files(names, mounts=mounts)
    return out
