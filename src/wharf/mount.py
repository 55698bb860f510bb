"""Mount: the lingua franca between snapshotters (which emit mounts) and the runtime
(which performs them), as in containerd's ``core/mount``.

A :class:`Mount` is a plain value: ``type``, ``source`` and fstab-style ``options``.
Snapshotters never mount; the runtime, or a caller that needs a rootfs on the host (image
diff, export, ``docker cp``) calls :func:`mount_all` and later :func:`unmount`.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from wharf.errors import InvalidArgument, WharfError

__all__ = [
    "MNT_DETACH",
    "MS_BIND",
    "MS_NODEV",
    "MS_NOEXEC",
    "MS_NOSUID",
    "MS_PRIVATE",
    "MS_RDONLY",
    "MS_REC",
    "MS_REMOUNT",
    "MS_SHARED",
    "MS_SLAVE",
    "MS_UNBINDABLE",
    "Mount",
    "MountError",
    "mount_all",
    "parse_options",
    "unmount",
]

MS_RDONLY: Final = 0x1
MS_NOSUID: Final = 0x2
MS_NODEV: Final = 0x4
MS_NOEXEC: Final = 0x8
MS_SYNCHRONOUS: Final = 0x10
MS_REMOUNT: Final = 0x20
MS_MANDLOCK: Final = 0x40
MS_DIRSYNC: Final = 0x80
MS_NOSYMFOLLOW: Final = 0x100
MS_NOATIME: Final = 0x400
MS_NODIRATIME: Final = 0x800
MS_BIND: Final = 0x1000
MS_REC: Final = 0x4000
MS_SILENT: Final = 0x8000
MS_UNBINDABLE: Final = 1 << 17
MS_PRIVATE: Final = 1 << 18
MS_SLAVE: Final = 1 << 19
MS_SHARED: Final = 1 << 20
MS_RELATIME: Final = 1 << 21
MS_STRICTATIME: Final = 1 << 24
MNT_DETACH: Final = 2

# option -> (clear, flag). ``clear`` options remove the flag (``rw`` clears MS_RDONLY).
_FLAGS: Final[dict[str, tuple[bool, int]]] = {
    "async": (True, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME),
    "bind": (False, MS_BIND),
    "defaults": (False, 0),
    "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC),
    "mand": (False, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME),
    "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME),
    "noexec": (False, MS_NOEXEC),
    "nomand": (True, MS_MANDLOCK),
    "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID),
    "sync": (False, MS_SYNCHRONOUS),
}

# Propagation options are applied with a separate mount(2) call after the mount itself.
_PROPAGATION: Final[dict[str, int]] = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class MountError(WharfError, OSError):
    """mount(2) or umount2(2) failed; ``errno`` is kept."""


@dataclass(frozen=True)
class Mount:
    """One mount: what ``mount -t TYPE -o OPTIONS SOURCE TARGET`` would do.

    Attributes:
        type: filesystem type (``overlay``, ``bind``, ``tmpfs``, ``proc`` ...).
        source: device, directory or pseudo name.
        options: fstab-style options; for overlay these include ``lowerdir=``.
        target: where inside the root it goes (empty for a rootfs mount).
    """

    type: str
    source: str
    options: tuple[str, ...] = ()
    target: str = ""

    def flags_and_data(self) -> tuple[int, int, str]:
        """(flags, propagation flags, data string) for mount(2)."""
        flags, propagation, data = parse_options(self.options)
        if self.type in ("bind", "rbind"):
            flags |= MS_BIND | (MS_REC if self.type == "rbind" else 0)
        return flags, propagation, data

    def mount(self, target: str) -> None:
        """Mount this at ``target`` (a host path).

        Raises:
            MountError: the kernel refused; the message names source, target and type.
        """
        flags, propagation, data = self.flags_and_data()
        fstype = "" if flags & MS_BIND else self.type
        _mount(self.source, target, fstype, flags & ~MS_RDONLY if flags & MS_BIND else flags, data)
        if flags & MS_BIND and flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC):
            # A bind mount ignores most flags on the first call; apply them with a remount.
            _mount("", target, "", flags | MS_REMOUNT, "")
        if propagation:
            _mount("", target, "", propagation, "")


def parse_options(options: Iterable[str]) -> tuple[int, int, str]:
    """Split fstab-style options into mount flags, propagation flags and the data string.

    Unknown options (``lowerdir=…``, ``size=64m``, ``mode=755``) are passed to the
    filesystem as data, as mount(8) does.
    """
    flags = 0
    propagation = 0
    data: list[str] = []
    for option in options:
        if option in _FLAGS:
            clear, flag = _FLAGS[option]
            flags = flags & ~flag if clear else flags | flag
        elif option in _PROPAGATION:
            propagation |= _PROPAGATION[option]
        else:
            data.append(option)
    return flags, propagation, ",".join(data)


def _mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    rc = _libc.mount(
        source.encode() or None,
        target.encode(),
        fstype.encode() or None,
        flags,
        data.encode() or None,
    )
    if rc != 0:
        err = ctypes.get_errno()
        raise MountError(
            err, f"mount {fstype or 'bind'} {source!r} on {target!r} failed: {os.strerror(err)}"
        )


def mount_all(mounts: Sequence[Mount], root: str) -> None:
    """Mount each mount at ``root`` joined with its target, in order.

    On failure the mounts already made are undone before the error propagates.
    """
    done: list[str] = []
    try:
        for m in mounts:
            target = os.path.join(root, m.target.lstrip("/")) if m.target else root
            m.mount(target)
            done.append(target)
    except BaseException:
        for target in reversed(done):
            unmount(target)
        raise


def unmount(target: str, *, detach: bool = False) -> None:
    """Unmount ``target``; a path that is not mounted is not an error.

    Raises:
        MountError: the kernel refused for another reason (EBUSY ...).
        InvalidArgument: ``target`` is empty.
    """
    if not target:
        raise InvalidArgument("unmount: target path is empty")
    rc = _libc.umount2(target.encode(), MNT_DETACH if detach else 0)
    if rc != 0:
        err = ctypes.get_errno()
        if err in (22, 2):  # EINVAL: not a mount point; ENOENT: gone already
            return
        raise MountError(err, f"unmount {target!r} failed: {os.strerror(err)}")
