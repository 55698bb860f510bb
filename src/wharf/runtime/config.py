"""Spec -> Plan: everything the clone child needs, resolved and validated in the parent.

:func:`plan_container` is pure apart from a few ``stat`` calls that check what the spec
names exists (the rootfs, namespace paths). The :class:`Plan` it returns holds only
plain values (flags, paths, numbers), so the child does no parsing and no lookups: it
walks the plan in order (see :mod:`wharf.runtime.init`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from wharf.errors import InvalidArgument, NotFound, Unimplemented
from wharf.mount import (
    MS_BIND,
    MS_PRIVATE,
    MS_REC,
    MS_SHARED,
    MS_SLAVE,
    Mount,
    parse_options,
)
from wharf.runtime import syscalls
from wharf.runtime.spec import Capabilities, Hooks, IDMapping, Process, Spec, SpecMount

__all__ = [
    "DEFAULT_DEVICES",
    "DEFAULT_PATH",
    "DEV_SYMLINKS",
    "DEV_SYMLINK_PATHS",
    "DeviceNode",
    "MountStep",
    "Plan",
    "ProcessPlan",
    "plan_container",
    "plan_exec",
    "plan_process",
]

DEFAULT_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# (target, link path) of the symlinks every container's /dev gets (runc's set).
DEV_SYMLINKS: Final = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)
DEV_SYMLINK_PATHS: Final = tuple(link for _, link in DEV_SYMLINKS)


@dataclass(frozen=True)
class DeviceNode:
    """A device node to make in the container's ``/dev`` (``kind`` is ``c``, ``b`` or ``p``)."""

    path: str
    kind: str
    major: int
    minor: int
    mode: int = 0o666
    uid: int = 0
    gid: int = 0


# What runc puts in every container's /dev.
DEFAULT_DEVICES: Final = (
    DeviceNode("/dev/null", "c", 1, 3),
    DeviceNode("/dev/zero", "c", 1, 5),
    DeviceNode("/dev/full", "c", 1, 7),
    DeviceNode("/dev/random", "c", 1, 8),
    DeviceNode("/dev/urandom", "c", 1, 9),
    DeviceNode("/dev/tty", "c", 5, 0),
)

_PROPAGATION_FLAGS: Final[dict[str, int]] = {
    "": MS_PRIVATE | MS_REC,
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
}

# sysctl prefix -> the namespace that must be the container's own for it to be safe.
_IPC_SYSCTLS: Final = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)


@dataclass(frozen=True)
class MountStep:
    """One mount made inside the rootfs before pivot_root.

    Attributes:
        target: absolute path inside the container.
        fstype: filesystem type; empty for a bind mount.
        source: a host path for bind mounts, else the filesystem's source name.
        flags: MS_* flags (MS_BIND, MS_REC, MS_RDONLY ...).
        propagation: MS_SHARED/MS_SLAVE/MS_PRIVATE/... applied after the mount, or 0.
        data: the filesystem's option string.
        cgroup: a ``cgroup`` mount: a tmpfs with the container's cgroup of every hierarchy
            bound read-only below it.
    """

    target: str
    fstype: str
    source: str
    flags: int
    propagation: int = 0
    data: str = ""
    cgroup: bool = False

    @property
    def bind(self) -> bool:
        return bool(self.flags & MS_BIND)


@dataclass(frozen=True)
class ProcessPlan:
    """The process to execve and the credentials and limits it gets.

    Attributes:
        rlimits: (resource number, soft, hard).
        path: the ``PATH`` used to find ``args[0]`` (the process's own, else the default).
    """

    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    umask: int | None
    rlimits: tuple[tuple[int, int, int], ...]
    no_new_privileges: bool
    oom_score_adj: int | None
    terminal: bool
    console_size: tuple[int, int] | None
    capabilities: Capabilities | None
    path: str


