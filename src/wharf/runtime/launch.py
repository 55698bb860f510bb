"""The parent's half of container creation: clone, answer the child, report its errors.

:func:`launch` does one raw ``clone(plan.clone_flags)``; the child runs
:func:`wharf.runtime.init.child_main`, the parent writes the user namespace maps, runs the
runtime hooks when asked and returns once the child is ready (blocked before execve) or
raises the child's error after reaping it: nothing is left behind, since the namespaces
and every mount the child made die with it. The engine's monitor and the
``wharf-runtime`` CLI both call it; both must be single-threaded at that point.

:func:`launch_exec` is the same for ``exec`` into a running container.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wharf.errors import NotFound, WharfError
from wharf.runtime import syscalls
from wharf.runtime.capabilities import CapabilitySets, PreparedCapabilities
from wharf.runtime.cgroups import Cgroup, Resources, lean_controllers, open_cgroup
from wharf.runtime.config import Plan, ProcessPlan
from wharf.runtime.init import START_EXEC_SYSCALLS, ChildHandles, child_main, exec_child_main
from wharf.runtime.sync import (
    CGROUPS,
    FAILED,
    HOOKS,
    HOOKS_DONE,
    MAPPED,
    PID,
    READY,
    SetupFailed,
    SyncChannel,
    error_from_failure,
    sync_pair,
)

if TYPE_CHECKING:
    from wharf.runtime.seccomp import PreparedFilter

__all__ = [
    "Launched",
    "cgroup_join_fds",
    "container_cgroup",
    "launch",
    "launch_exec",
    "prepare_security",
    "start_exec_allowed",
]

_ABORT_WAIT = 10.0  # seconds for a SIGKILLed child that is not ours to reap


@dataclass(frozen=True)
class Launched:
    """A created container: pid 1 (host pid) waiting to be started.

    Attributes:
        pid: host pid of the container's pid 1.
        sync: the parent's end of the sync channel; send ``START`` on it (when no start
            fifo was given), then close it.
    """

    pid: int
    sync: SyncChannel


def prepare_security(
    process: ProcessPlan, seccomp: Mapping[str, Any] | None
) -> tuple[PreparedCapabilities | None, PreparedFilter | None]:
    """Capability sets and the seccomp filter, compiled in the parent for the child.

    Raises:
        InvalidArgument: an unknown capability name or a bad seccomp rule, naming the field.
    """
    caps = None
    if process.capabilities is not None:
        caps = CapabilitySets.from_spec(process.capabilities.to_json()).prepare()
    bpf = None
    if seccomp is not None:
        # Imported on demand: libseccomp and the profile data cost ~10 ms of CLI start-up.
        from wharf.runtime.seccomp import compile_filter, prepare_filter

        flags = seccomp.get("flags") or ()
        bpf = prepare_filter(compile_filter(seccomp), flags=flags)
    return caps, bpf


def start_exec_allowed(seccomp: Mapping[str, Any] | None) -> bool:
    """Whether pid 1 may wait for its start in ``init.START_EXEC``: the seccomp filter,
    loaded before (without no_new_privs it must be), lets the helper's syscalls through."""
    if seccomp is None:
        return True
    from wharf.runtime.seccomp import allows_always

    return allows_always(seccomp, START_EXEC_SYSCALLS)


def container_cgroup(plan: Plan) -> tuple[Cgroup, Resources]:
    """The container's cgroup (not made yet) and the limits to make it with: the plan's
    ``cgroupsPath`` (``/wharf/<id>`` by default), spanning the hierarchies a fast start
    needs (cpu is joined later, by ``update``, if ever needed).

    Raises:
        InvalidArgument: a bad ``linux.resources`` or ``linux.cgroupsPath``, by field.
    """
    resources = Resources.from_spec(plan.resources)
    cgroup = open_cgroup(
        plan.cgroups_path or f"/wharf/{plan.container_id}",
        controllers=lean_controllers(resources),
    )
    return cgroup, resources


def _abort(pid: int, sync: SyncChannel) -> None:
    """SIGKILL ``pid`` and wait until it has died (reaped when it is our child; else,
    cloned with CLONE_PARENT, until its pidfd reports the exit)."""
    try:
        pidfd = syscalls.pidfd_open(pid)
    except WharfError:
        pidfd = -1
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        if pidfd >= 0:
            select.select([pidfd], [], [], _ABORT_WAIT)
    finally:
        if pidfd >= 0:
            os.close(pidfd)
    sync.close()


def _write_maps(pid: int, plan: Plan) -> None:
    for name, text in (("uid_map", plan.uid_map), ("gid_map", plan.gid_map)):
        fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        except OSError as exc:
            raise syscalls.error_from_errno(
                exc.errno or 0,
                f"container {plan.container_id}: linux.{name[:3]}Mappings: cannot write "
                f"{text.strip()!r}",
            ) from None
        finally:
            os.close(fd)


