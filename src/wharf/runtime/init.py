"""The container's first process: set-up in the clone child, then execve.

:func:`child_main` runs in the child that ``syscalls.clone(plan.clone_flags)`` returned 0
in; it is pid 1 of the new pid namespace. The steps, in the order the kernel requires:

 1. stdio onto 0/1/2; parent-death signal; umask 0.
 2. (new user namespace) wait for the parent to write the uid/gid maps; become root in it.
 3. join namespaces by path (setns); join the cgroups by writing ``0`` to the pre-opened
    v1 ``tasks`` fds; then unshare the cgroup namespace, so its root is our cgroup. With
    ``cgroups_later`` (the monitor makes the cgroups while we start) the fds
    come over the sync channel and this step runs inside 4, before the first ``cgroup``
    mount.
 4. rootfs: propagation, rootfs, spec mounts, /dev, console pty (:mod:`.rootfs`).
 5. hooks point (prestart/createRuntime in the parent, createContainer here).
 6. pivot_root; sysctls; masked/read-only paths; read-only root; hostname; oom_score_adj.
 7. rlimits; user (groups, gid, uid with keep-caps); capabilities; umask; cwd; find
    ``args[0]`` (not found / not executable are reported as distinct kinds).
 8. report ready; wait for start (the start fifo or a ``START`` message).
 9. startContainer hooks; no_new_privs; seccomp (last: it may forbid what came before);
    default signal dispositions; close every other fd; execve.

With ``start_exec`` (no start fifo, no startContainer hooks), 8 and 9 change places: once
ready, the child does 9 at once but execs :data:`START_EXEC`, a static helper of a few
pages (``start_exec.c``, built by ``scripts/setup``), which waits for ``START`` and then
execs the process. The kernel frees this interpreter's address space (~1.5 ms) while the
engine is still answering ``create`` and sending ``start``, instead of after (a pool
slot's pid 1 leaves it to its holder, which frees it: see ``_monitor_slot``).

Any failure before 8 is reported over the sync channel with the step, errno and message
(:func:`wharf.runtime.sync.error_from_failure` turns it into an error kind) and the child
exits; the container's namespaces and mounts die with it. The child uses only ``os``,
pre-resolved ctypes functions and already-imported modules: no imports, no logging.

:func:`exec_child_main` is the ``exec`` equivalent: it joins every namespace and the
cgroups of a running container, forks once with ``CLONE_PARENT`` so the new process is in
the container's pid namespace, and that process sets up the user and execs.
"""

from __future__ import annotations

import fcntl
import gc
import os
import resource
import select
import signal
import socket
import stat
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NoReturn, Protocol

from wharf.runtime import rootfs, syscalls
from wharf.runtime.config import Plan, ProcessPlan
from wharf.runtime.hooks import run_hooks
from wharf.runtime.sync import CGROUPS, HOOKS, MAPPED, PID, READY, START, SyncChannel

__all__ = [
    "START_EXEC",
    "START_EXEC_SYSCALLS",
    "CapabilityApplier",
    "ChildHandles",
    "FilterLoader",
    "child_main",
    "exec_child_main",
]

START_EXEC: Final = os.path.join(os.path.dirname(__file__), "wharf-start-exec")
# The system calls START_EXEC makes: a seccomp filter loaded before it runs must allow them.
START_EXEC_SYSCALLS: Final = ("ppoll", "read", "close", "execve", "execveat", "write", "exit_group")

_PR_SET_PDEATHSIG: Final = 1
_PR_SET_NO_NEW_PRIVS: Final = 38
_TIOCSCTTY: Final = 0x540E
_TIOCSWINSZ: Final = 0x5414
_RLIM_INFINITY_FROM: Final = 2**63
_MAX_ARG_STRLEN: Final = 32 * 4096  # the kernel's, in bytes (32 pages of 4 KiB)
_SMALL_EXEC: Final = 256 << 10
# Every signal whose disposition the child resets before execve (not SIGKILL/SIGSTOP);
# listed once here: signal.valid_signals() costs ~0.15 ms per call.
_RESETTABLE_SIGNALS: Final = tuple(
    int(sig) for sig in signal.valid_signals() if sig not in (signal.SIGKILL, signal.SIGSTOP)
)


