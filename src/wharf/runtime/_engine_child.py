"""What the monitor's cloned child runs: set itself up as the container's pid 1, or as an
exec'd process inside a running container, then ``execve``.

The child is a raw ``clone(2)`` of the monitor (see ``syscalls.clone``): it may only use
``os.*``, functions resolved before the clone, and must end in ``execve`` or ``os._exit``.
It talks to the monitor over two pipes: it writes one JSON report to ``report_fd``
(``{"ready": true}`` once set up, or ``{"kind": ..., "message": ...}`` on failure; the fd is
close-on-exec, so EOF after "ready" means the execve succeeded), and waits for one byte on
``start_fd`` before ``execve``.

Set-up order: join cgroups (write ``0`` to each v1 ``tasks``), new session and stdio, join
namespaces given by path, make ``/`` private, mount the rootfs (bundle directory bound onto
itself, or the engine's Mount list) and the spec's mounts, create the standard ``/dev``
nodes, pivot_root, hostname, masked and read-only paths, user, find ``args[0]``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import json
import os
import resource
import signal
import stat
import termios
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

from wharf.errors import InvalidArgument, NotFound, PermissionDenied, WharfError
from wharf.mount import MNT_DETACH, MS_BIND, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, Mount
from wharf.runtime import syscalls
from wharf.runtime.syscalls import NAMESPACE_FLAGS

__all__ = [
    "ChildFds",
    "ContainerPlan",
    "ProcessPlan",
    "child_main",
    "error_kind",
    "exec_child_main",
]

_PR_SET_NO_NEW_PRIVS: Final = 38
_DEFAULT_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_DEVICES: Final = (
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
)
_DEV_LINKS: Final = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
)
_RLIMITS: Final = {
    name: getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")
}

# Resolved here, in the parent: the cloned child must not dlsym.
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc_mount = _libc.mount
_libc_mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc_umount2 = _libc.umount2
_libc_umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


@dataclass(frozen=True)
class ProcessPlan:
    """``spec.process`` checked: what to execve, as whom, where."""

    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    umask: int | None
    no_new_privileges: bool
    rlimits: tuple[tuple[int, int, int], ...]

    @classmethod
    def from_spec(cls, process: Any) -> ProcessPlan:
        """Check ``spec.process``.

        Raises:
            InvalidArgument: a field is missing or of the wrong type (named in the message).
        """
        if not isinstance(process, dict):
            raise InvalidArgument("process: expected an object")
        args = process.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            raise InvalidArgument("process.args: expected a non-empty list of strings")
        env = process.get("env", [])
        if not isinstance(env, list) or not all(isinstance(e, str) and "=" in e for e in env):
            raise InvalidArgument('process.env: expected a list of "KEY=value" strings')
        cwd = process.get("cwd", "/")
        if not isinstance(cwd, str) or not cwd.startswith("/"):
            raise InvalidArgument(f"process.cwd {cwd!r}: expected an absolute path")
        user = process.get("user", {})
        uid, gid = user.get("uid", 0), user.get("gid", 0)
        gids = user.get("additionalGids", [])
        for name, value in (("uid", uid), ("gid", gid)):
            if not isinstance(value, int) or value < 0:
                raise InvalidArgument(f"process.user.{name}: expected an integer >= 0")
        if not isinstance(gids, list) or not all(isinstance(g, int) and g >= 0 for g in gids):
            raise InvalidArgument("process.user.additionalGids: expected integers >= 0")
        rlimits = []
        for rl in process.get("rlimits", []):
            kind = _RLIMITS.get(rl.get("type", ""))
            if kind is None:
                raise InvalidArgument(f"process.rlimits: unknown type {rl.get('type')!r}")
            rlimits.append((kind, int(rl["soft"]), int(rl["hard"])))
        return cls(
            args=tuple(args),
            env=tuple(env),
            cwd=cwd,
            uid=uid,
            gid=gid,
            additional_gids=tuple(gids),
            umask=user.get("umask"),
            no_new_privileges=bool(process.get("noNewPrivileges", False)),
            rlimits=tuple(rlimits),
        )


@dataclass(frozen=True)
class ContainerPlan:
    """A spec checked and resolved for the child: what to mount, which namespaces."""

    process: ProcessPlan
    clone_flags: int
    join_namespaces: tuple[tuple[str, str], ...]  # (type, path) for linux.namespaces[].path
    rootfs: str
    rootfs_mounts: tuple[Mount, ...]
    readonly_root: bool
    mounts: tuple[Mount, ...]
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]
    hostname: str
    cgroups_path: str
    resources: dict[str, Any] = field(hash=False, compare=False)

    @classmethod
    def from_spec(
        cls, spec: dict[str, Any], *, bundle_dir: str, rootfs_mounts: Sequence[Mount], rootfs: str
    ) -> ContainerPlan:
        """Check ``spec`` and resolve paths.

        Args:
            spec: the OCI runtime spec (config.json as a dict).
            bundle_dir: the bundle directory; relative ``root.path`` is resolved against it.
            rootfs_mounts: the engine's rootfs Mounts (overlay ...); empty for a bundle rootfs.
            rootfs: where the Mounts are mounted (ignored when ``rootfs_mounts`` is empty).

        Raises:
            InvalidArgument: a malformed field or unknown namespace type.
            NotFound: the bundle's rootfs directory does not exist.
        """
        if not isinstance(spec, dict):
            raise InvalidArgument("config.json: expected a JSON object")
        process = ProcessPlan.from_spec(spec.get("process"))
        root = spec.get("root") or {}
        if not rootfs_mounts:
            path = root.get("path")
            if not isinstance(path, str) or not path:
                raise InvalidArgument("root.path: expected the rootfs directory")
            rootfs = os.path.join(bundle_dir, path)
            if not os.path.isdir(rootfs):
                raise NotFound(f"root.path {rootfs!r}: rootfs directory does not exist")
        linux = spec.get("linux") or {}
        flags = 0
        joins: list[tuple[str, str]] = []
        for ns in linux.get("namespaces", []):
            kind = ns.get("type")
            if kind not in NAMESPACE_FLAGS or kind == "time":
                raise InvalidArgument(f"linux.namespaces: unknown namespace type {kind!r}")
            if kind == "user":
                raise InvalidArgument(
                    "linux.namespaces: user namespaces need wharf.runtime's full init"
                )
            if ns.get("path"):
                joins.append((kind, ns["path"]))
            else:
                flags |= NAMESPACE_FLAGS[kind]
        mounts = []
        for i, m in enumerate(spec.get("mounts", [])):
            dest = m.get("destination")
            if not isinstance(dest, str) or not dest.startswith("/"):
                raise InvalidArgument(f"mounts[{i}].destination: expected an absolute path")
            source = m.get("source", "")
            if m.get("type") in ("bind", "rbind") or "bind" in m.get("options", []):
                source = os.path.join(bundle_dir, source)
            kind = m.get("type", "bind")
            options = tuple(m.get("options", []))
            if kind == "cgroup":
                # On v1 a fresh "cgroup" mount would take every hierarchy (EBUSY): show the
                # host's tree read-only instead, as Docker did before cgroup namespaces.
                kind, source, options = "rbind", "/sys/fs/cgroup", (*options, "ro")
            mounts.append(Mount(kind, source, options, dest))
        return cls(
            process=process,
            clone_flags=flags,
            join_namespaces=tuple(joins),
            rootfs=rootfs,
            rootfs_mounts=tuple(rootfs_mounts),
            readonly_root=bool(root.get("readonly", False)),
            mounts=tuple(mounts),
            masked_paths=tuple(linux.get("maskedPaths", [])),
            readonly_paths=tuple(linux.get("readonlyPaths", [])),
            hostname=spec.get("hostname", ""),
            cgroups_path=linux.get("cgroupsPath", ""),
            resources=linux.get("resources") or {},
        )


@dataclass(frozen=True)
class ChildFds:
    """The fds the monitor prepared for its child (inherited through clone)."""

    report: int
    start: int
    stdin: int
    stdout: int
    stderr: int
    terminal: bool
    console_path: str
    cgroup_tasks: tuple[int, ...]
    namespaces: tuple[tuple[int, int], ...]  # (fd, CLONE_NEW* flag) to setns into


def _report(fd: int, value: dict[str, Any]) -> None:
    os.write(fd, json.dumps(value).encode())


def error_kind(exc: BaseException) -> str:
    """The name of the ``wharf.errors`` kind ``exc`` is (FailedPrecondition if none)."""
    for cls in type(exc).__mro__:
        if cls.__module__ == "wharf.errors" and cls is not WharfError:
            return cls.__name__
    return "FailedPrecondition"


def _fail(fds: ChildFds, exc: BaseException) -> NoReturn:
    kind = error_kind(exc)
    try:
        _report(fds.report, {"kind": kind, "message": str(exc)})
    finally:
        os._exit(127)


def _stdio(fds: ChildFds) -> None:
    for fd in fds.cgroup_tasks:
        os.write(fd, b"0")
    os.setsid()
    if fds.terminal:
        fcntl.ioctl(fds.stdout, termios.TIOCSCTTY, 0)
    os.dup2(fds.stdin, 0)
    os.dup2(fds.stdout, 1)
    os.dup2(fds.stderr, 2)
    for fd, flag in fds.namespaces:
        syscalls.setns(fd, flag)


def _safe_join(root: str, path: str) -> str:
    """``root``/``path`` with symlinks resolved inside ``root`` (never escaping it)."""
    parts = [p for p in path.split("/") if p and p != "."]
    current = ""
    for _ in range(40):
        if not parts:
            return root + current
        part = parts.pop(0)
        if part == "..":
            current = current.rsplit("/", 1)[0]
            continue
        candidate = f"{current}/{part}"
        full = root + candidate
        if os.path.islink(full):
            target = os.readlink(full)
            base = [] if target.startswith("/") else current.split("/")
            parts = [p for p in base if p] + [p for p in target.split("/") if p] + parts
            current = ""
            continue
        current = candidate
    raise InvalidArgument(f"path {path!r} in the rootfs: too many levels of symbolic links")


def _mount_into(root: str, m: Mount) -> None:
    target = _safe_join(root, m.target)
    if m.type in ("bind", "rbind") or "bind" in m.options or "rbind" in m.options:
        if not os.path.exists(m.source):
            raise NotFound(f"mount {m.target}: source {m.source!r} does not exist")
        if not os.path.isdir(m.source):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        else:
            os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(target, exist_ok=True)
    m.mount(target)


def _rootfs(plan: ContainerPlan, fds: ChildFds) -> None:
    root = plan.rootfs
    _sys_mount("/", MS_REC | MS_PRIVATE)
    if plan.rootfs_mounts:
        for m in plan.rootfs_mounts:
            target = root if not m.target else _safe_join(root, m.target)
            m.mount(target)
    else:
        Mount("rbind", root, ()).mount(root)
    for m in plan.mounts:
        _mount_into(root, m)
    dev = f"{root}/dev"
    if any(m.target == "/dev" and m.type == "tmpfs" for m in plan.mounts):
        for name, major, minor in _DEVICES:
            os.mknod(f"{dev}/{name}", 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        for name, target in _DEV_LINKS:
            os.symlink(target, f"{dev}/{name}")
    if fds.terminal and fds.console_path:
        console = f"{dev}/console"
        if not os.path.exists(console):
            os.close(os.open(console, os.O_CREAT | os.O_WRONLY, 0o600))
        Mount("bind", fds.console_path, ()).mount(console)
    os.chdir(root)
    syscalls.pivot_root(".", ".")
    _umount(".", MNT_DETACH)
    os.chdir("/")
    if plan.hostname:
        syscalls.sethostname(plan.hostname)
    for path in plan.masked_paths:
        if os.path.isdir(path):
            Mount("tmpfs", "tmpfs", ("ro",)).mount(path)
        elif os.path.exists(path):
            Mount("bind", "/dev/null", ()).mount(path)
    for path in plan.readonly_paths:
        if os.path.exists(path):
            Mount("rbind", path, ("ro", "nosuid", "nodev", "noexec")).mount(path)
    if plan.readonly_root:
        _sys_mount("/", MS_BIND | MS_REMOUNT | MS_RDONLY)


def _sys_mount(target: str, flags: int) -> None:
    """mount(NULL, target, NULL, flags, NULL): propagation changes and remounts."""
    if _libc_mount(None, target.encode(), None, flags, None) != 0:
        raise syscalls.error_from_errno(ctypes.get_errno(), f"mount {target!r} ({flags:#x})")


def _umount(path: str, flags: int) -> None:
    if _libc_umount2(path.encode(), flags) != 0:
        raise syscalls.error_from_errno(ctypes.get_errno(), f"umount {path!r}")


def _find_executable(process: ProcessPlan) -> str:
    """The path execve should run, checked the way a shell would (for 127 vs 126)."""
    name = process.args[0]
    if "/" in name:
        candidates = [name]
    else:
        path = next((e[5:] for e in process.env if e.startswith("PATH=")), _DEFAULT_PATH)
        candidates = [os.path.join(d or ".", name) for d in path.split(":")]
    for candidate in candidates:
        if os.path.exists(candidate):
            if os.path.isdir(candidate) or not os.access(candidate, os.X_OK):
                raise PermissionDenied(f'process.args[0] "{name}": {candidate} is not executable')
            return candidate
    raise NotFound(f'process.args[0] "{name}": executable file not found in $PATH')


def _become(process: ProcessPlan) -> str:
    for kind, soft, hard in process.rlimits:
        resource.setrlimit(kind, (soft, hard))
    try:
        os.chdir(process.cwd)
    except FileNotFoundError:
        raise NotFound(f"process.cwd {process.cwd!r}: no such directory") from None
    if process.umask is not None:
        os.umask(process.umask)
    os.setgroups(list(process.additional_gids))
    os.setgid(process.gid)
    os.setuid(process.uid)
    exe = _find_executable(process)
    if process.no_new_privileges:
        syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
    return exe


def _execve(fds: ChildFds, exe: str, process: ProcessPlan) -> NoReturn:
    _report(fds.report, {"ready": True})
    if not os.read(fds.start, 1):
        os._exit(1)  # the monitor went away before start: nothing to run for
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    try:
        os.execve(exe, list(process.args), dict(e.split("=", 1) for e in process.env))
    except OSError as exc:
        kind = PermissionDenied if exc.errno in (13, 8) else NotFound
        _fail(fds, kind(f'process.args[0] "{process.args[0]}": exec failed: {exc.strerror}'))


def child_main(plan: ContainerPlan, fds: ChildFds) -> NoReturn:
    """Set up pid 1 of a new container and execve once started (never returns)."""
    try:
        _stdio(fds)
        _rootfs(plan, fds)
        exe = _become(plan.process)
    except BaseException as exc:
        _fail(fds, exc)
    _execve(fds, exe, plan.process)


def exec_child_main(process: ProcessPlan, fds: ChildFds) -> NoReturn:
    """Enter a running container (fds.namespaces, cgroups) and execve (never returns)."""
    try:
        _stdio(fds)
        exe = _become(process)
    except BaseException as exc:
        _fail(fds, exc)
    _execve(fds, exe, process)
