"""Root filesystem set-up, run by the clone child inside its new mount namespace.

Order (runc's ``prepareRootfs``/``finalizeRootfs``): make ``/`` private (or what
``linux.rootfsPropagation`` says) so nothing leaks to the host; mount the engine's rootfs
Mounts on the rootfs directory, or bind the bundle's rootfs onto itself (pivot_root needs
a mount point); make ``spec.mounts`` in order, each target resolved inside the rootfs
without escaping through symlinks; populate ``/dev``; then ``pivot_root(".", ".")`` and
detach the old root. After the pivot: masked paths, read-only paths, read-only root.

Only ``os`` calls and pre-resolved ctypes functions are used: this code runs in a cloned
child that must not import anything or take locks.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import struct
from collections.abc import Callable, Sequence
from typing import Final

from wharf.errors import NotFound
from wharf.mount import (
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    MS_SLAVE,
    mount_all,
)
from wharf.runtime import syscalls
from wharf.runtime.config import DEV_SYMLINKS, DeviceNode, MountStep, Plan

__all__ = [
    "bind_console",
    "finalize_rootfs",
    "open_pty",
    "pivot_into",
    "prepare_rootfs",
    "secure_join",
]

_MAX_SYMLINKS: Final = 255
# statvfs f_flag bits that a remount must keep (the kernel locks them in a user namespace).
_LOCKED_FLAGS: Final = MS_NOSUID | MS_NODEV | MS_NOEXEC
_DEVICE_KINDS: Final = {"c": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
_CGROUP_BIND_ATTRS: Final = (
    syscalls.MOUNT_ATTR_RDONLY
    | syscalls.MOUNT_ATTR_NOSUID
    | syscalls.MOUNT_ATTR_NODEV
    | syscalls.MOUNT_ATTR_NOEXEC
)


def secure_join(root: str, unsafe: str) -> str:
    """``root`` joined with ``unsafe``, following symlinks as if ``root`` were ``/``.

    ``..`` and absolute symlinks never leave ``root`` (runc's securejoin). Components
    that do not exist are appended as they are.
    """
    parts = unsafe.split("/")
    parts.reverse()  # a stack: the next component last
    current = ""
    links = 0
    missing = False  # below a missing component nothing can be a symlink
    while parts:
        part = parts.pop()
        if not part or part == ".":
            continue
        if part == "..":
            current = current.rsplit("/", 1)[0]
            missing = False
            continue
        candidate = current + "/" + part
        if missing:
            current = candidate
            continue
        try:
            st = os.lstat(root + candidate)
        except FileNotFoundError:
            current = candidate
            missing = True
            continue
        if not stat.S_ISLNK(st.st_mode):
            current = candidate
            continue
        links += 1
        if links > _MAX_SYMLINKS:
            raise OSError(errno.ELOOP, f"too many symlinks resolving {unsafe!r}")
        target = os.readlink(root + candidate)
        if target.startswith("/"):
            current = ""
        pushed = target.split("/")
        pushed.reverse()
        parts.extend(pushed)
    return root + current if current else root


def _locked(path: str) -> int:
    return os.statvfs(path).f_flag & _LOCKED_FLAGS


def _make_target(path: str, *, file: bool) -> None:
    """Make a missing mount target (a file or directory), and its parents if needed."""
    try:
        os.lstat(path)
        return
    except FileNotFoundError:
        pass
    for attempt in (1, 2):
        try:
            if file:
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            else:
                os.mkdir(path, 0o755)
            return
        except FileNotFoundError:
            if attempt == 2:
                raise
            os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)


def _bind(source: str, target: str, flags: int, propagation: int) -> None:
    syscalls.mount(source, target, "", MS_BIND | (flags & MS_REC))
    if flags & ~(MS_BIND | MS_REC):
        # statvfs only when the flags may clear a locked bit; they keep all three mostly.
        locked = 0 if flags & _LOCKED_FLAGS == _LOCKED_FLAGS else _locked(target)
        syscalls.mount("", target, "", (flags & ~MS_REC) | MS_BIND | MS_REMOUNT | locked)
    if propagation:
        syscalls.mount("", target, "", propagation)


def _mount_cgroups(
    step: MountStep, target: str, cgroups: Sequence[tuple[str, str]], *, cgroup2: bool
) -> None:
    """A read-only tmpfs at ``target`` with the container's own cgroup of each hierarchy
    bound below it (runc's v1 layout). On a pure v2 host (``cgroup2``), a cgroup2 mount."""
    if cgroup2:
        syscalls.mount("cgroup", target, "cgroup2", step.flags)
        return
    syscalls.mount("tmpfs", target, "tmpfs", step.flags & ~MS_RDONLY, "mode=755")
    for name, path in cgroups:
        host = f"/sys/fs/cgroup/{name}{path}"
        # On a hybrid host the v2 tree holds no controllers: runc leaves it out too. A
        # hierarchy the container has no cgroup of (its root: cpu, until a limit needs it)
        # is not its to see.
        if name == "unified" or path == "/" or not os.path.isdir(host):
            continue
        sub = f"{target}/{name}"
        os.mkdir(sub, 0o555)
        syscalls.mount(host, sub, "", MS_BIND)
    # One call makes every bind read-only, nosuid, nodev and noexec, where a remount each
    # took nine (the tmpfs too, and keeps it writable only if the spec says so).
    syscalls.mount_setattr(target, set=_CGROUP_BIND_ATTRS, recursive=True)
    if not step.flags & MS_RDONLY:
        syscalls.mount_setattr(target, clear=syscalls.MOUNT_ATTR_RDONLY)


def _make_device(root: str, node: DeviceNode, *, user_namespace: bool) -> None:
    path = secure_join(root, node.path)
    if user_namespace:
        # mknod is not allowed in a user namespace: bind the host's node instead.
        _make_target(path, file=True)
        syscalls.mount(node.path, path, "", MS_BIND)
        return
    kind = _DEVICE_KINDS[node.kind]
    if os.path.lexists(path):
        os.unlink(path)
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    os.mknod(path, kind | node.mode, os.makedev(node.major, node.minor))
    os.chmod(path, node.mode)
    os.chown(path, node.uid, node.gid)


def prepare_rootfs(plan: Plan, join_cgroups: Callable[[], Sequence[tuple[str, str]]]) -> None:
    """Everything before pivot_root: propagation, rootfs, spec mounts, /dev, the cwd.

    Args:
        plan: the container's plan.
        join_cgroups: joins the container's cgroups and returns (hierarchy directory
            name, path) of each, for ``cgroup`` mounts; called once, before the first
            ``cgroup`` mount or else after the mounts, before the device nodes.
    """
    cgroups: Sequence[tuple[str, str]] | None = None
    syscalls.mount("", "/", "", plan.root_propagation)
    root = plan.rootfs
    if plan.rootfs_mounts:
        mount_all(plan.rootfs_mounts, root)
    else:
        syscalls.mount(root, root, "", MS_BIND | MS_REC)
    for step in plan.mounts:
        target = secure_join(root, step.target)
        _make_target(target, file=step.bind and not os.path.isdir(step.source))
        if step.cgroup:
            if cgroups is None:
                cgroups = join_cgroups()
            _mount_cgroups(step, target, cgroups, cgroup2=plan.cgroup2_host)
        elif step.bind:
            _bind(step.source, target, step.flags, step.propagation)
        else:
            syscalls.mount(step.source, target, step.fstype, step.flags, step.data)
            if step.propagation:
                syscalls.mount("", target, "", step.propagation)
    if cgroups is None:
        join_cgroups()
    if plan.fresh_dev:
        _populate_fresh_dev(root, plan.devices)
    else:
        for node in plan.devices:
            _make_device(root, node, user_namespace=plan.user_namespace)
        for source, link in DEV_SYMLINKS:
            path = secure_join(root, link)
            if not os.path.lexists(path):
                os.symlink(source, path)
    # runc creates a missing working directory (before the root goes read-only).
    if plan.process.cwd != "/":
        os.makedirs(secure_join(root, plan.process.cwd), 0o755, exist_ok=True)


def _populate_fresh_dev(root: str, devices: Sequence[DeviceNode]) -> None:
    """The device nodes and symlinks of a ``/dev`` tmpfs the child just mounted
    (:attr:`Plan.fresh_dev`): nothing is there, so no lookups; the umask is 0 and root
    owns what it makes, so chmod/chown only for modes and owners mknod cannot give."""
    dev = secure_join(root, "/dev")
    for node in devices:
        name = node.path[5:]
        path = f"{dev}/{name}"
        try:
            if not node.path.startswith("/dev/") or "/" in name or name in ("", ".", ".."):
                raise FileExistsError  # not a plain name below /dev: the general way
            os.mknod(path, _DEVICE_KINDS[node.kind] | node.mode, os.makedev(node.major, node.minor))
        except FileExistsError:
            _make_device(root, node, user_namespace=False)
            continue
        if node.mode & ~0o777:
            os.chmod(path, node.mode)
        if node.uid or node.gid:
            os.chown(path, node.uid, node.gid)
    for source, link in DEV_SYMLINKS:
        # A mount below /dev may have made the path: then it stays (as when not fresh).
        with contextlib.suppress(FileExistsError):
            os.symlink(source, dev + link[4:])


def open_pty(root: str) -> tuple[int, int, str]:
    """A pty from the devpts instance under ``root`` (``""`` once inside the container).

    Returns:
        (master fd, slave fd, slave path inside the container).
    """
    master = os.open(f"{root}/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, 0x40045431, struct.pack("i", 0))  # TIOCSPTLCK: unlock
    number = struct.unpack("I", fcntl.ioctl(master, 0x80045430, b"\0\0\0\0"))[0]  # TIOCGPTN
    slave_path = f"/dev/pts/{number}"
    slave = os.open(f"{root}{slave_path}", os.O_RDWR | os.O_NOCTTY)
    return master, slave, slave_path


def bind_console(root: str, slave_path: str) -> None:
    """Bind the pty slave on the container's ``/dev/console``."""
    console = f"{root}/dev/console"
    _make_target(console, file=True)
    syscalls.mount(f"{root}{slave_path}", console, "", MS_BIND)


def pivot_into(root: str) -> None:
    """Make ``root`` the new ``/`` and drop the old root (no put_old directory needed)."""
    os.chdir(root)
    syscalls.pivot_root(".", ".")
    # The old root is stacked on "."; make it slave so the detach does not propagate.
    syscalls.mount("", ".", "", MS_SLAVE | MS_REC)
    syscalls.umount2(".", MNT_DETACH)
    os.chdir("/")


def finalize_rootfs(plan: Plan) -> None:
    """After pivot_root: masked paths, read-only paths, the read-only root."""
    for path in plan.masked_paths:
        try:
            # One stat tells a missing path (skipped, no failing mount) from a directory.
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            if is_dir:
                syscalls.mount("tmpfs", path, "tmpfs", MS_RDONLY)
            else:
                syscalls.mount("/dev/null", path, "", MS_BIND)
        except NotFound:
            continue
    for path in plan.readonly_paths:
        if not os.path.exists(path):
            continue
        syscalls.mount(path, path, "", MS_BIND | MS_REC)
        syscalls.mount("", path, "", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | _locked(path))
    if plan.readonly_root:
        syscalls.mount("", "/", "", MS_BIND | MS_REMOUNT | MS_RDONLY | _locked("/"))