class CapabilityApplier(Protocol):
    """Prepared capability sets (``wharf.runtime.capabilities.PreparedCapabilities``):
    drops the bounding set, switches to the user keeping capabilities, sets the rest."""

    def apply(self, *, uid: int, gid: int, additional_gids: Sequence[int]) -> None: ...


class FilterLoader(Protocol):
    """A seccomp filter compiled in the parent (``wharf.runtime.seccomp``), loaded in the child."""

    def load(self) -> None: ...


@dataclass(frozen=True)
class ChildHandles:
    """Open resources the parent prepared for the child (the plan holds only values).

    Attributes:
        cgroup_fds: pre-opened v1 ``tasks`` files; the child writes ``0`` to each and closes.
        console_socket: a connected unix socket; with ``process.terminal`` the child sends
            the pty master over it (runc's ``--console-socket`` protocol).
        start_fifo: a fifo opened O_RDWR; the child blocks reading one byte from it after
            set-up (``create``/``start`` across processes). -1: wait for ``START`` on sync.
        start_line: (a pooled pid 1) the engine's line: ``START`` may come on it, straight
            from the engine, as well as on sync. -1: none.
        stdio: fds to put on 0, 1, 2 (the monitor's pipes); None keeps the inherited ones.
        seccomp: the compiled filter to load last, or None.
        capabilities: the sets to apply after the user switch, or None to keep root's.
        preserve_fds: how many fds after stdio (3, 4, ...) the process keeps (runc's
            ``--preserve-fds``, systemd socket activation); every other fd is closed.
        cgroups_later: ``cgroup_fds`` come later, over the sync channel (``C``), once
            the parent has made the cgroups: the child joins them just before its first
            ``cgroup`` mount (or after its mounts), so both work at once.
        start_exec: wait for the start in :data:`START_EXEC` (when it is built and
            ``START`` comes on sync): the caller has checked that the seccomp filter, if
            any, allows :data:`START_EXEC_SYSCALLS`.
    """

    cgroup_fds: tuple[int, ...] = ()
    console_socket: int = -1
    start_fifo: int = -1
    start_line: int = -1
    stdio: tuple[int, int, int] | None = None
    seccomp: FilterLoader | None = None
    capabilities: CapabilityApplier | None = None
    preserve_fds: int = 0
    cgroups_later: bool = False
    start_exec: bool = False


