"""A warm slot of the zygote's pool: an idle monitor M and H, the idle process of its
container's pid 1.

While idle, H (a fork of M's) is already in the namespaces the slot's flags ask for (pid
for its children, uts, ipc, net: whatever the engine's last request needed) and has run a
launch's code paths once, so neither making the namespaces nor the first-touch page faults
of a fresh process are paid by a request. H shares M's (the host's) mount namespace; P
unshares its own once the request is there, so mounts made on the host since the slot was
made (netns files, volumes, overlays) are there, exactly as with a clone made then.

On the request, H clones P, pid 1 of H's new pid namespace and M's child
(``CLONE_PARENT``), in H's own address space (a :class:`~.syscalls.SharedClone` made
while idle), on H's CPU: no page table is copied, and P runs in H's interpreter, warm,
while H waits in the kernel. P's exec then only drops its share of that address space,
and H frees it as it exits, at nice 19: freeing a forked interpreter (~19 MB mapped, ~190
mappings) made pid 1's execve take 1.3-2 ms, between READY and the container's process
running. (H waits for the request in Python, not in the kernel's vfork wait: that wait
counts in the load average.)

H has also made a spare cgroup, ``.wharf-slot-<M's pid>``, in the cgroup parent of the
engine's last request: on cgroup v1 a container's cgroup in that parent is renamed from it
(``rename(2)`` within one parent), not made and set up on the request. M removes what is
left of it once P is past its cgroup step or gone.

The engine has a line to H too (a socketpair the zygote made with the slot): it sends a
native container's request to both, so they handle it at once, and later ``START``
straight to P (then tells M), which spares a request and a start one hop through M each.

H wakes M: an idle M waits for H's word (an eventfd) or H's end, not for the engine's
message. Woken by the engine's two sends at once, the slot's processes raced for the one
idle CPU of a 2-CPU host (the engine was on the other) and stacked there in about half of
the starts: the kernel's wake-up of the first had not landed when it placed the second.
The one who lost waited for the other to block, up to 2 ms, while the engine's CPU went
idle. Woken by H when H runs, M finds H's CPU busy and takes another::

    engine: the request to H (line), then to M --> H: wake M, clone P
    M: parse its slim part, send stdio              P: its pid to M; parse, plan, compile
    M: request file, control/attach listeners       security, make its cgroups
    M: <-- P's pid; state file ("created")    --> P: unshare the mount namespace, join
                                                     the cgroups, mounts, pivot, ... as
                                                     :func:`~.init.child_main`
    M: <---------------------------------------- P: READY, waits for START
    M: answer the engine, serve (:class:`~.monitor._Monitor`)
    engine: START to P (line), then "start" to M   P: execve

M never parses the spec, plans, compiles seccomp or clones on a request: that memory is
H's, freed once P has exec'd, so a long-lived monitor stays near the size of an idle
fork. A request the slot cannot take (an exec, a runc-compatible binary, a user namespace,
a pid namespace joined by path, hooks, other namespace flags) is launched by M itself, as
a monitor forked for it would (:func:`~.monitor.run_monitor`); H is killed. The answer to
the engine carries ``pool``: the namespace flags and cgroup parent the next slot should
be made with (:func:`~.monitor.pool_hint`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import posixpath
import select
import signal
import socket
from dataclasses import dataclass
from typing import Final, NoReturn

from wharf.errors import WharfError
from wharf.runtime import syscalls
from wharf.runtime._engine_request import (
    MAX_REQUEST,
    LaunchRequest,
    error_kind,
    parse_request,
    warm_up,
)
from wharf.runtime._engine_state import REQUEST_FILE, STATE_FILE, process_start_time, write_atomic
from wharf.runtime.cgroups import Cgroup, Resources, lean_controllers, open_cgroup
from wharf.runtime.config import Plan, plan_container
from wharf.runtime.init import ChildHandles, child_main
from wharf.runtime.launch import container_cgroup, prepare_security, start_exec_allowed
from wharf.runtime.monitor import (
    PoolLeftover,
    _detach,
    _last_defence,
    _Monitor,
    background,
    drop_spare,
    pool_hint,
    run_monitor,
    warm_up_monitor,
)
from wharf.runtime.spec import Spec
from wharf.runtime.sync import (
    FAILED,
    MISMATCH,
    PID,
    READY,
    REQUEST,
    STDIO,
    SetupFailed,
    SyncChannel,
    error_from_failure,
    sync_pair,
)

__all__ = ["DEFAULT_FLAGS", "DIRECT", "SPARE_PREFIX", "serve_slot"]

DEFAULT_FLAGS: Final = (
    syscalls.CLONE_NEWPID | syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWIPC | syscalls.CLONE_NEWNET
)
_PR_SET_PDEATHSIG: Final = 1
_NOT_POOLABLE: Final = -1
# P's steps before its cgroups exist: a failure there leaves none of ours to remove (a
# cgroup at that path is someone else's).
_BEFORE_CGROUPS: Final = ("request", "plan", "cgroups")
SPARE_PREFIX: Final = ".wharf-slot-"
# engine -> a slot's monitor: the prefix of a request that its pid 1 got too, on the line
DIRECT: Final = b"P"
_SPARE_LIMITS: Final = Resources.from_spec({"devices": [{"allow": False, "access": "rwm"}]})
_SPARE_CONTROLLERS: Final = lean_controllers(_SPARE_LIMITS)


def _poolable_flags(plan: Plan) -> int:
    """The slot flags that would have taken ``plan`` (its clone flags but the mount
    namespace), or -1 when no slot can (user namespace, pid namespace by path, hooks)."""
    h = plan.hooks
    hooks = (
        h.prestart,
        h.create_runtime,
        h.create_container,
        h.start_container,
        h.poststart,
        h.poststop,
    )
    if plan.user_namespace or plan.join_pid or any(hooks):
        return _NOT_POOLABLE
    return plan.clone_flags & ~syscalls.CLONE_NEWNS


def _pid1(
    sync: SyncChannel,
    line: SyncChannel,
    payload: bytes,
    flags: int,
    spare: Cgroup,
    *,
    cpus: set[int],
) -> NoReturn:
    """P's life, from the request (``payload``, which H took): tell M our pid, plan the
    request, become its pid 1 (on ``cpus``, H's CPUs: H pinned itself to one for us)."""
    syscalls.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # our parent, M, went away
    step = "request"
    try:
        os.sched_setaffinity(0, cpus)
        sync.send(PID, os.readlink("/proc/self").encode())  # our pid, as M sees it
        step = "plan"
        req = LaunchRequest.from_json(json.loads(payload.partition(b"\n")[2]))
        plan = plan_container(
            Spec.from_json(req.spec),
            container_id=req.container_id,
            bundle=req.bundle_dir,
            rootfs=req.rootfs_mounts,
        )
        wanted = _poolable_flags(plan)
        if wanted != flags:
            sync.send(MISMATCH, str(wanted).encode())
            syscalls.exit_now(0)
        caps, bpf = prepare_security(plan.process, plan.seccomp)
        step = "cgroups"
        join = _make_cgroup(plan, spare)
        tag, _, fds = sync.recv_message(16)
        if tag != STDIO:
            syscalls.exit_now(0)  # the monitor is gone (it removes the cgroups)
        step = "mount namespace"
        syscalls.unshare(syscalls.CLONE_NEWNS)
    except WharfError as exc:
        _fail(sync, step, f"wharf:{error_kind(exc)}", exc)
    except BaseException as exc:
        _fail(sync, step, "errno", exc)
    terminal = req.io.terminal
    child_main(
        plan,
        sync,
        handles=ChildHandles(
            cgroup_fds=join,
            console_socket=fds[0] if terminal else -1,
            stdio=None if terminal else (fds[0], fds[1], fds[2]),
            capabilities=caps,
            seccomp=bpf,
            start_line=line.fd,
            start_exec=start_exec_allowed(plan.seccomp),
        ),
    )


def _fail(sync: SyncChannel, step: str, kind: str, exc: BaseException) -> NoReturn:
    try:
        sync.fail(step, int(getattr(exc, "errno", 0) or 0), kind, str(exc) or repr(exc))
    finally:
        syscalls.exit_now(1)


@dataclass
class _Slot:
    """The slot as its monitor holds it: H's pid, P's once it has said it (0 until then),
    our end of the sync channel, the slot's flags and spare cgroup."""

    holder: int
    sync: SyncChannel
    flags: int
    spare: Cgroup
    pid: int = 0

    def release(self) -> None:
        """Let H and P go unused (SIGKILL)."""
        self.sync.close()
        for pid in (self.pid, self.holder):
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def discard(self) -> None:
        """Release H and P, reap them, then remove the spare cgroup H made."""
        self.release()
        for pid in (self.pid, self.holder):
            if pid:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
        drop_spare(self.spare)

    def leftover(self, flags: int | None = None) -> PoolLeftover:
        """For the monitor that serves a request P declined (``flags``: P's wanted ones)."""
        return PoolLeftover(
            self.pid, self.spare, self.flags if flags is None else flags, self.holder
        )


def _fork_holder(line: socket.socket, woken: int, flags: int, spare: Cgroup) -> _Slot:
    """Fork H (:func:`_hold`); ``line`` is H's (we close ours)."""
    mine, theirs = sync_pair()
    holder = syscalls.clone(0)
    if holder == 0:
        try:
            mine.close()
            _hold(theirs, SyncChannel(line.fileno()), woken, flags, spare)
        finally:
            os._exit(0)  # never return into the monitor's code
    theirs.close()
    line.close()
    return _Slot(holder, mine, flags, spare)


def _hold(sync: SyncChannel, line: SyncChannel, woken: int, flags: int, spare: Cgroup) -> None:
    """H's life: enter new namespaces per ``flags`` (the pid one is our children's), warm
    up, make the spare cgroup, wait for the request on the engine's ``line``, wake M (write
    ``woken``), then clone P (:func:`_pid1`) to take it; once P has exec'd (or ended), exit,
    and so free the address space it left us, in a session of our own at nice 19 (with
    autogroup scheduling, the monitor's session would get the CPU as much as the
    engine's). We fork nothing before P: the first child is the pid namespace's init."""
    gc.disable()
    syscalls.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # the slot's monitor went away
    syscalls.unshare(flags)
    warm_up()
    _make_spare(spare)
    clone_p = syscalls.SharedClone()
    background(False)
    tag, payload, _ = line.recv_message(MAX_REQUEST)
    if tag == REQUEST:
        # M and we serve a request now, at nice 0 (M too before it runs: at nice 19 it
        # waited behind P for the CPU we share with it).
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, os.getppid(), 0)
        background(False, session=True)
    os.eventfd_write(woken, 1)  # M reads its part now (it is sent; or the pool closed)
    os.close(woken)
    if tag != REQUEST:
        return  # the engine closed the pool, or gave the request to the monitor
    # P runs on our CPU, which we leave to it: a new task goes to the idlest CPU, and
    # waking an idle one took 0.3-1.5 ms on these VMs. P restores our CPUs first thing.
    cpus = os.sched_getaffinity(0)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {syscalls.current_cpu()})
    clone_p(syscalls.CLONE_PARENT, lambda: _pid1(sync, line, payload, flags, spare, cpus=cpus))
    # Builtins only from here (no Python code called from C): the interpreter's thread
    # state still points into P's stack, which is gone.
    os.closerange(0, 1 << 20)  # P's fds (sync channel, line) are not held meanwhile
    try:
        os.setsid()
        os.setpriority(os.PRIO_PROCESS, 0, 19)
        os.write(os.open("/proc/self/autogroup", os.O_WRONLY), b"19")
    except OSError:
        pass