@dataclass(frozen=True)
class Plan:
    """A container, ready for :func:`wharf.runtime.init.child_main`.

    Attributes:
        rootfs: host path of the root filesystem (the bundle's directory, or the target the
            ``rootfs_mounts`` are mounted on inside the container's mount namespace).
        rootfs_mounts: the engine's rootfs Mounts (an overlay); empty for a bundle rootfs.
        clone_flags: CLONE_NEW* flags for the raw clone (never CLONE_NEWCGROUP: the cgroup
            namespace is unshared after the child joined its cgroups, so its root is the
            container's cgroup).
        unshare_cgroup: unshare a new cgroup namespace after joining the cgroups.
        joins: (CLONE_NEW* flag, path) of namespaces joined by path, pid excepted.
        join_pid: path of a pid namespace to join (done by the launcher around clone).
        uid_map, gid_map: the text written to ``/proc/PID/{uid,gid}_map`` (new userns only).
        root_propagation: the propagation set on ``/`` first (MS_SLAVE|MS_REC by default).
        sysctls: (path under /proc/sys, value).
        fresh_dev: ``/dev`` is a tmpfs that :attr:`mounts` make and no later mount covers or
            replaces a device node or ``/dev`` symlink: the child makes the nodes whose
            parent is ``/dev`` straight in it, with no lookups (runc's common layout).
        cgroup2_host: the host's ``/sys/fs/cgroup`` is a pure cgroup v2 hierarchy (only
            read for ``cgroup`` mounts).
    """

    container_id: str
    bundle: str
    rootfs: str
    rootfs_mounts: tuple[Mount, ...]
    readonly_root: bool
    clone_flags: int
    unshare_cgroup: bool
    joins: tuple[tuple[int, str], ...]
    join_pid: str
    uid_map: str
    gid_map: str
    root_propagation: int
    mounts: tuple[MountStep, ...]
    devices: tuple[DeviceNode, ...]
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]
    hostname: str | None
    domainname: str | None
    sysctls: tuple[tuple[str, str], ...]
    process: ProcessPlan
    hooks: Hooks
    cgroups_path: str
    resources: Mapping[str, Any] | None
    seccomp: Mapping[str, Any] | None
    annotations: Mapping[str, str]
    fresh_dev: bool = False
    cgroup2_host: bool = False

    @property
    def user_namespace(self) -> bool:
        """The container gets a new user namespace (root inside is unprivileged outside)."""
        return bool(self.clone_flags & syscalls.CLONE_NEWUSER)


def _id_map(mappings: Sequence[IDMapping]) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)


def plan_process(process: Process) -> ProcessPlan:
    """The part of the plan that ``exec`` shares with ``create``."""
    path = next((e[5:] for e in process.env if e.startswith("PATH=")), DEFAULT_PATH)
    return ProcessPlan(
        args=process.args,
        env=process.env,
        cwd=process.cwd,
        uid=process.user.uid,
        gid=process.user.gid,
        additional_gids=process.user.additional_gids,
        umask=process.user.umask,
        rlimits=tuple((r.resource, r.soft, r.hard) for r in process.rlimits),
        no_new_privileges=process.no_new_privileges,
        oom_score_adj=process.oom_score_adj,
        terminal=process.terminal,
        console_size=process.console_size,
        capabilities=process.capabilities,
        path=path,
    )


def _plan_mount(index: int, m: SpecMount, bundle: str) -> MountStep:
    flags, propagation, data = parse_options(m.options)
    where = f"mounts[{index}]"
    if m.is_bind:
        flags |= MS_BIND | (MS_REC if m.type == "rbind" or "rbind" in m.options else 0)
        if not m.source:
            raise InvalidArgument(f"{where}.source: a bind mount needs a source path")
        source = m.source if m.source.startswith("/") else os.path.join(bundle, m.source)
        if not os.path.exists(source):
            raise NotFound(f"{where}.source: {source!r} does not exist (bind to {m.destination})")
        return MountStep(m.destination, "", source, flags, propagation, data)
    if not m.type:
        raise InvalidArgument(f"{where}.type: is required unless the mount is a bind mount")
    if m.type == "cgroup":
        return MountStep(m.destination, "tmpfs", "tmpfs", flags, propagation, "mode=755", True)
    return MountStep(m.destination, m.type, m.source or m.type, flags, propagation, data)