def _clone_in_pid_ns(flags: int, join_pid: str) -> int:
    """clone, inside the pid namespace at ``join_pid`` when given (setns of a pid
    namespace only moves the caller's future children, so the caller steps back after)."""
    if not join_pid:
        return syscalls.clone(flags)
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(join_pid, os.O_RDONLY | os.O_CLOEXEC)
    pid = -1
    try:
        syscalls.setns(target, syscalls.CLONE_NEWPID)
        pid = syscalls.clone(flags)
    finally:
        # Only the parent steps back: the child lives in the joined namespace.
        if pid != 0:
            syscalls.setns(own, syscalls.CLONE_NEWPID)
            os.close(own)
            os.close(target)
    return pid


def launch(
    plan: Plan,
    *,
    handles: ChildHandles,
    on_hooks: Callable[[int], bytes] | None = None,
    cgroup_setup: Callable[[], tuple[int, ...]] | None = None,
) -> Launched:
    """Create the container's pid 1 and wait until its set-up is done.

    Args:
        plan: the container's plan.
        handles: open resources for the child; the caller closes its copies afterwards.
        on_hooks: called with pid 1's host pid when the child reaches the hooks point:
            runs prestart and createRuntime hooks and returns the state JSON that the
            child passes to createContainer/startContainer hooks.
        cgroup_setup: makes the cgroups after the clone, while the child sets up its first
            mounts, and returns the ``tasks`` fds it joins (the caller closes them); with
            it, ``handles.cgroups_later`` must be true.

    Raises:
        ExecutableNotFound, NotExecutable: ``process.args[0]`` (exit 127 / 126).
        WharfError: the kind of whatever failed, the message naming the step.
    """
    parent, child = sync_pair()
    pid = _clone_in_pid_ns(plan.clone_flags, plan.join_pid)
    if pid == 0:
        try:
            parent.close()
            child_main(plan, child, handles=handles)
        finally:
            os._exit(1)  # never return into the caller's code
    child.close()
    try:
        if plan.user_namespace:
            _write_maps(pid, plan)
            parent.send(MAPPED)
        if cgroup_setup is not None:
            parent.send_fds(CGROUPS, list(cgroup_setup()))
        while True:
            tag, payload = parent.recv()
            if tag == READY:
                return Launched(pid, parent)
            if tag == HOOKS:
                parent.send(HOOKS_DONE, on_hooks(pid) if on_hooks is not None else b"{}")
            elif tag == FAILED:
                raise error_from_failure(payload, plan.container_id)
            else:
                raise SetupFailed(f"container {plan.container_id}: init died during set-up")
    except BaseException:
        _abort(pid, parent)
        raise


def cgroup_join_fds(pid: int) -> tuple[int, ...]:
    """Open the v1 ``tasks`` file of each hierarchy ``pid`` is in (for exec to join).

    Raises:
        NotFound: the process is gone.
    """
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise NotFound(f"process {pid}: not running") from None
    fds = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if not controllers:
            continue
        name = controllers.removeprefix("name=")
        with contextlib.suppress(FileNotFoundError):
            fds.append(
                os.open(
                    f"/sys/fs/cgroup/{name}{path.rstrip('/')}/tasks", os.O_WRONLY | os.O_CLOEXEC
                )
            )
    return tuple(fds)


def launch_exec(
    process: ProcessPlan,
    namespaces: tuple[tuple[int, str], ...],
    *,
    container_id: str,
    handles: ChildHandles,
) -> int:
    """Start ``process`` inside a running container; returns its host pid (our child).

    Args:
        process: from :func:`wharf.runtime.config.plan_process`.
        namespaces: from :func:`wharf.runtime.config.plan_exec`.
        container_id: for messages.
        handles: cgroup fds (e.g. :func:`cgroup_join_fds`), console socket, stdio, seccomp,
            capabilities; the caller closes its copies afterwards.

    Raises:
        ExecutableNotFound, NotExecutable: ``process.args[0]`` (exit 127 / 126).
        WharfError: whatever else failed, naming the step.
    """
    parent, child = sync_pair()
    helper = syscalls.clone(0)
    if helper == 0:
        try:
            parent.close()
            exec_child_main(process, namespaces, child, handles=handles)
        finally:
            os._exit(1)  # never return into the caller's code
    child.close()
    # The helper sends P<pid> and exits; the new process sends R or E: in either order.
    pid = 0
    ready = False
    failure: WharfError | None = None
    try:
        while not (pid and (ready or failure)):
            tag, payload = parent.recv()
            if tag == PID:
                pid = int(payload)
            elif tag == READY:
                ready = True
            elif tag == FAILED:
                failure = error_from_failure(payload, container_id)
            else:
                break  # both ends closed: the helper failed before cloning, or crashed
    finally:
        os.waitpid(helper, 0)
    if ready and pid:
        parent.close()
        return pid
    if pid:
        _abort(pid, parent)
    else:
        parent.close()
    raise failure or SetupFailed(f"container {container_id}: exec process died during set-up")