def _spare_cgroup(parent: str) -> Cgroup:
    """The slot's spare cgroup (its container's is renamed from it): ``.wharf-slot-<our
    pid>`` in ``parent``, the last request's cgroup parent, if that exists (in one
    hierarchy at least: a slot does not make a parent that is gone), else in the root."""
    with contextlib.suppress(WharfError):
        if parent.strip("/") and not open_cgroup(parent, controllers=_SPARE_CONTROLLERS).exists():
            parent = "/"
    path = posixpath.join(parent, f"{SPARE_PREFIX}{os.getpid()}")
    return open_cgroup(path, controllers=_SPARE_CONTROLLERS)


def serve_slot(
    requests: socket.socket, line: socket.socket, flags: int, cgroup_parent: str
) -> None:
    """An idle slot's life (in the zygote's fork, a new session): fork H, which takes
    ``line`` (the engine's line to it), wait for one request on ``requests``, launch and
    serve it. Returns only when the engine closed the pool without a request (once H and
    its spare cgroup are gone: the engine waits for our end of ``requests`` to close)."""
    woken = os.eventfd(0, os.EFD_CLOEXEC)
    slot = _fork_holder(line, woken, flags, _spare_cgroup(cgroup_parent))
    warm_up_monitor()
    background(False)
    # H wakes us once it has heard from the engine (the module docstring says why), or
    # ends: the pool closed, or H died (we then wait for the engine's message as before).
    poll = select.poll()
    poll.register(woken, select.POLLIN)
    poll.register(slot.sync.fd, select.POLLIN)
    poll.poll()
    background(False, session=True)  # H does too, but it may be gone
    os.close(woken)
    msg, fds, _, _ = socket.recv_fds(requests, MAX_REQUEST, 1)
    if not (msg and fds):
        slot.discard()
        return
    requests.close()
    # The engine sends a native container's request to H as well, on the line, so that P
    # plans while we read ours, and says so (DIRECT). Any other request (or one that H did
    # not get: too big for one message, or H died) we launch ourselves.
    direct = msg.startswith(DIRECT)
    if direct:
        msg = msg[len(DIRECT) :]
    req = parse_request(msg, fds, whole=False)  # the rest is P's to read: our memory stays
    if req is not None and (not direct or req.kind != "container" or req.binary):
        req = parse_request(msg, fds)
        if req is not None:
            slot.release()
            run_monitor(req, socket.socket(fileno=fds[0]), leftover=slot.leftover())
    if req is None:
        slot.discard()
        return
    _launch_pooled(req, msg, socket.socket(fileno=fds[0]), slot)