class _Failure(Exception):
    def __init__(self, kind: str, err: int, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.err = err


def _install_stdio(stdio: tuple[int, int, int] | None) -> None:
    """Put ``stdio`` on 0, 1, 2; through fresh copies, so (1, 0, 2) cannot clobber itself."""
    if stdio is None:
        return
    copies = [os.dup(fd) for fd in stdio]
    for target, fd in enumerate(copies):
        os.dup2(fd, target)
        os.close(fd)


def _write_file(path: str, data: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def _own_cgroups() -> list[tuple[str, str]]:
    """(hierarchy directory under /sys/fs/cgroup, path) from /proc/self/cgroup."""
    fd = os.open("/proc/self/cgroup", os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    out = []
    for line in b"".join(chunks).decode().splitlines():
        _, controllers, path = line.split(":", 2)
        name = controllers.removeprefix("name=") if controllers else "unified"
        out.append((name, path))
    return out


def _join_cgroups(plan: Plan, fds: tuple[int, ...]) -> list[tuple[str, str]]:
    """Write ``0`` to each pre-opened v1 ``tasks`` fd (and close it); then the cgroup
    namespace, whose root is our cgroup. Returns our cgroups for a v1 ``cgroup`` mount
    (read only when the plan has one)."""
    for fd in fds:
        os.write(fd, b"0")
        os.close(fd)
    cgroups = []
    if not plan.cgroup2_host and any(step.cgroup for step in plan.mounts):
        cgroups = _own_cgroups()
    if plan.unshare_cgroup:
        syscalls.unshare(syscalls.CLONE_NEWCGROUP)
    return cgroups


def _find_executable(args0: str, path_env: str) -> str:
    candidates = [args0] if "/" in args0 else [f"{d}/{args0}" for d in path_env.split(":") if d]
    denied = ""
    for candidate in candidates:
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and os.access(candidate, os.X_OK):
            return candidate
        denied = denied or candidate
    if denied:
        raise _Failure("exec-denied", 13, f"exec {args0!r}: {denied} is not executable")
    where = "" if "/" in args0 else f" in $PATH ({path_env})"
    raise _Failure("exec-not-found", 2, f"exec {args0!r}: executable file not found{where}")


def _home(uid: int) -> str:
    """The user's home from the container's /etc/passwd, "/" if none (runc's rule)."""
    try:
        with open("/etc/passwd") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) > 5 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def _setup_process(process: ProcessPlan, handles: ChildHandles) -> tuple[str, dict[str, str]]:
    """rlimits, user, capabilities, umask, cwd, signal dispositions; returns the resolved
    executable path and the environment (the start leaves syscalls only to do)."""
    for res, soft, hard in process.rlimits:
        resource.setrlimit(
            res,
            (
                resource.RLIM_INFINITY if soft >= _RLIM_INFINITY_FROM else soft,
                resource.RLIM_INFINITY if hard >= _RLIM_INFINITY_FROM else hard,
            ),
        )
    if handles.seccomp is not None and not process.no_new_privileges:
        # Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it while we
        # still have it (runc's order). The rest of the set-up is allowed by any sane
        # profile (set*id, capset, prctl, read, execve).
        handles.seccomp.load()
    if handles.capabilities is not None:
        handles.capabilities.apply(
            uid=process.uid, gid=process.gid, additional_gids=process.additional_gids
        )
    else:
        os.setgroups(list(process.additional_gids))
        os.setresgid(process.gid, process.gid, process.gid)
        os.setresuid(process.uid, process.uid, process.uid)
    os.umask(0o022 if process.umask is None else process.umask)
    try:
        os.chdir(process.cwd)
    except OSError as exc:
        raise _Failure(
            "errno", exc.errno or 0, f"process.cwd {process.cwd!r}: {exc.strerror}"
        ) from None
    path = _find_executable(process.args[0], process.path)
    env = dict(e.split("=", 1) for e in process.env)
    if "HOME" not in env:
        env["HOME"] = _home(process.uid)
    getsignal, default = signal.getsignal, signal.SIG_DFL
    for sig in _RESETTABLE_SIGNALS:
        if getsignal(sig) not in (default, None):
            signal.signal(sig, default)
    return path, env


def _reset_and_exec(
    path: str, env: dict[str, str], process: ProcessPlan, handles: ChildHandles
) -> NoReturn:
    """The last steps before execve; failures here go to stderr as exit 127/126."""
    if process.no_new_privileges:
        syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        if handles.seccomp is not None:
            handles.seccomp.load()
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    os.closerange(3 + handles.preserve_fds, 1 << 20)
    try:
        syscalls.execve(path, list(process.args), env)
    except OSError as exc:
        os.write(2, f"exec {process.args[0]!r}: {exc.strerror}\n".encode())
        syscalls.exit_now(127 if exc.errno == 2 else 126)


def _small_exec(process: ProcessPlan) -> bool:
    """Whether the process's arguments and environment are well within what execve
    takes (E2BIG: one string of 128 KiB, or all of them over a quarter of the stack
    limit): only then is the exec of :data:`START_EXEC` with them sure to succeed where
    the process's would. Else pid 1 waits in Python, and an exec that fails does so at
    the start, as with runc."""
    total = 0
    for s in (*process.args, *process.env):
        n = len(s.encode(errors="surrogateescape"))
        if n >= _MAX_ARG_STRLEN:
            return False
        total += n + 1
    return total < _SMALL_EXEC


def _open_start_exec() -> int:
    """An O_PATH fd of :data:`START_EXEC` (opened before pivot_root, executed by fd
    after it), or -1 when it is not built or cannot be executed from where it is."""
    try:
        fd = os.open(START_EXEC, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return -1
    if os.fstatvfs(fd).f_flag & os.ST_NOEXEC:
        os.close(fd)
        return -1
    return fd


def _exec_start_exec(
    binary: int,
    sync: SyncChannel,
    *,
    process: ProcessPlan,
    path: str,
    env: dict[str, str],
    handles: ChildHandles,
) -> NoReturn:
    """Step 9 (but startContainer hooks), then exec :data:`START_EXEC` (``binary``) to
    wait for ``START`` on sync or the start line and execve ``path`` (``start_exec.c``)."""
    line = handles.start_line
    # sync, the binary and the line go right after the fds the process keeps (the binary
    # close-on-exec); every other fd is closed. Before seccomp: a filter is only checked
    # for what START_EXEC calls (and what _reset_and_exec calls after loading it).
    low = 3 + handles.preserve_fds
    fds = [sync.fd, binary] + ([line] if line >= 0 else [])
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, low + len(fds)) for fd in fds]
    for i, fd in enumerate(high):
        os.dup2(fd, low + i, inheritable=i != 1)
    os.closerange(low + len(fds), 1 << 20)
    if process.no_new_privileges:
        syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        if handles.seccomp is not None:
            handles.seccomp.load()
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    args = [START_EXEC, str(low), str(low + 2) if line >= 0 else "-1", path, *process.args]
    syscalls.execve(low + 1, args, env)


def _terminal(process: ProcessPlan, handles: ChildHandles, root: str | None) -> int:
    """Make a pty (bound on /dev/console when ``root`` is the rootfs path; ``None`` once
    inside the container), hand its master to the console socket; returns the slave fd."""
    if handles.console_socket < 0:
        raise _Failure("errno", 22, "process.terminal: a console socket is needed for a pty")
    master, slave, name = rootfs.open_pty(root or "")
    if root is not None:
        rootfs.bind_console(root, name)
    if process.console_size is not None:
        rows, cols = process.console_size
        fcntl.ioctl(slave, _TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    sock = socket.socket(fileno=os.dup(handles.console_socket))
    try:
        socket.send_fds(sock, [name.encode()], [master])
    finally:
        sock.close()
        os.close(master)
        os.close(handles.console_socket)
    return slave


def _become_session_leader(slave: int) -> None:
    os.setsid()
    fcntl.ioctl(slave, _TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def _wait_start(sync: SyncChannel, line: int) -> bool:
    """Wait for ``START`` from the monitor, or from the engine on ``line``; False when it
    will not come (the monitor's end closed without it).

    The engine sends ``START`` on the line before it tells the monitor, which then closes
    its end: at that EOF the ``START`` is already queued on the line. The line closing
    (the engine that made the container is gone) is no reason to stop: a new engine
    starts it through the monitor."""
    poll = select.poll()
    poll.register(sync.fd, select.POLLIN)
    if line >= 0:
        poll.register(line, select.POLLIN)
    while True:
        if line in {fd for fd, _ in poll.poll()}:
            tag, _ = SyncChannel(line).recv()
            if tag == START:
                return True
            poll.unregister(line)
            line = -1
            continue
        tag, _ = sync.recv()
        return tag == START


def _die(exc: BaseException) -> NoReturn:
    """After ``READY`` nobody listens on the sync channel: say why on stderr and exit.
    Never let an exception climb into the parent's code, which this process shares."""
    try:
        os.write(2, f"container init: {exc or type(exc).__name__}\n".encode())
    finally:
        syscalls.exit_now(1)


def _report(sync: SyncChannel, step: str, exc: BaseException) -> NoReturn:
    if isinstance(exc, _Failure):
        kind, err = exc.kind, exc.err
    else:
        kind, err = "errno", int(getattr(exc, "errno", 0) or 0)
    try:
        sync.fail(step, err, kind, str(exc) or type(exc).__name__)
    finally:
        syscalls.exit_now(1)


def child_main(plan: Plan, sync: SyncChannel, *, handles: ChildHandles) -> NoReturn:
    """Set up the container in the clone child and execve its process; never returns.

    Args:
        plan: from :func:`wharf.runtime.config.plan_container`.
        sync: the child's end of :func:`wharf.runtime.sync.sync_pair`.
        handles: the open resources the parent prepared.
    """
    gc.disable()
    step = "start"
    try:
        _install_stdio(handles.stdio)
        syscalls.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        os.umask(0)
        if plan.user_namespace:
            step = "user namespace"
            tag, _ = sync.recv()
            if tag != MAPPED:
                syscalls.exit_now(1)
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        step = "join namespaces"
        for flag, path in plan.joins:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                syscalls.setns(fd, flag)
            finally:
                os.close(fd)
        if not handles.cgroups_later:
            step = "join cgroups"
            cgroups = _join_cgroups(plan, handles.cgroup_fds)
        step = "rootfs"

        def join_later() -> list[tuple[str, str]]:
            nonlocal step
            step = "join cgroups"
            tag, fds = sync.recv_fds()
            if tag != CGROUPS:
                syscalls.exit_now(1)  # the parent gave up (its error is its to report)
            joined = _join_cgroups(plan, tuple(fds))
            step = "rootfs"
            return joined

        rootfs.prepare_rootfs(plan, join_later if handles.cgroups_later else lambda: cgroups)
        slave = -1
        if plan.process.terminal:
            step = "console"
            slave = _terminal(plan.process, handles, plan.rootfs)
        state = b""
        hooks = plan.hooks
        if (
            hooks.prestart
            or hooks.create_runtime
            or hooks.create_container
            or hooks.start_container
        ):
            step = "hooks"
            sync.send(HOOKS)
            tag, state = sync.recv()
            if not tag:
                syscalls.exit_now(1)
            run_hooks(hooks.create_container, state, point="createContainer")
        step = "pivot_root"
        start_exec = (
            _open_start_exec()
            if handles.start_exec
            and handles.start_fifo < 0
            and not hooks.start_container
            and _small_exec(plan.process)
            else -1
        )
        rootfs.pivot_into(plan.rootfs)
        step = "sysctl"
        for path, value in plan.sysctls:
            _write_file(path, value)
        step = "masked and read-only paths"
        rootfs.finalize_rootfs(plan)
        step = "hostname"
        if plan.hostname is not None:
            syscalls.sethostname(plan.hostname)
        if plan.domainname is not None:
            syscalls.setdomainname(plan.domainname)
        if plan.process.oom_score_adj is not None:
            step = "oom_score_adj"
            _write_file("/proc/self/oom_score_adj", str(plan.process.oom_score_adj))
        if slave >= 0:
            _become_session_leader(slave)
        step = "process"
        executable, env = _setup_process(plan.process, handles)
        syscalls.prctl(_PR_SET_PDEATHSIG, 0)
        step = "ready"
        sync.send(READY)
    except BaseException as exc:
        _report(sync, step, exc)
    try:
        if start_exec >= 0:
            _exec_start_exec(
                start_exec, sync, process=plan.process, path=executable, env=env, handles=handles
            )
        if handles.start_fifo >= 0:
            started = os.read(handles.start_fifo, 1) != b""
        else:
            started = _wait_start(sync, handles.start_line)
        if not started:
            syscalls.exit_now(1)
        sync.close()
        run_hooks(hooks.start_container, state, point="startContainer")
        _reset_and_exec(executable, env, plan.process, handles)
    except BaseException as exc:
        _die(exc)


def exec_child_main(
    process: ProcessPlan,
    namespaces: tuple[tuple[int, str], ...],
    sync: SyncChannel,
    *,
    handles: ChildHandles,
) -> NoReturn:
    """Enter a running container and execve ``process`` there; never returns.

    Runs in a plain clone child of the caller (no new namespaces). It joins
    ``namespaces`` ((CLONE_NEW* flag, ``/proc/PID/ns/*`` path), user first and mount
    last, as :func:`wharf.runtime.config.plan_exec` orders them) and the cgroups, then
    clones again with ``CLONE_PARENT``: the new process is the caller's child, inside the
    container's pid namespace. It sends ``P<pid>`` (its host pid) and exits; the new
    process sets up the user, terminal and limits, sends ``R`` (or ``E``) and execs at once.
    """
    gc.disable()
    step = "join namespaces"
    try:
        _install_stdio(handles.stdio)
        fds = [(os.open(path, os.O_RDONLY | os.O_CLOEXEC), flag) for flag, path in namespaces]
        for fd, flag in fds:
            syscalls.setns(fd, flag)
            os.close(fd)
        step = "join cgroups"
        for fd in handles.cgroup_fds:
            os.write(fd, b"0")
            os.close(fd)
        step = "clone"
        pid = syscalls.clone(syscalls.CLONE_PARENT)
    except BaseException as exc:
        _report(sync, step, exc)
    if pid:
        sync.send(PID, str(pid).encode())
        syscalls.exit_now(0)
    try:
        slave = -1
        if process.terminal:
            step = "console"
            slave = _terminal(process, handles, None)
            _become_session_leader(slave)
        if process.oom_score_adj is not None:
            _write_file("/proc/self/oom_score_adj", str(process.oom_score_adj))
        step = "process"
        executable, env = _setup_process(process, handles)
        sync.send(READY)
        sync.close()
    except BaseException as exc:
        _report(sync, step, exc)
    try:
        _reset_and_exec(executable, env, process, handles)
    except BaseException as exc:
        _die(exc)