def _check_sysctl(name: str, spec: Spec) -> None:
    def own(ns: str) -> bool:
        entry = spec.linux.namespace(ns)
        return entry is not None and not entry.path

    if name in _IPC_SYSCTLS or name.startswith("fs.mqueue."):
        if not own("ipc"):
            raise InvalidArgument(f"linux.sysctl.{name}: needs a new ipc namespace")
    elif name.startswith("net."):
        if spec.linux.namespace("network") is None:
            raise InvalidArgument(f"linux.sysctl.{name}: needs a network namespace")
    elif name in ("kernel.hostname", "kernel.domainname"):
        if not own("uts"):
            raise InvalidArgument(f"linux.sysctl.{name}: needs a new uts namespace")
    else:
        raise InvalidArgument(
            f"linux.sysctl.{name}: not namespaced, a container may not set it on the host"
        )


def _fresh_dev(mounts: Sequence[MountStep], devices: Sequence[DeviceNode]) -> bool:
    """Whether the last mount on ``/dev`` (or ``/``) is a tmpfs on ``/dev`` and no mount
    targets a device node or a ``/dev`` symlink path (see :attr:`Plan.fresh_dev`)."""
    fresh = False
    reserved = {d.path for d in devices} | set(DEV_SYMLINK_PATHS)
    for step in mounts:
        target = os.path.normpath(step.target)
        if target in ("/", "/dev"):
            fresh = target == "/dev" and step.fstype == "tmpfs" and not step.bind
        elif target in reserved:
            return False
    return fresh