def _launch_pooled(req: LaunchRequest, msg: bytes, reply: socket.socket, slot: _Slot) -> NoReturn:
    me = os.getpid()
    code = 0
    try:
        _detach(req.state_dir)
        monitor = _Monitor(req)
        if _set_up(monitor, msg, reply, slot):
            monitor.serve(reply)
        else:
            code = 1
    except BaseException as exc:  # the last line of defence of a detached process
        _last_defence(me, reply, exc)
        code = 1
    os._exit(code)


def _set_up(monitor: _Monitor, msg: bytes, reply: socket.socket, slot: _Slot) -> bool:
    """Launch with P; answer the engine. False after answering with an error."""
    req = monitor.req
    sync = slot.sync
    console = monitor._console()
    child_fds = [console] if console >= 0 else list(monitor._child_stdio())
    with contextlib.suppress(OSError):  # P has failed or declined: its message says which
        sync.send_fds(STDIO, child_fds)
    for fd in set(child_fds):
        os.close(fd)
    slim = msg.index(b"\n") + 1
    write_atomic(os.path.join(req.state_dir, REQUEST_FILE), memoryview(msg)[slim:])
    monitor.listen()
    tag, payload = sync.recv()  # P's pid, first (or H's end: its clone failed)
    if tag == PID:
        # Everything the state file holds is known before P is ready: write it while P
        # works.
        slot.pid = monitor.pid = int(payload)
        monitor.cgroup = _cgroup_of(req)
        monitor.state = {"monitor_start": process_start_time(monitor.me)}
        monitor.write_state("created")
        tag, payload = sync.recv()
    if tag != READY:
        with contextlib.suppress(FileNotFoundError):  # no container, even if no one cleans up
            os.unlink(os.path.join(req.state_dir, STATE_FILE))
        if tag == MISMATCH:
            slot.release()
            monitor.control.close()
            monitor.attach.close()
            os.close(monitor.state_dir_fd)
            _fallback(monitor, msg, reply, slot, int(payload))
        failure = _failure_of(slot, req.container_id, (tag, payload))
        if failure is not None and getattr(failure, "step", "") not in _BEFORE_CGROUPS:
            with contextlib.suppress(WharfError, OSError):
                _cgroup_of(req).destroy(kill=True)
        return _answer_error(
            reply,
            failure or SetupFailed(f"container {req.container_id}: init died during set-up"),
        )
    monitor.sync = sync
    monitor.holder = slot.holder
    try:
        if monitor.io.terminal:
            monitor._take_console()
        hint = pool_hint(slot.flags, monitor.cgroup)
        reply.send(json.dumps({"ok": True, "state": monitor.state, "pool": hint}).encode())
    finally:
        monitor.spare = slot.spare  # P is past its cgroups: what it did not take is ours
    return True


