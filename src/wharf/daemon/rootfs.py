"""Reading a few files (``/etc/passwd``, ``/etc/group``) of a container's root filesystem.

Used to resolve ``--user name[:group]`` to numbers, as the OCI spec needs them. The rootfs is
reached through ``/proc/<pid>/root`` for a running container, else by mounting its mounts on a
private temp dir for the duration of the read. Symlinks are refused on the way (``/etc`` and the
file itself), so a container cannot point the daemon at a host file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence

from wharf.mount import Mount, mount_all, unmount

__all__ = ["needs_lookup", "read_etc_files"]


def needs_lookup(user: str) -> bool:
    """Whether ``user`` names a user or group (not just numbers or root)."""
    name, _, group = user.partition(":")
    return bool((name and not name.isdigit() and name != "root") or (group and not group.isdigit()))


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