def plan_container(
    spec: Spec,
    *,
    container_id: str,
    bundle: str,
    rootfs: Sequence[Mount] = (),
) -> Plan:
    """Resolve and validate ``spec`` into a :class:`Plan`.

    Args:
        spec: the validated config.json.
        container_id: the container's id (for messages and the state).
        bundle: absolute path of the bundle directory (relative ``root.path`` and bind
            sources are resolved against it).
        rootfs: the engine's rootfs mounts (an overlay from the snapshotter), mounted by
            the child on ``root.path`` inside its own mount namespace; empty when the
            bundle's ``root.path`` directory is the rootfs.

    Raises:
        InvalidArgument: the spec asks for something impossible; the message names the field.
        NotFound: the rootfs, a bind source or a namespace path does not exist.
        Unimplemented: a combination this runtime does not support.
    """
    if not os.path.isabs(bundle):
        raise InvalidArgument(f"bundle {bundle!r}: must be an absolute path")
    if spec.process is None:
        raise InvalidArgument("process: is required to create a container")
    if spec.root is None:
        raise InvalidArgument("root: is required (root.path names the rootfs directory)")
    root = os.path.normpath(os.path.join(bundle, spec.root.path))
    if not os.path.isdir(root):
        raise NotFound(f"root.path: rootfs {root!r} is not a directory")

    flags = 0
    joins: list[tuple[int, str]] = []
    join_pid = ""
    unshare_cgroup = False
    for i, ns in enumerate(spec.linux.namespaces):
        flag = syscalls.NAMESPACE_FLAGS[ns.type]
        if ns.path:
            if not os.path.exists(ns.path):
                raise NotFound(f"linux.namespaces[{i}].path: {ns.path!r} does not exist")
            if ns.type == "pid":
                join_pid = ns.path
            else:
                joins.append((flag, ns.path))
        elif ns.type == "cgroup":
            unshare_cgroup = True
        else:
            flags |= flag
    if not flags & syscalls.CLONE_NEWNS:
        raise InvalidArgument("linux.namespaces: a new mount namespace is required")
    userns = spec.linux.namespace("user")
    if userns is not None:
        if joins or join_pid:
            raise Unimplemented(
                "linux.namespaces: joining namespaces by path together with a user namespace"
            )
        if userns.path:
            raise Unimplemented("linux.namespaces: joining a user namespace by path")
        if not spec.linux.uid_mappings or not spec.linux.gid_mappings:
            raise InvalidArgument(
                "linux.uidMappings: a new user namespace needs uidMappings and gidMappings"
            )
    for name in spec.linux.sysctl:
        _check_sysctl(name, spec)

    mounts = tuple(_plan_mount(i, m, bundle) for i, m in enumerate(spec.mounts))
    devices = DEFAULT_DEVICES + tuple(
        DeviceNode(
            d.path, "c" if d.type == "u" else d.type, d.major, d.minor, d.file_mode, d.uid, d.gid
        )
        for d in spec.linux.devices
    )
    uts = spec.linux.namespace("uts") is not None
    cgroup_mount = any(step.cgroup for step in mounts)
    return Plan(
        container_id=container_id,
        bundle=bundle,
        rootfs=root,
        rootfs_mounts=tuple(rootfs),
        readonly_root=spec.root.readonly,
        clone_flags=flags,
        unshare_cgroup=unshare_cgroup,
        joins=tuple(joins),
        join_pid=join_pid,
        uid_map=_id_map(spec.linux.uid_mappings),
        gid_map=_id_map(spec.linux.gid_mappings),
        root_propagation=_PROPAGATION_FLAGS[spec.linux.rootfs_propagation],
        mounts=mounts,
        devices=devices,
        masked_paths=spec.linux.masked_paths,
        readonly_paths=spec.linux.readonly_paths,
        hostname=spec.hostname if uts and spec.hostname else None,
        domainname=spec.domainname if uts and spec.domainname else None,
        sysctls=tuple(
            ("/proc/sys/" + name.replace(".", "/"), value)
            for name, value in spec.linux.sysctl.items()
        ),
        process=plan_process(spec.process),
        hooks=spec.hooks,
        cgroups_path=spec.linux.cgroups_path,
        resources=spec.linux.resources,
        seccomp=spec.linux.seccomp,
        annotations=spec.annotations,
        fresh_dev=not flags & syscalls.CLONE_NEWUSER and _fresh_dev(mounts, devices),
        cgroup2_host=cgroup_mount and os.path.exists("/sys/fs/cgroup/cgroup.controllers"),
    )


# Join order for exec: the user namespace first (it grants the rights for the others),
# the mount namespace last (it changes the root the other paths are resolved in).
_EXEC_NAMESPACES: Final = (
    ("user", syscalls.CLONE_NEWUSER),
    ("ipc", syscalls.CLONE_NEWIPC),
    ("uts", syscalls.CLONE_NEWUTS),
    ("net", syscalls.CLONE_NEWNET),
    ("pid", syscalls.CLONE_NEWPID),
    ("cgroup", syscalls.CLONE_NEWCGROUP),
    ("mnt", syscalls.CLONE_NEWNS),
)


def plan_exec(pid: int, *, container_id: str) -> tuple[tuple[int, str], ...]:
    """The namespaces of process ``pid`` that differ from ours, in join order, as
    (CLONE_NEW* flag, ``/proc/PID/ns/*`` path) for :func:`wharf.runtime.init.exec_child_main`.

    Raises:
        NotFound: the container's process is gone.
    """
    out = []
    for name, flag in _EXEC_NAMESPACES:
        theirs = f"/proc/{pid}/ns/{name}"
        try:
            if os.stat(theirs).st_ino != os.stat(f"/proc/self/ns/{name}").st_ino:
                out.append((flag, theirs))
        except FileNotFoundError:
            raise NotFound(f"container {container_id}: process {pid} is not running") from None
    return tuple(out)