def _cgroup_of(req: LaunchRequest) -> Cgroup:
    """The container's cgroup as its monitor serves it (every hierarchy: ``update`` may
    add cpu), from the slim request's ``linux.cgroupsPath``, as the plan names it."""
    linux = req.spec.get("linux") or {}
    return open_cgroup(linux.get("cgroupsPath") or f"/wharf/{req.container_id}")


def _make_cgroup(plan: Plan, spare: Cgroup) -> tuple[int, ...]:
    """P makes the container's cgroups with the spec's limits (renamed from the spare
    where they can be); returns the ``tasks`` fds it joins them by."""
    cgroup, resources = container_cgroup(plan)
    cgroup.create(resources, spare=spare)
    return tuple(cgroup.join_fds())


def _make_spare(spare: Cgroup) -> None:
    """Make the slot's spare cgroup, in an idle H: running the cgroup code once also
    spares a request its first-touch page faults. A rename then costs a request ~0.1 ms
    where a mkdir and a new cpuset's set-up cost ~0.6 ms."""
    with contextlib.suppress(WharfError, OSError):
        spare.destroy(kill=False, timeout=0)  # a monitor of a recycled pid left it
        spare.create(_SPARE_LIMITS)
        for fd in spare.join_fds():
            os.close(fd)


def _failure_of(
    slot: _Slot, container_id: str, message: tuple[bytes, bytes] | None = None
) -> WharfError | None:
    """P's failure report (``message``, or the next one it sends now that it is told to
    stop), once P has exited; None if it reported none."""
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(slot.sync.fd)) as sock:
        sock.shutdown(socket.SHUT_WR)  # P reads EOF and exits
    tag, payload = message or slot.sync.recv()
    slot.discard()
    return error_from_failure(payload, container_id) if tag == FAILED else None


def _answer_error(reply: socket.socket, exc: WharfError) -> bool:
    reply.send(json.dumps({"kind": error_kind(exc), "message": str(exc)}).encode())
    return False


def _fallback(
    monitor: _Monitor, msg: bytes, reply: socket.socket, slot: _Slot, flags: int
) -> NoReturn:
    """Launch the whole request in ``msg`` as a monitor forked for it would (P has
    declined it and is released)."""
    for fd in [*monitor.outputs, monitor.stdin_w]:
        if fd >= 0:
            os.close(fd)
    if monitor.console_sock is not None:
        monitor.console_sock.close()
    monitor.sel.close()
    monitor.log.close()
    req = parse_request(msg, [reply.fileno()])
    if req is None:
        os._exit(1)  # answered
    run_monitor(req, reply, leftover=slot.leftover(flags))
